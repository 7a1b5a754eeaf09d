"""`fastvrrp run` puts its VRRP engine thread on real-time scheduling unless told not to."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from fastvrrp.lab import Lab, LabProcess

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"


def config(global_defs: str = "") -> str:
    return (
        f"global_defs {{\n    router_id r1\n{global_defs}}}\n"
        "vrrp_instance VI_1 {\n"
        "    state MASTER\n"
        "    interface eth0\n"
        "    virtual_router_id 51\n"
        "    priority 100\n"
        "    advert_int 1\n"
        f"    virtual_ipaddress {{\n        {VIP}/24\n    }}\n"
        "}\n"
    )


def engine_task(proc: LabProcess) -> Path:
    """/proc/PID/task/TID of the daemon's fastvrrp-engine thread."""
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        if (task / "comm").read_text().strip() == "fastvrrp-engine":
            return task
    raise AssertionError(f"no engine thread in {proc}:\n{proc.log_text()}")


def engine_scheduling(proc: LabProcess) -> tuple[int, int]:
    """(policy, real-time priority) of the daemon's fastvrrp-engine thread."""
    tid = int(engine_task(proc).name)
    return os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority


def engine_slice_ns(proc: LabProcess) -> int | None:
    """The engine thread's EEVDF slice (`se.slice`), where the kernel shows it (6.6+)."""
    for line in (engine_task(proc) / "sched").read_text().splitlines():
        if line.startswith("se.slice"):
            return int(line.split(":")[1])
    return None


def kernel_at_least(major: int, minor: int) -> bool:
    found = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return found is not None and (int(found[1]), int(found[2])) >= (major, minor)


def started(lab: Lab, conf: str, extra_args: tuple[str, ...] = ()) -> LabProcess:
    r1 = lab.start_fastvrrp("r1", conf, extra_args)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), r1.log_text()
    return r1


def test_the_engine_thread_runs_sched_rr_2_by_default(lab: Lab) -> None:
    r1 = started(lab, config())
    assert engine_scheduling(r1) == (os.SCHED_RR, 2)
    assert "cannot set SCHED_RR" not in r1.log_text()
    assert r1.stop() == 0


def test_vrrp_rt_priority_sets_the_engine_priority(lab: Lab) -> None:
    r1 = started(lab, config("    vrrp_rt_priority 30\n"))
    assert engine_scheduling(r1) == (os.SCHED_RR, 30)
    assert r1.stop() == 0


def test_no_realtime_keeps_the_engine_on_normal_scheduling(lab: Lab) -> None:
    r1 = started(lab, config(), ("--no-realtime",))
    assert engine_scheduling(r1) == (os.SCHED_OTHER, 0)
    # The shortest slice the kernel allows: a timer wake-up preempts a busy process at once
    # (Linux 6.12+ takes the request; older kernels keep their default).
    if kernel_at_least(6, 12) and engine_slice_ns(r1) is not None:
        assert engine_slice_ns(r1) == 100_000
    assert r1.stop() == 0
