"""Several instances in one `fastvrrp run`, VIP options, and the gratuitous ARP schedule.

- Active/active: r1 is master of VI_1 and backup of VI_2, r2 the reverse; one link down moves
  both VIPs to the survivor.
- `virtual_ipaddress` options land as written: `brd`, `dev`, `label`, `/32` on another device.
- `garp_master_repeat` GARPs at takeover, the same again `garp_master_delay` later, spaced by
  `vrrp_garp_interval`.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from fastvrrp.lab import Lab, LabProcess, PacketKind

pytestmark = pytest.mark.netns

VIP1 = "198.18.0.100"
VIP2 = "198.18.0.101"


def block(name: str, vrid: int, priority: int, vips: list[str], extra: str = "") -> str:
    addresses = "".join(f"        {v}\n" for v in vips)
    return (
        f"vrrp_instance {name} {{\n"
        "    state BACKUP\n"
        "    interface eth0\n"
        f"    virtual_router_id {vrid}\n"
        "    version 3\n"
        f"    priority {priority}\n"
        "    advert_int 0.1\n"
        f"{extra}"
        f"    virtual_ipaddress {{\n{addresses}    }}\n"
        "}\n"
    )


def report(lab: Lab, *procs: LabProcess) -> str:
    parts = [f"{vip}: {lab.holders(vip)}" for vip in (VIP1, VIP2)]
    parts += [f"--- {p.host} (exit {p.returncode}):\n{p.log_text()}" for p in procs]
    return "\n".join(parts)


def test_active_active_instances_split_and_merge_on_link_down(lab: Lab) -> None:
    r1 = lab.start_fastvrrp(
        "r1", block("VI_1", 51, 150, [f"{VIP1}/24"]) + block("VI_2", 52, 100, [f"{VIP2}/24"])
    )
    r2 = lab.start_fastvrrp(
        "r2", block("VI_1", 51, 100, [f"{VIP1}/24"]) + block("VI_2", 52, 150, [f"{VIP2}/24"])
    )
    assert lab.wait_for(
        lambda: lab.holders(VIP1) == ["r1"] and lab.holders(VIP2) == ["r2"], 10.0
    ), report(lab, r1, r2)

    lab.link_down("r2")
    assert lab.wait_for(
        lambda: lab.holders(VIP1) == ["r1"] and lab.holders(VIP2) == ["r1"], 2.0
    ), report(lab, r1, r2)
    assert "(VI_2) Entering MASTER STATE" in r1.log_text()

    lab.link_up("r2")
    assert lab.wait_for(
        lambda: lab.holders(VIP1) == ["r1"] and lab.holders(VIP2) == ["r2"], 2.0
    ), report(lab, r1, r2)
    assert lab.ping("client", VIP1) and lab.ping("client", VIP2)


def test_vip_options_and_the_garp_schedule(lab: Lab) -> None:
    conf = "global_defs {\n    vrrp_garp_interval 0.01\n}\n" + block(
        "VI_1",
        51,
        150,
        [f"{VIP1}/24 brd 198.18.0.255 dev eth0 label eth0:vip", "198.18.1.100/32 dev lo"],
        extra="    garp_master_repeat 3\n    garp_master_delay 1\n",
    )
    with lab.capture(duration=10.0) as cap:
        r1 = lab.start_fastvrrp("r1", conf)
        assert lab.wait_for(lambda: lab.holders(VIP1) == ["r1"], 10.0), report(lab, r1)
        first_garp = cap.wait_for(lambda p: p.kind is PacketKind.ARP and p.src_ip == VIP1, 2.0)
        assert first_garp is not None, "no GARP at takeover"
        second = cap.wait_for(
            lambda p: p.kind is PacketKind.ARP and p.src_ip == VIP1
            and p.time > first_garp.time + 0.5,
            3.0,
        )
        assert second is not None, "no second round of GARPs after garp_master_delay"
        cap.wait_for(lambda p: False, 0.2)  # let the round finish
    garps = [p for p in cap.packets()
             if p.kind is PacketKind.ARP and p.src_ip == VIP1 and p.target_ip == VIP1]
    first = [p for p in garps if p.time < garps[0].time + 0.5]
    later = [p for p in garps if p.time >= garps[0].time + 0.5]
    assert len(first) == 3 and len(later) == 3, [round(p.time - garps[0].time, 3) for p in garps]
    assert 0.7 < later[0].time - first[0].time < 2.0
    # vrrp_garp_interval 0.01: the GARPs of a round are spaced, not a burst.
    assert all(b.time - a.time > 0.005 for a, b in pairwise(first))

    shown = lab.run("r1", ["ip", "-4", "-o", "addr", "show"]).stdout
    vip_line = next(line for line in shown.splitlines() if f" {VIP1}/24" in line)
    assert "brd 198.18.0.255" in vip_line and "eth0:vip" in vip_line, vip_line
    assert "198.18.1.100" in lab.addresses("r1", "lo")
    assert r1.stop() == 0
    assert VIP1 not in lab.addresses("r1") and "198.18.1.100" not in lab.addresses("r1")

