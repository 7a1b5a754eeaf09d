"""Show `fastvrrp bench` results: rich tables on the terminal and a matplotlib figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from fastvrrp.bench.measure import percentile


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def tables(results: dict[str, Any]) -> list[Table]:
    """One table per scenario that ran."""
    out = []
    res = results.get("results", {})
    if "takeover" in res:
        table = Table(title=f"takeover ({res['takeover']['unit']})")
        for col in ("daemon", "n", "client overhead p50/p99", "client outage p50",
                    "first advert p50/p99", "first GARP p50/p99"):
            table.add_column(col)
        for key, s in res["takeover"]["summary"].items():
            table.add_row(
                key, _fmt(s["client_overhead"]["n"]),
                f"{_fmt(s['client_overhead']['p50'])} / {_fmt(s['client_overhead']['p99'])}",
                _fmt(s["client_outage"]["p50"], 1),
                f"{_fmt(s['first_advert']['p50'])} / {_fmt(s['first_advert']['p99'])}",
                f"{_fmt(s['first_garp']['p50'])} / {_fmt(s['first_garp']['p99'])}",
            )
        out.append(table)
    if "jitter" in res:
        table = Table(title=f"advert jitter ({res['jitter']['unit']})")
        for col in ("daemon", "setting", "adverts", "p50", "p99", "max"):
            table.add_column(col)
        for w in res["jitter"]["windows"]:
            d = w["deviation"]
            table.add_row(w["daemon"], w["setting"], _fmt(d["n"]), _fmt(d["p50"]),
                          _fmt(d["p99"]), _fmt(d["max"]))
        out.append(table)
    if "scale" in res:
        table = Table(title="scale (CPU % of one core)")
        for col in ("daemon", "master CPU %", "backup CPU %", "sent/s m/b (expected)",
                    "false takeovers", "RSS MB m/b"):
            table.add_column(col)
        for w in res["scale"]["windows"]:
            table.add_row(w["daemon"], _fmt(w["master_cpu_pct"], 1), _fmt(w["backup_cpu_pct"], 1),
                          f"{w['master_sent_per_s']:.0f} / {w['backup_sent_per_s']:.0f} "
                          f"({w['expected_adverts_per_s']:.0f})",
                          _fmt(w["false_takeovers"]),
                          f"{_fmt(w['master_rss_mb'], 1)} / {_fmt(w['backup_rss_mb'], 1)}")
        out.append(table)
    if "mass" in res:
        table = Table(title=f"mass failover ({res['mass']['unit']})")
        for col in ("daemon", "n", "GARP p50 over VIPs (median)", "last VIP's GARP p50 / max"):
            table.add_column(col)
        for key, s in res["mass"]["summary"].items():
            table.add_row(key, _fmt(s["garp_max"]["n"]), _fmt(s["garp_p50"]["p50"]),
                          f"{_fmt(s['garp_max']['p50'])} / {_fmt(s['garp_max']['max'])}")
        out.append(table)
    return out


def _takeover_values(res: dict[str, Any], metric: str) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for t in res["takeover"]["trials"]:
        if t.get(metric) is not None:
            series.setdefault(f"{t['daemon']} {t['setting']}", []).append(t[metric])
    return series


def plot(results: dict[str, Any], path: Path) -> None:
    """Write a PNG: takeover histograms per daemon (client, GARP) and the jitter CDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = results.get("results", {})
    panels: list[tuple[str, Any]] = []
    if res.get("takeover", {}).get("trials"):
        panels.append(("client", _takeover_values(res, "client_overhead")))
        panels.append(("garp", _takeover_values(res, "first_garp")))
    if res.get("jitter", {}).get("windows"):
        panels.append(("jitter", res["jitter"]["windows"]))
    if res.get("mass", {}).get("trials"):
        panels.append(("mass", res["mass"]["trials"]))
    if not panels:
        panels.append(("empty", None))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (kind, data) in zip(axes[0], panels, strict=True):
        if kind in ("client", "garp"):
            _histogram(ax, data)
            ax.set_xlabel("ms after the protocol floor")
            ax.set_title("takeover seen by the client (1 ms probe)" if kind == "client"
                         else "readiness: new master's first GARP")
        elif kind == "jitter":
            for w in data:
                dev = sorted(abs(g - _interval(results)) for g in w["gaps_ms"])
                if dev:
                    ys = [(i + 1) / len(dev) for i in range(len(dev))]
                    ax.step(dev, ys, where="post", label=f"{w['daemon']} {w['setting']}")
            ax.set_xscale("symlog", linthresh=0.01)
            ax.set_xlabel("|advert gap - interval| (ms)")
            ax.set_ylabel("fraction of adverts")
            ax.set_title(f"advert jitter at {_interval(results):g} ms (CDF)")
            ax.legend(fontsize=8)
        elif kind == "mass":
            series: dict[str, list[float]] = {}
            for t in data:
                if t.get("garp_max") is not None:
                    series.setdefault(t["daemon"], []).append(t["garp_max"])
            _histogram(ax, series)
            ax.set_xlabel("ms after the floor, last VIP's GARP")
            ax.set_title("mass failover")
        else:
            ax.text(0.5, 0.5, "no results", ha="center")
    machine = results.get("machine", {})
    fig.suptitle(f"fastvrrp bench · {machine.get('cpu_model', '')}, {machine.get('cores')} cores, "
                 f"kernel {machine.get('kernel', '')}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _interval(results: dict[str, Any]) -> float:
    return float(results["settings"]["jitter_interval"]) * 1000


def _histogram(ax: Any, series: Mapping[str, Sequence[float]]) -> None:
    values = [v for vs in series.values() for v in vs]
    if not values:
        ax.text(0.5, 0.5, "no results", ha="center")
        return
    lo, hi = min(values), max(values)
    hi = max(hi, percentile(values, 99), lo + 0.01)
    bins = [lo + (hi - lo) * i / 30 for i in range(31)]
    for name, vs in series.items():
        ax.hist(list(vs), bins=bins, alpha=0.55, label=f"{name} (n={len(vs)})")
    ax.set_ylabel("trials")
    ax.legend(fontsize=8)
