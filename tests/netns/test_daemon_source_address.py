"""`mcast_src_ip` (keepalived's name for the advert source in multicast mode) sets the source."""

from __future__ import annotations

import pytest

from fastvrrp.lab import Lab, PacketKind

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
SECOND = "198.18.0.21"


def config(source_line: str) -> str:
    return (
        "vrrp_instance VI_1 {\n"
        "    state MASTER\n"
        "    interface eth0\n"
        f"{source_line}"
        "    virtual_router_id 51\n"
        "    priority 100\n"
        "    advert_int 0.1\n"
        f"    virtual_ipaddress {{\n        {VIP}/24\n    }}\n"
        "}\n"
    )


@pytest.mark.parametrize("keyword", ["mcast_src_ip", "unicast_src_ip"])
def test_the_configured_source_address_sends_the_adverts(lab: Lab, keyword: str) -> None:
    lab.run("r1", ["ip", "addr", "add", f"{SECOND}/24", "dev", "eth0"])
    with lab.capture(duration=10.0) as cap:
        r1 = lab.start_fastvrrp("r1", config(f"    {keyword} {SECOND}\n"))
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
        advert = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT, 3.0)
    assert advert is not None, r1.log_text()
    assert advert.src_ip == SECOND
    assert "not supported" not in r1.log_text()
    assert r1.stop() == 0


def test_without_a_source_the_interface_address_is_used(lab: Lab) -> None:
    lab.run("r1", ["ip", "addr", "add", f"{SECOND}/24", "dev", "eth0"])
    with lab.capture(duration=10.0) as cap:
        r1 = lab.start_fastvrrp("r1", config(""))
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
        advert = cap.wait_for(lambda p: p.kind is PacketKind.ADVERT, 3.0)
    assert advert is not None
    assert advert.src_ip == "198.18.0.1"
    assert r1.stop() == 0
