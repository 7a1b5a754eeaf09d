"""The load balancer's table as the dataplanes see it: services and their destinations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fastvrrp.config.model import Family, LvsMethod


@dataclass(frozen=True, order=True)
class ServiceKey:
    """What identifies a service: address/protocol/port, or a firewall mark."""

    family: Family
    protocol: str  # "tcp", "udp", "sctp"
    address: str | None = None
    port: int | None = None
    fwmark: int | None = None

    def __str__(self) -> str:
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        return f"[{self.address}]:{self.protocol}:{self.port or 0}"


@dataclass(frozen=True)
class Destination:
    """A real server (or the sorry server) in a service; weight 0 takes no new connections."""

    address: str
    port: int | None
    weight: int
    method: LvsMethod = "NAT"

    def label(self, protocol: str) -> str:
        """keepalived's way of naming a real server: [ip]:proto:port."""
        return f"[{self.address}]:{protocol}:{self.port or 0}"


@dataclass(frozen=True)
class Service:
    """One virtual service as the kernel holds it."""

    key: ServiceKey
    scheduler: str = "wlc"
    method: LvsMethod = "NAT"
    persistence_timeout: int | None = None
    persistence_granularity: str | None = None
    ops: bool = False
    destinations: tuple[Destination, ...] = ()


class Dataplane(Protocol):
    """A place the table is written to: IPVS, or nftables where there is no IPVS."""

    name: str

    def apply(self, services: Sequence[Service]) -> None:
        """Make the kernel hold exactly `services`, changing only what differs."""

    def release(self, keep: bool = False) -> None:
        """Remove everything this dataplane added (unless `keep`), and close."""
