"""The IPVS dataplane: services and destinations over generic netlink (pyroute2), as diffs.

Every change is a list of IpvsRequest (add/set/del of a service or a destination) computed
from the difference between what was applied and what is wanted. The whole table is flushed
only when keepalived's settings say so: `lvs_flush` at startup, `lvs_flush_on_stop` on stop.
`lvs_timeouts` sets IPVS's tcp/tcpfin/udp timeouts (IPVS_CMD_SET_CONFIG).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastvrrp.lvs.table import Destination, LvsOptions, Service, ServiceKey

PROC_IP_VS = "/proc/net/ip_vs"
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "sctp": 132}
#: IP_VS_CONN_F_* forwarding methods.
FWD_METHODS = {"NAT": 0, "TUN": 2, "DR": 3}
IP_VS_SVC_F_PERSISTENT = 0x1
IP_VS_SVC_F_ONEPACKET = 0x4
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo",
              "ovf", "twos")

#: add/set/del act on a service or a destination; flush empties the whole table (every
#: service, fastvrrp's or not); timeouts sets the connection timeouts.
Command = Literal["add", "set", "del", "flush", "timeouts"]


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
    """One netlink request: a command on a service, or on one destination of a service, or
    on the whole table (flush, timeouts)."""

    command: Command
    service: dict[str, Any] | None = None
    dest: dict[str, Any] | None = None
    #: For "timeouts": tcp, tcpfin, udp seconds (0: left unchanged, as IPVS does).
    timeouts: tuple[int, int, int] | None = None


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


def release_requests(applied: dict[ServiceKey, Service],
                     flush_on_stop: str) -> list[IpvsRequest]:
    """What stop sends (lvs_flush_on_stop): NO deletes each destination then its service, as
    keepalived does by default; VS deletes each service (the kernel drops its destinations);
    FULL flushes the whole table in one request."""
    if flush_on_stop == "FULL":
        return [IpvsRequest("flush")]
    requests: list[IpvsRequest] = []
    for service in applied.values():
        attrs = service_attrs(service)
        if flush_on_stop != "VS":
            requests += [IpvsRequest("del", attrs, dest_attrs(d, service.key))
                         for d in service.destinations]
        requests.append(IpvsRequest("del", attrs))
    return requests


#: IPVS_CMD_ATTR_TIMEOUT_*, NLA_U32 in the kernel; pyroute2's ipvsmsg takes them as raw bytes.
_TIMEOUT_ATTRS = ("IPVS_CMD_ATTR_TIMEOUT_TCP", "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN",
                  "IPVS_CMD_ATTR_TIMEOUT_UDP")


def message(request: IpvsRequest) -> Any:
    """The generic netlink message of a request, not yet encoded."""
    from pyroute2 import IPVSDest, IPVSService  # type: ignore[import-untyped]
    from pyroute2.netlink.generic import ipvs  # type: ignore[import-untyped]

    commands = {("service", "add"): ipvs.IPVS_CMD_NEW_SERVICE,
                ("service", "set"): ipvs.IPVS_CMD_SET_SERVICE,
                ("service", "del"): ipvs.IPVS_CMD_DEL_SERVICE,
                ("dest", "add"): ipvs.IPVS_CMD_NEW_DEST, ("dest", "set"): ipvs.IPVS_CMD_SET_DEST,
                ("dest", "del"): ipvs.IPVS_CMD_DEL_DEST}
    msg = ipvs.ipvsmsg()
    service = request.service or {}
    if request.command == "flush":
        msg["cmd"] = ipvs.IPVS_CMD_FLUSH
        msg["attrs"] = []
    elif request.command == "timeouts":
        msg["cmd"] = ipvs.IPVS_CMD_SET_CONFIG
        msg["attrs"] = [(name, value.to_bytes(4, sys.byteorder)) for name, value
                        in zip(_TIMEOUT_ATTRS, request.timeouts or (0, 0, 0), strict=True)
                        if value]
    elif request.dest is None:
        msg["cmd"] = commands[("service", request.command)]
        msg["attrs"] = [("IPVS_CMD_ATTR_SERVICE", IPVSService(**service).dump_nla())]
    else:
        msg["cmd"] = commands[("dest", request.command)]
        msg["attrs"] = [("IPVS_CMD_ATTR_SERVICE", IPVSService(**service).dump_key()),
                        ("IPVS_CMD_ATTR_DEST", IPVSDest(**request.dest).dump_nla())]
    msg["version"] = ipvs.GENL_VERSION
    return msg


def to_message(request: IpvsRequest) -> Any:
    """The generic netlink message pyroute2 sends for a request (encoded, for inspection)."""
    msg = message(request)
    msg.encode()
    return msg


@dataclass
class IpvsDataplane:
    """Keeps the kernel's IPVS table equal to the services it is given, by diffs."""

    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fastvrrp.lvs"))
    name: str = "ipvs"
    options: LvsOptions = field(default_factory=LvsOptions)
    applied: dict[ServiceKey, Service] = field(default_factory=dict)
    last_requests: list[IpvsRequest] = field(default_factory=list)
    #: Whether the first apply() has run: lvs_flush happens before it only.
    started: bool = False
    #: The lvs_timeouts last sent, so that a reload sends them again only when they change.
    timeouts: tuple[int, int, int] | None = None
    _socket: Any = None

    def plan(self, services: Sequence[Service]) -> list[IpvsRequest]:
        """The requests apply() sends, in order: at startup the flush (lvs_flush) and the
        timeouts (lvs_timeouts) before any service; then the diff of the table."""
        requests: list[IpvsRequest] = []
        if not self.started and self.options.flush:
            requests.append(IpvsRequest("flush"))
        if self.options.timeouts is not None and self.options.timeouts != self.timeouts:
            requests.append(IpvsRequest("timeouts", timeouts=self.options.timeouts))
        return requests + diff_requests(self.applied, services)

    def apply(self, services: Sequence[Service]) -> None:
        """Send the requests that make the kernel's table equal to `services`."""
        requests = self.plan(services)
        for request in requests:
            if request.command == "timeouts":
                # Refused timeouts must not keep the services out: say so, and go on.
                try:
                    self.send(request)
                except Exception as exc:  # pyroute2's NetlinkError
                    self.logger.error("lvs_timeouts: IPVS refused them: %s", exc)
                self.timeouts = request.timeouts
                continue
            self.send(request)
            self.started = True  # flushed (lvs_flush) at most once, before the first service
        self.started = True
        self.last_requests = requests
        self.applied = {s.key: s for s in services}

    def send(self, request: IpvsRequest) -> None:
        """Send one request through pyroute2's IPVS socket."""
        from pyroute2 import IPVS, IPVSDest, IPVSService
        from pyroute2.netlink import NLM_F_ACK, NLM_F_REQUEST  # type: ignore[import-untyped]

        if self._socket is None:
            self._socket = IPVS()
        if request.service is None:  # the whole table: flush, timeouts
            tuple(self._socket.nlm_request(message(request), msg_type=self._socket.prid,
                                           msg_flags=NLM_F_REQUEST | NLM_F_ACK))
            return
        service = IPVSService(**request.service)
        if request.dest is None:
            self._socket.service(request.command, service=service)
        else:
            self._socket.dest(request.command, service=service, dest=IPVSDest(**request.dest))

    def release(self, keep: bool = False) -> None:
        """Remove what fastvrrp added (unless `keep`) as lvs_flush_on_stop says: each
        destination and service (default), each service (VS), or the whole table (FULL)."""
        try:
            if self.started and not keep:
                for request in release_requests(self.applied, self.options.flush_on_stop):
                    self.send(request)
        except Exception as exc:  # netlink errors must not stop the shutdown
            self.logger.warning("cannot remove IPVS services: %s", exc)
        finally:
            self.applied = {}
            self.started = False
            if self._socket is not None:
                self._socket.close()
                self._socket = None
