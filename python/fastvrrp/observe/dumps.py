"""keepalived's signal dumps: USR1 writes the data file, USR2 the stats file, and keepalived's
JSON signal (SIGRTMIN+2, `keepalived --signum=JSON`) the JSON file.

keepalived 2.2.7 writes /tmp/keepalived.data, /tmp/keepalived.stats and /tmp/keepalived.json
with mode 0600; fastvrrp writes the same names, in `directory` (default /tmp).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastvrrp.observe.status import (
    daemon_snapshot,
    keepalived_data_text,
    keepalived_json,
    keepalived_stats_text,
)

if TYPE_CHECKING:
    from fastvrrp.daemon import Daemon

DEFAULT_DUMP_DIRECTORY = "/tmp"


def json_signal() -> int:
    """keepalived's JSON signal: SIGRTMIN+2 (36 on Linux/glibc)."""
    return signal.SIGRTMIN + 2


@dataclass
class SignalDumps:
    """A service writing keepalived's dump files on USR1, USR2 and the JSON signal."""

    logger: logging.Logger
    directory: str = DEFAULT_DUMP_DIRECTORY
    _daemon: Daemon | None = None
    _signals: list[int] = field(default_factory=list)

    def path(self, kind: str) -> str:
        """Where the `data`, `stats` or `json` dump goes."""
        return os.path.join(self.directory, f"keepalived.{kind}")

    async def start(self, daemon: Daemon) -> None:
        """Install the three signal handlers."""
        self._daemon = daemon
        loop = asyncio.get_running_loop()
        for signum, kind in ((signal.SIGUSR1, "data"), (signal.SIGUSR2, "stats"),
                             (json_signal(), "json")):
            loop.add_signal_handler(signum, self.write, kind)
            self._signals.append(signum)

    async def stop(self) -> None:
        """Remove the handlers."""
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        self._signals.clear()

    def write(self, kind: str) -> None:
        """Write one dump file now (atomically: a reader never sees half of it)."""
        if self._daemon is None:
            return
        try:
            snap = daemon_snapshot(self._daemon)
            if kind == "data":
                text = keepalived_data_text(snap, self._daemon.config)
            elif kind == "stats":
                text = keepalived_stats_text(snap)
            else:
                text = json.dumps(keepalived_json(snap))
            target = self.path(kind)
            temporary = f"{target}.{os.getpid()}.tmp"
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
            os.replace(temporary, target)
        except Exception as exc:  # a failed dump is logged, never fatal
            self.logger.error("cannot write the %s dump: %s", kind, exc)
