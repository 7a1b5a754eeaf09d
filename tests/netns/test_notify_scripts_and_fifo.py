"""Notify scripts' arguments and FIFO lines, in order, across a failover and a failback.

r1 (priority 100) and r2 (90) run fastvrrp; r1's link goes down (r2 takes over) and comes back
(r1 preempts); then r1 stops. Every hook writes what it was given to a file the test reads.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from ops_helpers import (
    VIP,
    Start,
    config_path,
    instance_block,
    lines,
    script_dir,
    under_both,
    write_script,
)

from fastvrrp.lab import Lab, LabProcess
from fastvrrp.lab.pytest_fixtures import LabFactory

pytestmark = pytest.mark.netns

RECORD = """\
#!/bin/sh
echo "$*" >> {out}
"""

# keepalived starts this with the FIFO's path as the last argument.
FIFO_READER = """\
#!/bin/sh
while IFS= read -r line; do echo "$line" >> {out}; done < "$1"
"""

#: The hooks `config` names: script, its text, the file it records to.
HOOKS = (("notify.sh", RECORD, "notify.out"), ("state.sh", RECORD, "state.out"),
         ("fifo-reader.sh", FIFO_READER, "fifo.out"))


def config(node: str, directory: Path, priority: int) -> str:
    """VI_1 with every notify script and the VRRP FIFO, its hooks in `directory`."""
    return f"""global_defs {{
    router_id {node}
    script_user root
    enable_script_security
    vrrp_notify_fifo {directory}/vrrp.fifo
    vrrp_notify_fifo_script {directory}/fifo-reader.sh
}}

""" + instance_block(priority, interval=0.2, body=f"""\
    notify_master "{directory}/state.sh master"
    notify_backup "{directory}/state.sh backup"
    notify_fault "{directory}/state.sh fault"
    notify_stop "{directory}/state.sh stop"
    notify {directory}/notify.sh""")


def hooks_dir(lab: Lab, name: str) -> Path:
    """A script directory holding the HOOKS."""
    directory = script_dir(lab, name)
    for script, text, out in HOOKS:
        write_script(directory / script, text.format(out=directory / out))
    return directory


def start_node(lab: Lab, node: str, priority: int) -> tuple[Path, LabProcess]:
    directory = hooks_dir(lab, f"notify-{node}")
    return directory, lab.start_fastvrrp(node, config(node, directory, priority))


def test_notify_arguments_and_fifo_lines_in_order(lab: Lab) -> None:
    d1, r1 = start_node(lab, "r1", 100)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    d2, _ = start_node(lab, "r2", 90)  # after r1 is master: no election race at startup
    assert lab.wait_for(lambda: len(lines(d2 / "fifo.out")) >= 1, timeout=3)

    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=3)
    assert lab.wait_for(lambda: len(lines(d1 / "fifo.out")) >= 3, timeout=3)
    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    r1.stop()
    assert lab.wait_for(lambda: len(lines(d1 / "notify.out")) >= 6, timeout=3)
    assert lab.wait_for(lambda: len(lines(d1 / "state.out")) >= 6, timeout=3)

    r1_states = ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "STOP"]
    assert lines(d1 / "notify.out") == [f"INSTANCE VI_1 {s} 100" for s in r1_states]
    assert lines(d1 / "state.out") == [s.lower() for s in r1_states]
    assert lines(d1 / "fifo.out") == [f'INSTANCE "VI_1" {s} 100' for s in r1_states]

    # r2: takes over on r1's link down, yields on r1's return, takes over when r1 stops.
    assert lab.wait_for(lambda: len(lines(d2 / "fifo.out")) >= 4, timeout=3)
    assert lab.wait_for(lambda: len(lines(d2 / "notify.out")) >= 4, timeout=3)
    r2_states = ["BACKUP", "MASTER", "BACKUP", "MASTER"]
    assert lines(d2 / "notify.out") == [f"INSTANCE VI_1 {s} 90" for s in r2_states]
    assert lines(d2 / "fifo.out") == [f'INSTANCE "VI_1" {s} 90' for s in r2_states]
    assert not (d1 / "vrrp.fifo").exists()  # created by fastvrrp, removed when it stopped


def test_a_reload_notifies_only_the_instances_it_adds(lab: Lab) -> None:
    d1, r1 = start_node(lab, "r1", 100)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    assert lab.wait_for(lambda: len(lines(d1 / "notify.out")) >= 2, timeout=3)
    assert lines(d1 / "notify.out") == ["INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100"]

    conf = config_path(r1)
    text = conf.read_text()
    added = text[text.index("vrrp_instance"):].replace("VI_1", "VI_2").replace(
        "virtual_router_id 51", "virtual_router_id 52").replace(VIP, "198.18.0.101")
    conf.write_text(text + added)
    r1.send_signal(signal.SIGHUP)
    assert lab.wait_for(lambda: "Reload finished" in r1.log_text(), timeout=5), r1.log_text()
    assert lab.wait_for(lambda: lab.holders("198.18.0.101") == ["r1"], timeout=5)
    assert lab.wait_for(lambda: len(lines(d1 / "fifo.out")) >= 4, timeout=3)
    time.sleep(0.3)
    # VI_1 went on running: nothing about it; VI_2 is new: its start is notified.
    assert lines(d1 / "fifo.out") == [
        'INSTANCE "VI_1" BACKUP 100', 'INSTANCE "VI_1" MASTER 100',
        'INSTANCE "VI_2" BACKUP 100', 'INSTANCE "VI_2" MASTER 100',
    ]
    lab.link_down("r1")  # and the reloaded notifier still reports transitions
    assert lab.wait_for(
        lambda: sorted(lines(d1 / "fifo.out")[-2:]) == ['INSTANCE "VI_1" FAULT 100',
                                                         'INSTANCE "VI_2" FAULT 100'],
        timeout=3)


def run_sequence(lab: Lab, start: Start) -> dict[str, list[str]]:
    """r1 (priority 100) under `start`, r2 (90) under fastvrrp; link down, up, then stop r1."""
    directory = hooks_dir(lab, "r1-hooks")
    r1 = start("r1", config("r1", directory, 100))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=8)
    lab.start_fastvrrp("r2", config("r2", hooks_dir(lab, "r2-hooks"), 90))
    assert lab.wait_for(lambda: len(lines(directory / "fifo.out")) >= 2, timeout=3)
    lab.link_down("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=3)
    lab.link_up("r1")
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    r1.stop()
    assert lab.wait_for(lambda: len(lines(directory / "notify.out")) >= 6, timeout=3)
    assert lab.wait_for(lambda: len(lines(directory / "state.out")) >= 6, timeout=3)
    return {name: lines(directory / name) for name in ("notify.out", "state.out", "fifo.out")}


@pytest.mark.interop
def test_notify_and_fifo_match_keepalived(
    lab_factory: LabFactory, keepalived_ready: str | None
) -> None:
    theirs, ours = under_both(lab_factory, keepalived_ready, run_sequence)
    assert ours["notify.out"] == theirs["notify.out"]
    assert ours["state.out"] == theirs["state.out"]
    # keepalived 2.2.7 ends its FIFO reader before the reader gets the last line (STOP);
    # fastvrrp closes the FIFO instead, so the reader reads STOP and then end-of-file.
    assert theirs["fifo.out"][-1] != 'INSTANCE "VI_1" STOP 100'
    assert ours["fifo.out"] == [*theirs["fifo.out"], 'INSTANCE "VI_1" STOP 100']


ADDRESSES_AT_STOP = """\
#!/bin/sh
ip -o -4 addr show dev eth0 > {out}
"""


def test_notify_stop_runs_after_the_master_dropped_its_vip(lab: Lab) -> None:
    # keepalived sends priority 0 and removes the VIPs before notify_stop: a stop script that
    # restarts a service bound to the VIP must not find the VIP still there.
    directory = script_dir(lab, "notify-stop")
    script = write_script(directory / "at-stop.sh",
                          ADDRESSES_AT_STOP.format(out=directory / "addresses.out"))
    conf = config("r1", directory, 100).replace(f'notify_stop "{directory}/state.sh stop"',
                                                f"notify_stop {script}")
    r1 = lab.start_fastvrrp("r1", conf)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    r1.stop()
    assert lab.wait_for(lambda: (directory / "addresses.out").exists(), timeout=3)
    seen = (directory / "addresses.out").read_text()
    assert "198.18.0.1/24" in seen  # the script ran and saw the node's own address
    assert VIP not in seen
