"""Trackers across a SIGHUP, in a real `fastvrrp run`: what a script learnt survives a reload.

A failing weighted script keeps the instance's lowered priority through a reload that changes
something else (no advert goes out with the higher priority, even briefly), and a changed
script interval takes effect at once.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from ops_helpers import config_path, instance, instance_conf, ready, start, write_script

from fastvrrp.lab import Lab, LabProcess
from fastvrrp.lab.capture import PacketKind

pytestmark = pytest.mark.netns

R1 = "198.18.0.1"

# Slow to fail: a tracker that re-learnt it after a reload would show the base priority
# for 0.3 s, several adverts at advert_int 0.1.
SLOW_FAILURE = "#!/bin/sh\nsleep 0.3\nexit 1\n"
COUNTING = "#!/bin/sh\necho run >> {out}\n"


def globals_block(router_id: str) -> str:
    return f"global_defs {{\n    router_id {router_id}\n}}\n"


def vrrp_script(name: str, path: Path, interval: int, weight: int, timeout: int = 1) -> str:
    return (f"vrrp_script {name} {{\n    script \"{path}\"\n    interval {interval}\n"
            f"    timeout {timeout}\n    weight {weight}\n}}\n")


def reload_with(lab: Lab, proc: LabProcess, text: str) -> None:
    """Rewrite the config, SIGHUP the daemon, and wait until it says the reload finished."""
    done = proc.log_text().count("Reload finished")
    config_path(proc).write_text(text)
    proc.send_signal(signal.SIGHUP)
    assert lab.wait_for(lambda: proc.log_text().count("Reload finished") > done, 5), \
        proc.log_text()


def effective_priority(lab: Lab) -> int:
    return int(instance(lab, "r1")["data"]["effective_priority"])


def test_a_failing_script_keeps_the_lowered_priority_across_a_reload(lab: Lab) -> None:
    failing = write_script(Path(lab.workdir) / "fail.sh", SLOW_FAILURE)
    scripts = vrrp_script("chk_down", failing, interval=1, weight=-30)

    def conf(router_id: str) -> str:
        return instance_conf(150, extra=globals_block(router_id) + scripts, tracker="chk_down")

    r1 = start(lab, "r1", conf("before"))
    assert lab.wait_for(lambda: ready(lab, "r1"), 10)
    assert lab.wait_for(lambda: effective_priority(lab) == 120, 5), r1.log_text()
    changes = r1.log_text().count("Changing effective priority")
    with lab.capture(duration=10.0) as cap:
        time.sleep(0.5)
        reload_with(lab, r1, conf("after"))
        time.sleep(1.0)
        packets = cap.stop()
    adverts = [p for p in packets if p.kind is PacketKind.ADVERT and p.src_ip == R1]
    assert len(adverts) >= 10, packets
    assert {p.priority for p in adverts} == {120}
    assert effective_priority(lab) == 120
    assert r1.log_text().count("Changing effective priority") == changes, r1.log_text()


def test_a_changed_script_interval_takes_effect(lab: Lab) -> None:
    runs = Path(lab.workdir) / "runs"
    counting = write_script(Path(lab.workdir) / "count.sh", COUNTING.format(out=runs))

    def conf(interval: int) -> str:
        return instance_conf(150, extra=vrrp_script("chk_count", counting, interval, -10),
                             tracker="chk_count")

    def runs_in(seconds: float) -> int:
        before = len(runs.read_text().splitlines()) if runs.exists() else 0
        time.sleep(seconds)
        return len(runs.read_text().splitlines()) - before

    r1 = start(lab, "r1", conf(5))
    assert lab.wait_for(lambda: ready(lab, "r1") and runs.exists(), 10)
    assert runs_in(2.5) <= 1
    reload_with(lab, r1, conf(1))
    assert runs_in(2.5) >= 2
    assert effective_priority(lab) == 150
    assert "VRRP_Script(chk_count) changed" in r1.log_text()


def test_a_track_file_keeps_its_value_and_its_watch_across_a_reload(lab: Lab) -> None:
    value = Path(lab.workdir) / "weight"
    value.write_text("2\n")

    def conf(router_id: str) -> str:
        # init_file with overwrite: written at startup only, never again by a reload.
        block = (f'track_file tf {{\n    file "{value}"\n    weight -10\n'
                 f"    init_file 0 overwrite\n}}\n")
        text = instance_conf(150, extra=globals_block(router_id) + block)
        return text.replace("    }\n}", "    }\n    track_file {\n        tf\n    }\n}")

    r1 = start(lab, "r1", conf("before"))
    assert lab.wait_for(lambda: ready(lab, "r1"), 10)
    assert value.read_text().strip() == "0"
    value.write_text("2\n")
    assert lab.wait_for(lambda: effective_priority(lab) == 130, 5), r1.log_text()
    reload_with(lab, r1, conf("after"))
    assert value.read_text().strip() == "2"
    assert effective_priority(lab) == 130
    value.write_text("1\n")  # still watched after the reload
    assert lab.wait_for(lambda: effective_priority(lab) == 140, 5), r1.log_text()
