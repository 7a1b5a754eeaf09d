"""`fastvrrp run` with an instance whose interface is missing: FAULT and a clear line."""

from __future__ import annotations

import time

import pytest

from fastvrrp.lab import Lab, LabProcess

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
GONE_VIP = "198.18.0.101"


def block(name: str, ifname: str, vrid: int, vip: str) -> str:
    return (
        f"vrrp_instance {name} {{\n"
        "    state BACKUP\n"
        f"    interface {ifname}\n"
        f"    virtual_router_id {vrid}\n"
        "    version 3\n"
        "    priority 100\n"
        "    advert_int 0.1\n"
        f"    virtual_ipaddress {{\n        {vip}/24\n    }}\n"
        "}\n"
    )


def report(lab: Lab, proc: LabProcess) -> str:
    return (
        f"holders: {VIP} {lab.holders(VIP)}, {GONE_VIP} {lab.holders(GONE_VIP)}\n"
        f"--- {proc.host} (exit {proc.returncode}):\n{proc.log_text()}"
    )


def test_a_missing_interface_faults_its_instance_and_the_other_runs(lab: Lab) -> None:
    conf = block("VI_GONE", "nope0", 52, GONE_VIP) + block("VI_1", "eth0", 51, VIP)
    r1 = lab.start_fastvrrp("r1", conf)

    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), report(lab, r1)
    log = r1.log_text()
    assert "(VI_GONE) Entering FAULT STATE" in log, report(lab, r1)
    # The reason names the instance and the interface, as keepalived's warning does.
    assert any("VI_GONE" in line and "nope0" in line for line in log.splitlines()), log
    assert "Traceback" not in log
    assert r1.running
    time.sleep(0.5)  # several Master_Down intervals: the faulted instance stays quiet
    assert lab.holders(GONE_VIP) == []
    assert "(VI_GONE) Entering MASTER STATE" not in r1.log_text()

    # The interface appears: the instance leaves FAULT and, alone on it, takes its VIP.
    for cmd in ("link add nope0 link eth0 type macvlan mode bridge",
                "addr add 198.18.0.21/24 dev nope0",
                "link set nope0 up"):
        lab.run("r1", ["ip", *cmd.split()])
    assert lab.wait_for(lambda: lab.holders(GONE_VIP) == ["r1"], 3.0), report(lab, r1)
    assert "(VI_GONE) Entering MASTER STATE" in r1.log_text()
    assert r1.stop() == 0
    assert "Traceback" not in r1.log_text()


def test_an_interface_down_at_start_faults_until_it_comes_up(lab: Lab) -> None:
    lab.link_down("r1")
    r1 = lab.start_fastvrrp("r1", block("VI_1", "eth0", 51, VIP))
    assert lab.wait_for(lambda: "(VI_1) Entering FAULT STATE" in r1.log_text(), 10.0), (
        report(lab, r1)
    )
    time.sleep(0.5)
    assert lab.holders(VIP) == []
    assert "(VI_1) Entering MASTER STATE" not in r1.log_text()

    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 3.0), report(lab, r1)
    log = r1.log_text()
    assert log.index("(VI_1) Entering FAULT STATE") < log.index("(VI_1) Entering BACKUP STATE")
    assert lab.ping("client", VIP)
    assert r1.stop() == 0 and "Traceback" not in r1.log_text()
