"""`checker_rt_priority` and friends put the daemon's checker thread on the scheduling asked for;
scripts it starts run at normal priority."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastvrrp.lab import Lab, LabProcess

pytestmark = pytest.mark.netns


def config(tmp_path: Path, global_defs: str) -> str:
    # A MISC_CHECK script reports the scheduling it runs with, as `chrt -p` prints it.
    script = tmp_path / "sched.sh"
    script.write_text(f"#!/bin/sh\nchrt -p $$ > {tmp_path}/script.sched.tmp\n"
                      f"mv {tmp_path}/script.sched.tmp {tmp_path}/script.sched\n")
    script.chmod(0o755)
    return f"""
global_defs {{
    router_id r1
    lvs_backend nftables
{global_defs}}}
virtual_server 198.18.0.100 80 {{
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 198.18.0.11 80 {{
        MISC_CHECK {{
            misc_path {script}
            delay_loop 1
        }}
    }}
}}
"""


def started(lab: Lab, tmp_path: Path, text: str, extra_args: tuple[str, ...] = ()) -> LabProcess:
    daemon = lab.start_fastvrrp("r1", config(tmp_path, text), extra_args)
    assert lab.wait_for(lambda: (tmp_path / "script.sched").exists(), 10, 0.05), \
        daemon.log_text()
    return daemon


def checker_thread(daemon: LabProcess) -> tuple[int, int, int]:
    """(policy, real-time priority, nice) of the daemon's main thread, which runs the checkers."""
    policy = os.sched_getscheduler(daemon.pid) & ~os.SCHED_RESET_ON_FORK
    # Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value.
    stat = Path(f"/proc/{daemon.pid}/task/{daemon.pid}/stat").read_text()
    nice = int(stat.rsplit(")", 1)[1].split()[16])
    return policy, os.sched_getparam(daemon.pid).sched_priority, nice


def chrt(pid: int) -> str:
    return subprocess.run(["chrt", "-p", str(pid)], capture_output=True, text=True,
                          check=True).stdout


def test_checker_rt_priority_runs_the_checker_thread_sched_rr(lab: Lab, tmp_path: Path) -> None:
    daemon = started(lab, tmp_path, "    checker_rt_priority 20\n    checker_no_swap\n"
                                    "    checker_rlimit_rttime 500000\n")
    assert checker_thread(daemon) == (os.SCHED_RR, 20, 0)
    assert "SCHED_RR|SCHED_RESET_ON_FORK" in chrt(daemon.pid)
    assert "scheduling priority: 20" in chrt(daemon.pid)
    # Scripts do not inherit it.
    assert "policy: SCHED_OTHER" in (tmp_path / "script.sched").read_text()
    status = Path(f"/proc/{daemon.pid}/status").read_text()
    locked = int(status.split("VmLck:")[1].split()[0])
    assert locked > 0, status
    limits = Path(f"/proc/{daemon.pid}/limits").read_text()
    assert any(line.startswith("Max realtime timeout") and line.split()[3] == "500000"
               for line in limits.splitlines()), limits
    log = daemon.log_text()
    assert "not supported" not in log and "cannot" not in log, log
    assert daemon.stop() == 0


def test_checker_priority_renices_the_checker_thread(lab: Lab, tmp_path: Path) -> None:
    daemon = started(lab, tmp_path, "    checker_priority -7\n")
    assert checker_thread(daemon) == (os.SCHED_RR, 1, -7)
    assert daemon.stop() == 0


def test_sched_rr_1_by_default_and_normal_with_no_realtime(lab: Lab, tmp_path: Path) -> None:
    daemon = started(lab, tmp_path, "")
    assert checker_thread(daemon)[:2] == (os.SCHED_RR, 1)
    assert daemon.stop() == 0
    (tmp_path / "script.sched").unlink()
    daemon = started(lab, tmp_path, "", ("--no-realtime",))
    assert checker_thread(daemon)[:2] == (os.SCHED_OTHER, 0)
    assert daemon.stop() == 0


def test_the_config_check_no_longer_says_not_supported(tmp_path: Path) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(config(tmp_path, "    checker_rt_priority 20\n    checker_priority -5\n"
                                     "    checker_no_swap\n    checker_rlimit_rttime 50000\n"))
    proc = subprocess.run([sys.executable, "-m", "fastvrrp", "check", "-f", str(path)],
                          capture_output=True, text=True, check=False)
    said = proc.stdout + proc.stderr
    assert "error" not in said and "not supported" not in said, said
    assert "checker_" not in said, said
