"""The daemon service for virtual servers: checkers -> state machine -> dataplane and notices.

Every checker verdict is applied to the dataplane at once, in the event loop, before the
notify scripts and FIFO lines it causes are started.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastvrrp.check.base import Outcome
from fastvrrp.check.build import probe_for, schedule_for
from fastvrrp.check.runner import CheckRunner
from fastvrrp.config import model as m
from fastvrrp.lvs.ipvs import IpvsDataplane, ipvs_available
from fastvrrp.lvs.nftables import NftablesDataplane
from fastvrrp.lvs.scheduling import CheckerScheduling, CheckerThread
from fastvrrp.lvs.state import LoadBalancer, Notice, RealServerState, VirtualServerState
from fastvrrp.lvs.table import Dataplane, Destination, LvsOptions
from fastvrrp.notify.fifo import FifoWriter
from fastvrrp.notify.runner import ScriptRunner
from fastvrrp.notify.smtp import Alert, SmtpAlerter, router_id

if TYPE_CHECKING:
    from fastvrrp.daemon import Daemon

#: Seconds between the first checks of consecutive checkers when they have no warmup.
STAGGER = 0.001

CHECKER_NAMES = {m.HttpGet: "HTTP_GET", m.SslGet: "SSL_GET", m.TcpCheck: "TCP_CHECK",
                 m.MiscCheck: "MISC_CHECK", m.SmtpCheck: "SMTP_CHECK", m.DnsCheck: "DNS_CHECK",
                 m.PingCheck: "PING_CHECK", m.UdpCheck: "UDP_CHECK", m.FileCheck: "FILE_CHECK"}


def choose_dataplane(backend: str, logger: logging.Logger) -> Dataplane:
    """`lvs_backend`: ipvs, nftables, or auto (IPVS when /proc/net/ip_vs exists)."""
    if backend == "nftables":
        return NftablesDataplane(logger)
    if ipvs_available():
        return IpvsDataplane(logger)
    if backend == "ipvs":
        logger.error("lvs_backend ipvs: this kernel has no IPVS (/proc/net/ip_vs is missing) "
                     "- using nftables")
    return NftablesDataplane(logger)


def vs_key(vs: m.VirtualServer) -> tuple[object, ...]:
    """What keepalived matches virtual servers by across a reload."""
    if vs.group is not None:
        return ("group", vs.group, vs.protocol)
    if vs.fwmark is not None:
        return ("fwmark", vs.fwmark, vs.family, vs.protocol)
    return ("address", vs.ip, vs.port, vs.protocol)


def rs_key(rs: m.RealServer) -> tuple[str, int | None]:
    """What keepalived matches real servers by (within their virtual server)."""
    return (rs.ip, rs.port)


def settings(value: object) -> object:
    """A model value without its file locations, so that moved lines compare equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple(
            (f.name, settings(getattr(value, f.name))) for f in dataclasses.fields(value)
            if not isinstance(getattr(value, f.name), m.Location)))
    if isinstance(value, tuple):
        return tuple(settings(v) for v in value)
    return value


def probe_settings(config: m.Config) -> object:
    """What probes read outside their checker block: a change restarts every checker."""
    g = config.global_defs
    return settings((g.smtp_helo_name, config.ssl, config.track_files))


class AddressPresence:
    """Whether an address is configured on this host (ha_suspend), cached for a second."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, bool]] = {}

    def present(self, address: str) -> bool:
        """True when the address can be bound here, i.e. it is local."""
        now = time.monotonic()
        cached = self._seen.get(address)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((address, 0))
                found = True
            except OSError:
                found = False
        self._seen[address] = (now, found)
        return found


def settle_collector() -> None:
    """Move what exists now (config, state, checkers) out of the garbage collector's sight.

    With a thousand checkers, a full collection walks every one of their objects and stalls
    the event loop for milliseconds, making checks late. These objects live until the next
    reload, which unfreezes them first (cyclic garbage among them is then collected)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class LoadBalancerService:
    """Runs the checkers of every virtual server and keeps the dataplane in step."""

    def __init__(self, config: m.Config, logger: logging.Logger,
                 dataplane: Dataplane | None = None, keep_on_stop: bool = False,
                 realtime_default: bool = True) -> None:
        self.config = config
        self.logger = logger
        self.dataplane = dataplane
        self.keep_on_stop = keep_on_stop
        #: Without checker_rt_priority, run the checker thread SCHED_RR 1 (below the engine's 2);
        #: False with `fastvrrp run --no-realtime` (services_for passes the daemon's `realtime`).
        self.realtime_default = realtime_default
        self.thread = CheckerThread(logger)
        self.state = LoadBalancer.of(config)
        self.runners: list[CheckRunner] = []
        self.labels: dict[int, str] = {}
        self.scripts = ScriptRunner(logger, config.global_defs)
        self.smtp = SmtpAlerter(config.global_defs, logger)
        self.fifos: list[FifoWriter] = []
        self.presence = AddressPresence()
        #: Seconds from each verdict to its dataplane change being applied (benchmarks).
        self.apply_latencies: list[float] = []
        #: Called with (due, started) for each scheduled check (benchmarks).
        self.record: Callable[[float, float], None] | None = None

    @staticmethod
    def wanted(config: m.Config) -> bool:
        """Whether the config has virtual servers."""
        return bool(config.virtual_servers)

    async def start(self, daemon: Daemon | None = None) -> None:
        """Open the FIFOs, write the initial table, and start every checker."""
        g = self.config.global_defs
        # The calling thread runs the event loop: the checkers and every dataplane change.
        self.thread.apply(CheckerScheduling.of(g, self.realtime_default))
        for fifo in (g.lvs_notify_fifo, g.notify_fifo):
            if fifo is None:
                continue
            script = g.lvs_notify_fifo_script if fifo is g.lvs_notify_fifo else None
            writer = FifoWriter(fifo, self.logger, script, self.scripts)
            try:
                writer.open()
                self.fifos.append(writer)
            except OSError as exc:
                self.logger.error("Cannot open notify FIFO %s: %s", fifo.path, exc.strerror)
        if self.dataplane is None:
            self.dataplane = choose_dataplane(g.lvs_backend, self.logger)
        self.logger.info("LVS dataplane: %s", self.dataplane.name)
        # lvs_flush, lvs_timeouts and lvs_flush_on_stop, before the first table is written.
        self.dataplane.options = LvsOptions.of(g)
        notices = self.state.start()
        self._apply()
        self._dispatch(notices)
        for ident in range(len(self.state.checkers)):
            self._add_runner(ident)
        self._apply()
        for runner in self.runners:
            runner.start()
        settle_collector()

    def _add_runner(self, ident: int) -> CheckRunner | None:
        """Make checker `ident`'s runner (not started); one that cannot run stays failed."""
        ref = self.state.checkers[ident]
        vs_state = self.state.servers[ref.vs]
        rs_state = vs_state.real[ref.rs]
        checker = rs_state.server.checkers[ref.checker]
        total = len(self.state.checkers)
        probe = probe_for(checker, rs_state.server, self.config)
        label = f"{CHECKER_NAMES.get(type(checker), 'CHECK')} {vs_state.rs_label(rs_state)}"
        self.labels[ident] = label
        if probe is None:
            self.logger.warning("%s cannot run - it stays failed", label)
            vs_state.verdict(ref.rs, ref.checker, False, None)
            return None
        schedule = schedule_for(checker)
        if not checker.warmup:
            # Stagger first checks by STAGGER each (at most one delay_loop), so
            # a thousand checkers do not connect in the same millisecond.
            window = min(checker.delay_loop, total * STAGGER)
            schedule.offset = (ident % total) * window / total
        runner = CheckRunner(ident, probe, schedule, self.on_verdict,
                             up=ref.checker not in rs_state.failed, label=label,
                             logger=self.logger, suspended=self._suspender(vs_state.server),
                             record=self.record)
        self.runners.append(runner)
        return runner

    async def reload(self, daemon: Daemon) -> None:
        """Take the daemon's new config, diffing it against the running one as keepalived does.

        Virtual servers match by address/port/protocol, fwmark or group; real servers by
        address and port. A matched real server keeps its state, its dataplane entry and every
        checker whose settings did not change (those keep running); a removed one leaves the
        table, reported DOWN if it was alive; a new one starts as at startup.
        """
        old_config, config = self.config, daemon.config
        new = LoadBalancer.of(config)
        context_kept = probe_settings(old_config) == probe_settings(config)
        old_ids = {(ref.vs, ref.rs, ref.checker): i
                   for i, ref in enumerate(self.state.checkers)}
        kept: dict[int, int] = {}  # new checker id -> old checker id
        pairs: list[tuple[VirtualServerState, VirtualServerState]] = []
        unmatched = {id(s): s for s in self.state.servers}
        by_key: dict[tuple[object, ...], list[tuple[int, VirtualServerState]]] = {}
        for index, old_vs in enumerate(self.state.servers):
            by_key.setdefault(vs_key(old_vs.server), []).append((index, old_vs))
        new_ids = {(ref.vs, ref.rs, ref.checker): i for i, ref in enumerate(new.checkers)}
        for v, vs_state in enumerate(new.servers):
            candidates = by_key.get(vs_key(vs_state.server))
            if not candidates:
                continue
            ov, old_vs = candidates.pop(0)
            del unmatched[id(old_vs)]
            pairs.append((old_vs, vs_state))
            indexed = {rs_key(r.server): (i, r) for i, r in enumerate(old_vs.real)}
            for r, rs_state in enumerate(vs_state.real):
                found = indexed.pop(rs_key(rs_state.server), None)
                if found is None:
                    continue
                orr, old_rs = found
                for c in self._kept_checkers(old_rs, rs_state, context_kept):
                    kept[new_ids[(v, r, c)]] = old_ids[(ov, orr, c)]
        # Stop what goes away before touching the state, so no verdict sees a half-made one.
        keep_old = set(kept.values())
        for runner in [r for r in self.runners if r.ident not in keep_old]:
            await runner.stop()
        survivors = {r.ident: r for r in self.runners if r.ident in keep_old}
        notices: list[Notice] = []
        # States may have moved on while stopping: copy the kept checkers' verdicts now.
        for new_id, old_id in kept.items():
            ref, old_ref = new.checkers[new_id], self.state.checkers[old_id]
            self._copy_checker(self.state.servers[old_ref.vs].real[old_ref.rs], old_ref.checker,
                               new.servers[ref.vs].real[ref.rs], ref.checker)
        for vs_state in new.servers:
            vs_state.forget_weights()
        for old_vs, vs_state in pairs:
            gone = {rs_key(r.server): r for r in old_vs.real}
            for rs_state in vs_state.real:
                previous = gone.pop(rs_key(rs_state.server), None)
                if previous is None:
                    continue
                rs_state.changed()
                if rs_state.alive != previous.alive:
                    notices += vs_state._rs_notices(rs_state, rs_state.alive)
            for old_rs in gone.values():
                if old_rs.alive:
                    notices += old_vs._rs_notices(old_rs, False)
            vs_state.started = True
            vs_state.quorum_up = old_vs.quorum_up
            notices += vs_state._update_quorum()
        for old_vs in unmatched.values():
            for old_rs in old_vs.real:
                if old_rs.alive:
                    notices += old_vs._rs_notices(old_rs, False)
            if old_vs.quorum_up:
                notices += old_vs._quorum_notices(False)
        matched = {id(n) for _, n in pairs}
        for vs_state in new.servers:
            if id(vs_state) not in matched:
                notices += vs_state.start()
        self.config, self.state = config, new
        self.thread.apply(CheckerScheduling.of(config.global_defs, self.realtime_default))
        self.runners = []
        self.labels = {}
        if self.dataplane is not None:  # new lvs_timeouts go out with the next write
            self.dataplane.options = LvsOptions.of(config.global_defs)
        fresh: list[CheckRunner] = []
        for ident in range(len(new.checkers)):
            survivor = survivors.get(kept[ident]) if ident in kept else None
            if survivor is None:
                made = self._add_runner(ident)
                if made is not None:
                    fresh.append(made)
                continue
            ref = new.checkers[ident]
            vs_state = new.servers[ref.vs]
            rs_state = vs_state.real[ref.rs]
            name = CHECKER_NAMES.get(type(rs_state.server.checkers[ref.checker]), "CHECK")
            survivor.ident = ident
            survivor.label = self.labels[ident] = f"{name} {vs_state.rs_label(rs_state)}"
            survivor.suspended = self._suspender(vs_state.server)
            self.runners.append(survivor)
        self._apply()
        self._dispatch(notices)
        for runner in fresh:
            runner.start()
        settle_collector()
        self.logger.info("LVS reloaded: %d checkers kept, %d started, %d stopped",
                         len(kept), len(fresh), len(old_ids) - len(kept))

    @staticmethod
    def _kept_checkers(old: RealServerState, new: RealServerState,
                       context_kept: bool) -> list[int]:
        """The checkers of a matched real server that keep running (same settings)."""
        if not context_kept or old.server.virtualhost != new.server.virtualhost:
            return []
        return [index for index, checker in enumerate(new.server.checkers)
                if index < len(old.server.checkers)
                and settings(checker) == settings(old.server.checkers[index])]

    @staticmethod
    def _copy_checker(old: RealServerState, old_index: int, new: RealServerState,
                      index: int) -> None:
        """A kept checker's verdict and weights, from the old state to the new."""
        if old_index in old.failed:
            new.failed.add(index)
        else:
            new.failed.discard(index)
        if old_index in old.dynamic_weight:
            new.dynamic_weight[index] = old.dynamic_weight[old_index]
        if old_index in old.weight_delta:
            new.weight_delta[index] = old.weight_delta[old_index]

    def _suspender(self, vs: m.VirtualServer) -> Callable[[], bool] | None:
        if not vs.ha_suspend or vs.ip is None:
            return None
        address = vs.ip
        return lambda: not self.presence.present(address)

    def on_verdict(self, ident: int, up: bool, outcome: Outcome | None, reason: str) -> None:
        """A checker changed its verdict: table first, then logs, FIFO lines and scripts."""
        started = time.perf_counter()
        # No garbage collection between the verdict and the dataplane change: a full one
        # takes milliseconds with a thousand checkers.
        collecting = gc.isenabled()
        gc.disable()
        try:
            notices = self._verdict_to_dataplane(ident, up, outcome)
        finally:
            if collecting:
                gc.enable()
        self.apply_latencies.append(time.perf_counter() - started)
        # Everything a human or a script sees comes after the dataplane has changed.
        label = self.labels.get(ident, f"checker {ident}")
        if up:
            self.logger.info("%s success.", label)
        else:
            self.logger.info("%s failed: %s", label, reason)
        self._dispatch(notices)

    def _verdict_to_dataplane(self, ident: int, up: bool,
                              outcome: Outcome | None) -> list[Notice]:
        """Feed the verdict to the state machine and change the dataplane; the notices."""
        ref = self.state.checkers[ident]
        vs_state = self.state.servers[ref.vs]
        rs_state = vs_state.real[ref.rs]
        quorum_up, before = vs_state.quorum_up, vs_state.destination(rs_state)
        notices = self.state.verdict(ident, up, outcome)
        after = vs_state.destination(rs_state)
        # Only this server's entries change unless the quorum (sorry server) moved.
        if vs_state.quorum_up != quorum_up or not self._change(vs_state, before, after):
            self._apply()
        return notices

    def _change(self, vs_state: VirtualServerState, before: Destination | None,
                after: Destination | None) -> bool:
        """Apply one real server's new destination alone, if the dataplane can (nftables)."""
        change = getattr(self.dataplane, "change", None)
        if change is None or (vs_state.server.sorry_server is not None
                              and not vs_state.quorum_up):
            return False
        try:
            return all(change(key, before, after) for key in vs_state.keys)
        except Exception as exc:  # fall back to the full diff, which also retries
            self.logger.warning("LVS dataplane change: %s", exc)
            return False

    def _apply(self) -> None:
        assert self.dataplane is not None
        try:
            self.dataplane.apply(self.state.services())
        except Exception as exc:  # keep checking; the next change retries the whole diff
            self.logger.error("LVS dataplane %s: %s", self.dataplane.name, exc)

    def _dispatch(self, notices: list[Notice]) -> None:
        for notice in notices:
            if notice.kind == "log":
                self.logger.info("%s", notice.text)
            elif notice.kind == "fifo":
                for fifo in self.fifos:
                    fifo.write(notice.text)
            elif notice.kind == "smtp":
                if self.smtp.enabled:
                    subject = f"[{router_id(self.config.global_defs)}] {notice.text}"
                    self.smtp.send(Alert(subject, notice.body))
            elif notice.command is not None:
                self.scripts.run(notice.command)

    async def stop(self) -> None:
        """Stop the checkers, report (omega), and remove the table unless told to keep it."""
        for runner in self.runners:
            await runner.stop()
        self.runners.clear()
        self._dispatch(self.state.shutdown())
        if self.dataplane is not None:
            self.dataplane.release(keep=self.keep_on_stop)
        with contextlib.suppress(asyncio.TimeoutError):
            await self.scripts.close(grace=0.5)
            await self.smtp.close(grace=0.5)
        for fifo in self.fifos:
            fifo.close()
        self.fifos.clear()
        self.thread.restore()
