"""The IPVS dataplane: services and destinations over generic netlink (pyroute2), as diffs.

Every change is a list of IpvsRequest (add/set/del of a service or a destination) computed
from the difference between what was applied and what is wanted; nothing is ever flushed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastvrrp.lvs.table import Destination, Service, ServiceKey

PROC_IP_VS = "/proc/net/ip_vs"
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "sctp": 132}
#: IP_VS_CONN_F_* forwarding methods.
FWD_METHODS = {"NAT": 0, "TUN": 2, "DR": 3}
IP_VS_SVC_F_PERSISTENT = 0x1
IP_VS_SVC_F_ONEPACKET = 0x4
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo",
              "ovf", "twos")

Command = Literal["add", "set", "del"]


def ipvs_available() -> bool:
    """Whether this kernel has IPVS loaded (what `lvs_backend auto` looks at)."""
    return os.path.exists(PROC_IP_VS)


def service_attrs(service: Service) -> dict[str, Any]:
    """pyroute2 IPVSService fields for a service."""
    key = service.key
    family = socket.AF_INET6 if key.family == "inet6" else socket.AF_INET
    attrs: dict[str, Any] = {"af": family, "protocol": PROTOCOLS[key.protocol]}
    if key.fwmark is not None:
        attrs["fwmark"] = key.fwmark
    else:
        attrs.update(addr=key.address, port=key.port or 0)
    flags = 0
    if service.persistence_timeout:
        flags |= IP_VS_SVC_F_PERSISTENT
    if service.ops:
        flags |= IP_VS_SVC_F_ONEPACKET
    attrs.update(sched_name=service.scheduler, flags={"flags": flags, "mask": 0xFFFFFFFF},
                 timeout=service.persistence_timeout or 0)
    if family == socket.AF_INET:
        attrs["netmask"] = service.persistence_granularity or "255.255.255.255"
    return attrs


def dest_attrs(dest: Destination, key: ServiceKey) -> dict[str, Any]:
    """pyroute2 IPVSDest fields for a destination."""
    family = socket.AF_INET6 if ":" in dest.address else socket.AF_INET
    return {"addr": dest.address, "addr_family": family,
            "port": dest.port if dest.port is not None else (key.port or 0),
            "fwd_method": FWD_METHODS[dest.method], "weight": dest.weight,
            "u_thresh": 0, "l_thresh": 0}


@dataclass(frozen=True)
class IpvsRequest:
    """One netlink request: a command on a service, or on one destination of a service."""

    command: Command
    service: dict[str, Any]
    dest: dict[str, Any] | None = None


def _service_only(service: Service) -> Service:
    return Service(service.key, service.scheduler, service.method, service.persistence_timeout,
                   service.persistence_granularity, service.ops)


def diff_requests(old: dict[ServiceKey, Service], new: Sequence[Service]) -> list[IpvsRequest]:
    """The requests that turn table `old` into `new`: new services and destinations are added,
    changed ones set, gone ones deleted (destinations before their service)."""
    requests: list[IpvsRequest] = []
    wanted = {s.key: s for s in new}
    for key, service in old.items():
        if key not in wanted:
            requests.append(IpvsRequest("del", service_attrs(service)))
    for key, service in wanted.items():
        attrs = service_attrs(service)
        before = old.get(key)
        if before is None:
            requests.append(IpvsRequest("add", attrs))
            old_dests: dict[tuple[str, int | None], Destination] = {}
        else:
            if _service_only(before) != _service_only(service):
                requests.append(IpvsRequest("set", attrs))
            old_dests = {(d.address, d.port): d for d in before.destinations}
        new_dests = {(d.address, d.port): d for d in service.destinations}
        for ident, dest in old_dests.items():
            if ident not in new_dests:
                requests.append(IpvsRequest("del", attrs, dest_attrs(dest, key)))
        for ident, dest in new_dests.items():
            previous = old_dests.get(ident)
            if previous is None:
                requests.append(IpvsRequest("add", attrs, dest_attrs(dest, key)))
            elif previous != dest:
                requests.append(IpvsRequest("set", attrs, dest_attrs(dest, key)))
    return requests


def to_message(request: IpvsRequest) -> Any:
    """The generic netlink message pyroute2 sends for a request (encoded, for inspection)."""
    from pyroute2 import IPVSDest, IPVSService  # type: ignore[import-untyped]
    from pyroute2.netlink.generic import ipvs  # type: ignore[import-untyped]

    commands = {("service", "add"): ipvs.IPVS_CMD_NEW_SERVICE,
                ("service", "set"): ipvs.IPVS_CMD_SET_SERVICE,
                ("service", "del"): ipvs.IPVS_CMD_DEL_SERVICE,
                ("dest", "add"): ipvs.IPVS_CMD_NEW_DEST, ("dest", "set"): ipvs.IPVS_CMD_SET_DEST,
                ("dest", "del"): ipvs.IPVS_CMD_DEL_DEST}
    msg = ipvs.ipvsmsg()
    service = IPVSService(**request.service)
    if request.dest is None:
        msg["cmd"] = commands[("service", request.command)]
        msg["attrs"] = [("IPVS_CMD_ATTR_SERVICE", service.dump_nla())]
    else:
        msg["cmd"] = commands[("dest", request.command)]
        msg["attrs"] = [("IPVS_CMD_ATTR_SERVICE", service.dump_key()),
                        ("IPVS_CMD_ATTR_DEST", IPVSDest(**request.dest).dump_nla())]
    msg["version"] = ipvs.GENL_VERSION
    msg.encode()
    return msg


@dataclass
class IpvsDataplane:
    """Keeps the kernel's IPVS table equal to the services it is given, by diffs."""

    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fastvrrp.lvs"))
    name: str = "ipvs"
    applied: dict[ServiceKey, Service] = field(default_factory=dict)
    last_requests: list[IpvsRequest] = field(default_factory=list)
    _socket: Any = None

    def apply(self, services: Sequence[Service]) -> None:
        """Send the requests that make the kernel's table equal to `services`."""
        requests = diff_requests(self.applied, services)
        for request in requests:
            self.send(request)
        self.last_requests = requests
        self.applied = {s.key: s for s in services}

    def send(self, request: IpvsRequest) -> None:
        """Send one request through pyroute2's IPVS socket."""
        from pyroute2 import IPVS, IPVSDest, IPVSService

        if self._socket is None:
            self._socket = IPVS()
        service = IPVSService(**request.service)
        if request.dest is None:
            self._socket.service(request.command, service=service)
        else:
            self._socket.dest(request.command, service=service, dest=IPVSDest(**request.dest))

    def release(self, keep: bool = False) -> None:
        """Delete the services fastvrrp added (unless `keep`); other services are left alone."""
        try:
            if not keep:
                for request in diff_requests(self.applied, []):
                    self.send(request)
        except Exception as exc:  # netlink errors must not stop the shutdown
            self.logger.warning("cannot remove IPVS services: %s", exc)
        finally:
            self.applied = {}
            if self._socket is not None:
                self._socket.close()
                self._socket = None
