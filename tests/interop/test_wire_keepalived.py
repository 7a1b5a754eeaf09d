"""keepalived 2.2.7 as the judge of the bytes fastvrrp.wire builds: a keepalived backup (priority
100) that hears our adverts (priority 200) must stay backup; one that drops them becomes master.
Checks that v2 PASS, v3 IPv4 (pseudo-header checksum) and v3 IPv6 are accepted, and that 2.2.7
rejects the RFC 9568 message-only ("plain") v3 IPv4 checksum, which fastvrrp accepts.

Two namespaces of our own joined by a veth pair; keepalived in one, a raw-socket sender in the
other. Everything is removed afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fastvrrp import wire

pytestmark = [
    pytest.mark.netns,
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived is not installed"),
]

KEEPALIVED_IP, SENDER_IP = "198.18.0.1", "198.18.0.2"
MCAST4, MCAST6 = "224.0.0.18", "ff02::12"

# Runs inside the sender namespace: send one payload to the VRRP group, `count` times.
SENDER = r"""
import socket, sys, time
payload, dst, ifname = bytes.fromhex(sys.argv[1]), sys.argv[2], sys.argv[3]
interval, count = float(sys.argv[4]), int(sys.argv[5])
if ":" in dst:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex(ifname))
    target = (dst, 0, 0, socket.if_nametoindex(ifname))
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    target = (dst, 0)
for _ in range(count):
    s.sendto(payload, target)
    time.sleep(interval)
"""


@dataclass(frozen=True)
class Pair:
    keepalived_ns: str
    keepalived_if: str
    sender_ns: str
    sender_if: str
    sender_ll: str


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30).stdout


@pytest.fixture
def pair() -> Iterator[Pair]:
    tag = secrets.token_hex(3)
    ns_k, ns_s = f"fv{tag}k", f"fv{tag}s"
    if_k, if_s = f"fv{tag}vk", f"fv{tag}vs"
    made: list[str] = []
    try:
        for ns in (ns_k, ns_s):
            sh("ip", "netns", "add", ns)
            made.append(ns)
        sh(*f"ip link add {if_k} netns {ns_k} type veth peer name {if_s} netns {ns_s}".split())
        for ns, iface, addr in ((ns_k, if_k, KEEPALIVED_IP), (ns_s, if_s, SENDER_IP)):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{iface}.accept_dad=0")
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", iface)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", iface, "up")
        ll = ""
        for _ in range(50):
            out = sh("ip", "-n", ns_s, "-6", "-o", "addr", "show", "dev", if_s, "scope", "link")
            if out.split():
                ll = out.split()[3].split("/")[0]
                break
            time.sleep(0.05)
        assert ll, "no link-local address on the sender's veth"
        yield Pair(ns_k, if_k, ns_s, if_s, ll)
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], check=False, timeout=30)


def run_keepalived_against(
    pair: Pair,
    tmp_path: Path,
    conf_body: str,
    payload: bytes,
    dst: str,
    interval: float,
    count: int,
) -> str:
    """keepalived's console log after hearing `count` copies of `payload`."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(conf_body.replace("IFACE", pair.keepalived_if))
    log = tmp_path / "keepalived.log"
    pids = [str(tmp_path / f"{k}.pid") for k in ("main", "vrrp", "checkers")]
    with log.open("w") as out:
        keepalived = subprocess.Popen(
            [
                *f"ip netns exec {pair.keepalived_ns} keepalived -n -l -G -f {conf}".split(),
                *("-p", pids[0], "-r", pids[1], "-c", pids[2]),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 10
            while "Entering BACKUP STATE" not in log.read_text():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            subprocess.run(
                [
                    *f"ip netns exec {pair.sender_ns}".split(),
                    sys.executable,
                    "-c",
                    SENDER,
                    payload.hex(),
                    dst,
                    pair.sender_if,
                    str(interval),
                    str(count),
                ],
                check=True,
                timeout=60,
            )
        finally:
            keepalived.terminate()
            try:
                keepalived.wait(timeout=10)
            except subprocess.TimeoutExpired:
                keepalived.kill()
                keepalived.wait(timeout=10)
    return log.read_text()


def conf(version: int, advert_int: float, vip: str, extra: str = "") -> str:
    return f"""
global_defs {{
    vrrp_version {version}
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface IFACE
    virtual_router_id 61
    priority 100
    advert_int {advert_int}
    {extra}
    virtual_ipaddress {{
        {vip}
    }}
}}
"""


def test_keepalived_accepts_our_v2_pass_adverts(pair: Pair, tmp_path: Path) -> None:
    payload = wire.build(
        2, 61, 200, 1, ["198.18.0.100"], SENDER_IP, MCAST4, auth_type=1, auth_data=b"fvpass"
    )
    body = conf(2, 1, "198.18.0.100/24", "authentication {\n auth_type PASS\n auth_pass fvpass\n}")
    log = run_keepalived_against(pair, tmp_path, body, payload, MCAST4, 0.5, 10)
    assert "Entering MASTER STATE" not in log, log


def test_keepalived_drops_our_v2_adverts_with_another_password(pair: Pair, tmp_path: Path) -> None:
    payload = wire.build(
        2, 61, 200, 1, ["198.18.0.100"], SENDER_IP, MCAST4, auth_type=1, auth_data=b"other"
    )
    body = conf(2, 1, "198.18.0.100/24", "authentication {\n auth_type PASS\n auth_pass fvpass\n}")
    log = run_keepalived_against(pair, tmp_path, body, payload, MCAST4, 0.5, 10)
    assert "Entering MASTER STATE" in log, log


def test_keepalived_accepts_our_v3_ipv4_pseudo_checksum(pair: Pair, tmp_path: Path) -> None:
    payload = wire.build(3, 61, 200, 0.1, ["198.18.0.100"], SENDER_IP, MCAST4)
    log = run_keepalived_against(
        pair, tmp_path, conf(3, 0.1, "198.18.0.100/24"), payload, MCAST4, 0.05, 30
    )
    assert "Entering MASTER STATE" not in log, log


def test_keepalived_2_2_7_rejects_the_plain_v3_ipv4_checksum(pair: Pair, tmp_path: Path) -> None:
    payload = wire.build(
        3, 61, 200, 0.1, ["198.18.0.100"], SENDER_IP, MCAST4, checksum_form="plain"
    )
    # fastvrrp accepts it, and says which form it was.
    assert wire.parse(payload, SENDER_IP, MCAST4).checksum_form == "plain"
    log = run_keepalived_against(
        pair, tmp_path, conf(3, 0.1, "198.18.0.100/24"), payload, MCAST4, 0.05, 30
    )
    assert "Entering MASTER STATE" in log, log


def test_keepalived_accepts_our_v3_ipv6_adverts(pair: Pair, tmp_path: Path) -> None:
    payload = wire.build(3, 61, 200, 0.1, ["2001:2::100"], pair.sender_ll, MCAST6)
    body = conf(3, 0.1, "2001:2::100/64", "native_ipv6")
    log = run_keepalived_against(pair, tmp_path, body, payload, MCAST6, 0.05, 30)
    assert "Entering MASTER STATE" not in log, log
