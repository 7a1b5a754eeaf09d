"""vrrp_track_process: how many matching processes run, from /proc read every `POLL` seconds.

Each poll lists /proc and reads only processes it has not seen settle (see `ProcessTable`), so
a poll costs a directory listing, not a read of every process.

A process matches on its name (/proc/PID/comm) unless parameters or `full_command` are given;
then /proc/PID/cmdline is compared (exactly, or `partial`/`initial` for the parameters).
The status is up while `quorum <= count <= quorum_max`; a change must last `fork_delay`
(going up) or `terminate_delay` (going down) before it counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from fastvrrp.config.model import TrackProcess
from fastvrrp.track.base import Tracker, TrackerWatch, cancel

#: How often /proc is scanned.
POLL = 0.2


def matches(block: TrackProcess, comm: str, cmdline: Sequence[str]) -> bool:
    """Whether a process with `comm` and `cmdline` is one `block` tracks."""
    if block.process is None:
        return False
    if not block.parameters and block.param_match == "exact" and not block.full_command:
        return comm == block.process[:15]
    if not cmdline:
        return False
    if block.full_command and not block.parameters:
        return " ".join(cmdline) == block.process
    if cmdline[0] != block.process and os.path.basename(cmdline[0]) != block.process:
        return False
    args = list(cmdline[1:])
    want = list(block.parameters)
    if block.param_match == "exact":
        return args == want
    if len(args) < len(want):
        return False
    if block.param_match == "partial":
        return args[: len(want)] == want
    # initial: the last wanted parameter may be the start of the real one
    if not want:
        return True
    return args[: len(want) - 1] == want[:-1] and args[len(want) - 1].startswith(want[-1])


def read_process(pid: int) -> tuple[str, list[str]] | None:
    """A process's name and argv from /proc; None for kernel threads and vanished processes."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as handle:
            comm = handle.read().decode(errors="replace").rstrip("\n")
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    if not raw:
        return None
    return comm, [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]


class ProcessTable:
    """What runs, from /proc, read incrementally: only new processes are read.

    A process is read again on its first `YOUNG_SCANS` scans (a fork's child usually execs right
    away), and every process is read again every `FULL_EVERY` scans (a renamed process).
    """

    YOUNG_SCANS = 5
    FULL_EVERY = 50

    def __init__(self) -> None:
        self.processes: dict[int, tuple[str, list[str]]] = {}
        self._seen: dict[int, int] = {}
        self._scans = 0

    def refresh(self) -> None:
        """Bring the table up to date with /proc."""
        self._scans += 1
        full = self._scans % self.FULL_EVERY == 0
        own = os.getpid()
        live = {int(e) for e in os.listdir("/proc") if e.isdigit()}
        live.discard(own)
        for pid in list(self.processes):
            if pid not in live:
                del self.processes[pid]
        for pid in list(self._seen):
            if pid not in live:
                del self._seen[pid]
        for pid in live:
            seen = self._seen.get(pid, 0)
            if seen >= self.YOUNG_SCANS and not full:
                continue
            self._seen[pid] = seen + 1
            info = read_process(pid)
            if info is None:
                self.processes.pop(pid, None)
            else:
                self.processes[pid] = info

    def counts(self, blocks: Sequence[TrackProcess]) -> dict[str, int]:
        """How many processes match each block, by block name."""
        counts = {b.name: 0 for b in blocks}
        for comm, cmdline in self.processes.values():
            for block in blocks:
                if matches(block, comm, cmdline):
                    counts[block.name] += 1
        return counts


def scan(blocks: Sequence[TrackProcess]) -> dict[str, int]:
    """How many running processes match each block, from a fresh read of /proc."""
    table = ProcessTable()
    table.refresh()
    return table.counts(blocks)


class ProcessTracker(Tracker):
    """One vrrp_track_process block."""

    kind = "process"

    def __init__(self, block: TrackProcess, logger: logging.Logger) -> None:
        super().__init__(block.name)
        self.block = block
        self.logger = logger
        self.count = 0
        self.ok = False
        self._pending_since: float | None = None
        #: Counted at least once (a tracker kept across a reload is not "first" again).
        self.counted = False

    def quorum_met(self, count: int) -> bool:
        """Whether `count` processes is within the quorum."""
        high = self.block.quorum_max
        return count >= self.block.quorum and (high is None or count <= high)

    def update(self, count: int, now: float, first: bool = False) -> None:
        """Take a new count at time `now`; the status changes once the delay has passed."""
        self.count = count
        first = first and not self.counted
        self.counted = True
        want = self.quorum_met(count)
        if want == self.ok:
            self._pending_since = None
            return
        if first:
            self.ok = want
            return
        if self._pending_since is None:
            self._pending_since = now
        delay = self.block.fork_delay if want else self.block.terminate_delay
        delay = delay or self.block.delay
        if now - self._pending_since < delay:
            return
        self._pending_since = None
        self.ok = want
        self.logger.info("Quorum %s for tracked process %s (%d running)",
                         "gained" if want else "lost", self.name, count)
        self.changed()


class ProcessWatcher(TrackerWatch[ProcessTracker]):
    """Scans /proc for every tracked process block together."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self._table = ProcessTable()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the first count now, then scan periodically."""
        await super().start()
        if not self.trackers:
            return
        loop = asyncio.get_running_loop()
        self._table.refresh()
        counts = self._table.counts([t.block for t in self.trackers])
        for tracker in self.trackers:
            tracker.update(counts[tracker.name], loop.time(), first=True)
        self._task = loop.create_task(self._loop())

    async def stop(self) -> None:
        """Stop scanning."""
        await cancel(self._task)
        self._task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        blocks = [t.block for t in self.trackers]
        while True:
            await asyncio.sleep(POLL)
            self._table.refresh()
            counts = self._table.counts(blocks)
            for tracker in self.trackers:
                tracker.update(counts[tracker.name], loop.time())
