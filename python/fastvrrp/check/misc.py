"""MISC_CHECK: a script's exit code decides; with misc_dynamic, codes 2-255 set the weight."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from dataclasses import dataclass

from fastvrrp.check.base import CheckFailed, Outcome


@dataclass
class MiscProbe:
    """Run the script; exit 0 is up, 1 is down, 2-255 is up with weight code-2 if dynamic."""

    command: str
    deadline: float
    dynamic: bool = False

    async def attempt(self) -> Outcome:
        """Run once; the script is killed (its whole group) if it outlives the deadline."""
        argv = shlex.split(self.command)
        if not argv:
            raise CheckFailed("empty misc_path")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise CheckFailed(f"cannot run {argv[0]}: {exc.strerror}") from exc
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.shield(process.wait())
            raise
        if code == 0:
            return Outcome()
        if self.dynamic and code >= 2:
            return Outcome(weight=code - 2)
        raise CheckFailed(f"Misc check failed with exit status {code}")
