"""Operations without a network: reload plans, metrics text, status text, dumps, logs, control."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fastvrrp.config import check_file
from fastvrrp.config.model import Config
from fastvrrp.observe.control import ControlError, ControlSocket, query
from fastvrrp.observe.logs import JsonLineFormatter, LogOptions, configure_logging, syslog_facility
from fastvrrp.observe.metrics import MetricsState, parse_address, render
from fastvrrp.observe.status import (
    DaemonFacts,
    keepalived_json,
    keepalived_stats_text,
    snapshot,
    status_text,
)
from fastvrrp.reload import plan_reload, refusal

BASE = """
vrrp_script chk {{
    script "/bin/true"
    weight {weight}
}}
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 51
    priority {priority}
    virtual_ipaddress {{
        198.18.0.100/24
    }}
    track_script {{
        chk
    }}
}}
vrrp_instance {name2} {{
    interface eth0
    virtual_router_id {vrid2}
    {unicast}
    virtual_ipaddress {{
        198.18.0.101/24
    }}
}}
"""


def config(tmp_path: Path, **kw: Any) -> Config:
    values = {"weight": -10, "priority": 100, "name2": "VI_2", "vrid2": 52, "unicast": ""}
    values.update(kw)
    path = tmp_path / f"k{len(list(tmp_path.iterdir()))}.conf"
    path.write_text(BASE.format(**values))
    result = check_file(str(path), "x", interfaces=frozenset({"eth0"}))
    assert result.config is not None, result.report()
    return result.config


def names(instances: tuple[Any, ...]) -> list[str]:
    return [i.name for i in instances]


def test_tracker_changes_leave_the_engine_alone(tmp_path: Path) -> None:
    plan = plan_reload(config(tmp_path), config(tmp_path, weight=-30))
    assert names(plan.unchanged) == ["VI_1", "VI_2"]
    assert not plan.changed and not plan.removed and not plan.added


def test_instances_match_by_vrid_not_by_name(tmp_path: Path) -> None:
    plan = plan_reload(config(tmp_path), config(tmp_path, name2="RENAMED", priority=120))
    assert [(o.name, n.name) for o, n in plan.changed] == [("VI_1", "VI_1"), ("VI_2", "RENAMED")]


def test_unicast_and_vrid_changes_are_new_instances(tmp_path: Path) -> None:
    plan = plan_reload(config(tmp_path), config(
        tmp_path, vrid2=53, unicast="unicast_peer {\n 198.18.0.2\n }"))
    assert names(plan.removed) == ["VI_2"]
    assert names(plan.added) == ["VI_2"]
    assert plan.summary() == "unchanged VI_1; changed -; removed VI_2; added VI_2"


def test_errors_refuse_a_reload_warnings_do_not(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n"
                   " advert_int banana\n virtual_ipaddress {\n 198.18.0.100\n }\n}\n")
    result = check_file(str(bad), "x", interfaces=frozenset({"eth0"}))
    assert refusal(result.diagnostics, result.config is not None)
    assert any(f"{bad}:4:" in str(d) for d in result.diagnostics)
    warn = tmp_path / "warn.conf"
    warn.write_text("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n"
                    " no_such_keyword 1\n virtual_ipaddress {\n 198.18.0.100\n }\n}\n")
    result = check_file(str(warn), "x", interfaces=frozenset({"eth0"}))
    assert not refusal(result.diagnostics, result.config is not None)


def engine_entry(state: int, rcvd: int = 10, takeover_ns: int = 0) -> dict[str, Any]:
    return {
        "data": {"iname": "VI_1", "ifp_ifname": "eth0", "vrid": 51, "state": state,
                 "wantstate": 1, "base_priority": 100, "effective_priority": 90,
                 "adver_int": 1.0, "master_adver_int": 1.0, "vips": ["198.18.0.100"],
                 "last_transition": 0.0, "master_addr": "198.18.0.2",
                 "engine": {"checksum_err": 2, "advert_lateness_count": 5,
                            "advert_lateness_p50_us": 20, "advert_lateness_p99_us": 500,
                            "advert_lateness_max_us": 700, "takeover_garp_ns": takeover_ns}},
        "stats": {"advert_rcvd": rcvd, "advert_sent": 3, "become_master": 1,
                  "release_master": 0, "pri_zero_rcvd": 0},
    }


class Trackers:
    def status(self) -> dict[str, Any]:
        return {"instances": {"VI_1": {"track_script": [{"name": "chk", "status": "BAD"}]}},
                "vrrp_scripts": [{"name": "chk", "status": "BAD"}],
                "virtual_servers": [{"name": "198.18.0.100:80", "real_servers": [
                    {"address": "198.18.0.11:80", "alive": True, "checks_ok": 4,
                     "checks_failed": 1}]}]}


FACTS = DaemonFacts("1.0", "b", "/etc/k.conf", 0.0, 2, {"result": "ok", "at": 1.0})


def snap(tmp_path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    return snapshot(FACTS, [entry], config(tmp_path), [Trackers()])


def test_snapshot_merges_services_and_uses_keepalived_vip_text(tmp_path: Path) -> None:
    s = snap(tmp_path, engine_entry(2))
    data = s["instances"][0]["data"]
    assert data["vips"] == ["198.18.0.100/24 dev eth0 scope global set"]
    assert data["track_script"] == [{"name": "chk", "status": "BAD"}]
    assert s["instances"][0]["fastvrrp"]["checksum_err"] == 2
    assert s["vrrp_scripts"][0]["status"] == "BAD"
    text = status_text(s)
    assert "VI_1: MASTER  vrid 51 on eth0  priority 90 (base 100)" in text
    assert "track_script chk: BAD" in text
    assert "address 198.18.0.11:80, alive True" in text
    assert json.loads(json.dumps(keepalived_json(s)))[0].keys() == {"data", "stats"}
    assert "VRRP Instance: VI_1\n  Advertisements:\n    Received: 10\n    Sent: 3\n" in \
        keepalived_stats_text(s)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


KEY = (("iname", "VI_1"), ("intf", "eth0"), ("vrid", "51"))


def test_metrics_parse_and_carry_keepalived_and_fastvrrp_series(tmp_path: Path) -> None:
    state = MetricsState()
    state.sample(snap(tmp_path, engine_entry(2, rcvd=10, takeover_ns=300_000)), 100.0)
    state.sample(snap(tmp_path, engine_entry(2, rcvd=11, takeover_ns=300_000)), 100.5)
    got = samples(render(snap(tmp_path, engine_entry(2, rcvd=11, takeover_ns=300_000)),
                         state, now=101.0))
    assert got[("keepalived_up", ())] == 1
    vip = tuple(sorted((*KEY, ("ip_address", "198.18.0.100/24"))))
    assert got[("keepalived_vrrp_state", vip)] == 2
    assert got[("keepalived_advertisements_received_total", KEY)] == 11
    assert got[("keepalived_script_status", (("name", "chk"),))] == 0
    assert got[("fastvrrp_split_brain_other_masters", KEY)] == 1
    assert got[("fastvrrp_takeover_seconds_count", KEY)] == 1
    assert got[("fastvrrp_takeover_seconds_bucket", tuple(sorted((*KEY, ("le", "0.0005")))))] == 1
    assert got[("fastvrrp_takeover_seconds_bucket", tuple(sorted((*KEY, ("le", "0.0002")))))] == 0
    assert got[("fastvrrp_advert_send_lateness_seconds",
                tuple(sorted((*KEY, ("quantile", "0.99")))))] == 0.0005
    rs = (("real_server", "198.18.0.11:80"), ("virtual_server", "198.18.0.100:80"))
    assert got[("fastvrrp_real_server_up", rs)] == 1
    assert got[("fastvrrp_real_server_checks_total", (*rs[:1], ("result", "failed"), rs[1]))] == 1
    assert got[("fastvrrp_checksum_errors_total", KEY)] == 2
    # The split-brain evidence ages out after a Master_Down interval.
    assert samples(render(snap(tmp_path, engine_entry(2, rcvd=11)), state, now=200.0))[
        ("fastvrrp_split_brain_other_masters", KEY)] == 0


def test_lateness_is_a_histogram_when_the_engine_gives_buckets(tmp_path: Path) -> None:
    entry = engine_entry(1)
    entry["data"]["engine"].update({"advert_lateness_le_10_us": 3, "advert_lateness_le_50_us": 1,
                                    "advert_lateness_sum_ns": 60_000})
    got = samples(render(snap(tmp_path, entry), MetricsState()))
    assert got[("fastvrrp_advert_send_lateness_seconds_bucket",
                tuple(sorted((*KEY, ("le", "5e-05")))))] == 4
    assert got[("fastvrrp_advert_send_lateness_seconds_count", KEY)] == 5


def test_metrics_address_forms() -> None:
    assert parse_address("198.18.0.1:9100") == ("198.18.0.1", 9100)
    assert parse_address("[2001:2::1]:9100") == ("2001:2::1", 9100)
    assert parse_address(":9100") == ("0.0.0.0", 9100)
    with pytest.raises(ValueError):
        parse_address("198.18.0.1")


def test_json_log_lines_and_syslog_facility(tmp_path: Path) -> None:
    log = tmp_path / "f.log"
    logger = configure_logging(LogOptions(syslog=False, log_file=str(log), format="json"))
    logger.info("(%s) Entering MASTER STATE", "VI_1")
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["message"] == "(VI_1) Entering MASTER STATE"
    assert entry["level"] == "info" and entry["time"].endswith("+00:00")
    assert isinstance(JsonLineFormatter(), logging.Formatter)
    assert syslog_facility(None) == logging.handlers.SysLogHandler.LOG_DAEMON
    assert syslog_facility(3) == logging.handlers.SysLogHandler.LOG_LOCAL3
    with pytest.raises(ValueError):
        syslog_facility(8)
    for handler in logger.handlers:
        handler.close()
    logger.handlers.clear()


def test_control_socket_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "run" / "ctl.sock")

    async def scenario() -> dict[str, Any]:
        server = ControlSocket(path, logging.getLogger("test"), lambda _daemon: {"ok": 1})
        await server.start(object())  # type: ignore[arg-type]
        try:
            reply = await asyncio.to_thread(query, path)
            with pytest.raises(ControlError, match="unknown command"):
                await asyncio.to_thread(query, path, "explode")
            return reply
        finally:
            await server.stop()

    assert asyncio.run(scenario()) == {"ok": 1}
    assert not Path(path).exists()
    with pytest.raises(ControlError, match="cannot query"):
        query(path)


def test_the_engines_own_count_of_other_masters_wins(tmp_path: Path) -> None:
    entry = engine_entry(2)
    entry["data"]["engine"]["other_masters"] = 2
    got = samples(render(snap(tmp_path, entry), MetricsState()))
    assert got[("fastvrrp_split_brain_other_masters", KEY)] == 2
