"""sd_notify, written from the protocol (no libsystemd): one datagram per message to the unix
socket named by $NOTIFY_SOCKET (a path, or `@name` for the abstract namespace).

The daemon says READY=1 once every instance and service has started, RELOADING=1 then READY=1
around a reload, STOPPING=1 when it begins to stop, and pings WATCHDOG=1 every half
$WATCHDOG_USEC while the engine thread answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastvrrp.daemon import Daemon


def notify_address(environ: Mapping[str, str]) -> str | None:
    """The address in $NOTIFY_SOCKET as `socket.connect` wants it, or None."""
    value = environ.get("NOTIFY_SOCKET", "")
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None  # vsock and other forms are not for a host daemon


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between watchdog pings (half of $WATCHDOG_USEC), or None when it is off."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid):
        return None
    return int(usec) / 2_000_000


def sd_notify(address: str | None, message: str) -> bool:
    """Send one notification; False when there is no socket or it cannot be sent."""
    if address is None:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError:
            return False
    return True


@dataclass
class SystemdNotifier:
    """A service (started last, stopped first) speaking sd_notify for the daemon."""

    logger: logging.Logger
    address: str | None = None
    watchdog: float | None = None
    _daemon: Daemon | None = None
    _task: asyncio.Task[None] | None = None

    @classmethod
    def from_environment(cls, logger: logging.Logger) -> SystemdNotifier:
        """Read $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID."""
        return cls(logger, notify_address(os.environ), watchdog_interval(os.environ, os.getpid()))

    def send(self, message: str) -> None:
        """Send `message` if there is a socket (a lost notification is only logged)."""
        if self.address is not None and not sd_notify(self.address, message):
            self.logger.warning("sd_notify %r failed", message.split("\n", 1)[0])

    async def start(self, daemon: Daemon) -> None:
        """Everything has started: READY=1, and the watchdog task when systemd asks for it."""
        self._daemon = daemon
        count = len(daemon.config.vrrp_instances)
        self.send(f"READY=1\nMAINPID={os.getpid()}\nSTATUS=running {count} VRRP instances")
        if self.watchdog is not None and self.address is not None:
            self._task = asyncio.create_task(self._ping(self.watchdog))

    async def stop(self) -> None:
        """The daemon is stopping: STOPPING=1 and no more pings."""
        self.send("STOPPING=1")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def reloading(self) -> None:
        """Before a reload (systemd ≥ 253 wants the monotonic time with it)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send(f"RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading")

    def reloaded(self) -> None:
        """After a reload, whether it was applied or refused."""
        count = len(self._daemon.config.vrrp_instances) if self._daemon is not None else 0
        self.send(f"READY=1\nSTATUS=running {count} VRRP instances")

    async def _ping(self, every: float) -> None:
        while True:
            if await self._engine_alive():
                self.send("WATCHDOG=1")
            else:
                self.logger.error("the engine does not answer: no watchdog ping")
            await asyncio.sleep(every)

    async def _engine_alive(self) -> bool:
        engine = self._daemon.engine if self._daemon is not None else None
        if engine is None:
            return False
        try:
            await asyncio.to_thread(engine.status)
        except Exception:
            return False
        return True
