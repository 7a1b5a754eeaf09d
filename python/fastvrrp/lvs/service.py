"""The daemon service for virtual servers: checkers -> state machine -> dataplane and notices.

Every checker verdict is applied to the dataplane at once, in the event loop, before the
notify scripts and FIFO lines it causes are started.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from fastvrrp.lvs.state import LoadBalancer, Notice
from fastvrrp.lvs.table import Dataplane
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


class LoadBalancerService:
    """Runs the checkers of every virtual server and keeps the dataplane in step."""

    def __init__(self, config: m.Config, logger: logging.Logger,
                 dataplane: Dataplane | None = None, keep_on_stop: bool = False) -> None:
        self.config = config
        self.logger = logger
        self.dataplane = dataplane
        self.keep_on_stop = keep_on_stop
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
        notices = self.state.start()
        self._apply()
        self._dispatch(notices)
        ident = 0
        total = len(self.state.checkers)
        for vs_state in self.state.servers:
            vs = vs_state.server
            suspended = self._suspender(vs)
            for rs_index, rs_state in enumerate(vs_state.real):
                rs = rs_state.server
                for index, checker in enumerate(rs.checkers):
                    probe = probe_for(checker, rs, self.config)
                    label = f"{CHECKER_NAMES.get(type(checker), 'CHECK')} " \
                            f"{vs_state.rs_label(rs_state)}"
                    self.labels[ident] = label
                    if probe is None:
                        self.logger.warning("%s cannot run - it stays failed", label)
                        self.state.servers[self.state.checkers[ident].vs].verdict(
                            rs_index, index, False, None)
                    else:
                        schedule = schedule_for(checker)
                        if not checker.warmup:
                            # Stagger first checks by STAGGER each (at most one delay_loop), so
                            # a thousand checkers do not connect in the same millisecond.
                            window = min(checker.delay_loop, total * STAGGER)
                            schedule.offset = (ident % total) * window / total
                        runner = CheckRunner(ident, probe, schedule, self.on_verdict,
                                             up=not checker.alpha, label=label,
                                             logger=self.logger, suspended=suspended,
                                             record=self.record)
                        self.runners.append(runner)
                    ident += 1
        self._apply()
        for runner in self.runners:
            runner.start()

    def _suspender(self, vs: m.VirtualServer) -> Callable[[], bool] | None:
        if not vs.ha_suspend or vs.ip is None:
            return None
        address = vs.ip
        return lambda: not self.presence.present(address)

    def on_verdict(self, ident: int, up: bool, outcome: Outcome | None, reason: str) -> None:
        """A checker changed its verdict: table first, then logs, FIFO lines and scripts."""
        started = time.perf_counter()
        label = self.labels.get(ident, f"checker {ident}")
        if up:
            self.logger.info("%s success.", label)
        else:
            self.logger.info("%s failed: %s", label, reason)
        notices = self.state.verdict(ident, up, outcome)
        self._apply()
        self.apply_latencies.append(time.perf_counter() - started)
        self._dispatch(notices)

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
