"""`use_vmac`: a macvlan carrying the VRRP virtual MAC, so a takeover needs no ARP cache update."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from fastvrrp.config.model import VrrpInstance

logger = logging.getLogger("fastvrrp")


def virtual_mac(vrid: int, family: str) -> str:
    """RFC 5798 §7.3: 00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6."""
    return f"00:00:5e:00:{2 if family == 'inet6' else 1:02x}:{vrid:02x}"


@dataclass(frozen=True)
class VirtualMac:
    """A macvlan `name` on `parent` with the instance's virtual MAC."""

    name: str
    parent: str
    mac: str

    def create(self) -> None:
        """Create the macvlan (private mode, as keepalived does) and bring it up, or reuse it."""
        with IPRoute() as ipr:
            if ipr.link_lookup(ifname=self.name):
                return
            parents = ipr.link_lookup(ifname=self.parent)
            if not parents:
                # The engine puts the instance in FAULT and says why; nothing to build on.
                return
            ipr.link(
                "add",
                ifname=self.name,
                kind="macvlan",
                link=parents[0],
                macvlan_mode="private",
                address=self.mac,
            )
            index = ipr.link_lookup(ifname=self.name)[0]
            ipr.link("set", index=index, state="up")

    def remove(self) -> None:
        """Delete the macvlan; a missing one is fine."""
        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=self.name)
            if not found:
                return
            try:
                ipr.link("del", index=found[0])
            except NetlinkError as error:
                logger.warning("cannot remove %s: %s", self.name, error)


def vmac_for(instance: VrrpInstance) -> VirtualMac:
    """The macvlan an instance with `use_vmac` sends from."""
    name = instance.use_vmac or f"vrrp.{instance.virtual_router_id}"
    return VirtualMac(
        name=name,
        parent=instance.interface or "",
        mac=virtual_mac(instance.virtual_router_id, instance.family),
    )
