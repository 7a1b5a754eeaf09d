"""The resolved model of trackers, groups, LVS and globals, as the daemon receives it."""

from __future__ import annotations

from pathlib import Path

from fastvrrp.config import CheckResult, check_file
from fastvrrp.config.model import DnsCheck, FileCheck, HttpGet, MiscCheck, SslGet, UdpCheck

ETH = frozenset({"lo", "eth0", "eth1"})


def check_text(tmp_path: Path, text: str) -> CheckResult:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    return check_file(str(path), "node1", interfaces=ETH)


def test_globals(tmp_path: Path) -> None:
    result = check_text(tmp_path, """
global_defs {
    router_id r1
    vrrp_version 3
    vrrp_garp_interval 0.001
    vrrp_notify_fifo /run/kfifo root
    notify_fifo_script "/usr/local/bin/fifo.sh x"
    script_user nobody nogroup
    smtp_server 198.18.0.25 2525
    lvs_timeouts tcp 900 udp 30
    lvs_backend nftables
    v3_checksum_as_v2
    vrrp_rt_priority 50
}
""")
    assert result.config is not None
    g = result.config.global_defs
    assert (g.router_id, g.vrrp_version, g.vrrp_garp_interval) == ("r1", 3, 0.001)
    assert g.vrrp_notify_fifo is not None and (g.vrrp_notify_fifo.path,
                                               g.vrrp_notify_fifo.user) == ("/run/kfifo", "root")
    assert g.notify_fifo_script is not None
    assert g.notify_fifo_script.command == "/usr/local/bin/fifo.sh x"
    assert (g.script_user, g.script_group) == ("nobody", "nogroup")
    assert (g.smtp_server, g.smtp_port) == ("198.18.0.25", 2525)
    assert g.lvs_timeouts == (900, 0, 30)
    assert (g.lvs_backend, g.v3_checksum_as_v2, g.vrrp_rt_priority) == ("nftables", True, 50)
    assert result.exit_code == 0


def test_global_version_and_checksum_reach_instances(tmp_path: Path) -> None:
    result = check_text(tmp_path, """
global_defs {
    vrrp_version 3
    v3_checksum_as_v2
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    advert_int 0.25
    virtual_ipaddress {
        198.18.0.1
    }
}
""")
    assert result.config is not None
    inst = result.config.vrrp_instances[0]
    assert (inst.version, inst.advert_int, inst.v3_checksum_as_v2) == (3, 0.25, True)


def test_trackers(tmp_path: Path) -> None:
    result = check_text(tmp_path, """
track_file flag {
    file /run/flag
    weight -10 reverse
    init_file 5 overwrite
}
vrrp_track_process haproxy {
    process haproxy -f /etc/haproxy.cfg
    param_match partial
    weight 20
    quorum 2
    delay 0.5
}
vrrp_script chk {
    script "/bin/true x"
    user nobody
    interval 3
    fall 2
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    track_interface {
        eth1 weight -30
    }
    track_file {
        flag weight 2 reverse
    }
    track_process {
        haproxy
    }
    virtual_ipaddress {
        198.18.0.1
    }
}
""")
    assert result.config is not None
    config = result.config
    flag = config.track_files[0]
    assert (flag.file, flag.weight, flag.weight_reverse, flag.init_value,
            flag.init_overwrite) == ("/run/flag", -10, True, 5, True)
    proc = config.track_processes[0]
    assert (proc.process, proc.parameters, proc.param_match, proc.quorum,
            proc.fork_delay, proc.terminate_delay) == (
        "haproxy", ("-f", "/etc/haproxy.cfg"), "partial", 2, 0.5, 0.5)
    script = config.vrrp_scripts[0]
    assert script.script is not None and script.script.user == "nobody"
    assert (script.interval, script.timeout, script.fall) == (3.0, 3.0, 2)
    inst = config.vrrp_instances[0]
    assert [(t.name, t.weight) for t in inst.track_interfaces] == [("eth1", -30)]
    assert [(t.name, t.weight, t.reverse) for t in inst.track_files] == [("flag", 2, True)]
    assert [t.name for t in inst.track_processes] == ["haproxy"]


def test_sync_group_marks_its_members(tmp_path: Path) -> None:
    result = check_text(tmp_path, """
vrrp_sync_group G1 {
    group {
        VI_1
        VI_2
    }
    notify "/usr/local/bin/g.sh"
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {
        198.18.0.1
    }
}
vrrp_instance VI_2 {
    interface eth1
    virtual_router_id 2
    unicast_src_ip 198.18.0.2
    unicast_peer {
        198.18.0.3 min_ttl 250
    }
    virtual_ipaddress {
        198.18.0.2
    }
}
""")
    assert result.config is not None
    config = result.config
    assert config.vrrp_sync_groups[0].group == ("VI_1", "VI_2")
    assert [i.sync_group for i in config.vrrp_instances] == ["G1", "G1"]
    vi2 = config.vrrp_instances[1]
    assert vi2.unicast_peers[0].min_ttl == 250 and vi2.check_unicast_src


def test_virtual_servers_inherit_into_checkers(tmp_path: Path) -> None:
    result = check_text(tmp_path, """
virtual_server_group web {
    198.18.0.10-20 80
    198.18.1.0/30 443
    fwmark 7 inet
}
track_file rs_weight {
    file /run/rs
}
virtual_server group web {
    lvs_sched wrr
    lvs_method NAT
    protocol TCP
    delay_loop 10
    connect_timeout 2
    real_server 198.18.2.1 80 {
        weight 3
        retry 5
        HTTP_GET {
            url {
                path /health
                status_code 200-299 301
            }
        }
        SSL_GET {
            url {
                path /
            }
            enable_sni
        }
        DNS_CHECK {
            name example.net
        }
        MISC_CHECK {
            misc_path "/bin/check a"
            user nobody
        }
        UDP_CHECK {
            payload 0a0b 3
            require_reply 0c
        }
        FILE_CHECK {
            track_file rs_weight
            weight 2
        }
    }
}
virtual_server fwmark 7 {
    lvs_sched rr
    lvs_method DR
    persistence_timeout
    real_server 198.18.2.2 {
    }
}
""")
    assert result.config is not None
    group = result.config.virtual_server_groups[0]
    assert [(m.ip, m.range_end, m.port, m.fwmark) for m in group.members] == [
        ("198.18.0.10", "198.18.0.20", 80, None), ("198.18.1.0", "198.18.1.3", 443, None),
        (None, None, None, 7)]
    web, mark = result.config.virtual_servers
    assert (web.group, web.lvs_sched, web.delay_loop) == ("web", "wrr", 10.0)
    assert (mark.fwmark, mark.persistence_timeout) == (7, 360)
    rs = web.real_servers[0]
    http, ssl, dns, misc, udp, file_check = rs.checkers
    assert isinstance(http, HttpGet) and not isinstance(http, SslGet)
    assert http.urls[0].status_code == ((200, 299), (301, 301))
    assert (http.connect_timeout, http.retry, http.delay_before_retry, http.delay_loop) == (
        2.0, 5, 3.0, 10.0)
    assert isinstance(ssl, SslGet) and ssl.enable_sni
    assert isinstance(dns, DnsCheck)
    assert (dns.type, dns.name, dns.delay_before_retry) == ("SOA", "example.net", 10.0)
    assert isinstance(misc, MiscCheck) and misc.misc_path is not None
    assert (misc.misc_path.command, misc.misc_path.user, misc.retry) == ("/bin/check a",
                                                                          "nobody", 5)
    assert isinstance(udp, UdpCheck) and (udp.payload, udp.reply_data) == (b"\n\x0b\x03", b"\x0c")
    assert isinstance(file_check, FileCheck)
    assert (file_check.track_file, file_check.weight) == ("rs_weight", 2)


def test_static_addresses_routes_rules(tmp_path: Path) -> None:
    result = check_text(tmp_path, """
static_ipaddress {
    198.18.5.1/24 dev eth0 scope global label eth0:5
}
static_routes {
    198.18.6.0/24 via 198.18.5.254 dev eth0 table 100 metric 5
    blackhole 198.18.7.0/24
}
static_rules {
    from 198.18.5.0/24 table 100 preference 200
}
""")
    assert result.config is not None
    config = result.config
    address = config.static_ipaddress[0]
    assert (address.address, address.prefix, address.dev, address.scope, address.label) == (
        "198.18.5.1", 24, "eth0", "global", "eth0:5")
    route, hole = config.static_routes
    assert (route.destination, route.via, route.dev, route.table, route.metric) == (
        "198.18.6.0/24", "198.18.5.254", "eth0", "100", 5)
    assert (hole.type, hole.destination) == ("blackhole", "198.18.7.0/24")
    rule = config.static_rules[0]
    assert (rule.source, rule.table, rule.preference) == ("198.18.5.0/24", "100", 200)
    # As keepalived: a route without an interface is not tracked, and it says so.
    assert [(d.location.line, d.message) for d in result.diagnostics] == [
        (7, "Warning - cannot track route 198.18.7.0/24 with no interface specified, "
            "not tracking")]
    assert hole.no_track and result.exit_code == 5
