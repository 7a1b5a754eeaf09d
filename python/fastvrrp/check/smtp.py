"""SMTP_CHECK: the server greets with 220 and answers HELO with 250."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from fastvrrp.check.base import CheckFailed, Outcome, Target, open_socket


async def read_reply(reader: asyncio.StreamReader) -> int:
    """Read one (possibly multi-line) SMTP reply and return its code."""
    while True:
        line = await reader.readline()
        if len(line) < 4 or not line[:3].isdigit():
            raise CheckFailed(f"bad SMTP reply {line[:40]!r}")
        if line[3:4] != b"-":
            return int(line[:3])


@dataclass
class SmtpProbe:
    """Greeting, HELO, QUIT."""

    target: Target
    deadline: float
    helo_name: str

    async def attempt(self) -> Outcome:
        """One SMTP conversation."""
        sock = open_socket(self.target, socket.SOCK_STREAM)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (self.target.ip, self.target.port))
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError as exc:
            sock.close()
            raise CheckFailed(f"SMTP connection failed: {exc.strerror or exc}") from exc
        try:
            if (code := await read_reply(reader)) != 220:
                raise CheckFailed(f"SMTP greeting code {code}")
            writer.write(f"HELO {self.helo_name}\r\n".encode())
            if (code := await read_reply(reader)) != 250:
                raise CheckFailed(f"SMTP HELO code {code}")
            writer.write(b"QUIT\r\n")
            await writer.drain()
        except OSError as exc:
            raise CheckFailed(f"SMTP error: {exc}") from exc
        finally:
            writer.close()
        return Outcome()
