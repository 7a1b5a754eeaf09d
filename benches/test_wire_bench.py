"""fastvrrp.wire against scapy and dpkt on the same adverts (pytest-benchmark; not in tools/test).

    .venv/bin/python -m pytest benches/test_wire_bench.py --benchmark-enable \
        --benchmark-min-time=0.05 --benchmark-columns=min,median,mean,rounds

Groups are named wire-<what>; benches/conftest.py prints each group's median ratios at the end.
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
KEY = b"secret"

V2 = wire.build(2, 51, 100, 1, [VIP4], SRC4, MCAST4, auth_type=1, auth_data=KEY)
V3 = wire.build(3, 51, 100, 1, [VIP4], SRC4, MCAST4)
V3_6 = wire.build(3, 51, 100, 1, [VIP6], SRC6, MCAST6)
IP_V2 = bytes(IP(src=SRC4, dst=MCAST4, ttl=255, proto=112) / V2)
IP_V3 = bytes(IP(src=SRC4, dst=MCAST4, ttl=255, proto=112) / V3)
IP6_V3 = bytes(IPv6(src=SRC6, dst=MCAST6, hlim=255, nh=112) / V3_6)

Bench = Callable[..., object]


# --- parse: v2 PASS (fastvrrp, dpkt, scapy) ---


def test_parse_v2_fastvrrp(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v2"  # type: ignore[attr-defined]
    # Through a lambda, as scapy's calls are: pytest-benchmark forwards **kwargs with a new dict
    # per call, which a program calling parse with keywords does not pay.
    advert = benchmark(lambda: wire.parse(V2, SRC4, MCAST4, auth_type=1, auth_data=KEY))
    assert advert.priority == 100  # type: ignore[attr-defined]


def test_parse_v2_fastvrrp_no_auth_check(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v2"  # type: ignore[attr-defined]
    advert = benchmark(wire.parse, V2, SRC4, MCAST4)
    assert advert.priority == 100  # type: ignore[attr-defined]


def test_parse_v2_dpkt(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v2"  # type: ignore[attr-defined]
    advert = benchmark(dpkt.vrrp.VRRP, V2)
    assert advert.priority == 100  # type: ignore[attr-defined]


def test_parse_v2_scapy(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v2"  # type: ignore[attr-defined]
    advert = benchmark(lambda: IP(IP_V2)[VRRP])
    assert advert.priority == 100  # type: ignore[attr-defined]


# --- parse: v3 IPv4 and IPv6 (fastvrrp, scapy; dpkt has no VRRPv3) ---


def test_parse_v3_fastvrrp(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v3"  # type: ignore[attr-defined]
    advert = benchmark(wire.parse, V3, SRC4, MCAST4)
    assert advert.checksum_form == "pseudo"  # type: ignore[attr-defined]


def test_parse_v3_fastvrrp_and_read_addresses(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v3"  # type: ignore[attr-defined]
    addresses = benchmark(lambda: wire.parse(V3, SRC4, MCAST4).addresses)
    assert addresses == (VIP4,)


def test_parse_v3_scapy(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v3"  # type: ignore[attr-defined]
    advert = benchmark(lambda: IP(IP_V3)[VRRPv3])
    assert advert.addrlist == [VIP4]  # type: ignore[attr-defined]


def test_parse_v3_ipv6_fastvrrp(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v3-ipv6"  # type: ignore[attr-defined]
    advert = benchmark(wire.parse, V3_6, SRC6, MCAST6)
    assert advert.vrid == 51  # type: ignore[attr-defined]


def test_parse_v3_ipv6_scapy(benchmark: Bench) -> None:
    benchmark.group = "wire-parse-v3-ipv6"  # type: ignore[attr-defined]
    advert = benchmark(lambda: IPv6(IP6_V3)[VRRPv3])
    assert advert.addrlist == [VIP6]  # type: ignore[attr-defined]


# --- build ---


def test_build_v2_fastvrrp(benchmark: Bench) -> None:
    benchmark.group = "wire-build-v2"  # type: ignore[attr-defined]
    # Through a lambda, as scapy's and dpkt's builds are (see test_parse_v2_fastvrrp).
    out = benchmark(lambda: wire.build(2, 51, 100, 1, [VIP4], SRC4, MCAST4, auth_type=1,
                                       auth_data=KEY))
    assert out == V2


def test_build_v2_dpkt(benchmark: Bench) -> None:
    benchmark.group = "wire-build-v2"  # type: ignore[attr-defined]
    vip = bytes(map(int, VIP4.split(".")))

    def build() -> bytes:
        return bytes(
            dpkt.vrrp.VRRP(
                vrid=51, priority=100, count=1, atype=1, advtime=1, addrs=[vip], auth=KEY + b"\0\0"
            )
        )

    assert benchmark(build) == V2


def test_build_v2_scapy(benchmark: Bench) -> None:
    benchmark.group = "wire-build-v2"  # type: ignore[attr-defined]
    auth1, auth2 = int.from_bytes(KEY[:4], "big"), int.from_bytes(KEY[4:] + b"\0\0", "big")

    def build() -> bytes:
        layer = VRRP(
            vrid=51, priority=100, addrlist=[VIP4], authtype=1, adv=1, auth1=auth1, auth2=auth2
        )
        return bytes(IP(src=SRC4, dst=MCAST4) / layer)[20:]

    assert benchmark(build) == V2


def test_build_v3_fastvrrp(benchmark: Bench) -> None:
    benchmark.group = "wire-build-v3"  # type: ignore[attr-defined]
    assert benchmark(wire.build, 3, 51, 100, 1, [VIP4], SRC4, MCAST4) == V3


def test_build_v3_scapy(benchmark: Bench) -> None:
    benchmark.group = "wire-build-v3"  # type: ignore[attr-defined]

    def build() -> bytes:
        layer = VRRPv3(vrid=51, priority=100, addrlist=[VIP4], adv=100)
        return bytes(IP(src=SRC4, dst=MCAST4) / layer)[20:]

    assert benchmark(build) == V3


@pytest.fixture(autouse=True)
def _native_is_a_release_build() -> None:
    from fastvrrp._native import BUILD

    if "release" not in BUILD:
        pytest.skip(f"benchmarks need a release build of the extension, got {BUILD!r}")
