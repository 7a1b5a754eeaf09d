"""Static and virtual addresses, routes and rules in the lab: present where keepalived puts them.

r1 (priority 200) and r2 (priority 100) run `fastvrrp run` with the same config. Static ones are
on both routers while the daemon runs and gone after it stops; the instance's virtual routes,
rules and excluded addresses follow the master, and the excluded address is never advertised.
"""

from __future__ import annotations

import signal

import pytest
from ops_helpers import VIP, config_path, instance_block

from fastvrrp.lab import Lab, LabProcess, PacketKind

pytestmark = pytest.mark.netns

EXCLUDED = "198.18.0.150"
VIRTUAL_NET = "198.18.10.0/24"
VIRTUAL_RULE_FROM = "198.18.31.0/24"
STATIC_NET = "198.18.20.0/24"
STATIC_RULE_FROM = "198.18.30.0/24"


def config(priority: int, static_address: str) -> str:
    return f"""
static_ipaddress {{
    {static_address}/24 dev eth0
}}
static_routes {{
    {STATIC_NET} via 198.18.0.10 dev eth0
}}
static_rules {{
    from {STATIC_RULE_FROM} table 100 preference 200
}}
""" + instance_block(priority, body=f"""    virtual_ipaddress_excluded {{
        {EXCLUDED}/24
    }}
    virtual_routes {{
        {VIRTUAL_NET} via 198.18.0.10 dev eth0
    }}
    virtual_rules {{
        from {VIRTUAL_RULE_FROM} table 101 preference 201
    }}""")


def has_route(lab: Lab, host: str, net: str) -> bool:
    return net in lab.run(host, ["ip", "route", "show", net]).stdout


def has_rule(lab: Lab, host: str, source: str) -> bool:
    return f"from {source}" in lab.run(host, ["ip", "rule", "show"]).stdout


def logs(*procs: LabProcess) -> str:
    return "\n".join(f"--- {p.host} (exit {p.returncode}):\n{p.log_text()}" for p in procs)


def test_virtual_routes_follow_the_master_and_static_ones_stay_until_stop(lab: Lab) -> None:
    r1 = lab.start_fastvrrp("r1", config(200, "198.18.0.51"))
    r2 = lab.start_fastvrrp("r2", config(100, "198.18.0.52"))
    assert lab.wait_for(lambda: lab.holder(VIP) == "r1" and has_route(lab, "r1", VIRTUAL_NET),
                        timeout=5), logs(r1, r2)
    cap = lab.capture(duration=5)
    # The master holds its virtual route, rule and excluded address; the backup none of them.
    assert has_rule(lab, "r1", VIRTUAL_RULE_FROM) and EXCLUDED in lab.addresses("r1", "eth0")
    assert not has_route(lab, "r2", VIRTUAL_NET) and not has_rule(lab, "r2", VIRTUAL_RULE_FROM)
    assert EXCLUDED not in lab.addresses("r2", "eth0")
    # Static ones are on both.
    assert lab.wait_for(lambda: all(
        has_route(lab, h, STATIC_NET) and has_rule(lab, h, STATIC_RULE_FROM)
        for h in ("r1", "r2")), timeout=5), logs(r1, r2)
    assert "198.18.0.51" in lab.addresses("r1", "eth0")
    assert "198.18.0.52" in lab.addresses("r2", "eth0")
    # The excluded address is added but never advertised.
    assert lab.wait_for(lambda: any(p.kind is PacketKind.ADVERT for p in cap.packets()),
                        timeout=2)
    adverts = [p for p in cap.stop() if p.kind is PacketKind.ADVERT]
    assert adverts and all(p.addresses == (VIP,) for p in adverts), adverts

    # Failover: the virtual route and rule move to the new master.
    lab.link_down("r1")
    assert lab.wait_for(lambda: has_route(lab, "r2", VIRTUAL_NET)
                        and has_rule(lab, "r2", VIRTUAL_RULE_FROM)
                        and EXCLUDED in lab.addresses("r2", "eth0"), timeout=5), logs(r1, r2)
    assert lab.wait_for(lambda: not has_rule(lab, "r1", VIRTUAL_RULE_FROM), timeout=5), logs(r1)

    # Stop: the master drops its virtual ones, and the static ones go too.
    assert r2.stop(signal.SIGTERM) == 0, logs(r2)
    assert not has_route(lab, "r2", VIRTUAL_NET) and not has_rule(lab, "r2", VIRTUAL_RULE_FROM)
    assert not has_route(lab, "r2", STATIC_NET) and not has_rule(lab, "r2", STATIC_RULE_FROM)
    assert EXCLUDED not in lab.addresses("r2", "eth0")
    assert "198.18.0.52" not in lab.addresses("r2", "eth0")
    assert r1.stop(signal.SIGTERM) == 0, logs(r1)
    assert not has_rule(lab, "r1", STATIC_RULE_FROM)
    # Nothing failed: a route the link took down with it is not an error to remove.
    assert not [line for p in (r1, r2) for line in p.log_text().splitlines()
                if " failed: " in line], logs(r1, r2)


def test_a_route_the_kernel_refuses_is_logged_with_its_line_and_the_daemon_runs_on(
        lab: Lab) -> None:
    text = config(200, "198.18.0.51").replace(
        f"    {STATIC_NET} via 198.18.0.10 dev eth0\n",
        f"    {STATIC_NET} via 198.18.0.10 dev eth0\n    198.18.21.0/24 via 198.18.99.1 dev eth0\n")
    r1 = lab.start_fastvrrp("r1", text)
    assert lab.wait_for(lambda: has_route(lab, "r1", VIRTUAL_NET), timeout=5), logs(r1)
    assert has_route(lab, "r1", STATIC_NET) and not has_route(lab, "r1", "198.18.21.0/24")
    failed = [line for line in r1.log_text().splitlines() if " failed: " in line]
    # The config text starts with an empty line: the refused route is on line 7.
    assert len(failed) == 1, logs(r1)
    assert "keepalived.conf:7: ip route replace 198.18.21.0/24 via 198.18.99.1" in failed[0]
    assert r1.running and r1.stop(signal.SIGTERM) == 0, logs(r1)


def test_reload_changes_only_the_lines_that_changed(lab: Lab) -> None:
    r1 = lab.start_fastvrrp("r1", config(200, "198.18.0.51"))
    assert lab.wait_for(lambda: has_route(lab, "r1", VIRTUAL_NET)
                        and has_route(lab, "r1", STATIC_NET), timeout=5), logs(r1)
    path = config_path(r1)
    path.write_text(config(200, "198.18.0.51").replace("198.18.10.0/24", "198.18.11.0/24")
                    .replace(f"from {STATIC_RULE_FROM}", "from 198.18.32.0/24"))
    r1.send_signal(signal.SIGHUP)
    assert lab.wait_for(lambda: has_route(lab, "r1", "198.18.11.0/24")
                        and not has_route(lab, "r1", VIRTUAL_NET)
                        and has_rule(lab, "r1", "198.18.32.0/24")
                        and not has_rule(lab, "r1", STATIC_RULE_FROM), timeout=5), logs(r1)
    # Unchanged lines stay: the static route, the virtual rule and the excluded address.
    assert has_route(lab, "r1", STATIC_NET) and has_rule(lab, "r1", VIRTUAL_RULE_FROM)
    assert EXCLUDED in lab.addresses("r1", "eth0")
    assert r1.stop(signal.SIGTERM) == 0, logs(r1)
    assert not has_route(lab, "r1", "198.18.11.0/24") and not has_rule(lab, "r1", "198.18.32.0/24")
    assert not [line for line in r1.log_text().splitlines() if " failed: " in line], logs(r1)
