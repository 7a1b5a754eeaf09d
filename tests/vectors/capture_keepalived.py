#!/usr/bin/env python3
"""Capture golden VRRP adverts from the real keepalived (as root; rewrites tests/vectors/*.json).

For each config below: two fresh network namespaces joined by a veth pair, keepalived in one
(`keepalived -n -l -G -f CONF -p ... -r ... -c ...`), tcpdump in the other. After a few adverts
as master, keepalived gets SIGTERM so its priority-0 advert is captured too. Every namespace and
process is removed afterwards, also on errors. Addresses: 198.18.0.0/15 and 2001:2::/48 only.

Usage: sudo .venv/bin/python tests/vectors/capture_keepalived.py
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap

HERE = Path(__file__).resolve().parent
ADVERTS_AS_MASTER = 3
CAPTURE_TIMEOUT_S = 20.0
KEEPALIVED = "keepalived -n -l -G"
VRRP_FILTER = "ip proto 112 or ip6 proto 112"

# One entry per vector file: what goes into keepalived.conf, and the facts the test checks.
CONFIGS: list[dict[str, Any]] = [
    {
        "name": "keepalived_v2_pass",
        "vrrp_version": 2,
        "family": "ipv4",
        "vrid": 51,
        "priority": 150,
        "advert_int": 1,
        "auth_type": "PASS",
        # 9 characters: keepalived cuts auth_pass to 8.
        "auth_pass": "fvsecret9",
        "virtual_ipaddress": ["198.18.0.100/24"],
    },
    {
        "name": "keepalived_v3_ipv4",
        "vrrp_version": 3,
        "family": "ipv4",
        "vrid": 52,
        "priority": 200,
        "advert_int": 0.25,
        "virtual_ipaddress": ["198.18.0.101/24", "198.18.0.102/24"],
    },
    {
        "name": "keepalived_v3_ipv6",
        "vrrp_version": 3,
        "family": "ipv6",
        "vrid": 53,
        "priority": 100,
        "advert_int": 0.5,
        "virtual_ipaddress": ["2001:2::100/64", "2001:2::1:100/64"],
    },
]


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


def keepalived_conf(cfg: dict[str, Any], iface: str) -> str:
    lines = [
        "global_defs {",
        f"    router_id fv{cfg['vrid']}",
        f"    vrrp_version {cfg['vrrp_version']}",
        "    vrrp_garp_master_delay 0",
        "}",
        "vrrp_instance VI_1 {",
        "    state BACKUP",
        f"    interface {iface}",
        f"    virtual_router_id {cfg['vrid']}",
        f"    priority {cfg['priority']}",
        f"    advert_int {cfg['advert_int']}",
    ]
    if cfg["family"] == "ipv6":
        lines.append("    native_ipv6")
    if "auth_type" in cfg:
        lines += [
            "    authentication {",
            f"        auth_type {cfg['auth_type']}",
            f"        auth_pass {cfg['auth_pass']}",
            "    }",
        ]
    lines.append("    virtual_ipaddress {")
    lines += [f"        {vip}" for vip in cfg["virtual_ipaddress"]]
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def setup_namespaces(tag: str) -> tuple[str, str, str, str]:
    ns_a, ns_b = f"fv{tag}a", f"fv{tag}b"
    if_a, if_b = f"fv{tag}va", f"fv{tag}vb"
    run("ip", "netns", "add", ns_a)
    run("ip", "netns", "add", ns_b)
    run(*f"ip link add {if_a} netns {ns_a} type veth peer name {if_b} netns {ns_b}".split())
    for ns, iface, addr in ((ns_a, if_a, "198.18.0.1/24"), (ns_b, if_b, "198.18.0.2/24")):
        # No DAD: the link-local source must be usable at once for v6 adverts.
        run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{iface}.accept_dad=0")
        run("ip", "-n", ns, "addr", "add", addr, "dev", iface)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "link", "set", iface, "up")
    return ns_a, ns_b, if_a, if_b


def capture_one(cfg: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    tag = secrets.token_hex(3)
    ns_a = ns_b = ""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ns_a, ns_b, if_a, if_b = setup_namespaces(tag)
        conf = workdir / f"{cfg['name']}.conf"
        conf.write_text(keepalived_conf(cfg, if_a))
        pcap = workdir / f"{cfg['name']}.pcap"
        dump = subprocess.Popen(
            [*f"ip netns exec {ns_b} tcpdump -i {if_b} -U -n -w {pcap}".split(), VRRP_FILTER],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(dump)
        time.sleep(1.0)  # let tcpdump open the socket
        pids = {
            kind: workdir / f"{cfg['name']}.{kind}.pid" for kind in ("main", "vrrp", "checkers")
        }
        keepalived = subprocess.Popen(
            [
                *f"ip netns exec {ns_a} {KEEPALIVED} -f {conf}".split(),
                *f"-p {pids['main']} -r {pids['vrrp']} -c {pids['checkers']}".split(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(keepalived)
        # Master after 3 x interval + skew, then a few adverts.
        deadline = time.monotonic() + CAPTURE_TIMEOUT_S
        wait = (3 + 1 + ADVERTS_AS_MASTER) * float(cfg["advert_int"]) + 1.5
        time.sleep(min(wait, CAPTURE_TIMEOUT_S))
        keepalived.send_signal(signal.SIGTERM)
        keepalived.wait(timeout=max(1.0, deadline - time.monotonic()))
        time.sleep(0.5)
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
        return adverts_from_pcap(pcap)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for ns in (ns_a, ns_b):
            if ns:
                run("ip", "netns", "del", ns, check=False)


def adverts_from_pcap(pcap: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pkt in rdpcap(str(pcap)):
        if IP in pkt:
            ip = bytes(pkt[IP])
            ihl, total = (ip[0] & 0x0F) * 4, int.from_bytes(ip[2:4], "big")
            src, dst = pkt[IP].src, pkt[IP].dst
            payload, ttl, tos = ip[ihl:total], pkt[IP].ttl, pkt[IP].tos
        elif IPv6 in pkt:
            ip = bytes(pkt[IPv6])
            plen = int.from_bytes(ip[4:6], "big")
            src, dst = pkt[IPv6].src, pkt[IPv6].dst
            payload, ttl, tos = ip[40 : 40 + plen], pkt[IPv6].hlim, pkt[IPv6].tc
        else:
            continue
        advert = {"src": src, "dst": dst, "ttl": ttl, "tos": tos, "payload": payload.hex()}
        # Keep each distinct advert once (a master repeats itself), counting repeats.
        same = next((a for a in out if {**a, "seen": 0} == {**advert, "seen": 0}), None)
        if same is None:
            out.append({**advert, "seen": 1})
        else:
            same["seen"] += 1
    return out


def main() -> int:
    version = run("keepalived", "--version", check=False)
    banner = (version.stdout + version.stderr).splitlines()[0]
    with tempfile.TemporaryDirectory(prefix="fvcap") as tmp:
        for cfg in CONFIGS:
            adverts = capture_one(cfg, Path(tmp))
            if not adverts:
                print(f"{cfg['name']}: no adverts captured", file=sys.stderr)
                return 1
            doc = {
                "source": banner,
                "command": f"{KEEPALIVED} -f CONF -p PIDFILE -r VRRP_PIDFILE -c CHECKERS_PIDFILE",
                "config": cfg,
                "keepalived_conf": keepalived_conf(cfg, "IFACE"),
                "adverts": adverts,
            }
            path = HERE / f"{cfg['name']}.json"
            path.write_text(json.dumps(doc, indent=2) + "\n")
            print(f"{path.name}: {len(adverts)} adverts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
