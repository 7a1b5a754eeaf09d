"""The checker scheduling keywords: read, checked, and no longer 'not supported'."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastvrrp.config import CheckResult, check_file
from fastvrrp.config.model import GlobalDefs
from fastvrrp.lvs.scheduling import CheckerScheduling

ETH = frozenset({"lo", "eth0", "eth1"})


def check(tmp_path: Path, global_defs: str) -> CheckResult:
    path = tmp_path / "keepalived.conf"
    path.write_text(f"global_defs {{\n{global_defs}}}\n"
                    "virtual_server 198.18.0.100 80 {\n    protocol TCP\n"
                    "    real_server 198.18.0.11 80 {\n        TCP_CHECK {\n        }\n    }\n}\n")
    return check_file(str(path), "node1", interfaces=ETH)


def messages(result: CheckResult) -> list[tuple[int, str, str]]:
    return [(d.location.line, d.severity, d.message) for d in result.diagnostics]


def test_the_four_keywords_are_read_without_a_note(tmp_path: Path) -> None:
    result = check(tmp_path, "    checker_rt_priority 20\n    checker_priority -5\n"
                             "    checker_no_swap\n    checker_rlimit_rttime 50000\n")
    assert [m for m in messages(result) if m[0] <= 5] == []
    assert result.config is not None
    g = result.config.global_defs
    assert (g.checker_rt_priority, g.checker_priority, g.checker_no_swap,
            g.checker_rlimit_rttime) == (20, -5, True, 50000)


def test_checker_rlimit_rtime_is_the_old_spelling(tmp_path: Path) -> None:
    result = check(tmp_path, "    checker_rlimit_rtime 20000\n")
    assert result.config is not None
    assert result.config.global_defs.checker_rlimit_rttime == 20000
    assert not [m for m in messages(result) if "not supported" in m[2]]


def test_a_priority_out_of_1_99_is_clamped_as_keepalived_does(tmp_path: Path) -> None:
    result = check(tmp_path, "    checker_rt_priority 100\n")
    assert (2, "warning", "checker process real-time priority 100 greater than maximum 99 - "
                          "setting to maximum") in messages(result)
    assert result.config is not None and result.config.global_defs.checker_rt_priority == 99


def test_bad_values_are_errors_with_their_file_and_line(tmp_path: Path) -> None:
    result = check(tmp_path, "    checker_rt_priority abc\n    checker_priority -21\n"
                             "    checker_rlimit_rttime 0\n")
    found = [m for m in messages(result) if m[1] == "error"]
    assert sorted(found) == sorted([
        (2, "error", "invalid number 'abc'"),
        (2, "error", "checker process real-time priority 'abc' invalid"),
        (3, "error", "number '-21' outside range [-20, 19]"),
        (3, "error", "Invalid checker process priority specified"),
        (4, "error", "number '0' outside range [1, 4294967295]"),
        (4, "error", "Invalid checker real-time limit - 0")])
    assert result.exit_code != 0
    assert all(d.location.file.endswith("keepalived.conf") for d in result.diagnostics)


def test_sched_rr_1_is_the_default_unless_turned_off() -> None:
    assert CheckerScheduling.of(GlobalDefs(), True) == CheckerScheduling(1, rt_default=True)
    assert CheckerScheduling.of(GlobalDefs(), False) == CheckerScheduling()
    configured = GlobalDefs(checker_rt_priority=30, checker_priority=-3)
    assert CheckerScheduling.of(configured, False) == CheckerScheduling(30, False, -3)


WITHOUT_SYS_NICE = """
import logging, sys
from fastvrrp.lvs.scheduling import CheckerScheduling, CheckerThread
logging.basicConfig(stream=sys.stdout, format="%(levelname)s %(message)s")
thread = CheckerThread(logging.getLogger("fastvrrp"))
thread.apply(CheckerScheduling(rt_priority=20, nice=-5))
thread.apply(CheckerScheduling(rt_priority=1, rt_default=True))
thread.restore()
print("still running")
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to drop CAP_SYS_NICE")
def test_without_cap_sys_nice_each_setting_is_one_warning() -> None:
    proc = subprocess.run(["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice",
                           sys.executable, "-c", WITHOUT_SYS_NICE],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        "WARNING checker_rt_priority 20: cannot run the checker thread SCHED_RR: "
        "Operation not permitted",
        "WARNING checker_priority -5: cannot renice the checker thread: Permission denied",
        "WARNING cannot run the checker thread SCHED_RR 1 (fastvrrp's default; "
        "`fastvrrp run --no-realtime` turns it off): Operation not permitted",
        "still running"]
