"""The daemon's live state: one snapshot for `fastvrrp status`, the metrics and keepalived's dumps.

The engine gives each instance's `data` and `stats` in keepalived's JSON vocabulary. Services
that run beside it (trackers, checkers, virtual servers) add their own state by implementing
`StatusSource.status()`:

- the key `"instances"` maps an instance name to fields merged into that instance's `data`
  (for example `{"VI_1": {"track_script": [{"name": "chk", "status": "GOOD"}]}}`);
- every other key is a top-level section of the snapshot, for example
  `"vrrp_scripts": [{"name": "chk", "status": "GOOD"}]` or
  `"virtual_servers": [{"address": ..., "real_servers": [{"address": ..., "alive": true}]}]`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fastvrrp.config.model import Config, VrrpInstance

if TYPE_CHECKING:
    from fastvrrp.daemon import Daemon

STATE_NAMES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT"}

Snapshot = dict[str, Any]


@runtime_checkable
class StatusSource(Protocol):
    """A service whose state belongs in `fastvrrp status` and the metrics."""

    def status(self) -> dict[str, Any]:
        """A JSON-able mapping: `"instances"` merges into instances, other keys are sections."""


@dataclass(frozen=True)
class DaemonFacts:
    """What the daemon knows about itself, shown at the top of a snapshot."""

    version: str
    build: str
    config_file: str | None
    started: float
    reloads: int
    last_reload: dict[str, Any] | None


def vip_text(instance: VrrpInstance | None, address: str, is_set: bool) -> str:
    """A VIP as keepalived prints it: `198.18.0.100/24 dev eth0 scope global set`."""
    suffix = " set" if is_set else ""
    if instance is None:
        return f"{address}{suffix}"
    for vip in instance.virtual_ipaddress:
        if vip.address == address:
            dev = vip.dev or instance.interface or "?"
            return f"{address}/{vip.prefix} dev {dev} scope {vip.scope or 'global'}{suffix}"
    return f"{address}{suffix}"


def monotonic_to_wall(monotonic: float) -> float:
    """A CLOCK_MONOTONIC time as epoch seconds (keepalived's `last_transition`); 0 stays 0."""
    if not monotonic:
        return 0.0
    return time.time() - (time.monotonic() - monotonic)


def _tracker_sections(bindings: Iterable[Any]) -> dict[str, Any]:
    """The tracking service's state, read from its bindings (instance, tracker, weight)."""
    instances: dict[str, dict[str, list[dict[str, Any]]]] = {}
    scripts: dict[str, dict[str, Any]] = {}
    for binding in bindings:
        tracker = binding.tracker
        entry: dict[str, Any] = {"name": tracker.name,
                                 "status": "GOOD" if tracker.ok else "BAD",
                                 "weight": binding.weight}
        if tracker.kind == "file":
            entry["value"] = tracker.value
        fields = instances.setdefault(binding.instance, {})
        fields.setdefault(f"track_{tracker.kind}", []).append(entry)
        if tracker.kind == "script":
            scripts[tracker.name] = {"name": tracker.name, "status": entry["status"]}
    return {"instances": instances, "vrrp_scripts": list(scripts.values())}


def _load_balancer_sections(servers: Iterable[Any]) -> dict[str, Any]:
    """The load-balancer service's state: virtual servers, their real servers and verdicts."""
    out = []
    for vs in servers:
        out.append({
            "name": vs.label,
            "quorum_up": vs.quorum_up,
            "real_servers": [
                {"name": vs.rs_label(rs), "address": rs.server.ip, "alive": rs.alive,
                 "weight": rs.weight, "failed_checkers": len(rs.failed)}
                for rs in vs.real
            ],
        })
    return {"virtual_servers": out}


def service_status(source: object) -> dict[str, Any]:
    """A service's part of the snapshot: its own `status()`, or what its public state shows."""
    try:
        if isinstance(source, StatusSource):
            return dict(source.status())
        bindings = getattr(source, "bindings", None)
        if isinstance(bindings, list):
            return _tracker_sections(bindings)
        servers = getattr(getattr(source, "state", None), "servers", None)
        if isinstance(servers, list):
            return _load_balancer_sections(servers)
    except Exception as exc:  # one service's odd state must not hide the others'
        return {"status_errors": [f"{type(source).__name__}: {exc}"]}
    return {}


def instance_entries(engine_status: Iterable[Mapping[str, Any]], config: Config,
                     sections: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The engine's per-instance status, completed from the config and the services' sections.

    Each entry is `{"data": {...}, "stats": {...}, "fastvrrp": {...}}`: `data` and `stats` use
    keepalived's names, `fastvrrp` holds the engine's own counters.
    """
    by_name = {i.name: i for i in config.vrrp_instances}
    extra: dict[str, dict[str, Any]] = {}
    for section in sections:
        for name, fields in dict(section.get("instances", {})).items():
            extra.setdefault(name, {}).update(fields)
    entries = []
    for raw in engine_status:
        data = dict(raw["data"])
        own = dict(data.pop("engine", {}))
        instance = by_name.get(str(data["iname"]))
        is_set = data.get("state") == 2
        data["vips"] = [vip_text(instance, str(v), is_set) for v in data.get("vips", [])]
        data["last_transition"] = monotonic_to_wall(float(data.get("last_transition", 0.0)))
        data["vipset"] = is_set
        if instance is not None:
            data["version"] = instance.version
            data["family"] = instance.family
            data["nopreempt"] = instance.nopreempt
            data["preempt_delay"] = instance.preempt_delay
            data["unicast_peers"] = [p.address for p in instance.unicast_peers]
            data["vmac_ifname"] = instance.use_vmac or ""
        data.update(extra.get(str(data["iname"]), {}))
        entries.append({"data": data, "stats": dict(raw["stats"]), "fastvrrp": own})
    return entries


def snapshot(facts: DaemonFacts, engine_status: Iterable[Mapping[str, Any]], config: Config,
             sources: Iterable[object]) -> Snapshot:
    """The whole live state: the daemon, every instance, and every service's section."""
    sections = [service_status(source) for source in sources]
    out: Snapshot = {
        "fastvrrp": {
            "version": facts.version,
            "build": facts.build,
            "pid": os.getpid(),
            "config_file": facts.config_file,
            "started": facts.started,
            "reloads": facts.reloads,
            "last_reload": facts.last_reload,
        },
        "instances": instance_entries(engine_status, config, sections),
    }
    for section in sections:
        for key, value in section.items():
            if key == "instances":
                continue
            if isinstance(value, list) and isinstance(out.get(key), list):
                out[key] = [*out[key], *value]
            else:
                out[key] = value
    return out


# -- keepalived's signal dumps (formats as keepalived 2.2.7 writes them)


def keepalived_json(snap: Snapshot) -> list[dict[str, Any]]:
    """The content of keepalived.json: `[{"data": ..., "stats": ...}]`."""
    return [{"data": e["data"], "stats": e["stats"]} for e in snap["instances"]]


def keepalived_stats_text(snap: Snapshot) -> str:
    """The content of keepalived.stats, which mehdy/keepalived-exporter also parses."""
    lines = []
    for entry in snap["instances"]:
        s = entry["stats"]
        lines += [
            f"VRRP Instance: {entry['data']['iname']}",
            "  Advertisements:",
            f"    Received: {s.get('advert_rcvd', 0)}",
            f"    Sent: {s.get('advert_sent', 0)}",
            f"  Became master: {s.get('become_master', 0)}",
            f"  Released master: {s.get('release_master', 0)}",
            "  Packet Errors:",
            f"    Length: {s.get('packet_len_err', 0)}",
            f"    TTL: {s.get('ip_ttl_err', 0)}",
            f"    Invalid Type: {s.get('invalid_type_rcvd', 0)}",
            f"    Advertisement Interval: {s.get('advert_interval_err', 0)}",
            f"    Address List: {s.get('addr_list_err', 0)}",
            "  Authentication Errors:",
            f"    Invalid Type: {s.get('invalid_authtype', 0)}",
            f"    Type Mismatch: {s.get('authtype_mismatch', 0)}",
            f"    Failure: {s.get('auth_failure', 0)}",
            "  Priority Zero:",
            f"    Received: {s.get('pri_zero_rcvd', 0)}",
            f"    Sent: {s.get('pri_zero_sent', 0)}",
        ]
    return "".join(f"{line}\n" for line in lines)


def _wall_text(epoch: float) -> str:
    if not epoch:
        return "0"
    stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(epoch))
    micros = int((epoch % 1) * 1_000_000)
    year = time.strftime("%Y", time.localtime(epoch))
    return f"{epoch:.6f} ({stamp}.{micros:06d} {year})"


def keepalived_data_text(snap: Snapshot, config: Config) -> str:
    """The content of keepalived.data: the VRRP topology part, with keepalived's line labels."""
    gd = config.global_defs
    lines = [
        "------< Global definitions >------",
        f" Router ID = {gd.router_id or ''}",
        f" VRRP default protocol version = {gd.vrrp_version}",
        f" VRRP strict mode = {str(gd.vrrp_strict).lower()}",
        "------< VRRP Topology >------",
    ]
    for entry in snap["instances"]:
        d = entry["data"]
        state = STATE_NAMES.get(int(d.get("state", 0)), "INIT")
        want = STATE_NAMES.get(int(d.get("wantstate", 0)), "INIT")
        vips = list(d.get("vips", []))
        lines += [
            f" VRRP Instance = {d['iname']}",
            f"   VRRP Version = {d.get('version', '')}",
            f"   State = {state}",
            f"   Wantstate = {want}",
            f"   Last transition = {_wall_text(float(d.get('last_transition', 0.0)))}",
            f"   Interface = {d.get('ifp_ifname', '')}",
        ]
        if d.get("master_addr"):
            lines.append(f"   Master router = {d['master_addr']}")
        lines += [
            f"   Virtual Router ID = {d['vrid']}",
            f"   Priority = {d.get('base_priority', 0)}",
            f"   Effective priority = {d.get('effective_priority', 0)}",
            f"   Advert interval = {_seconds(d.get('adver_int', 0))}",
            f"   Preempt = {'disabled' if d.get('nopreempt') else 'enabled'}",
            f"   Virtual IP ({len(vips)}):",
            *(f"     {v}" for v in vips),
        ]
    return "".join(f"{line}\n" for line in lines)


def _seconds(value: object) -> str:
    seconds = float(str(value))
    if seconds == int(seconds):
        return f"{int(seconds)} sec"
    return f"{int(seconds * 1000)} milli-sec"


# -- `fastvrrp status` without --json


def status_text(snap: Snapshot) -> str:
    """The human view: one block per instance, then the services' sections."""
    me = snap.get("fastvrrp", {})
    lines = [
        f"fastvrrp {me.get('version', '?')} pid {me.get('pid', '?')}, "
        f"config {me.get('config_file') or '?'}, reloads {me.get('reloads', 0)}"
    ]
    last = me.get("last_reload")
    if last:
        lines.append(f"last reload: {last.get('result', '?')} at {_wall_text(last.get('at', 0.0))}")
    for entry in snap.get("instances", []):
        d, s = entry["data"], entry["stats"]
        state = STATE_NAMES.get(int(d.get("state", 0)), "INIT")
        lines.append("")
        lines.append(
            f"{d['iname']}: {state}  vrid {d['vrid']} on {d.get('ifp_ifname', '')}  "
            f"priority {d.get('effective_priority')} (base {d.get('base_priority')})  "
            f"master {d.get('master_addr') or '-'}"
        )
        lines.append(f"  VIPs: {', '.join(d.get('vips', [])) or '-'}")
        for key in ("track_script", "track_interface", "track_file", "track_process"):
            for tracker in d.get(key, []):
                lines.append(f"  {key} {tracker.get('name')}: {tracker.get('status')}")
        counters = ", ".join(f"{k} {v}" for k, v in s.items())
        lines.append(f"  stats: {counters}")
    for key, value in snap.items():
        if key in ("fastvrrp", "instances"):
            continue
        lines.append("")
        lines.append(f"{key}:")
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"  {_item_text(item)}")
            if isinstance(item, dict):
                for rs in item.get("real_servers", []):
                    lines.append(f"    {_item_text(rs)}")
    return "".join(f"{line}\n" for line in lines)


def _item_text(item: object) -> str:
    if not isinstance(item, dict):
        return str(item)
    return ", ".join(f"{k} {v}" for k, v in item.items() if not isinstance(v, (list, dict)))


def daemon_snapshot(daemon: Daemon) -> Snapshot:
    """The live snapshot of a running daemon (engine, config, services and observers)."""
    from fastvrrp import NATIVE_BUILD, __version__

    facts = DaemonFacts(
        version=__version__,
        build=NATIVE_BUILD,
        config_file=daemon.config_file,
        started=daemon.started_at,
        reloads=daemon.reloads,
        last_reload=daemon.last_reload,
    )
    engine_status = daemon.engine.status() if daemon.engine is not None else []
    sources = [*daemon.running, *daemon.observers]
    return snapshot(facts, engine_status, daemon.config, sources)
