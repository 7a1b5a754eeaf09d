"""Render a model back to keepalived.conf syntax.

Every resolved value is written explicitly, so reading the output gives the same model (the
round trip is tested). Useful to show what a config means after macros, conditionals,
includes and defaults.
"""

from __future__ import annotations

import re
from dataclasses import replace

from fastvrrp.config import model as m
from fastvrrp.config.keywords import BOOL_FLAGS

_PLAIN = re.compile(r"[A-Za-z0-9_./:%+,=@^-]+\Z")


def quote(text: str) -> str:
    """A word as keepalived reads it back: plain when safe, else quoted (escaped if needed)."""
    if text and _PLAIN.match(text) and text[0] not in "@$~!#":
        return text
    if '"' in text and "'" not in text and "\\" not in text and "\n" not in text:
        return f"'{text}'"
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\t", "\\t"))
    return f'"{escaped}"'


def _number(value: float) -> str:
    """A decimal as keepalived reads it: never in exponent form."""
    if value == int(value) and abs(value) < 1e15:
        return f"{value:g}"
    text = repr(value)
    return text if "e" not in text else f"{value:.15f}".rstrip("0").rstrip(".")


def _bool(value: bool) -> str:
    return "on" if value else "off"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, *words: str) -> None:
        self.lines.append("    " * self.depth + " ".join(w for w in words if w != ""))

    def open(self, *words: str) -> None:
        self.line(*words, "{")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("}")

    def command(self, keyword: str, command: m.Command | None) -> None:
        if command is not None:
            self.line(keyword, quote(command.command), *(quote(w) for w in (command.user,
                                                                            command.group) if w))

    def opt(self, keyword: str, value: object, true_only: bool = False) -> None:
        """Write `keyword value`; with true_only, a false flag is left out (its default).

        Flags that keepalived reads without a BOOL are written bare when set and left out
        when not (keepalived would read `flag off` as set).
        """
        if value is None or (true_only and value is False):
            return
        if isinstance(value, bool) and keyword not in BOOL_FLAGS and keyword not in (
                "skip_check_adv_addr", "strict_mode"):
            if value:
                self.line(keyword)
            return
        if isinstance(value, bool):
            self.line(keyword, _bool(value))
        elif isinstance(value, float):
            self.line(keyword, _number(value))
        else:
            self.line(keyword, quote(str(value)))


def _address(address: m.VirtualAddress) -> str:
    words = [f"{address.address}/{address.prefix}"]
    for key in ("brd", "dev", "scope", "label", "peer"):
        value = getattr(address, key)
        if value is not None:
            words += [key, quote(value)]
    if address.preferred_lft is not None:
        words += ["preferred_lft", str(address.preferred_lft)]
    words += list(address.flags)
    if address.use_vmac:
        words.append("use_vmac")
    if address.no_track:
        words.append("no_track")
    return " ".join(words)


def _track(w: _Writer, keyword: str, refs: tuple[m.TrackRef, ...]) -> None:
    if not refs:
        return
    w.open(keyword)
    for ref in refs:
        words = [quote(ref.name)]
        if ref.weight is not None:
            words += ["weight", str(ref.weight)]
            if ref.reverse:
                words.append("reverse")
        w.line(*words)
    w.close()


def _globals(w: _Writer, g: m.GlobalDefs) -> None:
    w.open("global_defs")
    skip = {"location", "notification_email", "notify_fifo", "vrrp_notify_fifo",
            "lvs_notify_fifo", "notify_fifo_script", "vrrp_notify_fifo_script",
            "lvs_notify_fifo_script", "lvs_timeouts", "smtp_server", "smtp_port",
            "script_user", "script_group", "dynamic_interfaces", "max_auto_priority",
            "lvs_flush_on_stop", "vrrp_cpu_affinity"}
    # Defaults are left out: keepalived refuses some of them spelled out (a GARP interval of 0)
    # and fastvrrp-only keywords then stay out of a keepalived config.
    defaults = m.GlobalDefs()
    if g.vrrp_min_garp:  # the reader gives these without their keywords
        defaults = replace(defaults, **m.MIN_GARP_DEFAULTS)
    for name in m.GlobalDefs.__dataclass_fields__:
        if name not in skip and getattr(g, name) != getattr(defaults, name):
            w.opt(name, getattr(g, name))
    if g.vrrp_cpu_affinity:
        w.line("vrrp_cpu_affinity", *(str(cpu) for cpu in g.vrrp_cpu_affinity))
    if g.notification_email:
        w.open("notification_email")
        for address in g.notification_email:
            w.line(quote(address))
        w.close()
    if g.smtp_server is not None:
        w.line("smtp_server", quote(g.smtp_server), str(g.smtp_port))
    if g.script_user is not None:
        w.line("script_user", quote(g.script_user), quote(g.script_group) if g.script_group else "")
    for name in ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"):
        fifo = getattr(g, name)
        if fifo is not None:
            w.line(name, quote(fifo.path), *(quote(x) for x in (fifo.user, fifo.group) if x))
    for name in ("notify_fifo_script", "vrrp_notify_fifo_script", "lvs_notify_fifo_script"):
        w.command(name, getattr(g, name))
    if g.lvs_timeouts is not None:
        tcp, tcpfin, udp = g.lvs_timeouts
        parts = [f"{k} {v}" for k, v in (("tcp", tcp), ("tcpfin", tcpfin), ("udp", udp)) if v]
        w.line("lvs_timeouts", *(parts or ["tcp 0"]))  # all 0: keepalived wants one option
    if g.lvs_flush_on_stop != "NO":
        w.line("lvs_flush_on_stop", *(("VS",) if g.lvs_flush_on_stop == "VS" else ()))
    if g.dynamic_interfaces:
        w.line("dynamic_interfaces")
    if g.max_auto_priority is not None:
        w.line("max_auto_priority", str(g.max_auto_priority))
    w.close()


def _instance(w: _Writer, inst: m.VrrpInstance) -> None:
    w.open("vrrp_instance", quote(inst.name))
    w.opt("state", inst.state)
    w.opt("interface", inst.interface)
    w.line("virtual_router_id", str(inst.virtual_router_id))
    w.line("priority", str(inst.priority))
    w.line("advert_int", _number(inst.advert_int))
    w.line("version", str(inst.version))
    if inst.family == "inet6" and not inst.virtual_ipaddress:
        w.line("native_ipv6")
    if inst.nopreempt:
        w.line("nopreempt")
    if inst.preempt_delay:
        w.line("preempt_delay", _number(inst.preempt_delay))
    if inst.auth_type is not None:
        w.open("authentication")
        w.line("auth_type", inst.auth_type)
        w.line("auth_pass", quote(inst.auth_pass.decode("utf-8", errors="replace")))
        w.close()
    for keyword, addresses in (("virtual_ipaddress", inst.virtual_ipaddress),
                               ("virtual_ipaddress_excluded", inst.virtual_ipaddress_excluded)):
        if addresses:
            w.open(keyword)
            for address in addresses:
                w.line(_address(address))
            w.close()
    for keyword, entries in (("virtual_routes", inst.virtual_routes),
                             ("virtual_rules", inst.virtual_rules)):
        if entries:
            w.open(keyword)
            for entry in entries:
                w.line(*(quote(x) for x in entry.words))
            w.close()
    for key in ("mcast_src_ip", "mcast_dst_ip", "unicast_src_ip"):
        w.opt(key, getattr(inst, key))
    if inst.unicast_peers:
        w.open("unicast_peer")
        for peer in inst.unicast_peers:
            w.line(peer.address, "min_ttl", str(peer.min_ttl), "max_ttl", str(peer.max_ttl))
        w.close()
    if inst.unicast_peers:
        w.line("unicast_ttl", str(inst.unicast_ttl))
    if inst.unicast_peers:
        w.opt("check_unicast_src", inst.check_unicast_src)
    if inst.use_vmac is not None:
        w.line("use_vmac", quote(inst.use_vmac), inst.vmac_mac or "")
        w.opt("vmac_xmit_base", inst.vmac_xmit_base, true_only=True)
    w.opt("dont_track_primary", inst.dont_track_primary)
    _track(w, "track_interface", inst.track_interfaces)
    _track(w, "track_script", inst.track_scripts)
    _track(w, "track_file", inst.track_files)
    _track(w, "track_process", inst.track_processes)
    for key in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify",
                "notify_master_rx_lower_pri"):
        w.command(key, getattr(inst, key))
    for key in ("smtp_alert", "garp_master_delay", "garp_master_repeat", "garp_master_refresh",
                "garp_master_refresh_repeat", "garp_lower_prio_delay", "garp_lower_prio_repeat",
                "lower_prio_no_advert", "higher_prio_send_advert", "strict_mode",
                "skip_check_adv_addr", "down_timer_adverts"):
        w.opt(key, getattr(inst, key))
    w.line("accept" if inst.accept else "no_accept")
    # A vmac sets promote_secondaries by itself (keepalived warns when it is written).
    if inst.use_vmac is None:
        w.opt("promote_secondaries", inst.promote_secondaries)
    if inst.v3_checksum_as_v2:
        w.line("v3_checksum_as_v2")
    w.close()


def _script(w: _Writer, script: m.VrrpScript) -> None:
    w.open("vrrp_script", quote(script.name))
    w.command("script", script.script)
    w.line("interval", _number(script.interval))
    w.line("timeout", _number(script.timeout))
    w.line("weight", str(script.weight), "reverse" if script.weight_reverse else "")
    w.line("rise", str(script.rise))
    w.line("fall", str(script.fall))
    w.opt("init_fail", script.init_fail)
    w.close()


def _track_file(w: _Writer, track: m.TrackFile) -> None:
    w.open("track_file", quote(track.name))
    w.opt("file", track.file)
    w.line("weight", str(track.weight), "reverse" if track.weight_reverse else "")
    if track.init_file is not None:
        w.line("init_file", str(track.init_value), "overwrite" if track.init_overwrite else "")
    w.close()


def _track_process(w: _Writer, track: m.TrackProcess) -> None:
    w.open("vrrp_track_process", quote(track.name))
    if track.process is not None:
        w.line("process", quote(track.process), *(quote(p) for p in track.parameters))
    if track.param_match != "exact":
        w.line("param_match", track.param_match)
    w.line("weight", str(track.weight), "reverse" if track.weight_reverse else "")
    w.line("quorum", str(track.quorum))
    w.opt("quorum_max", track.quorum_max)
    if track.fork_delay:
        w.line("fork_delay", _number(track.fork_delay))
    if track.terminate_delay:
        w.line("terminate_delay", _number(track.terminate_delay))
    w.opt("full_command", track.full_command)
    w.close()


def _group(w: _Writer, group: m.VrrpSyncGroup) -> None:
    w.open("vrrp_sync_group", quote(group.name))
    w.open("group")
    for name in group.group:
        w.line(quote(name))
    w.close()
    _track(w, "track_interface", group.track_interfaces)
    _track(w, "track_script", group.track_scripts)
    _track(w, "track_file", group.track_files)
    _track(w, "track_process", group.track_processes)
    for key in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"):
        w.command(key, getattr(group, key))
    w.opt("smtp_alert", group.smtp_alert)
    # keepalived warns about global_tracking (deprecated) whenever it is written.
    w.opt("global_tracking", group.global_tracking, true_only=True)
    w.opt("sync_group_tracking_weight", group.sync_group_tracking_weight, true_only=True)
    w.close()


_CHECKER_NAMES = {m.HttpGet: "HTTP_GET", m.SslGet: "SSL_GET", m.TcpCheck: "TCP_CHECK",
                  m.SmtpCheck: "SMTP_CHECK", m.DnsCheck: "DNS_CHECK", m.MiscCheck: "MISC_CHECK",
                  m.PingCheck: "PING_CHECK", m.UdpCheck: "UDP_CHECK", m.FileCheck: "FILE_CHECK"}


def _checker(w: _Writer, checker: m.Checker) -> None:
    w.open(_CHECKER_NAMES[type(checker)])
    if not isinstance(checker, m.MiscCheck):
        for key in ("connect_ip", "connect_port", "bindto", "bind_if", "bind_port", "fwmark",
                    "connect_timeout"):
            w.opt(key, getattr(checker, key))
    for key in ("retry", "delay_before_retry", "delay_loop", "warmup", "alpha",
                "log_all_failures"):
        w.opt(key, getattr(checker, key), true_only=True)
    if isinstance(checker, m.HttpGet):
        w.line("http_protocol", checker.http_protocol)
        w.opt("virtualhost", checker.virtualhost)
        w.opt("fast_recovery", checker.fast_recovery, true_only=True)
        for url in checker.urls:
            w.open("url")
            w.opt("path", url.path)
            w.opt("digest", url.digest)
            w.line("status_code", *(f"{a}-{b}" if a != b else str(a) for a, b in url.status_code))
            w.opt("virtualhost", url.virtualhost)
            w.opt("regex", url.regex)
            w.opt("regex_no_match", url.regex_no_match, true_only=True)
            w.close()
        if isinstance(checker, m.SslGet):
            w.opt("enable_sni", checker.enable_sni, true_only=True)
    elif isinstance(checker, m.MiscCheck):
        w.command("misc_path", checker.misc_path)
        w.opt("misc_timeout", checker.misc_timeout)
        w.opt("misc_dynamic", checker.misc_dynamic, true_only=True)
    elif isinstance(checker, m.SmtpCheck):
        w.opt("helo_name", checker.helo_name)
    elif isinstance(checker, m.DnsCheck):
        w.line("type", checker.type)
        w.opt("name", checker.name)
    elif isinstance(checker, m.UdpCheck):
        if checker.payload is not None:
            w.line("payload", checker.payload.hex())
        if checker.require_reply:
            w.line("require_reply", checker.reply_data.hex() if checker.reply_data else "")
        w.line("min_reply_length", str(checker.min_reply_length))
        w.opt("max_reply_length", checker.max_reply_length)
    elif isinstance(checker, m.FileCheck):
        w.opt("track_file", checker.track_file)
        if checker.weight is not None:
            w.line("weight", str(checker.weight), "reverse" if checker.reverse else "")
    w.close()


def _virtual_server(w: _Writer, vs: m.VirtualServer) -> None:
    if vs.fwmark is not None:
        w.open("virtual_server", "fwmark", str(vs.fwmark))
        w.line("ip_family", vs.family)
    elif vs.group is not None:
        w.open("virtual_server", "group", quote(vs.group))
    else:
        w.open("virtual_server", vs.ip or "", str(vs.port) if vs.port is not None else "")
    w.line("lvs_sched", vs.lvs_sched)
    w.line("lvs_method", vs.lvs_method)
    if vs.fwmark is None:
        w.line("protocol", vs.protocol)
    for key in ("persistence_timeout", "persistence_granularity", "persistence_engine",
                "delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup",
                "virtualhost", "omega", "quorum", "hysteresis", "ha_suspend", "ops",
                "smtp_alert"):
        w.opt(key, getattr(vs, key), true_only=key != "smtp_alert")
    # Plain flags at the virtual server (real servers and checkers take a BOOL).
    for key in ("alpha", "inhibit_on_failure"):
        if getattr(vs, key):
            w.line(key)
    w.command("quorum_up", vs.quorum_up)
    w.command("quorum_down", vs.quorum_down)
    if vs.sorry_server is not None:
        ip, port = vs.sorry_server
        w.line("sorry_server", ip, str(port) if port is not None else "")
        if vs.sorry_server_inhibit:
            w.line("sorry_server_inhibit")
    for rs in vs.real_servers:
        w.open("real_server", rs.ip, str(rs.port) if rs.port is not None else "")
        w.line("weight", str(rs.weight))
        for key in ("lvs_method", "inhibit_on_failure", "uthreshold", "lthreshold",
                    "smtp_alert", "virtualhost", "alpha"):
            w.opt(key, getattr(rs, key), true_only=key != "smtp_alert")
        w.command("notify_up", rs.notify_up)
        w.command("notify_down", rs.notify_down)
        for checker in rs.checkers:
            _checker(w, checker)
        w.close()
    w.close()


def render(config: m.Config) -> str:
    """The config as keepalived.conf text."""
    w = _Writer()
    _globals(w, config.global_defs)
    if config.ssl is not None:
        w.open("SSL")
        for keyword in ("password", "ca", "certificate", "key"):
            w.opt(keyword, getattr(config.ssl, keyword))
        w.close()
    for static, entries in (("static_ipaddress", config.static_ipaddress),):
        if entries:
            w.open(static)
            for address in entries:
                w.line(_address(address))
            w.close()
    for keyword, routes in (("static_routes", config.static_routes),
                            ("static_rules", config.static_rules)):
        if routes:
            w.open(keyword)
            for entry in routes:
                w.line(*(quote(x) for x in entry.words))
            w.close()
    for script in config.vrrp_scripts:
        _script(w, script)
    for track in config.track_files:
        _track_file(w, track)
    for process in config.track_processes:
        _track_process(w, process)
    for inst in config.vrrp_instances:
        _instance(w, inst)
    for group in config.vrrp_sync_groups:
        _group(w, group)
    for vsg in config.virtual_server_groups:
        w.open("virtual_server_group", quote(vsg.name))
        for member in vsg.members:
            if member.fwmark is not None:
                w.line("fwmark", str(member.fwmark), member.family or "")
            else:
                ip = f"{member.ip}-{member.range_end}" if member.range_end else (member.ip or "")
                w.line(ip, str(member.port) if member.port is not None else "")
        w.close()
    for vs in config.virtual_servers:
        _virtual_server(w, vs)
    return "\n".join(w.lines) + "\n"
