"""Trackers and keepalived's priority rules, with real scripts, files, inotify and /proc."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastvrrp.config.model import (
    NOWHERE,
    Command,
    TrackFile,
    TrackProcess,
    VrrpScript,
    VrrpSyncGroup,
)
from fastvrrp.notify.runner import ScriptResult, ScriptRunner
from fastvrrp.track import Effect, InstanceTracking, clamp, file_effect, status_effect
from fastvrrp.track.base import Tracker
from fastvrrp.track.file import FileTracker, FileWatcher, read_value
from fastvrrp.track.process import ProcessTracker, matches, scan
from fastvrrp.track.script import ScriptTracker
from fastvrrp.track.sync_group import SyncGroupState

LOG = logging.getLogger("test.track")


# --- the rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ok", "weight", "reverse", "delta", "faulted"),
    [
        (True, 0, False, 0, False),
        (False, 0, False, 0, True),  # weight 0: fault on failure
        (True, 0, True, 0, True),  # weight 0 reverse: fault while up
        (False, 0, True, 0, False),
        (True, 10, False, 10, False),  # positive: added while up
        (False, 10, False, 0, False),
        (True, -20, False, 0, False),
        (False, -20, False, -20, False),  # negative: subtracted while down
        (True, 10, True, -10, False),  # reverse: decreased while up
        (False, -20, True, 20, False),  # reverse: increased while down
    ],
)
def test_status_effect_follows_keepalived(
    ok: bool, weight: int, reverse: bool, delta: int, faulted: bool
) -> None:
    effect = status_effect("chk", ok, weight, reverse)
    assert effect.delta == delta
    assert (effect.fault is not None) == faulted


def test_file_effect_multiplies_and_faults_below_minus_253() -> None:
    assert file_effect("f", 3, 10, False) == Effect(delta=30)
    assert file_effect("f", 3, 10, True) == Effect(delta=-30)
    assert file_effect("f", -5, 1, False) == Effect(delta=-5)
    assert file_effect("f", -254, 1, False).fault is not None
    assert file_effect("f", 0, 0, False) == Effect()
    assert file_effect("f", 7, 0, False).fault is not None  # weight 0: non-zero is a failure


def test_priority_is_clamped_and_the_owner_never_moves() -> None:
    assert clamp(100, -20) == 80
    assert clamp(100, -200) == 1
    assert clamp(200, 100) == 254
    assert clamp(255, -50) == 255
    tracking = InstanceTracking("VI_1", 100)
    tracking.set("script a", Effect(delta=-20))
    tracking.set("interface eth1", Effect(delta=5))
    assert tracking.priority == 85
    assert tracking.fault is None
    tracking.set("script b", Effect(fault="script b down"))
    assert tracking.fault == "script b down"


# --- sync groups ---------------------------------------------------------------------------


def test_sync_group_faults_the_others_and_reports_its_state() -> None:
    group = SyncGroupState(VrrpSyncGroup("G1", NOWHERE, group=("VI_1", "VI_2")))
    assert group.member_entered("VI_1", "BACKUP") is None  # VI_2 not known yet
    assert group.member_entered("VI_2", "BACKUP") == "BACKUP"
    assert group.member_entered("VI_1", "MASTER") is None  # mixed: no group change yet
    assert group.member_entered("VI_2", "MASTER") == "MASTER"
    group.set_own_fault("VI_1", True)
    assert group.sync_fault("VI_2") == "sync group G1: VI_1 in fault"
    assert group.sync_fault("VI_1") is None
    assert group.member_entered("VI_1", "FAULT") is None  # until VI_2 follows
    assert group.member_entered("VI_2", "FAULT") == "FAULT"
    group.set_own_fault("VI_1", False)
    assert group.sync_fault("VI_2") is None


# --- script tracker ----------------------------------------------------------------------


def make_script(tmp_path: Path, name: str, body: str, **fields: object) -> VrrpScript:
    path = tmp_path / f"{name}.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return VrrpScript(name, NOWHERE, script=Command(str(path)), **fields)  # type: ignore[arg-type]


def test_rise_and_fall_count_consecutive_results(tmp_path: Path) -> None:
    script = make_script(tmp_path, "chk", "exit 0\n", rise=2, fall=3)
    tracker = ScriptTracker(script, ScriptRunner(LOG), LOG)
    seen: list[bool] = []
    tracker.subscribe(lambda t: seen.append(t.ok))
    tracker.record(ScriptResult(0))  # the first result decides at once (here: still up)
    for code in (1, 1, 0, 1, 1, 1):  # the 0 breaks the first run of failures
        tracker.record(ScriptResult(code))
    assert seen == [False]
    tracker.record(ScriptResult(0))
    assert seen == [False]
    tracker.record(ScriptResult(0))
    assert seen == [False, True]


def test_the_first_result_decides_at_once(tmp_path: Path) -> None:
    tracker = ScriptTracker(make_script(tmp_path, "c", "exit 1\n", fall=3),
                            ScriptRunner(LOG), LOG)
    tracker.record(ScriptResult(1))
    assert not tracker.ok


def test_init_fail_starts_down(tmp_path: Path) -> None:
    tracker = ScriptTracker(make_script(tmp_path, "c", "exit 0\n", init_fail=True),
                            ScriptRunner(LOG), LOG)
    assert not tracker.ok


def test_a_hanging_script_is_killed_at_its_timeout_and_counts_as_a_failure(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "pid"
    script = make_script(tmp_path, "hang", f"echo $$ >> {pidfile}\nexec sleep 60\n",
                         interval=0.2, timeout=0.3, fall=1)

    async def main() -> tuple[bool, float]:
        runner = ScriptRunner(LOG)
        tracker = ScriptTracker(script, runner, LOG)
        changed = asyncio.Event()
        tracker.subscribe(lambda t: changed.set())
        t0 = time.monotonic()
        await tracker.start()
        await asyncio.wait_for(changed.wait(), 5)
        spent = time.monotonic() - t0
        await tracker.stop()
        await runner.close()
        return tracker.ok, spent

    ok, spent = asyncio.run(main())
    assert not ok
    assert 0.3 <= spent < 2.0
    for pid in pidfile.read_text().split():
        assert not Path(f"/proc/{pid}").exists()


def test_one_slow_script_does_not_delay_another(tmp_path: Path) -> None:
    slow = make_script(tmp_path, "slow", "sleep 1\n", interval=0.1, timeout=5)
    fast = make_script(tmp_path, "fast", "exit 1\n", interval=0.05, timeout=1, fall=3)

    async def main() -> float:
        runner = ScriptRunner(LOG)
        trackers = [ScriptTracker(s, runner, LOG) for s in (slow, fast)]
        down = asyncio.Event()
        trackers[1].subscribe(lambda t: down.set())
        t0 = time.monotonic()
        for t in trackers:
            await t.start()
        await asyncio.wait_for(down.wait(), 5)
        spent = time.monotonic() - t0
        for t in trackers:
            await t.stop()
        await runner.close()
        return spent

    assert asyncio.run(main()) < 0.8  # three fast failures while the slow one still runs


# --- track_file --------------------------------------------------------------------------


def test_read_value_reads_like_strtol(tmp_path: Path) -> None:
    path = tmp_path / "v"
    for text, value in (("42\n", 42), ("  -7 apples", -7), ("x", 0), ("", 0)):
        path.write_text(text)
        assert read_value(str(path)) == value
    assert read_value(str(tmp_path / "missing")) == 0


def test_track_file_follows_writes_and_replacements(tmp_path: Path) -> None:
    path = tmp_path / "prio"
    block = TrackFile("tf", NOWHERE, file=str(path), weight=1, init_file="yes", init_value=5)

    async def main() -> list[int]:
        watcher = FileWatcher(LOG)
        tracker = FileTracker(block, LOG)
        watcher.add(tracker)
        values: list[int] = []
        tracker.subscribe(lambda t: values.append(t.value))
        await watcher.start()
        assert tracker.value == 5  # init_file wrote it
        path.write_text("-10\n")  # rewritten in place
        await asyncio.sleep(0.1)
        other = tmp_path / "prio.new"
        other.write_text("20\n")
        os.rename(other, path)  # replaced by a rename
        await asyncio.sleep(0.1)
        path.unlink()
        await asyncio.sleep(0.1)
        await watcher.stop()
        return values

    assert asyncio.run(main()) == [-10, 20, 0]


# --- vrrp_track_process ------------------------------------------------------------------


def test_process_matching_rules() -> None:
    block = TrackProcess("p", NOWHERE, process="nginx")
    assert matches(block, "nginx", ["nginx: master process"])
    assert not matches(block, "nginx-debug", ["nginx-debug"])
    with_args = TrackProcess("p", NOWHERE, process="/usr/bin/python3", parameters=("-m", "srv"))
    assert matches(with_args, "python3", ["/usr/bin/python3", "-m", "srv"])
    assert not matches(with_args, "python3", ["/usr/bin/python3", "-m", "srv", "x"])
    partial = TrackProcess("p", NOWHERE, process="python3", parameters=("-m",),
                           param_match="partial")
    assert matches(partial, "python3", ["/usr/bin/python3", "-m", "srv"])
    initial = TrackProcess("p", NOWHERE, process="python3", parameters=("-m", "sr"),
                           param_match="initial")
    assert matches(initial, "python3", ["python3", "-m", "srv"])


def test_process_quorum_and_delay_with_real_processes(tmp_path: Path) -> None:
    marker = f"fvtrack{os.getpid()}"
    block = TrackProcess("p", NOWHERE, process=sys.executable,
                         parameters=("-c", f"import time; time.sleep(30) # {marker}"),
                         quorum=2, terminate_delay=0.5)
    tracker = ProcessTracker(block, LOG)
    procs = [subprocess.Popen(list((sys.executable, *block.parameters))) for _ in range(2)]
    try:
        time.sleep(0.1)
        assert scan([block])["p"] == 2
        tracker.update(2, 0.0, first=True)
        assert tracker.ok
        procs[0].kill()
        procs[0].wait()
        count = scan([block])["p"]
        assert count == 1
        tracker.update(count, 1.0)
        assert tracker.ok  # terminate_delay not over yet
        tracker.update(count, 1.6)
        assert not tracker.ok
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_tracker_listeners_hear_changes_only() -> None:
    tracker = Tracker("t")
    heard: list[str] = []
    tracker.subscribe(lambda t: heard.append(t.name))
    tracker.changed()
    assert heard == ["t"]
