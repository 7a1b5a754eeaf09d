"""Round trip: a model rendered to keepalived syntax reads back as the same model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastvrrp.config import check_file, to_jsonable
from fastvrrp.config import model as m
from fastvrrp.config.diagnostics import Diagnostics
from fastvrrp.config.reader import Statement
from fastvrrp.config.render import render
from fastvrrp.config.resolve import read_route, read_rule
from fastvrrp.config.values import Context

SAMPLES = Path("/usr/share/doc/keepalived/samples")
SEED = Path(__file__).parent.parent / "configs" / "seed"


def comparable(value: Any) -> Any:
    """The model as JSON without locations and file names, which a round trip changes."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in ("location", "files")}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def read_back(config: m.Config) -> tuple[m.Config, str]:
    text = render(config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keepalived.conf"
        path.write_text(text)
        result = check_file(str(path), "node1", interfaces=None)
    bad = [str(d) for d in result.diagnostics if d.severity in ("fatal", "error")]
    assert not bad, "\n".join(bad) + "\n" + text
    assert result.config is not None
    return result.config, text


def test_samples_and_seed_round_trip() -> None:
    paths = [*sorted(SAMPLES.glob("keepalived.conf.*")), *sorted(SEED.glob("*.conf"))]
    for path in paths:
        config = check_file(str(path), "node1", interfaces=None).config
        assert config is not None
        again, text = read_back(config)
        assert comparable(to_jsonable(again)) == comparable(to_jsonable(config)), text


def test_the_ssl_block_round_trips() -> None:
    ssl = m.SslSettings(password="secret", ca="/etc/ssl/ca.pem", certificate="/etc/ssl/c.pem",
                        key="/etc/ssl/c.key")
    config = m.Config(global_defs=m.GlobalDefs(), ssl=ssl)
    again, text = read_back(config)
    assert "SSL {" in text
    assert comparable(to_jsonable(again.ssl)) == comparable(to_jsonable(ssl))


# --- generated models ----------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./ '\"\\", min_size=1,
                max_size=24).filter(lambda s: s.strip() != "")
# keepalived 2.2.7 re-parses quotes inside script strings; its comparison avoids them.
plain_words = st.from_regex(r"[a-z0-9][a-z0-9_./-]{0,15}( [a-z0-9_./-]{1,8})?", fullmatch=True)
seconds = st.integers(0, 1000).map(float) | st.integers(1, 99999).map(lambda n: n / 100)
positive_seconds = seconds.filter(lambda s: s > 0)
ipv4 = st.tuples(st.integers(18, 19), st.integers(0, 255), st.integers(1, 254)).map(
    lambda t: f"198.{t[0]}.{t[1]}.{t[2]}")
ipv6 = st.integers(1, 0xFFFF).map(lambda n: f"2001:2::{n:x}")


@st.composite
def commands(draw: st.DrawFn, plain: bool = False) -> m.Command:
    # keepalived 2.2.7 crashes on some missing scripts run as a named user.
    user = None if plain else draw(st.none() | st.sampled_from(["root", "nobody"]))
    group = draw(st.none() | st.just("daemon")) if user else None
    return m.Command("/usr/bin/" + draw(plain_words if plain else words), user, group)


@st.composite
def addresses(draw: st.DrawFn, family: str) -> m.VirtualAddress:
    address = draw(ipv4 if family == "inet" else ipv6)
    full = 32 if family == "inet" else 128
    return m.VirtualAddress(
        address=address, prefix=draw(st.integers(8, full)),
        dev=draw(st.none() | st.sampled_from(["eth0", "eth1"])),
        label=draw(st.none() | st.just("eth0:1")) if family == "inet" else None,
        scope=draw(st.none() | st.sampled_from(["global", "link", "host"]))
        if family == "inet" else None,
        no_track=draw(st.booleans()),
    )


def _line(words: list[str]) -> Statement:
    line = Statement(words[0], "<generated>", 0, 0)
    line.args = words[1:]
    return line


@st.composite
def routes(draw: st.DrawFn, virtual: bool) -> m.Route:
    """A route line in `ip route` syntax, read as the reader reads it."""
    words = [f"198.18.{draw(st.integers(100, 255))}.0/24"]
    if draw(st.booleans()):
        words = ["blackhole", *words]
    else:
        if draw(st.booleans()):
            words += ["via", f"198.18.0.{draw(st.integers(1, 254))}"]
        if draw(st.booleans()) or len(words) == 1:
            words += ["dev", draw(st.sampled_from(["eth0", "eth1"]))]
    if draw(st.booleans()):
        words += ["table", str(draw(st.integers(1, 250)))]
    if draw(st.booleans()):
        words += ["metric", str(draw(st.integers(1, 1000)))]
    route = read_route(Context(Diagnostics()), _line(words), virtual)
    assert route is not None
    return route


@st.composite
def rules(draw: st.DrawFn) -> m.Rule:
    """A rule line in `ip rule` syntax, with a preference (keepalived warns without one)."""
    words = [draw(st.sampled_from(["from", "to"])), f"198.18.{draw(st.integers(0, 255))}.0/24",
             "table", str(draw(st.integers(1, 250))),
             "preference", str(draw(st.integers(1, 30000)))]
    rule = read_rule(Context(Diagnostics()), _line(words))
    assert rule is not None
    return rule


@st.composite
def track_refs(draw: st.DrawFn, pool: list[str], low: int = -253,
               high: int = 253) -> tuple[m.TrackRef, ...]:
    chosen = draw(st.lists(st.sampled_from(pool), unique=True, max_size=3)) if pool else []
    refs = []
    for name in chosen:
        weight = draw(st.none() | st.integers(low, high))
        # keepalived takes `reverse` only after a weight.
        refs.append(m.TrackRef(name, weight, weight is not None and draw(st.booleans())))
    return tuple(refs)


@st.composite
def instances(draw: st.DrawFn, name: str, vrid: int, scripts: list[str],
              plain: bool = False, files: tuple[str, ...] = (),
              processes: tuple[str, ...] = ()) -> m.VrrpInstance:
    family = draw(st.sampled_from(["inet", "inet6"]))
    version = 3 if family == "inet6" else draw(st.sampled_from([2, 3]))
    # v2 intervals are whole seconds; v3 counts centiseconds up to 40.95 s.
    advert = (float(draw(st.integers(1, 255))) if version == 2
              else draw(st.integers(1, 4095)) / 100)
    state = draw(st.sampled_from([None, "MASTER", "BACKUP"]))
    priority = draw(st.integers(1, 255))
    auth = draw(st.sampled_from([None, "PASS", "AH"])) if version == 2 else None
    if auth == "AH" and state == "MASTER" and priority != 255:
        state = "BACKUP"  # keepalived clears it: AH must hear an advert before taking over
    backup = state != "MASTER"
    peers = tuple(m.UnicastPeer(draw(ipv4 if family == "inet" else ipv6),
                                draw(st.integers(0, 255)), draw(st.integers(0, 255)))
                  for _ in range(draw(st.integers(0, 2))))
    check_src = bool(peers) and (draw(st.booleans())
                                 or any(p.min_ttl != 0 or p.max_ttl != 255 for p in peers))
    interface = draw(st.sampled_from(["eth0", "eth1"]))
    nopreempt = backup and draw(st.booleans())
    use_vmac = draw(st.none() | st.just(f"vrrp.{vrid}") | st.just(f"vmac{vrid}"))
    # Tracking its own interface is dropped with a warning, as keepalived does.
    tracked = [name for name in ("eth0", "eth1", "eth2") if name != interface]
    return m.VrrpInstance(
        name=name, location=m.NOWHERE, state=state,  # type: ignore[arg-type]
        interface=interface, virtual_router_id=vrid,
        priority=priority, advert_int=advert, version=version,
        family=family,  # type: ignore[arg-type]
        nopreempt=nopreempt,
        preempt_delay=draw(seconds) if backup and not nopreempt else 0.0,
        auth_type=auth,  # type: ignore[arg-type]
        auth_pass=draw(st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True)).encode()
        if auth else b"",
        virtual_ipaddress=tuple(draw(st.lists(addresses(family), min_size=1, max_size=3))),
        virtual_ipaddress_excluded=tuple(draw(st.lists(addresses("inet"), max_size=2))),
        unicast_src_ip=draw(ipv4 if family == "inet" else ipv6) if peers else None,
        unicast_peers=peers, unicast_ttl=draw(st.integers(1, 255)) if peers else 255,
        check_unicast_src=check_src,
        # Unicast on a vmac sends from the base interface.
        use_vmac=use_vmac,
        vmac_xmit_base=use_vmac is not None and (bool(peers) or draw(st.booleans())),
        dont_track_primary=draw(st.booleans()),
        track_interfaces=draw(track_refs(tracked)),
        track_scripts=draw(track_refs(scripts)),
        track_files=draw(track_refs(list(files), -254, 254)),
        track_processes=draw(track_refs(list(processes), -254, 254)),
        virtual_routes=tuple(draw(st.lists(routes(True), max_size=2))),
        virtual_rules=tuple(draw(st.lists(rules(), max_size=2))),
        notify_master=draw(st.none() | commands(plain)),
        notify_backup=draw(st.none() | commands(plain)),
        notify=draw(st.none() | commands(plain)), smtp_alert=draw(st.booleans()),
        garp_master_delay=float(draw(st.integers(0, 1000))),
        garp_master_repeat=draw(st.integers(1, 255)),
        garp_master_refresh=float(draw(st.integers(0, 3600))),
        garp_master_refresh_repeat=draw(st.integers(1, 255)),
        garp_lower_prio_delay=float(draw(st.integers(0, 1000))),
        garp_lower_prio_repeat=draw(st.integers(0, 255)),
        lower_prio_no_advert=draw(st.booleans()), higher_prio_send_advert=draw(st.booleans()),
        # v3_checksum_as_v2 is a fastvrrp (and keepalived 2.3) keyword, unknown to 2.2.7.
        v3_checksum_as_v2=not plain and draw(st.booleans()), accept=draw(st.booleans()),
        skip_check_adv_addr=draw(st.booleans()),
        promote_secondaries=use_vmac is not None or draw(st.booleans()),
        down_timer_adverts=draw(st.integers(1, 100)),
    )


@st.composite
def scripts(draw: st.DrawFn, name: str, plain: bool = False) -> m.VrrpScript:
    interval = float(draw(st.integers(1, 600)))
    return m.VrrpScript(
        name=name, location=m.NOWHERE, script=draw(commands(plain)), interval=interval,
        timeout=float(draw(st.integers(1, 4294))),
        weight=draw(st.integers(-253, 253)), weight_reverse=draw(st.booleans()),
        rise=draw(st.integers(1, 10)), fall=draw(st.integers(1, 10)),
        init_fail=draw(st.booleans()),
    )


@st.composite
def checkers(draw: st.DrawFn, plain: bool = False) -> m.Checker:
    common: dict[str, Any] = {
        "retry": draw(st.integers(0, 10)), "delay_before_retry": draw(seconds),
        "delay_loop": draw(positive_seconds), "alpha": draw(st.booleans()),
    }
    kind = draw(st.sampled_from(["tcp", "http", "ssl", "dns", "misc", "smtp", "udp", "ping"]))
    if kind != "misc":
        # MISC_CHECK connects nowhere and takes no connection options.
        common["connect_timeout"] = draw(positive_seconds)
        common["connect_port"] = draw(st.none() | st.integers(1, 65535))
    if kind in ("http", "ssl"):
        urls = tuple(m.Url(path="/" + draw(names), digest=draw(st.none() | st.just("ab" * 16)),
                           status_code=((200, 299),) if draw(st.booleans()) else ((301, 302),))
                     for _ in range(draw(st.integers(1, 2))))
        cls = m.SslGet if kind == "ssl" else m.HttpGet
        return cls(urls=urls, http_protocol=draw(st.sampled_from(["1.0", "1.1"])), **common)
    if kind == "dns":
        return m.DnsCheck(type=draw(st.sampled_from(["A", "SOA", "AAAA"])), name=draw(names),
                          **common)
    if kind == "misc":
        return m.MiscCheck(misc_path=draw(commands(plain)), misc_dynamic=draw(st.booleans()),
                           **common)
    if kind == "smtp":
        return m.SmtpCheck(helo_name=draw(st.none() | names), **common)
    if kind == "udp":
        return m.UdpCheck(payload=draw(st.none() | st.binary(min_size=1, max_size=8)),
                          min_reply_length=draw(st.integers(0, 10)), **common)
    if kind == "ping":
        return m.PingCheck(**common)
    return m.TcpCheck(**common)


@st.composite
def virtual_servers(draw: st.DrawFn, plain: bool = False) -> m.VirtualServer:
    port = draw(st.integers(1, 65535))
    method = draw(st.sampled_from(["NAT", "DR", "TUN"]))
    sorry = draw(st.none() | st.just(("198.18.8.1", port)))
    servers = []
    for i in range(draw(st.integers(1, 3))):
        servers.append(m.RealServer(
            # DR and TUN forward to the virtual server's port.
            ip=f"198.18.9.{i + 1}", port=port if method != "NAT" else draw(st.integers(1, 65535)),
            location=m.NOWHERE,
            weight=draw(st.integers(1, 100)),
            inhibit_on_failure=draw(st.booleans()),
            notify_up=draw(st.none() | commands(plain)),
            checkers=tuple(draw(st.lists(checkers(plain), max_size=2)))))
    return m.VirtualServer(
        location=m.NOWHERE, ip=draw(ipv4), port=port,
        protocol=draw(st.sampled_from(["TCP", "UDP"])),  # type: ignore[arg-type]
        lvs_sched=draw(st.sampled_from(["rr", "wrr", "lc", "wlc", "sh"])),
        lvs_method=method,  # type: ignore[arg-type]
        # keepalived lowers a quorum above the servers' total weight.
        delay_loop=draw(positive_seconds),
        quorum=draw(st.integers(1, max(1, min(5, sum(rs.weight for rs in servers))))),
        persistence_timeout=draw(st.none() | st.integers(1, 3600)),
        sorry_server=sorry, sorry_server_inhibit=sorry is not None and draw(st.booleans()),
        real_servers=tuple(servers))


@st.composite
def configs(draw: st.DrawFn, plain: bool = False) -> m.Config:
    """Valid models; `plain` keeps to what keepalived 2.2.7 reads back the same way."""
    script_names = draw(st.lists(names, unique=True, max_size=3))
    instance_names = draw(st.lists(names, unique=True, min_size=1, max_size=4))
    vrids = draw(st.lists(st.integers(1, 255), unique=True, min_size=len(instance_names),
                          max_size=len(instance_names)))
    file_names = tuple(draw(st.lists(names, unique=True, max_size=2)))
    process_names = tuple(draw(st.lists(names, unique=True, max_size=2)))
    insts = [draw(instances(n, v, script_names, plain, file_names, process_names))
             for n, v in zip(instance_names, vrids, strict=True)]
    track_files = tuple(
        m.TrackFile(name, m.NOWHERE, file=f"/run/fv-{name}", weight=draw(st.integers(-254, 254)),
                    weight_reverse=draw(st.booleans()))
        for name in file_names)
    track_processes = tuple(
        m.TrackProcess(name, m.NOWHERE, process=draw(plain_words).split()[0],
                       weight=draw(st.integers(-254, 254)), quorum=draw(st.integers(1, 3)))
        for name in process_names)
    groups: list[m.VrrpSyncGroup] = []
    if len(insts) >= 2 and draw(st.booleans()):
        # Keeping the weights spares the members' trackers keepalived's zeroing.
        group = m.VrrpSyncGroup("G" + insts[0].name, m.NOWHERE,
                                group=(insts[0].name, insts[1].name),
                                notify=draw(st.none() | commands(plain)),
                                sync_group_tracking_weight=True)
        groups.append(group)
        insts[0] = _with(insts[0], group.name)
        insts[1] = _with(insts[1], group.name)
    emails = tuple(draw(st.lists(st.from_regex(r"[a-z]{1,8}@example\.net", fullmatch=True),
                                 max_size=2)))
    return m.Config(
        global_defs=draw(global_defs(emails)),
        vrrp_instances=tuple(insts), vrrp_sync_groups=tuple(groups),
        vrrp_scripts=tuple(draw(scripts(n, plain)) for n in script_names),
        track_files=track_files, track_processes=track_processes,
        static_ipaddress=tuple(draw(st.lists(addresses("inet"), max_size=2))),
        static_routes=tuple(draw(st.lists(routes(False), max_size=2))),
        static_rules=tuple(draw(st.lists(rules(), max_size=2))),
        virtual_servers=tuple(draw(st.lists(virtual_servers(plain), max_size=2))),
    )


@st.composite
def global_defs(draw: st.DrawFn, emails: tuple[str, ...]) -> m.GlobalDefs:
    """global_defs with most settings (not vrrp_strict, which changes every instance)."""
    smtp = draw(st.booleans())
    min_garp = draw(st.booleans())
    # vrrp_min_garp gives the lower-priority GARP settings values: None cannot come back.
    lower_delay = float(draw(st.integers(0, 60))) if min_garp else None
    lower_repeat = draw(st.integers(0, 20)) if min_garp else None
    return m.GlobalDefs(
        router_id=draw(st.none() | names), notification_email=emails,
        notification_email_from="keepalived@example.net" if smtp else None,
        smtp_server="198.18.0.25" if smtp else None,
        smtp_port=draw(st.sampled_from([25, 2525])) if smtp else 25,
        smtp_connect_timeout=float(draw(st.integers(1, 120))),
        smtp_helo_name=draw(st.none() | names), smtp_alert=draw(st.none() | st.booleans()),
        enable_script_security=True, script_user="root",
        vrrp_version=draw(st.sampled_from([2, 3])),
        vrrp_garp_master_delay=float(draw(st.integers(0, 60))),
        vrrp_garp_master_repeat=draw(st.integers(1, 20)),
        vrrp_garp_master_refresh=float(draw(st.integers(0, 600))),
        vrrp_garp_interval=draw(st.sampled_from([0.0, 0.001, 0.5])),
        vrrp_gna_interval=draw(st.sampled_from([0.0, 0.000001, 0.25])),
        vrrp_lower_prio_no_advert=draw(st.booleans()),
        vrrp_higher_prio_send_advert=draw(st.booleans()),
        vrrp_min_garp=min_garp, vrrp_garp_lower_prio_delay=lower_delay,
        vrrp_garp_lower_prio_repeat=lower_repeat, vrrp_skip_check_adv_addr=draw(st.booleans()),
        vrrp_check_unicast_src=draw(st.booleans()), vrrp_no_swap=draw(st.booleans()),
        checker_no_swap=draw(st.booleans()), lvs_flush=draw(st.booleans()),
        vrrp_rt_priority=draw(st.none() | st.integers(1, 99)),
        vrrp_priority=draw(st.none() | st.integers(-20, 19)),
        dynamic_interfaces=draw(st.booleans()),
    )


def _with(inst: m.VrrpInstance, group: str) -> m.VrrpInstance:
    from dataclasses import replace

    return replace(inst, sync_group=group)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_generated_models_round_trip(config: m.Config) -> None:
    again, text = read_back(config)
    assert comparable(to_jsonable(again)) == comparable(to_jsonable(config)), text
