"""What every health checker shares: the target, one attempt's outcome, and socket setup."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Protocol


class CheckFailed(Exception):
    """One attempt failed; the message says why, in keepalived's words where it has some."""


@dataclass(frozen=True)
class Target:
    """Where and how a checker connects: resolved from the checker block and its real server."""

    ip: str
    port: int | None
    bindto: str | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    fwmark: int | None = None

    @property
    def family(self) -> socket.AddressFamily:
        """AF_INET6 for an IPv6 target, else AF_INET."""
        return socket.AF_INET6 if ":" in self.ip else socket.AF_INET

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if self.port is not None else f"[{self.ip}]"


@dataclass(frozen=True)
class Outcome:
    """A successful attempt; MISC (dynamic) sets `weight`, FILE_CHECK sets `weight_delta`."""

    weight: int | None = None
    weight_delta: int | None = None


#: The outcome of a plain success, shared so that a check allocates nothing for it.
SUCCESS = Outcome()


class Probe(Protocol):
    """One checker: a single attempt per call, which raises CheckFailed when the server fails."""

    @property
    def deadline(self) -> float:
        """Seconds after which an attempt is abandoned and counted as failed."""
        ...

    async def attempt(self) -> Outcome:
        """Check the server once."""
        ...


def open_socket(target: Target, kind: socket.SocketKind, proto: int = 0) -> socket.socket:
    """A non-blocking socket bound as the checker asks (bindto, bind_port, bind_if, fwmark)."""
    sock = socket.socket(target.family, kind, proto)
    try:
        sock.setblocking(False)
        if target.fwmark:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, target.fwmark)
        if target.bind_if:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, target.bind_if.encode())
        if target.bindto or target.bind_port:
            if target.bind_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            default = "::" if target.family == socket.AF_INET6 else "0.0.0.0"
            sock.bind((target.bindto or default, target.bind_port or 0))
    except OSError as exc:
        sock.close()
        raise CheckFailed(f"cannot bind: {exc}") from exc
    return sock


async def connect(sock: socket.socket, address: tuple[str, int]) -> None:
    """Connect a non-blocking socket to a numeric address, as loop.sock_connect does, with
    one event-loop callback instead of three (no name resolution step, and the writer is
    removed in the callback itself): this matters at a thousand checks a second."""
    try:
        sock.connect(address)
        return
    except (BlockingIOError, InterruptedError):
        pass
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    fd = sock.fileno()

    def writable() -> None:
        loop.remove_writer(fd)
        if not done.done():
            done.set_result(None)

    loop.add_writer(fd, writable)
    try:
        await done
    finally:
        if not done.done() or done.cancelled():  # the deadline came first
            loop.remove_writer(fd)
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


def host_header(ip: str, port: int) -> str:
    """keepalived's Host value without a virtualhost: the address (bracketed for IPv6) and port."""
    if ipaddress.ip_address(ip).version == 6:
        return f"[{ip}]:{port}"
    return f"{ip}:{port}"
