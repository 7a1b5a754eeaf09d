"""From the config model to probes: one Probe and Schedule per checker block."""

from __future__ import annotations

import ssl

from fastvrrp.check.base import Probe, Target
from fastvrrp.check.dns import DnsProbe
from fastvrrp.check.file import FileProbe
from fastvrrp.check.http import HttpProbe, client_context
from fastvrrp.check.misc import MiscProbe
from fastvrrp.check.ping import PingProbe
from fastvrrp.check.runner import Schedule
from fastvrrp.check.smtp import SmtpProbe
from fastvrrp.check.tcp import TcpProbe
from fastvrrp.check.udp import UdpProbe
from fastvrrp.config import model as m

DEFAULT_PORTS = {m.SmtpCheck: 25, m.DnsCheck: 53}


def target_for(checker: m.Checker, server: m.RealServer) -> Target:
    """The address a checker connects to: its connect_ip/port, else the real server's."""
    port = checker.connect_port if checker.connect_port is not None else server.port
    if port is None:
        port = DEFAULT_PORTS.get(type(checker))
    return Target(ip=checker.connect_ip or server.ip, port=port, bindto=checker.bindto,
                  bind_port=checker.bind_port, bind_if=checker.bind_if, fwmark=checker.fwmark)


def schedule_for(checker: m.Checker) -> Schedule:
    """When the checker runs."""
    return Schedule(delay_loop=checker.delay_loop, retry=checker.retry,
                    delay_before_retry=checker.delay_before_retry, warmup=checker.warmup)


def probe_for(checker: m.Checker, server: m.RealServer, config: m.Config) -> Probe | None:
    """The probe for one checker block, or None for a checker that cannot run (no file...)."""
    target = target_for(checker, server)
    timeout = checker.connect_timeout
    needs_port = not isinstance(checker, (m.MiscCheck, m.PingCheck, m.FileCheck))
    if needs_port and target.port is None:
        return None  # e.g. a fwmark service's real server without a port or connect_port
    if isinstance(checker, m.HttpGet):
        tls = None
        if isinstance(checker, m.SslGet):
            try:
                tls = client_context(config.ssl)
            except (OSError, ssl.SSLError):
                return None  # a missing or unreadable SSL file: the checker cannot run
        sni = isinstance(checker, m.SslGet) and checker.enable_sni
        return HttpProbe(target, timeout, checker.urls, checker.virtualhost or server.virtualhost,
                         checker.http_protocol, tls, sni)
    if isinstance(checker, m.TcpCheck):
        return TcpProbe(target, timeout)
    if isinstance(checker, m.MiscCheck):
        if checker.misc_path is None:
            return None
        return MiscProbe(checker.misc_path.command,
                         checker.misc_timeout if checker.misc_timeout else timeout,
                         checker.misc_dynamic)
    if isinstance(checker, m.SmtpCheck):
        helo = checker.helo_name or config.global_defs.smtp_helo_name or "localhost"
        return SmtpProbe(target, timeout, helo)
    if isinstance(checker, m.DnsCheck):
        return DnsProbe(target, timeout, checker.type, checker.name)
    if isinstance(checker, m.PingCheck):
        return PingProbe(target, timeout)
    if isinstance(checker, m.UdpCheck):
        return UdpProbe(target, timeout, checker.payload, checker.require_reply,
                        checker.reply_data, checker.min_reply_length, checker.max_reply_length)
    if isinstance(checker, m.FileCheck):
        track = next((t for t in config.track_files if t.name == checker.track_file), None)
        if track is None or track.file is None:
            return None
        weight = checker.weight if checker.weight is not None else track.weight
        return FileProbe(track.file, timeout, weight, checker.reverse or track.weight_reverse)
    return None
