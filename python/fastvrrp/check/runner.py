"""Running checkers on schedule: one asyncio task per checker, no threads.

Each checker runs every `delay_loop` seconds. A failed attempt is retried `retry` times,
`delay_before_retry` apart, before the checker is declared down; one success brings it up.
Every attempt has a hard deadline, so a hung server costs a timeout, never a stuck loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fastvrrp.check.base import CheckFailed, Outcome, Probe

#: Called with (checker id, up, outcome or None, reason) whenever a checker changes verdict,
#: and for an up checker whose dynamic weight changes.
VerdictListener = Callable[[int, bool, Outcome | None, str], None]


@dataclass
class Schedule:
    """When one checker runs, from its config block."""

    delay_loop: float
    retry: int
    delay_before_retry: float
    warmup: float | None = None
    #: A fixed delay of the first check, so that many checkers do not all fire at once.
    offset: float = 0.0


@dataclass
class CheckRunner:
    """One checker's loop: schedule, attempts with a deadline, retries, verdicts."""

    ident: int
    probe: Probe
    schedule: Schedule
    on_verdict: VerdictListener
    up: bool = True
    label: str = ""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fastvrrp.check"))
    #: When set, attempts are skipped (ha_suspend) while it returns True.
    suspended: Callable[[], bool] | None = None
    #: When set, receives (due, started) monotonic times of each scheduled check (benchmarks).
    record: Callable[[float, float], None] | None = None
    last_outcome: Outcome | None = field(default_factory=Outcome)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _expired: bool = False

    def start(self) -> None:
        """Start the loop as a task of the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"check-{self.label}")

    async def stop(self) -> None:
        """Cancel the loop and wait until it has let go of its sockets and scripts."""
        if self._task is not None:
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """Check forever, every delay_loop, starting after a random warmup."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self.schedule.offset
        if self.schedule.warmup:
            due += random.uniform(0, self.schedule.warmup)
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            if self.record is not None:
                self.record(due, loop.time())
            if self.suspended is None or not self.suspended():
                await self.check_once()
            # Re-arm from the schedule, not from completion, so lateness never accumulates.
            due += self.schedule.delay_loop
            now = loop.time()
            if due < now:  # a long round of retries: skip the missed slots
                due = now

    async def check_once(self) -> bool:
        """One round: an attempt plus up to `retry` retries. Returns the verdict."""
        reason = ""
        for attempt in range(self.schedule.retry + 1):
            if attempt:
                await asyncio.sleep(self.schedule.delay_before_retry)
            try:
                outcome = await self._bounded_attempt()
            except asyncio.TimeoutError:
                reason = f"Timeout after {self.probe.deadline:g} s"
            except CheckFailed as exc:
                reason = str(exc)
            except OSError as exc:
                reason = f"error: {exc}"
            except Exception as exc:  # a checker bug must fail the check, not kill the loop
                reason = f"internal error: {type(exc).__name__}: {exc}"
                self.logger.warning("%s: %s", self.label, reason)
            else:
                self._verdict(True, outcome, "success")
                return True
            if self.up and attempt < self.schedule.retry:
                self.logger.debug("Check on %s failed (%s), retrying", self.label, reason)
        self._verdict(False, None, reason)
        return False

    async def _bounded_attempt(self) -> Outcome:
        """The probe's attempt, cancelled at its deadline. Cheaper than wait_for, which wraps
        each attempt in a task of its own: this matters at a thousand checks a second."""
        task = asyncio.current_task()
        if task is None:
            return await asyncio.wait_for(self.probe.attempt(), self.probe.deadline)
        self._expired = False
        timer = asyncio.get_running_loop().call_later(self.probe.deadline, self._expire, task)
        try:
            return await self.probe.attempt()
        except asyncio.CancelledError:
            if self._expired and not self._stopping:
                raise asyncio.TimeoutError from None
            raise
        finally:
            timer.cancel()

    def _expire(self, task: asyncio.Task[object]) -> None:
        self._expired = True
        task.cancel()

    def _verdict(self, up: bool, outcome: Outcome | None, reason: str) -> None:
        changed = up != self.up or (up and outcome is not self.last_outcome
                                    and outcome != self.last_outcome)
        self.up = up
        self.last_outcome = outcome
        if changed:
            self.on_verdict(self.ident, up, outcome, reason)
