"""Writing state lines to a notify FIFO, in order, without ever blocking the daemon.

As keepalived does, the FIFO is created if missing (and removed at the end), opened read-write
so that a write never fails for want of a reader, and its reader script (if any) is started with
the FIFO's path as the last argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import grp
import logging
import os
import pwd
import stat
from collections import deque

from fastvrrp.config.model import Command, NotifyFifo
from fastvrrp.notify.runner import ScriptRunner

#: Lines kept while the reader is slow; beyond this the oldest are dropped (and logged).
MAX_BACKLOG = 10_000


def instance_line(name: str, state: str, priority: int) -> str:
    """keepalived's FIFO line for an instance: `INSTANCE "VI_1" MASTER 100`."""
    return f'INSTANCE "{name}" {state} {priority}'


def group_line(name: str, state: str) -> str:
    """keepalived's FIFO line for a sync group: `GROUP "G1" BACKUP 0`."""
    return f'GROUP "{name}" {state} 0'


class FifoWriter:
    """One notify FIFO. `write(line)` never blocks and keeps lines in the order they were given."""

    def __init__(
        self,
        fifo: NotifyFifo,
        logger: logging.Logger,
        script: Command | None = None,
        runner: ScriptRunner | None = None,
    ) -> None:
        self.path = fifo.path
        self.fifo = fifo
        self.logger = logger
        self.script = script
        self.runner = runner
        self._fd: int | None = None
        self._created = False
        self._backlog: deque[bytes] = deque()
        self._watching = False

    def open(self) -> None:
        """Create the FIFO if needed, open it, and start its reader script."""
        try:
            st = os.stat(self.path)
            if not stat.S_ISFIFO(st.st_mode):
                self.logger.error("notify FIFO %s exists and is not a FIFO - ignoring", self.path)
                return
        except FileNotFoundError:
            os.mkfifo(self.path, 0o600)
            self._created = True
            self._chown()
        # O_RDWR: we are a reader too, so opening never blocks and writes never get EPIPE.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        if self.script is not None and self.runner is not None:
            self.runner.run(self.script, [self.path])

    def write(self, line: str) -> None:
        """Queue `line` (a newline is added) and write what the pipe takes now."""
        if self._fd is None:
            return
        data = line.encode() if line.endswith("\n") else (line + "\n").encode()
        if len(self._backlog) >= MAX_BACKLOG:
            self._backlog.popleft()
            self.logger.warning("notify FIFO %s: reader too slow, dropped a line", self.path)
        self._backlog.append(data)
        self._flush()

    def close(self) -> None:
        """Stop writing; remove the FIFO if we created it."""
        if self._fd is not None:
            if self._watching:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_writer(self._fd)
                self._watching = False
            os.close(self._fd)
            self._fd = None
        if self._created:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self._created = False

    def _flush(self) -> None:
        while self._backlog and self._fd is not None:
            data = self._backlog[0]
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                self._wait_writable()
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                self.logger.warning("notify FIFO %s: %s", self.path, exc.strerror)
                self._backlog.popleft()
                continue
            if written < len(data):
                self._backlog[0] = data[written:]
                self._wait_writable()
                return
            self._backlog.popleft()
        if self._watching and self._fd is not None:
            asyncio.get_running_loop().remove_writer(self._fd)
            self._watching = False

    def _wait_writable(self) -> None:
        if self._watching or self._fd is None:
            return
        try:
            asyncio.get_running_loop().add_writer(self._fd, self._flush)
            self._watching = True
        except RuntimeError:
            pass  # no loop: the backlog goes out with the next write

    def _chown(self) -> None:
        if self.fifo.user is None:
            return
        try:
            entry = pwd.getpwnam(self.fifo.user)
            gid = grp.getgrnam(self.fifo.group).gr_gid if self.fifo.group else entry.pw_gid
            os.chown(self.path, entry.pw_uid, gid)
        except (KeyError, OSError) as exc:
            self.logger.warning("notify FIFO %s: cannot give it to %s: %s",
                                self.path, self.fifo.user, exc)
