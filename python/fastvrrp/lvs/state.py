"""The virtual-server state machine, pure: checker verdicts in, table and notices out.

It follows keepalived: a real server is alive while none of its checkers has failed; a dead
one leaves the table (or stays with weight 0 under inhibit_on_failure). The live weight is
compared with the quorum (with hysteresis); under quorum the sorry server, if any, takes over.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from fastvrrp.check.base import Outcome
from fastvrrp.config import model as m
from fastvrrp.lvs.table import Destination, Service, ServiceKey

#: Addresses one group range may expand to; larger ranges are cut (and reported by check).
MAX_RANGE = 256

NoticeKind = Literal["log", "fifo", "script", "smtp"]


@dataclass(frozen=True)
class Notice:
    """Something to tell the world: a log line, a FIFO line, a script to run, or a mail
    (`text` is then its subject without the `[router_id]` prefix)."""

    kind: NoticeKind
    text: str
    command: m.Command | None = None
    body: str = ""


def service_keys(vs: m.VirtualServer, groups: Iterable[m.VirtualServerGroup]) -> list[ServiceKey]:
    """The kernel services one virtual_server block stands for (a group gives several)."""
    protocol = vs.protocol.lower()
    if vs.fwmark is not None:
        return [ServiceKey(vs.family, protocol, fwmark=vs.fwmark)]
    if vs.group is None:
        return [ServiceKey(vs.family, protocol, vs.ip, vs.port)]
    group = next((g for g in groups if g.name == vs.group), None)
    keys: list[ServiceKey] = []
    for member in group.members if group else ():
        if member.fwmark is not None:
            keys.append(ServiceKey(member.family or vs.family, protocol, fwmark=member.fwmark))
            continue
        if member.ip is None:
            continue
        first = ipaddress.ip_address(member.ip)
        last = ipaddress.ip_address(member.range_end) if member.range_end else first
        family: m.Family = "inet6" if first.version == 6 else "inet"
        count = min(int(last) - int(first) + 1, MAX_RANGE)
        for offset in range(max(count, 0)):
            keys.append(ServiceKey(family, protocol, str(first + offset), member.port))
    return keys


@dataclass
class RealServerState:
    """One real server: which of its checkers are failing, and its dynamic weight."""

    server: m.RealServer
    failed: set[int] = field(default_factory=set)
    dynamic_weight: dict[int, int] = field(default_factory=dict)
    weight_delta: dict[int, int] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        """Alive while no checker has failed."""
        return not self.failed

    #: The destination this server contributes to its services (None: absent); a cache
    #: the state machine drops when the server changes, so a verdict costs O(1) per server.
    destination: Destination | None = None
    _weight: int | None = None

    @property
    def weight(self) -> int:
        """The configured weight, or a MISC_CHECK's, plus FILE_CHECK adjustments (never < 0)."""
        if self._weight is None:
            base = min(self.dynamic_weight.values()) if self.dynamic_weight \
                else self.server.weight
            self._weight = max(0, base + sum(self.weight_delta.values()))
        return self._weight

    def changed(self) -> None:
        """Forget the cached weight and destination."""
        self._weight = None
        self.destination = None


@dataclass
class VirtualServerState:
    """One virtual_server block: its real servers, its quorum state and its services."""

    server: m.VirtualServer
    keys: list[ServiceKey]
    real: list[RealServerState]
    quorum_up: bool = True
    started: bool = False
    #: Whether blocks without their own smtp_alert mail (global smtp_alert_checker/smtp_alert).
    alert_default: bool = False

    @classmethod
    def of(cls, vs: m.VirtualServer,
           groups: Iterable[m.VirtualServerGroup] = ()) -> VirtualServerState:
        """A fresh state; checkers with `alpha` start failed, as keepalived's do."""
        real = []
        for rs in vs.real_servers:
            state = RealServerState(rs)
            state.failed = {i for i, c in enumerate(rs.checkers) if c.alpha}
            real.append(state)
        return cls(vs, service_keys(vs, groups), real)

    @property
    def label(self) -> str:
        """keepalived's name of the virtual server in logs and FIFO lines."""
        if self.server.group is not None:
            return f"[{self.server.group}]:{self.server.protocol.lower()}:0"
        return str(self.keys[0]) if self.keys else "[?]"

    def rs_label(self, state: RealServerState) -> str:
        """keepalived's name of a real server."""
        return Destination(state.server.ip, self._rs_port(state.server), 0).label(
            self.server.protocol.lower())

    #: live_weight, kept up to date by verdict() (None: to be summed again).
    _live_weight: int | None = None

    @property
    def live_weight(self) -> int:
        """The weight of the alive real servers, which the quorum is compared with."""
        if self._live_weight is None:
            self._live_weight = sum(r.weight for r in self.real if r.alive)
        return self._live_weight

    def forget_weights(self) -> None:
        """Real servers' states were changed other than by verdict(): sum again."""
        self._live_weight = None
        for state in self.real:
            state.changed()

    def start(self) -> list[Notice]:
        """The initial verdict: quorum from the servers alive at start."""
        self.started = True
        self.quorum_up = self.live_weight >= self.server.quorum
        notices: list[Notice] = []
        if not self.quorum_up:
            notices += self._quorum_notices(False)
        return notices

    def verdict(self, rs_index: int, checker_index: int, up: bool,
                outcome: Outcome | None) -> list[Notice]:
        """A checker changed verdict (or, up, reported a new dynamic weight)."""
        state = self.real[rs_index]
        was_alive, old_weight = state.alive, state.weight
        live = self.live_weight - (old_weight if was_alive else 0)
        state.changed()
        if up:
            state.failed.discard(checker_index)
            if outcome is not None and outcome.weight is not None:
                state.dynamic_weight[checker_index] = outcome.weight
            if outcome is not None and outcome.weight_delta is not None:
                state.weight_delta[checker_index] = outcome.weight_delta
        else:
            state.failed.add(checker_index)
        self._live_weight = live + (state.weight if state.alive else 0)
        notices: list[Notice] = []
        if state.alive != was_alive:
            notices += self._rs_notices(state, state.alive)
        elif state.alive and state.weight != old_weight:
            notices.append(Notice("log", f"Changing weight from {old_weight} to {state.weight} "
                                         f"for rs {self.rs_label(state)} VS {self.label}"))
        return notices + self._update_quorum()

    def shutdown(self) -> list[Notice]:
        """With `omega`, the alive servers and the quorum are reported down on shutdown."""
        if not self.server.omega:
            return []
        notices: list[Notice] = []
        for state in self.real:
            if state.alive:
                notices += self._rs_notices(state, False, logged=False)
        if self.quorum_up:
            notices += self._quorum_notices(False)
        return notices

    def services(self) -> list[Service]:
        """The services and destinations the kernel should hold now."""
        vs = self.server
        dests: list[Destination] = []
        sorry = vs.sorry_server
        if sorry is not None and not self.quorum_up:
            dests.append(Destination(sorry[0], sorry[1] if sorry[1] is not None else vs.port, 1,
                                     vs.lvs_method))
        else:
            for state in self.real:
                dest = state.destination if state.destination is not None \
                    else self.destination(state)
                if dest is not None:
                    dests.append(dest)
            if sorry is not None and vs.sorry_server_inhibit:
                dests.append(Destination(sorry[0], sorry[1] if sorry[1] is not None else vs.port,
                                         0, vs.lvs_method))
        return [Service(key, vs.lvs_sched, vs.lvs_method, vs.persistence_timeout,
                        vs.persistence_granularity, vs.ops,
                        tuple(d if d.port is not None or key.port is None
                              else self._port_for(d, key) for d in dests))
                for key in self.keys]

    def destination(self, state: RealServerState) -> Destination | None:
        """What one real server contributes to the table (None: absent), ignoring the sorry
        server; cached on the server's state until it changes."""
        if state.destination is None:
            rs, vs = state.server, self.server
            if state.alive or rs.inhibit_on_failure or vs.inhibit_on_failure:
                weight = state.weight if state.alive else 0
                state.destination = Destination(rs.ip, self._rs_port(rs), weight,
                                                rs.lvs_method or vs.lvs_method)
        return state.destination

    def _rs_port(self, rs: m.RealServer) -> int | None:
        return rs.port if rs.port is not None else self.server.port

    @staticmethod
    def _port_for(dest: Destination, key: ServiceKey) -> Destination:
        if dest.port is None and key.port is not None:
            return Destination(dest.address, key.port, dest.weight, dest.method)
        return dest

    def _rs_notices(self, state: RealServerState, up: bool, logged: bool = True) -> list[Notice]:
        rs, vs = state.server, self.server
        word = "UP" if up else "DOWN"
        notices: list[Notice] = []
        if logged:
            inhibit = rs.inhibit_on_failure or vs.inhibit_on_failure
            if up:
                action = "Enabling" if inhibit else "Adding"
                notices.append(Notice("log", f"{action} service {self.rs_label(state)} "
                                             f"to VS {self.label}"))
            else:
                action = "Disabling" if inhibit else "Removing"
                notices.append(Notice("log", f"{action} service {self.rs_label(state)} "
                                             f"from VS {self.label}"))
        notices.append(Notice("fifo", f"RS {self.rs_label(state)} {self.label} {word}"))
        command = rs.notify_up if up else rs.notify_down
        if command is not None:
            notices.append(Notice("script", command.command, command))
        if self._alerts(rs.smtp_alert):
            notices.append(Notice(
                "smtp", f"Realserver {self.rs_label(state)} of virtual server {self.label} - "
                        f"{word}",
                body="=> CHECK succeed on service <=" if up else "=> CHECK failed on service <="))
        return notices

    def _alerts(self, flag: bool | None) -> bool:
        if flag is not None:
            return flag
        if self.server.smtp_alert is not None:
            return self.server.smtp_alert
        return self.alert_default

    def _update_quorum(self) -> list[Notice]:
        vs, weight = self.server, self.live_weight
        if self.quorum_up and weight < vs.quorum - vs.hysteresis:
            self.quorum_up = False
            return [Notice("log", f"Lost quorum {vs.quorum}-{vs.hysteresis}="
                                  f"{vs.quorum - vs.hysteresis} > {weight} for VS {self.label}"),
                    *self._sorry_log(True), *self._quorum_notices(False)]
        if not self.quorum_up and weight >= vs.quorum + vs.hysteresis:
            self.quorum_up = True
            return [Notice("log", f"Gained quorum {vs.quorum}+{vs.hysteresis}="
                                  f"{vs.quorum + vs.hysteresis} <= {weight} for VS {self.label}"),
                    *self._sorry_log(False), *self._quorum_notices(True)]
        return []

    def _sorry_log(self, adding: bool) -> list[Notice]:
        sorry = self.server.sorry_server
        if sorry is None:
            return []
        name = Destination(sorry[0], sorry[1] or self.server.port, 0).label(
            self.server.protocol.lower())
        verb = "Adding sorry server" if adding else "Removing sorry server"
        return [Notice("log", f"{verb} {name} {'to' if adding else 'from'} VS {self.label}")]

    def _quorum_notices(self, up: bool) -> list[Notice]:
        notices = [Notice("fifo", f"VS {self.label} {'UP' if up else 'DOWN'}")]
        command = self.server.quorum_up if up else self.server.quorum_down
        if command is not None:
            notices.append(Notice("script", command.command, command))
        if self._alerts(None):
            notices.append(Notice("smtp", f"Virtualserver {self.label} - {'UP' if up else 'DOWN'}",
                                  body=f"=> {'Gained' if up else 'Lost'} quorum <="))
        return notices


@dataclass(frozen=True)
class CheckerRef:
    """Where a checker sits: virtual server, real server and checker indexes."""

    vs: int
    rs: int
    checker: int


@dataclass
class LoadBalancer:
    """Every virtual server of a config, and the map from checker ids to their place."""

    servers: list[VirtualServerState]
    checkers: list[CheckerRef]

    @classmethod
    def of(cls, config: m.Config) -> LoadBalancer:
        """The state of a config's virtual servers before any check has run."""
        servers = [VirtualServerState.of(vs, config.virtual_server_groups)
                   for vs in config.virtual_servers]
        g = config.global_defs
        default = g.smtp_alert_checker if g.smtp_alert_checker is not None else g.smtp_alert
        for server in servers:
            server.alert_default = bool(default)
        refs = [CheckerRef(v, r, c) for v, vs in enumerate(config.virtual_servers)
                for r, rs in enumerate(vs.real_servers) for c in range(len(rs.checkers))]
        return cls(servers, refs)

    def start(self) -> list[Notice]:
        """Initial quorum verdicts."""
        return [n for s in self.servers for n in s.start()]

    def verdict(self, checker_id: int, up: bool, outcome: Outcome | None) -> list[Notice]:
        """Feed one checker's new verdict."""
        ref = self.checkers[checker_id]
        return self.servers[ref.vs].verdict(ref.rs, ref.checker, up, outcome)

    def shutdown(self) -> list[Notice]:
        """What `omega` servers report on shutdown."""
        return [n for s in self.servers for n in s.shutdown()]

    def services(self) -> list[Service]:
        """The whole table."""
        return [svc for s in self.servers for svc in s.services()]
