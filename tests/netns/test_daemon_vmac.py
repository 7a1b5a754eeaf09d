"""`use_vmac` under `fastvrrp run`: the VIP lives on a macvlan with the VRRP virtual MAC.

What an operator checks: `ip addr` shows the VIP on `vrrp.51`, whose MAC is 00:00:5e:00:01:33
(IPv6: 00:00:5e:00:02:33); the client's neighbour entry for the VIP is that MAC, so a takeover
needs no ARP update; the macvlan goes away when the daemon stops.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from fastvrrp.lab import Lab, LabProcess, PacketKind, vrrp_pair

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
VIP6 = "2001:2::100"
VMAC4 = "00:00:5e:00:01:33"
VMAC6 = "00:00:5e:00:02:33"


def config(priority: int, vip: str, state: str = "BACKUP") -> str:
    return (
        "vrrp_instance VI_1 {\n"
        f"    state {state}\n"
        "    interface eth0\n"
        "    use_vmac\n"
        "    virtual_router_id 51\n"
        "    version 3\n"
        f"    priority {priority}\n"
        "    advert_int 0.1\n"
        f"    virtual_ipaddress {{\n        {vip}\n    }}\n"
        "}\n"
    )


def report(lab: Lab, vip: str, *procs: LabProcess) -> str:
    parts = [f"holders of {vip}: {lab.holders(vip)}"]
    for host in ("r1", "r2"):
        parts.append(f"{host}: {lab.run(host, ['ip', '-br', 'addr']).stdout}")
    parts += [f"--- {p.host} (exit {p.returncode}):\n{p.log_text()}" for p in procs]
    return "\n".join(parts)


def neighbour_mac(lab: Lab, address: str) -> str | None:
    family = "-6" if ":" in address else "-4"
    out = lab.run("client", ["ip", family, "neigh", "show", address]).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def link_exists(lab: Lab, host: str, ifname: str) -> bool:
    return lab.run(host, ["ip", "link", "show", ifname], check=False).returncode == 0


def test_use_vmac_puts_the_vip_on_the_virtual_mac(lab: Lab) -> None:
    with lab.capture(duration=10.0) as cap:
        r1 = lab.start_fastvrrp("r1", config(150, f"{VIP}/24"))
        assert lab.wait_for(lambda: VIP in lab.addresses("r1"), 10.0), (
            report(lab, VIP, r1)
        )
        assert lab.ping("client", VIP)
    assert VIP in lab.addresses("r1", "vrrp.51")
    assert lab.mac("r1", "vrrp.51") == VMAC4
    assert neighbour_mac(lab, VIP) == VMAC4
    adverts = [p for p in cap.packets() if p.kind is PacketKind.ADVERT]
    garps = [p for p in cap.packets()
             if p.kind is PacketKind.ARP and p.target_ip == VIP and p.src_ip == VIP]
    assert adverts and {p.src_mac for p in adverts} == {VMAC4}
    assert adverts[0].src_ip == "198.18.0.1"  # the adverts still come from eth0's address
    assert garps and {p.src_mac for p in garps} == {VMAC4}
    # Like keepalived: no EUI-64 link-local on an IPv4 VMAC. Every node's VMAC has the same MAC,
    # so each would claim the same fe80:: address, and a backup's MLD from the virtual MAC would
    # teach the switch to send the VIP's traffic to the backup.
    assert not [a for a in lab.addresses("r1", "vrrp.51") if a.startswith("fe80:")]

    assert r1.stop() == 0, report(lab, VIP, r1)
    assert not link_exists(lab, "r1", "vrrp.51")
    assert "Traceback" not in r1.log_text()


def test_use_vmac_ipv6_sources_its_adverts_from_the_parents_link_local(lab_factory: Any) -> None:
    lab = lab_factory(vrrp_pair(ipv6=True))
    parent_ll = {a for a in lab.addresses("r1", "eth0") if a.startswith("fe80:")}
    with lab.capture(duration=10.0) as cap:
        r1 = lab.start_fastvrrp("r1", config(150, f"{VIP6}/64"))
        assert lab.wait_for(lambda: VIP6 in lab.addresses("r1"), 10.0), (
            report(lab, VIP6, r1)
        )
        assert lab.ping("client", VIP6)
        time.sleep(0.2)
    assert VIP6 in lab.addresses("r1", "vrrp.51")
    assert lab.mac("r1", "vrrp.51") == VMAC6
    assert neighbour_mac(lab, VIP6) == VMAC6
    adverts = [p for p in cap.packets() if p.kind is PacketKind.ADVERT]
    nas = [p for p in cap.packets() if p.kind is PacketKind.NA and p.target_ip == VIP6]
    assert adverts and {p.src_mac for p in adverts} == {VMAC6}
    assert {p.src_ip for p in adverts} <= parent_ll, (adverts[0], parent_ll)
    assert nas and {p.src_ip for p in nas} <= parent_ll
    assert {a for a in lab.addresses("r1", "vrrp.51") if a.startswith("fe80:")} <= parent_ll
    assert r1.stop() == 0
    assert not link_exists(lab, "r1", "vrrp.51")


def test_use_vmac_pair_has_one_master_and_fails_over(lab: Lab) -> None:
    r1 = lab.start_fastvrrp("r1", config(150, f"{VIP}/24"))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), report(lab, VIP, r1)
    r2 = lab.start_fastvrrp("r2", config(100, f"{VIP}/24"))
    assert lab.wait_for(lambda: "(VI_1) Entering BACKUP STATE" in r2.log_text(), 10.0)
    time.sleep(1.0)  # about 3 Master_Down intervals
    assert lab.holders(VIP) == ["r1"], report(lab, VIP, r1, r2)
    assert "(VI_1) Entering MASTER STATE" not in r2.log_text(), report(lab, VIP, r1, r2)

    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], 2.0), report(lab, VIP, r1, r2)
    assert lab.ping("client", VIP)
    assert neighbour_mac(lab, VIP) == VMAC4

    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 2.0), report(lab, VIP, r1, r2)
    assert lab.ping("client", VIP)
    assert neighbour_mac(lab, VIP) == VMAC4  # the client never had to learn a new MAC
