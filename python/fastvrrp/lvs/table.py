"""The load balancer's table as the dataplanes see it: services and their destinations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fastvrrp.config.model import Family, GlobalDefs, LvsFlushOnStop, LvsMethod


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


@dataclass(frozen=True)
class LvsOptions:
    """keepalived's global LVS settings, as a dataplane follows them."""

    #: lvs_flush: empty the table at startup (IPVS: all of it, as keepalived does).
    flush: bool = False
    #: lvs_flush_on_stop: NO deletes each real server then each service, VS each service,
    #: FULL flushes the table in one command.
    flush_on_stop: LvsFlushOnStop = "NO"
    #: lvs_timeouts: tcp (established), tcpfin and udp seconds; 0 leaves one unchanged.
    timeouts: tuple[int, int, int] | None = None

    @classmethod
    def of(cls, g: GlobalDefs) -> LvsOptions:
        """The options of a config's global_defs."""
        timeouts = g.lvs_timeouts if g.lvs_timeouts is not None and any(g.lvs_timeouts) else None
        return cls(g.lvs_flush, g.lvs_flush_on_stop, timeouts)


class Dataplane(Protocol):
    """A place the table is written to: IPVS, or nftables where there is no IPVS."""

    name: str
    #: Set by the service before the first apply() and on reload.
    options: LvsOptions

    def apply(self, services: Sequence[Service]) -> None:
        """Make the kernel hold exactly `services`, changing only what differs."""

    def release(self, keep: bool = False) -> None:
        """Remove everything this dataplane added (unless `keep`), and close."""
