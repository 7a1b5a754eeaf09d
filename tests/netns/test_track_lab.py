"""Trackers in the lab: fastvrrp on r1 (priority 100) and r2 (90), r1 tracking something.

What a user sees: who holds the VIP, and the priority r1 puts in its adverts.
"""

from __future__ import annotations

import os
import time

import pytest
from ops_helpers import VIP, instance_block, script_dir, write_script

from fastvrrp.lab import Lab, LabProcess, PacketKind

pytestmark = pytest.mark.netns

R1 = "198.18.0.1"


def start(lab: Lab, node: str, priority: int, advert: float = 0.5, blocks: str = "",
          tracking: str = "") -> LabProcess:
    """fastvrrp in `node`: VI_1 with `tracking` lines, after the tracker `blocks`."""
    conf = f"""global_defs {{
    script_user root
    enable_script_security
}}
{blocks}
""" + instance_block(priority, interval=advert, body=tracking)
    return lab.start_fastvrrp(node, conf)


def test_track_interface_faults_within_one_advert_interval_and_weights_move_priority(
    lab: Lab,
) -> None:
    for name in ("trk0", "trk1"):  # veth pairs inside r1 (no dummy module here)
        lab.run("r1", ["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"])
        lab.run("r1", ["ip", "link", "set", f"{name}p", "up"])
        lab.run("r1", ["ip", "link", "set", name, "up"])
    start(lab, "r1", 100, tracking="    track_interface {\n        trk0\n"
                                   "        trk1 weight -30\n    }")
    start(lab, "r2", 90)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)

    # A weighted interface going down lowers the priority (100 - 30 < 90): r2 takes over.
    with lab.capture(duration=10.0) as cap:
        lab.run("r1", ["ip", "link", "set", "trk1", "down"])
        lowered = cap.wait_for(lambda p: p.src_ip == R1 and p.priority == 70, 2.0)
        assert lowered is not None
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=4)
        lab.run("r1", ["ip", "link", "set", "trk1", "up"])
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=4)

    # An unweighted one faults the instance: the master says priority 0 at once.
    with lab.capture(duration=5.0) as cap:
        t0 = time.monotonic()
        lab.run("r1", ["ip", "link", "set", "trk0", "down"])
        bye = cap.wait_for(
            lambda p: p.kind is PacketKind.ADVERT and p.src_ip == R1 and p.priority == 0, 2.0)
    assert bye is not None
    assert bye.time - t0 < 0.5  # within one advert interval
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=2)
    lab.run("r1", ["ip", "link", "set", "trk0", "up"])
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=4)


def test_track_file_follows_writes(lab: Lab) -> None:
    directory = script_dir(lab, "trackfile")
    value = directory / "prio"
    blocks = (f'track_file tf {{\n    file "{value}"\n    weight 1\n    init_file 0 overwrite\n}}'
              "\n")
    start(lab, "r1", 100, blocks=blocks, tracking="    track_file {\n        tf\n    }")
    start(lab, "r2", 90)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    with lab.capture(duration=10.0) as cap:
        value.write_text("-25\n")
        assert cap.wait_for(lambda p: p.src_ip == R1 and p.priority == 75, 2.0) is not None
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=4)
        tmp = directory / "prio.tmp"
        tmp.write_text("5\n")
        os.rename(tmp, value)  # replaced atomically, as config tools do
        assert cap.wait_for(lambda p: p.src_ip == R1 and p.priority == 105, 4.0) is not None
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=4)


def test_a_hanging_check_is_killed_at_its_timeout_and_faults_the_instance(lab: Lab) -> None:
    directory = script_dir(lab, "hang")
    script = write_script(directory / "hang.sh", "#!/bin/sh\nexec sleep 1000\n")
    blocks = f'vrrp_script chk_hang {{\n    script "{script}"\n    interval 1\n    timeout 1\n}}\n'
    r1_log = start(lab, "r1", 100, blocks=blocks,
                   tracking="    track_script {\n        chk_hang\n    }")
    start(lab, "r2", 90)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=6)
    assert lab.wait_for(lambda: "timed out" in r1_log.log_text(), timeout=3)
    assert "Entering FAULT STATE" in r1_log.log_text()
    # Never more than the one run in flight: each is killed at its timeout. pgrep sees the
    # whole host: count only r1's (its network namespace), not another session's.
    for _ in range(10):
        running = lab.run("r1", ["pgrep", "--ns", str(r1_log.pid), "--nslist", "net", "-fc",
                                 "sleep 1000"], check=False).stdout.strip()
        assert int(running or 0) <= 1
        time.sleep(0.2)


def test_track_process_quorum(lab: Lab) -> None:
    marker = str(40000 + os.getpid() % 10000)
    blocks = (f"vrrp_track_process daemon {{\n    process sleep {marker}\n    weight 0\n"
              "    delay 0.2\n}\n")
    start(lab, "r1", 100, blocks=blocks, tracking="    track_process {\n        daemon\n    }")
    start(lab, "r2", 90)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=5)  # r1: no process, FAULT
    sleeper = lab.spawn("r1", ["sleep", marker])
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    sleeper.stop()
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=5)


def test_an_insecure_check_script_is_disabled_and_the_log_says_why(lab: Lab) -> None:
    directory = script_dir(lab, "insecure")
    directory.chmod(0o777)  # anyone may replace the script
    script = write_script(directory / "chk.sh", "#!/bin/sh\nexit 1\n")
    blocks = f'vrrp_script chk {{\n    script "{script}"\n    interval 0.2\n}}\n'
    r1 = start(lab, "r1", 100, blocks=blocks, tracking="    track_script {\n        chk\n    }")
    start(lab, "r2", 90)
    # A failing unweighted check would fault r1; disabled, it changes nothing.
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    assert f"directory {directory} is writable by everyone" in r1.log_text()
    assert "Entering FAULT STATE" not in r1.log_text()
