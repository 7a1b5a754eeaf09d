"""Prometheus metrics on `--metrics ADDR:PORT` (GET /metrics, text format 0.0.4).

The names follow mehdy/keepalived-exporter, so its dashboards and alerts keep working. The
`fastvrrp_` series are what keepalived cannot give: takeover latency, advert send lateness,
per-real-server checker results, a split-brain gauge, the engine's own drop counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastvrrp._native import Event
from fastvrrp.observe.status import Snapshot, daemon_snapshot

if TYPE_CHECKING:
    from fastvrrp.daemon import Daemon

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: keepalived `stats` key -> mehdy/keepalived-exporter counter (labels iname, intf, vrid).
KEEPALIVED_COUNTERS = (
    ("advert_rcvd", "keepalived_advertisements_received_total", "Advertisements received"),
    ("advert_sent", "keepalived_advertisements_sent_total", "Advertisements sent"),
    ("become_master", "keepalived_become_master_total", "Became master"),
    ("release_master", "keepalived_release_master_total", "Released master"),
    ("packet_len_err", "keepalived_packet_length_errors_total", "Packet length errors"),
    ("advert_interval_err", "keepalived_advertisements_interval_errors_total",
     "Advertisement interval errors"),
    ("ip_ttl_err", "keepalived_ip_ttl_errors_total", "TTL errors"),
    ("invalid_type_rcvd", "keepalived_invalid_type_received_total",
     "Packets with an invalid VRRP type"),
    ("addr_list_err", "keepalived_address_list_errors_total", "Address list errors"),
    ("invalid_authtype", "keepalived_authentication_invalid_total",
     "Packets with an invalid authentication type"),
    ("authtype_mismatch", "keepalived_authentication_mismatch_total",
     "Authentication type mismatches"),
    ("auth_failure", "keepalived_authentication_failure_total", "Authentication failures"),
    ("pri_zero_rcvd", "keepalived_priority_zero_received_total",
     "Priority 0 advertisements received"),
    ("pri_zero_sent", "keepalived_priority_zero_sent_total", "Priority 0 advertisements sent"),
)

#: The engine's own counters (`fastvrrp` part of the status) -> fastvrrp counter.
ENGINE_COUNTERS = (
    ("checksum_err", "fastvrrp_checksum_errors_total", "Adverts dropped for a bad checksum"),
    ("version_err", "fastvrrp_version_errors_total", "Adverts dropped for another VRRP version"),
    ("unknown_peer", "fastvrrp_unknown_peer_total",
     "Unicast adverts from an address that is not a unicast_peer"),
    ("send_err", "fastvrrp_send_errors_total", "Adverts, GARPs or NAs the kernel refused"),
)

TAKEOVER_BOUNDS = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)
_LATENESS_BUCKET = re.compile(r"advert_lateness_le_(\d+)_us$")


@dataclass
class Histogram:
    """A cumulative Prometheus histogram kept in Python (seconds)."""

    bounds: Sequence[float]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        """Add one sample."""
        if not self.counts:
            self.counts = [0] * len(self.bounds)
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs, +Inf last."""
        counts = self.counts or [0] * len(self.bounds)
        pairs = [(_number(b), c) for b, c in zip(self.bounds, counts, strict=True)]
        return [*pairs, ("+Inf", self.count)]


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else f"{int(value)}.0"


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, object]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class Exposition:
    """Builds the text format family by family (HELP and TYPE once per family)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[str, Mapping[str, object], float]]) -> None:
        """One family; each sample is (suffix, labels, value)."""
        samples = list(samples)
        if not samples:
            return
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            self.lines.append(f"{name}{suffix}{_labels(labels)} {_value(value)}")

    def text(self) -> str:
        """The whole exposition."""
        return "".join(f"{line}\n" for line in self.lines)


def _value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def _histogram_samples(labels: Mapping[str, object], buckets: Iterable[tuple[str, int]],
                       total: float, count: int) -> list[tuple[str, Mapping[str, object], float]]:
    out: list[tuple[str, Mapping[str, object], float]] = [
        ("_bucket", {**labels, "le": le}, n) for le, n in buckets
    ]
    out.append(("_sum", labels, total))
    out.append(("_count", labels, count))
    return out


@dataclass
class MetricsState:
    """What the metrics keep between scrapes: takeover histograms and split-brain evidence."""

    takeovers: dict[str, Histogram] = field(default_factory=dict)
    last_takeover_ns: dict[str, int] = field(default_factory=dict)
    #: iname -> (monotonic, state, advert_rcvd) at the last sample.
    samples: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    #: iname -> monotonic time another master was last heard while we were master.
    other_master_heard: dict[str, float] = field(default_factory=dict)

    def record_takeover(self, iname: str, takeover_ns: int) -> None:
        """A takeover the engine timed (Master_Down deadline to first GARP/NA), once."""
        if takeover_ns <= 0 or self.last_takeover_ns.get(iname) == takeover_ns:
            return
        self.last_takeover_ns[iname] = takeover_ns
        self.takeovers.setdefault(iname, Histogram(TAKEOVER_BOUNDS)).observe(takeover_ns / 1e9)

    def sample(self, snap: Snapshot, now: float) -> None:
        """Look for adverts received while master (only another master sends adverts)."""
        for entry in snap.get("instances", []):
            d, s = entry["data"], entry["stats"]
            iname, state, rcvd = str(d["iname"]), int(d.get("state", 0)), int(s["advert_rcvd"])
            before = self.samples.get(iname)
            if before is not None and before[1] == 2 and state == 2 and rcvd > before[2]:
                self.other_master_heard[iname] = now
            self.samples[iname] = (now, state, rcvd)
            takeover = int(entry.get("fastvrrp", {}).get("takeover_garp_ns", 0))
            if state == 2:
                self.record_takeover(iname, takeover)

    def split_brain(self, iname: str, interval: float, now: float) -> int:
        """1 if another master was heard within the last Master_Down interval, else 0."""
        heard = self.other_master_heard.get(iname)
        return int(heard is not None and now - heard <= 3 * interval + 1.0)


def render(snap: Snapshot, state: MetricsState, now: float | None = None) -> str:
    """The Prometheus text for one snapshot."""
    now = time.monotonic() if now is None else now
    out = Exposition()
    out.family("keepalived_up", "gauge", "Status of the daemon (1 is up)", [("", {}, 1)])
    instances: list[dict[str, Any]] = snap.get("instances", [])

    def key(d: Mapping[str, Any]) -> dict[str, object]:
        return {"iname": d["iname"], "intf": d.get("ifp_ifname", ""), "vrid": d["vrid"]}

    out.family("keepalived_vrrp_state", "gauge",
               "State of the VRRP instance (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT)",
               [("", {**key(e["data"]), "ip_address": str(vip).split(" ", 1)[0]},
                 int(e["data"].get("state", 0)))
                for e in instances for vip in (e["data"].get("vips") or [""])])
    for stat, name, help_text in KEEPALIVED_COUNTERS:
        out.family(name, "counter", help_text,
                   [("", key(e["data"]), int(e["stats"].get(stat, 0))) for e in instances])
    scripts = snap.get("vrrp_scripts", [])
    out.family("keepalived_script_status", "gauge", "Tracker script status (1 good, 0 bad)",
               [("", {"name": s.get("name", "")}, int(_is_good(s.get("status"))))
                for s in scripts if isinstance(s, dict)])

    out.family("fastvrrp_vrrp_priority", "gauge", "Priority of the VRRP instance",
               [("", {**key(e["data"]), "kind": kind}, int(e["data"].get(f"{kind}_priority", 0)))
                for e in instances for kind in ("base", "effective")])
    for stat, name, help_text in ENGINE_COUNTERS:
        out.family(name, "counter", help_text,
                   [("", key(e["data"]), int(e.get("fastvrrp", {}).get(stat, 0)))
                    for e in instances])
    takeover_samples = []
    for e in instances:
        hist = state.takeovers.get(str(e["data"]["iname"]), Histogram(TAKEOVER_BOUNDS))
        takeover_samples += _histogram_samples(key(e["data"]), hist.cumulative(), hist.total,
                                               hist.count)
    out.family("fastvrrp_takeover_seconds", "histogram",
               "Takeover latency: Master_Down deadline to the first gratuitous ARP/NA sent",
               takeover_samples)
    _lateness(out, instances, key)
    out.family("fastvrrp_split_brain_other_masters", "gauge",
               "Other masters heard for this VRID while master, in the last Master_Down interval",
               [("", key(e["data"]), _other_masters(state, e, now)) for e in instances])
    _real_servers(out, snap.get("virtual_servers", []))
    me = snap.get("fastvrrp", {})
    out.family("fastvrrp_reloads_total", "counter", "Reloads applied",
               [("", {}, me.get("reloads", 0))])
    return out.text()


def _other_masters(state: MetricsState, entry: Mapping[str, Any], now: float) -> int:
    """The engine's count when it keeps one (`other_masters`), else evidence from sampling."""
    own = entry.get("fastvrrp", {})
    if "other_masters" in own:
        return int(own["other_masters"])
    data = entry["data"]
    return state.split_brain(str(data["iname"]), float(data.get("master_adver_int") or 1.0), now)


def _lateness(out: Exposition, instances: list[dict[str, Any]],
              key: Any) -> None:
    """A histogram when the engine exposes its buckets, else its quantile bounds as a summary."""
    hist_samples: list[tuple[str, Mapping[str, object], float]] = []
    summary_samples: list[tuple[str, Mapping[str, object], float]] = []
    for e in instances:
        own: Mapping[str, Any] = e.get("fastvrrp", {})
        labels = key(e["data"])
        buckets = sorted((int(m.group(1)), int(v)) for k, v in own.items()
                         if (m := _LATENESS_BUCKET.match(k)))
        count = int(own.get("advert_lateness_count", 0))
        if buckets and "advert_lateness_sum_ns" in own:
            running, cumulative = 0, []
            for bound_us, n in buckets:
                running += n
                cumulative.append((_number(bound_us / 1e6), running))
            cumulative.append(("+Inf", count))
            hist_samples += _histogram_samples(labels, cumulative,
                                               int(own["advert_lateness_sum_ns"]) / 1e9, count)
        else:
            for q in ("0.5", "0.99"):
                bound = int(own.get(f"advert_lateness_p{q[2:]}_us", 0))
                summary_samples.append(("", {**labels, "quantile": q}, bound / 1e6))
            summary_samples.append(("_count", labels, count))
    out.family("fastvrrp_advert_send_lateness_seconds", "histogram",
               "How late adverts left after their scheduled time", hist_samples)
    out.family("fastvrrp_advert_send_lateness_seconds", "summary",
               "How late adverts left after their scheduled time (upper bucket bounds)",
               summary_samples)
    out.family("fastvrrp_advert_send_lateness_max_seconds", "gauge",
               "The latest advert's worst lateness since start",
               [("", key(e["data"]), int(e.get("fastvrrp", {}).get("advert_lateness_max_us", 0))
                 / 1e6) for e in instances])


def _is_good(status: object) -> bool:
    return status is True or str(status).upper() in ("GOOD", "UP", "OK", "1")


def _real_servers(out: Exposition, virtual_servers: object) -> None:
    up, results, weights = [], [], []
    for vs in virtual_servers if isinstance(virtual_servers, list) else []:
        if not isinstance(vs, dict):
            continue
        vs_name = str(vs.get("name") or vs.get("address", ""))
        for rs in vs.get("real_servers", []):
            if not isinstance(rs, dict):
                continue
            labels = {"virtual_server": vs_name, "real_server": str(rs.get("name") or
                                                                    rs.get("address", ""))}
            up.append(("", labels, int(bool(rs.get("alive")))))
            if "weight" in rs:
                weights.append(("", labels, int(rs["weight"])))
            for result in ("ok", "failed"):
                if f"checks_{result}" in rs:
                    results.append(("", {**labels, "result": result}, int(rs[f"checks_{result}"])))
    out.family("fastvrrp_real_server_up", "gauge",
               "Checker verdict per real server (1 alive, 0 down)", up)
    out.family("fastvrrp_real_server_checks_total", "counter",
               "Checker results per real server", results)
    out.family("fastvrrp_real_server_weight", "gauge",
               "Weight of the real server in the dataplane", weights)


@dataclass
class MetricsServer:
    """A service serving /metrics over HTTP/1.0 on `host`:`port`, sampling every `every` s."""

    host: str
    port: int
    logger: logging.Logger
    every: float = 0.5
    state: MetricsState = field(default_factory=MetricsState)
    _daemon: Daemon | None = None
    _server: asyncio.AbstractServer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self, daemon: Daemon) -> None:
        """Listen, watch transitions (takeover timing), and sample for split brain."""
        self._daemon = daemon
        daemon.listeners.append(self._on_event)
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self._task = asyncio.create_task(self._sample_forever())
        self.logger.info("Metrics on http://%s/metrics", _hostport(self.host, self.port))

    async def stop(self) -> None:
        """Close the listener and the sampler."""
        if self._daemon is not None and self._on_event in self._daemon.listeners:
            self._daemon.listeners.remove(self._on_event)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def text(self) -> str:
        """The current exposition."""
        assert self._daemon is not None
        snap = daemon_snapshot(self._daemon)
        self.state.sample(snap, time.monotonic())
        return render(snap, self.state)

    def _on_event(self, event: Event) -> None:
        if event.kind == "transition" and event.new_state == "MASTER" and self._daemon:
            with contextlib.suppress(Exception):
                self.state.sample(daemon_snapshot(self._daemon), time.monotonic())

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            if self._daemon is not None and self._daemon.engine is not None:
                try:
                    self.state.sample(daemon_snapshot(self._daemon), time.monotonic())
                except Exception as exc:  # a failed sample is retried at the next tick
                    self.logger.debug("metrics sample failed: %s", exc)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            request = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            method, path = [*request, "", ""][:2]
            if method not in ("GET", "HEAD"):
                status, body, ctype = "405 Method Not Allowed", "GET only\n", "text/plain"
            elif path.split("?", 1)[0] == "/metrics":
                status, body, ctype = "200 OK", self.text(), CONTENT_TYPE
            elif path == "/":
                status, body, ctype = "200 OK", '<a href="/metrics">/metrics</a>\n', "text/html"
            else:
                status, body, ctype = "404 Not Found", "not found\n", "text/plain"
            payload = body.encode()
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode())
            if method != "HEAD":
                writer.write(payload)
            await writer.drain()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass
        except Exception:  # a scrape never kills the daemon
            self.logger.exception("metrics request failed")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> tuple[str, int]:
    """`ADDR:PORT`, `[V6]:PORT` or `:PORT` (all addresses) as (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not ADDR:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)
