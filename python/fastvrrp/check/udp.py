"""UDP_CHECK: a datagram draws no ICMP error, or, with require_reply, a fitting reply."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass

from fastvrrp.check.base import CheckFailed, Outcome, Target, open_socket


@dataclass
class UdpProbe:
    """Send the payload; judge the reply (or the silence) within connect_timeout."""

    target: Target
    connect_timeout: float
    payload: bytes | None = None
    require_reply: bool = False
    reply_data: bytes | None = None
    min_reply_length: int = 0
    max_reply_length: int | None = None

    @property
    def deadline(self) -> float:
        """Silence for connect_timeout is success, so the hard deadline sits just past it."""
        return self.connect_timeout + 1.0

    async def attempt(self) -> Outcome:
        """One datagram; ECONNREFUSED (an ICMP port unreachable) fails."""
        loop = asyncio.get_running_loop()
        sock = open_socket(self.target, socket.SOCK_DGRAM)
        try:
            await loop.sock_connect(sock, (self.target.ip, self.target.port))
            await loop.sock_sendall(sock, self.payload if self.payload else os.urandom(16))
            try:
                reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), self.connect_timeout)
            except asyncio.TimeoutError:
                if self.require_reply:
                    raise CheckFailed("UDP check: no reply") from None
                return Outcome()
        except OSError as exc:
            raise CheckFailed(f"UDP check failed: {exc.strerror or exc}") from exc
        finally:
            sock.close()
        if self.require_reply:
            self._judge(reply)
        return Outcome()

    def _judge(self, reply: bytes) -> None:
        if len(reply) < self.min_reply_length:
            raise CheckFailed(f"UDP reply too short ({len(reply)} bytes)")
        if self.max_reply_length is not None and len(reply) > self.max_reply_length:
            raise CheckFailed(f"UDP reply too long ({len(reply)} bytes)")
        if self.reply_data and not reply.startswith(self.reply_data):
            raise CheckFailed("UDP reply does not match")
