"""vrrp_sync_group in the lab: a member's fault takes the whole group to the peer, and the
group's own notify and FIFO lines (`GROUP "G1" FAULT 0`) follow it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ops_helpers import (
    VIP2,
    Start,
    both_on,
    instance_block,
    lines,
    script_dir,
    under_both,
    write_script,
)

from fastvrrp.lab import Lab
from fastvrrp.lab.pytest_fixtures import LabFactory

pytestmark = pytest.mark.netns


def config(directory: Path, priority: int, tracking: str) -> str:
    """Group G1 of VI_1 and VI_2 (VI_2 with `tracking`); its hooks are in `directory`."""
    return f"""global_defs {{
    script_user root
    enable_script_security
    vrrp_notify_fifo {directory}/vrrp.fifo
    vrrp_notify_fifo_script {directory}/reader.sh
}}

vrrp_sync_group G1 {{
    group {{
        VI_1
        VI_2
    }}
    notify {directory}/notify.sh
}}

""" + (instance_block(priority, interval=0.5) + "\n"
           + instance_block(priority, name="VI_2", vrid=52, vips=(VIP2,), interval=0.5,
                            body=tracking))


def start(lab: Lab, node: str, priority: int, tracking: str = "",
          launch: Start | None = None) -> Path:
    directory = script_dir(lab, f"sync-{node}")
    write_script(directory / "notify.sh", f'#!/bin/sh\necho "$*" >> {directory}/notify.out\n')
    write_script(directory / "reader.sh", f'#!/bin/sh\nwhile IFS= read -r l; do echo "$l" >> '
                                          f'{directory}/fifo.out; done < "$1"\n')
    (launch or lab.start_fastvrrp)(node, config(directory, priority, tracking))
    return directory


def run_sequence(lab: Lab, launch: Start | None = None) -> Path:
    """r1 (100, started by `launch`, else fastvrrp) tracks trk0 in VI_2; r2 (90, fastvrrp);
    trk0 goes down and up."""
    lab.run("r1", ["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk0p"])
    lab.run("r1", ["ip", "link", "set", "trk0p", "up"])
    lab.run("r1", ["ip", "link", "set", "trk0", "up"])
    d1 = start(lab, "r1", 100, tracking="    track_interface {\n        trk0\n    }",
               launch=launch)
    assert lab.wait_for(lambda: both_on(lab, "r1"), timeout=8)
    d2 = start(lab, "r2", 90)  # after r1 is master: no election race at startup
    assert lab.wait_for(lambda: len(lines(d2 / "fifo.out")) >= 3, timeout=3)

    # Only VI_2 tracks trk0, but VI_1 goes with it: the peer gets both VIPs.
    lab.run("r1", ["ip", "link", "set", "trk0", "down"])
    assert lab.wait_for(lambda: both_on(lab, "r2"), timeout=4)
    lab.run("r1", ["ip", "link", "set", "trk0", "up"])
    assert lab.wait_for(lambda: both_on(lab, "r1"), timeout=6)
    assert lab.wait_for(lambda: len(lines(d1 / "notify.out")) >= 5, timeout=3)
    return d1


def test_a_member_fault_moves_the_whole_group_and_the_group_notifies(lab: Lab) -> None:
    d1 = run_sequence(lab)

    group_states = ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER"]
    assert lines(d1 / "notify.out") == [f"GROUP G1 {s} 0" for s in group_states]
    fifo = [line for line in lines(d1 / "fifo.out") if line.startswith("GROUP")]
    assert fifo == [f'GROUP "G1" {s} 0' for s in group_states]
    # Both members went through FAULT, and the FIFO has them in order around the group line.
    assert 'INSTANCE "VI_1" FAULT 100' in lines(d1 / "fifo.out")
    assert 'INSTANCE "VI_2" FAULT 100' in lines(d1 / "fifo.out")


@pytest.mark.interop
def test_group_notify_matches_keepalived(
    lab_factory: LabFactory, keepalived_ready: str | None
) -> None:
    theirs, ours = under_both(lab_factory, keepalived_ready, run_sequence)
    assert lines(ours / "notify.out") == lines(theirs / "notify.out")
    group = [line for line in lines(ours / "fifo.out") if line.startswith("GROUP")]
    assert group == [line for line in lines(theirs / "fifo.out") if line.startswith("GROUP")]
    # After startup (where keepalived writes the group line first) the members' lines come
    # before their group's line, as in keepalived (members among themselves: any order).
    assert in_blocks(lines(ours / "fifo.out")[3:15]) == in_blocks(lines(theirs / "fifo.out")[3:15])


def in_blocks(fifo: list[str]) -> list[tuple[list[str], str]]:
    """The FIFO lines as (sorted member lines, the group line that follows them)."""
    out: list[tuple[list[str], str]] = []
    members: list[str] = []
    for line in fifo:
        if line.startswith("GROUP"):
            out.append((sorted(members), line))
            members = []
        else:
            members.append(line)
    return out
