"""`use_vmac`: a macvlan carrying the VRRP virtual MAC, so a takeover needs no ARP cache update."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2 import IPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from fastvrrp.config.model import VrrpInstance

logger = logging.getLogger("fastvrrp")

_ADDR_GEN_MODE_NONE = 1  # IN6_ADDR_GEN_MODE_NONE
_IFA_F_NODAD = 0x02


def _off_loop(work: Callable[[], None]) -> None:
    """Run `work` in a short-lived thread and re-raise its error here.

    pyroute2's synchronous IPRoute runs an asyncio loop of its own, which it cannot do in a
    thread whose loop is running, and the daemon calls us from its event loop.
    """
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # handed to the caller below
            errors.append(error)

    worker = threading.Thread(target=run, name="fastvrrp-vmac")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


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
        _off_loop(self._create)

    def _create(self) -> None:
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
            # No EUI-64 link-local: every node's macvlan has the same MAC, so each would claim
            # the same fe80:: address, and the backups' IPv6 chatter (MLD) from the virtual MAC
            # would teach the switch the wrong port. keepalived does the same; an IPv6 instance
            # gets the parent's link-local instead, to source its neighbour adverts from.
            try:
                ipr.link("set", index=index, IFLA_AF_SPEC={"attrs": [
                    ("AF_INET6", {"attrs": [("IFLA_INET6_ADDR_GEN_MODE", _ADDR_GEN_MODE_NONE)]}),
                ]})
            except NetlinkError as error:  # IPv6 disabled: there is no address to generate
                logger.debug("%s: cannot turn off IPv6 address generation: %s", self.name, error)
            if self.mac.startswith("00:00:5e:00:02:"):
                for msg in ipr.get_addr(family=socket.AF_INET6, index=parents[0]):
                    address = msg.get_attr("IFA_ADDRESS")
                    if address and address.lower().startswith("fe80:"):
                        ipr.addr("add", index=index, address=address, prefixlen=64,
                                 flags=_IFA_F_NODAD)
            ipr.link("set", index=index, state="up")

    def remove(self) -> None:
        """Delete the macvlan; a missing one is fine."""
        _off_loop(self._remove)

    def _remove(self) -> None:
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
