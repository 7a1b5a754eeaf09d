"""keepalived's checker_rt_priority, checker_priority, checker_no_swap and checker_rlimit_rttime.

keepalived runs its checkers in a process of their own and sets these on that process. fastvrrp
runs the checkers and the dataplane changes on the daemon's event loop, so they apply to the
thread that runs the loop (its main thread). Scripts and helper threads started from it do not
inherit them (SCHED_RESET_ON_FORK): a notify script or MISC_CHECK runs at normal priority.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
from dataclasses import dataclass

from fastvrrp.config import model as m

#: The SCHED_RR priority of the checker thread when the config names none (unless turned off):
#: the lowest real-time priority already runs ahead of every normal process.
DEFAULT_RT_PRIORITY = 1
MCL_CURRENT, MCL_FUTURE = 1, 2
REALTIME_POLICIES = (os.SCHED_RR, os.SCHED_FIFO)


@dataclass(frozen=True)
class CheckerScheduling:
    """What the checker thread should run with."""

    rt_priority: int | None = None
    #: True when rt_priority is fastvrrp's default rather than the config's.
    rt_default: bool = False
    nice: int | None = None
    no_swap: bool = False
    rlimit_rttime: int | None = None

    @classmethod
    def of(cls, g: m.GlobalDefs, realtime_default: bool) -> CheckerScheduling:
        """From global_defs; without checker_rt_priority, SCHED_RR 1 if `realtime_default`."""
        rt, default = g.checker_rt_priority, False
        if rt is None and realtime_default:
            rt, default = DEFAULT_RT_PRIORITY, True
        return cls(rt, default, g.checker_priority, g.checker_no_swap, g.checker_rlimit_rttime)


def _policy() -> int:
    return os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK


@dataclass
class CheckerThread:
    """Applies a CheckerScheduling to the calling thread, and puts back what it found."""

    logger: logging.Logger
    applied: CheckerScheduling | None = None
    _saved: tuple[int, int, int] | None = None  # policy, priority, nice
    _saved_rttime: tuple[int, int] | None = None

    def apply(self, wanted: CheckerScheduling) -> None:
        """Set the calling thread's scheduling; each failure is one warning, never an error."""
        if wanted == self.applied or (self.applied is None and wanted == CheckerScheduling()):
            return
        if self._saved is None:
            self._saved = (_policy(), os.sched_getparam(0).sched_priority,
                           os.getpriority(os.PRIO_PROCESS, 0))
        self._set_policy(wanted)
        if wanted.nice is not None:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, wanted.nice)  # 0: this thread (Linux)
            except OSError as exc:
                self.logger.warning("checker_priority %d: cannot renice the checker thread: %s",
                                    wanted.nice, exc.strerror)
        elif self.applied is not None and self.applied.nice is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, self._saved[2])
        if wanted.rlimit_rttime is not None and wanted.rt_priority is not None:
            self._set_rttime(wanted.rlimit_rttime)
        else:
            self._restore_rttime()
        if wanted.no_swap and not (self.applied is not None and self.applied.no_swap):
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
                self.logger.warning("checker_no_swap: cannot lock the daemon's memory: %s",
                                    os.strerror(ctypes.get_errno()))
        self.applied = wanted

    def _set_policy(self, wanted: CheckerScheduling) -> None:
        assert self._saved is not None
        if wanted.rt_priority is None:
            # Back to what the thread had (a thread started real-time by chrt stays so).
            policy, priority = self._saved[:2]
        elif wanted.rt_default and self._saved[0] in REALTIME_POLICIES:
            return  # already real-time from outside (chrt): the default does not lower it
        else:
            policy, priority = os.SCHED_RR, wanted.rt_priority
        try:
            os.sched_setscheduler(0, policy | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
        except OSError as exc:
            if wanted.rt_priority is None:
                return
            if wanted.rt_default:
                self.logger.warning(
                    "cannot run the checker thread SCHED_RR %d (fastvrrp's default; "
                    "`fastvrrp run --no-realtime` turns it off): %s", priority, exc.strerror)
            else:
                self.logger.warning("checker_rt_priority %d: cannot run the checker thread "
                                    "SCHED_RR: %s", priority, exc.strerror)

    def _set_rttime(self, micros: int) -> None:
        try:
            if self._saved_rttime is None:
                self._saved_rttime = resource.getrlimit(resource.RLIMIT_RTTIME)
            # Past the soft limit the kernel sends SIGXCPU, which ends the daemon as it ends
            # keepalived's checker process: a real-time loop that never blocks is a bug.
            hard = self._saved_rttime[1]
            if hard != resource.RLIM_INFINITY:
                hard = max(hard, micros)
            resource.setrlimit(resource.RLIMIT_RTTIME, (micros, hard))
        except (OSError, ValueError) as exc:
            self.logger.warning("checker_rlimit_rttime %d: cannot set RLIMIT_RTTIME: %s",
                                micros, exc)

    def _restore_rttime(self) -> None:
        if self._saved_rttime is not None:
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(resource.RLIMIT_RTTIME, self._saved_rttime)
            self._saved_rttime = None

    def restore(self) -> None:
        """Put back the scheduling the thread had before apply() (memory stays locked)."""
        if self._saved is None:
            return
        policy, priority, nice = self._saved
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, os.sched_param(priority))
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        self._restore_rttime()
        self._saved = None
        self.applied = None
