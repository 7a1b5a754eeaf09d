"""fastvrrp.wire against scapy and dpkt on the same adverts (pytest-benchmark; not in tools/test).

    .venv/bin/python -m pytest benches/test_wire_bench.py --benchmark-enable \
        --benchmark-min-time=0.005 --benchmark-max-time=2 --benchmark-columns=min,median,rounds

(Short rounds, many of them: on a shared machine a burst of load spoils a few, not the median.)

Every benchmarked function is the same plain loop of LOOPS calls, written out for each library
with the call inline, so fastvrrp, scapy and dpkt are charged the same way. pytest-benchmark's
table shows the time of one loop; benches/conftest.py prints each group's per-call min and median
(one loop / LOOPS) and their ratios at the end. Why the loop: pytest-benchmark calls the benchmarked
function as `function(*args, **kwargs)` once per iteration, about 60 ns on this machine (the
wire-harness group measures it), which is half the cost of a fastvrrp parse and nothing next to
scapy's 70 µs; inside one loop it is spread over LOOPS calls.

scapy dissects whole IP packets (that is how it finds VRRP); dpkt parses the VRRP payload only,
without checksum or any validation; fastvrrp validates fully (length, version, auth, interval,
type, checksum) and builds an Advert object.
"""

from collections.abc import Callable

import dpkt
import pytest
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.vrrp import VRRP, VRRPv3

from fastvrrp import wire

SRC4, MCAST4 = "198.18.0.1", "224.0.0.18"
SRC6, MCAST6 = "fe80::1", "ff02::12"
VIP4, VIP6 = "198.18.0.100", "2001:2::100"
VIP4_BYTES = bytes(map(int, VIP4.split(".")))
KEY = b"secret"
KEY_PADDED = KEY + b"\0\0"
AUTH1, AUTH2 = int.from_bytes(KEY_PADDED[:4], "big"), int.from_bytes(KEY_PADDED[4:], "big")

V2 = wire.build(2, 51, 100, 1, [VIP4], SRC4, MCAST4, auth_type=1, auth_data=KEY)
V3 = wire.build(3, 51, 100, 1, [VIP4], SRC4, MCAST4)
V3_6 = wire.build(3, 51, 100, 1, [VIP6], SRC6, MCAST6)
IP_V2 = bytes(IP(src=SRC4, dst=MCAST4, ttl=255, proto=112) / V2)
IP_V3 = bytes(IP(src=SRC4, dst=MCAST4, ttl=255, proto=112) / V3)
IP6_V3 = bytes(IPv6(src=SRC6, dst=MCAST6, hlim=255, nh=112) / V3_6)

# Calls per benchmarked function, the same for every library: enough to make pytest-benchmark's
# own per-call cost (~60 ns) negligible per call (< 1 ns), few enough to keep scapy's rounds short.
LOOPS = 100

Bench = Callable[..., object]


def per_call(benchmark: Bench, group: str, run: Callable[[], object], loops: int = LOOPS) -> object:
    """Benchmark `run` (a loop of `loops` calls) and record the per-call median for conftest."""
    benchmark.group = group  # type: ignore[attr-defined]
    benchmark.extra_info["loops"] = loops  # type: ignore[attr-defined]
    out = benchmark(run)
    stats = getattr(benchmark, "stats", None)  # None under --benchmark-disable
    if stats is not None:
        for stat in ("min", "median"):
            per_call_ns = round(getattr(stats.stats, stat) / loops * 1e9, 1)
            benchmark.extra_info[f"per_call_{stat}_ns"] = per_call_ns  # type: ignore[attr-defined]
    return out


# --- harness: what timing itself costs ---


def test_harness_empty_loop(benchmark: Bench) -> None:
    """The loop every benchmark below runs, with nothing in it: charged to every library alike."""

    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = None
        return out

    per_call(benchmark, "wire-harness", run)


def test_harness_direct_call(benchmark: Bench) -> None:
    """pytest-benchmark calling a no-op function once per iteration: what timing each call
    directly (the earlier method) added to every call, before the call itself."""
    per_call(benchmark, "wire-harness", lambda: None, loops=1)


# --- parse: v2 PASS (fastvrrp, dpkt, scapy) ---


def test_parse_v2_fastvrrp(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = wire.parse(V2, SRC4, MCAST4, auth_type=1, auth_data=KEY)
        return out

    advert = per_call(benchmark, "wire-parse-v2", run)
    assert advert.priority == 100  # type: ignore[attr-defined]


def test_parse_v2_fastvrrp_no_auth_check(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = wire.parse(V2, SRC4, MCAST4)
        return out

    advert = per_call(benchmark, "wire-parse-v2", run)
    assert advert.priority == 100  # type: ignore[attr-defined]


def test_parse_v2_dpkt(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = dpkt.vrrp.VRRP(V2)
        return out

    advert = per_call(benchmark, "wire-parse-v2", run)
    assert advert.priority == 100  # type: ignore[attr-defined]


def test_parse_v2_scapy(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = IP(IP_V2)[VRRP]
        return out

    advert = per_call(benchmark, "wire-parse-v2", run)
    assert advert.priority == 100  # type: ignore[attr-defined]


# --- parse: v3 IPv4 and IPv6 (fastvrrp, scapy; dpkt has no VRRPv3) ---


def test_parse_v3_fastvrrp(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = wire.parse(V3, SRC4, MCAST4)
        return out

    advert = per_call(benchmark, "wire-parse-v3", run)
    assert advert.checksum_form == "pseudo"  # type: ignore[attr-defined]


def test_parse_v3_fastvrrp_and_read_addresses(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = wire.parse(V3, SRC4, MCAST4).addresses
        return out

    assert per_call(benchmark, "wire-parse-v3", run) == (VIP4,)


def test_parse_v3_scapy(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = IP(IP_V3)[VRRPv3]
        return out

    advert = per_call(benchmark, "wire-parse-v3", run)
    assert advert.addrlist == [VIP4]  # type: ignore[attr-defined]


def test_parse_v3_ipv6_fastvrrp(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = wire.parse(V3_6, SRC6, MCAST6)
        return out

    advert = per_call(benchmark, "wire-parse-v3-ipv6", run)
    assert advert.vrid == 51  # type: ignore[attr-defined]


def test_parse_v3_ipv6_scapy(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = IPv6(IP6_V3)[VRRPv3]
        return out

    advert = per_call(benchmark, "wire-parse-v3-ipv6", run)
    assert advert.addrlist == [VIP6]  # type: ignore[attr-defined]


# --- build ---


def test_build_v2_fastvrrp(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = wire.build(2, 51, 100, 1, [VIP4], SRC4, MCAST4, auth_type=1, auth_data=KEY)
        return out

    assert per_call(benchmark, "wire-build-v2", run) == V2


def test_build_v2_dpkt(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = bytes(
                dpkt.vrrp.VRRP(
                    vrid=51,
                    priority=100,
                    count=1,
                    atype=1,
                    advtime=1,
                    addrs=[VIP4_BYTES],
                    auth=KEY_PADDED,
                )
            )
        return out

    assert per_call(benchmark, "wire-build-v2", run) == V2


def test_build_v2_scapy(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            layer = VRRP(
                vrid=51, priority=100, addrlist=[VIP4], authtype=1, adv=1, auth1=AUTH1, auth2=AUTH2
            )
            out = bytes(IP(src=SRC4, dst=MCAST4) / layer)[20:]
        return out

    assert per_call(benchmark, "wire-build-v2", run) == V2


def test_build_v3_fastvrrp(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            out = wire.build(3, 51, 100, 1, [VIP4], SRC4, MCAST4)
        return out

    assert per_call(benchmark, "wire-build-v3", run) == V3


def test_build_v3_scapy(benchmark: Bench) -> None:
    def run() -> object:
        out = None
        for _ in range(LOOPS):
            layer = VRRPv3(vrid=51, priority=100, addrlist=[VIP4], adv=100)
            out = bytes(IP(src=SRC4, dst=MCAST4) / layer)[20:]
        return out

    assert per_call(benchmark, "wire-build-v3", run) == V3


@pytest.fixture(autouse=True)
def _native_is_a_release_build() -> None:
    from fastvrrp._native import BUILD

    if "release" not in BUILD:
        pytest.skip(f"benchmarks need a release build of the extension, got {BUILD!r}")
