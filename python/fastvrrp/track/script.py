"""vrrp_script: a check run every `interval`, killed at `timeout`, judged with `rise`/`fall`."""

from __future__ import annotations

import asyncio
import logging

from fastvrrp.config.model import VrrpScript
from fastvrrp.notify.runner import ScriptResult, ScriptRunner
from fastvrrp.track.base import Tracker, cancel


class ScriptTracker(Tracker):
    """One vrrp_script. Each run is its own subprocess, so a slow script delays nobody else.

    The first result decides the status (with `init_fail` it starts down instead); after that
    `fall` consecutive failures take it down and `rise` consecutive successes bring it up.
    A timeout counts as a failure.
    """

    kind = "script"

    def __init__(self, script: VrrpScript, runner: ScriptRunner, logger: logging.Logger) -> None:
        super().__init__(script.name)
        self.script = script
        self.runner = runner
        self.logger = logger
        self.ok = not script.init_fail
        # keepalived: until the first result the status is undecided, and that result decides
        # at once ("one success is enough", and one failure too); `init_fail` starts failed.
        self._undecided = not script.init_fail
        self.last_result: ScriptResult | None = None
        self._streak = 0  # consecutive results against the current status
        self._task: asyncio.Task[None] | None = None

    def inherit(self, previous: ScriptTracker) -> None:
        """Carry on from `previous` (same command, new timing or thresholds): its status and
        last result, so a reload neither re-learns a failing script nor blips its weight."""
        self.ok = previous.ok
        self._undecided = previous._undecided
        self.last_result = previous.last_result

    async def start(self) -> None:
        """Start the periodic runs."""
        if self.script.script is None:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the runs; a running check is killed by the runner's close()."""
        await cancel(self._task)
        self._task = None

    def record(self, result: ScriptResult) -> None:
        """Take one result into account (rise/fall) and tell the listeners on a status change."""
        previous = self.last_result
        self.last_result = result
        if result.timed_out:
            self.logger.info("Script `%s` timed out", self.name)
        elif previous is None or previous.returncode != result.returncode:
            self.logger.info("Script `%s` now returning %s", self.name,
                             result.returncode if result.returncode is not None else "error")
        undecided, self._undecided = self._undecided, False
        if result.ok == self.ok:
            self._streak = 0
            if undecided and result.ok:
                self.logger.info("VRRP_Script(%s) succeeded", self.name)
            return
        self._streak += 1
        if not undecided and self._streak < (self.script.rise if result.ok else self.script.fall):
            return
        self._streak = 0
        self.ok = result.ok
        if self.ok:
            self.logger.info("VRRP_Script(%s) succeeded", self.name)
        elif result.timed_out:
            self.logger.info("VRRP_Script(%s) failed (timed out)", self.name)
        else:
            self.logger.info("VRRP_Script(%s) failed (exited with status %s)", self.name,
                             result.returncode)
        self.changed()

    async def _loop(self) -> None:
        assert self.script.script is not None
        loop = asyncio.get_running_loop()
        interval = max(self.script.interval, 0.001)
        timeout = self.script.timeout if self.script.timeout > 0 else interval
        next_run = loop.time()
        while True:
            result = await self.runner.check(self.script.script, timeout)
            self.record(result)
            # Runs start every `interval`; one that overran starts the next at once.
            next_run = max(next_run + interval, loop.time())
            await asyncio.sleep(next_run - loop.time())
