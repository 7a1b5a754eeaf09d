"""TCP_CHECK: the server accepts a TCP connection."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from fastvrrp.check.base import SUCCESS, CheckFailed, Outcome, Target, connect, open_socket


@dataclass
class TcpProbe:
    """Connect, then close at once."""

    target: Target
    deadline: float

    async def attempt(self) -> Outcome:
        """One connect; refused, unreachable or timed out fails."""
        sock = open_socket(self.target, socket.SOCK_STREAM)
        try:
            await connect(sock, (self.target.ip, self.target.port or 0))
        except OSError as exc:
            raise CheckFailed(f"TCP connection failed: {exc.strerror or exc}") from exc
        finally:
            sock.close()
        return SUCCESS
