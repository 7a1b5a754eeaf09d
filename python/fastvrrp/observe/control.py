"""The control socket: a unix stream socket that answers `fastvrrp status` with live JSON.

The protocol is one request line and one reply line, both JSON: `{"command": "status"}` is
answered with the snapshot (see `fastvrrp.observe.status`), anything else with `{"error": ...}`.
The socket is made 0660 in a 0755 directory, so root and the socket's group may query it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastvrrp.daemon import Daemon

DEFAULT_CONTROL_SOCKET = "/run/fastvrrp/fastvrrp.sock"
MAX_REQUEST = 4096

SnapshotFn = Callable[["Daemon"], dict[str, Any]]


class ControlError(Exception):
    """The daemon could not be asked (no socket, refused, bad reply)."""


@dataclass
class ControlSocket:
    """A service serving the live snapshot on a unix socket."""

    path: str
    logger: logging.Logger
    snapshot: SnapshotFn
    _server: asyncio.AbstractServer | None = None
    _daemon: Daemon | None = None

    async def start(self, daemon: Daemon) -> None:
        """Bind the socket, replacing a stale one left by a dead daemon, and serve.

        A socket that cannot be made (another live daemon holds the path, no permission) is
        logged and the daemon runs on without it: VRRP matters more than the status command.
        """
        self._daemon = daemon
        try:
            await self._bind()
        except OSError as exc:
            self.logger.error("No control socket: %s", exc)

    async def _bind(self) -> None:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, mode=0o755, exist_ok=True)
        if os.path.exists(self.path):
            if _is_live(self.path):
                raise OSError(f"control socket {self.path} is in use by another daemon")
            os.unlink(self.path)
        old_umask = os.umask(0o117)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=self.path)
        finally:
            os.umask(old_umask)
        self.logger.info("Control socket listening on %s", self.path)

    async def stop(self) -> None:
        """Close the socket and remove its file."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5.0)
            reply = self.answer(line[:MAX_REQUEST])
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def answer(self, line: bytes) -> dict[str, Any]:
        """The reply to one request line."""
        try:
            request = json.loads(line or b"{}")
            command = request.get("command", "status") if isinstance(request, dict) else None
        except ValueError:
            return {"error": "the request is not JSON"}
        if command != "status":
            return {"error": f"unknown command {command!r}"}
        if self._daemon is None:
            return {"error": "not started"}
        try:
            return self.snapshot(self._daemon)
        except Exception as exc:  # a bad snapshot answers with an error, never kills the daemon
            self.logger.exception("status failed")
            return {"error": f"{type(exc).__name__}: {exc}"}


def _is_live(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(path)
        except OSError:
            return False
        return True


def query(path: str, command: str = "status", timeout: float = 5.0) -> dict[str, Any]:
    """Ask the daemon behind `path` and return its JSON reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(json.dumps({"command": command}).encode() + b"\n")
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise ControlError(f"cannot query {path}: {exc.strerror or exc}") from exc
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise ControlError(f"{path} answered something that is not JSON") from exc
    if not isinstance(reply, dict):
        raise ControlError(f"{path} answered something that is not a JSON object")
    if "error" in reply:
        raise ControlError(f"{path}: {reply['error']}")
    return reply
