"""TCP_CHECK: the server accepts a TCP connection."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from fastvrrp.check.base import SUCCESS, CheckFailed, Outcome, Target, open_socket


@dataclass
class TcpProbe:
    """Connect, then close at once."""

    target: Target
    deadline: float

    async def attempt(self) -> Outcome:
        """One connect; refused, unreachable or timed out fails."""
        sock = open_socket(self.target, socket.SOCK_STREAM)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (self.target.ip, self.target.port))
        except OSError as exc:
            raise CheckFailed(f"TCP connection failed: {exc.strerror or exc}") from exc
        finally:
            sock.close()
        return SUCCESS
