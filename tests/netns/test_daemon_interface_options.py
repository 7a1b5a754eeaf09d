"""Instance options that act on the interface and the GARPs: promote_secondaries, vrrp_min_garp."""

from __future__ import annotations

import time

import pytest

from fastvrrp.lab import Lab, PacketKind

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
PROMOTE = "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"


def config(global_lines: str = "", instance_lines: str = "") -> str:
    return (
        f"global_defs {{\n    router_id r1\n{global_lines}}}\n"
        "vrrp_instance VI_1 {\n"
        "    state MASTER\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        "    priority 100\n"
        "    advert_int 0.1\n"
        f"{instance_lines}"
        f"    virtual_ipaddress {{\n        {VIP}/24\n    }}\n"
        "}\n"
    )


def read_promote(lab: Lab) -> str:
    return lab.run("r1", ["cat", PROMOTE]).stdout.strip()


@pytest.mark.parametrize("promote", [True, False], ids=["promote_secondaries", "default"])
def test_removing_the_primary_address_keeps_the_vip_only_with_promote_secondaries(
        lab: Lab, promote: bool) -> None:
    line = "    promote_secondaries\n" if promote else ""
    r1 = lab.start_fastvrrp("r1", config(instance_lines=line))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    assert read_promote(lab) == ("1" if promote else "0")

    # The VIP shares the primary's /24: Linux drops it with the primary unless promoted.
    lab.run("r1", ["ip", "addr", "del", "198.18.0.1/24", "dev", "eth0"])
    time.sleep(0.3)
    assert lab.holders(VIP) == (["r1"] if promote else [])
    assert r1.stop() == 0
    assert read_promote(lab) == "0", "the old value comes back on stop"


def garps_for_vip(lab: Lab, conf: str) -> int:
    with lab.capture(duration=8.0) as cap:
        r1 = lab.start_fastvrrp("r1", conf)
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
        first = cap.wait_for(lambda p: p.kind is PacketKind.ARP and p.target_ip == VIP, 3.0)
        assert first is not None, r1.log_text()
        time.sleep(1.0)  # well past a burst of repeats (vrrp_garp_interval 0)
        count = sum(1 for p in cap.packets()
                    if p.kind is PacketKind.ARP and p.target_ip == VIP)
    assert r1.stop() == 0
    return count


def test_vrrp_min_garp_sends_one_garp_where_the_default_sends_five(lab: Lab) -> None:
    assert garps_for_vip(lab, config("    vrrp_min_garp\n")) == 1
    assert garps_for_vip(lab, config()) == 5
