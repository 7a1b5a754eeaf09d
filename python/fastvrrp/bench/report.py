"""Show `fastvrrp bench` results: rich tables on the terminal and a matplotlib figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _pair(summary: Mapping[str, Any], first: str, second: str) -> str:
    """Two statistics of one summary, as "first / second"."""
    return f"{_fmt(summary[first])} / {_fmt(summary[second])}"


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    return table


def tables(results: dict[str, Any]) -> list[Table]:
    """One table per scenario that ran."""
    out = []
    res = results.get("results", {})
    if "takeover" in res:
        table = _table(f"takeover ({res['takeover']['unit']})",
                       ("daemon", "n", "client overhead p50/p99", "client outage p50",
                        "first advert p50/p99", "first GARP p50/p99"))
        for key, s in res["takeover"]["summary"].items():
            table.add_row(
                key, _fmt(s["client_overhead"]["n"]),
                _pair(s["client_overhead"], "p50", "p99"),
                _fmt(s["client_outage"]["p50"], 1),
                _pair(s["first_advert"], "p50", "p99"),
                _pair(s["first_garp"], "p50", "p99"),
            )
        out.append(table)
    if "jitter" in res:
        table = _table(f"advert jitter ({res['jitter']['unit']})",
                       ("daemon", "setting", "adverts", "mean gap", "p50 / p99 / max",
                        "late p50 / p99"))
        for w in res["jitter"]["windows"]:
            d = w["deviation"]
            late = w.get("late") or {"p50": None, "p99": None}
            table.add_row(w["daemon"], w["setting"], _fmt(d["n"]), _fmt(w.get("mean_gap_ms")),
                          f"{_pair(d, 'p50', 'p99')} / {_fmt(d['max'])}",
                          _pair(late, "p50", "p99"))
        out.append(table)
    if "scale" in res:
        table = _table("scale (CPU % of one core)",
                       ("daemon", "master CPU %", "backup CPU %", "sent/s m/b (expected)",
                        "false takeovers", "RSS MB m/b"))
        for w in res["scale"]["windows"]:
            table.add_row(w["daemon"], _fmt(w["master_cpu_pct"], 1), _fmt(w["backup_cpu_pct"], 1),
                          f"{w['master_sent_per_s']:.0f} / {w['backup_sent_per_s']:.0f} "
                          f"({w['expected_adverts_per_s']:.0f})",
                          _fmt(w["false_takeovers"]),
                          f"{_fmt(w['master_rss_mb'], 1)} / {_fmt(w['backup_rss_mb'], 1)}")
        out.append(table)
    if "mass" in res:
        table = _table(f"mass failover ({res['mass']['unit']})",
                       ("daemon", "n", "GARP p50 over VIPs (median)", "last VIP's GARP p50 / max",
                        "floor spread p50", "all moved p50 / max"))
        for key, s in res["mass"]["summary"].items():
            table.add_row(key, _fmt(s["garp_max"]["n"]), _fmt(s["garp_p50"]["p50"]),
                          _pair(s["garp_max"], "p50", "max"),
                          _fmt(s["floor_spread"]["p50"]),
                          _pair(s["all_moved"], "p50", "max"))
        out.append(table)
    return out


def _takeover_values(res: dict[str, Any], metric: str, fail: str) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for t in res["takeover"]["trials"]:
        if t.get(metric) is not None and t["setting"].startswith(f"fail={fail}"):
            rest = t["setting"].removeprefix(f"fail={fail}").strip()
            series.setdefault(f"{t['daemon']} {rest}".strip(), []).append(t[metric])
    return series


def plot(results: dict[str, Any], path: Path) -> None:
    """Write a PNG: per failure mode, takeover histograms per daemon (client-seen, GARP
    readiness); the jitter CDF; the mass failover histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = results.get("results", {})
    panels: list[tuple[str, str, Any]] = []
    trials = res.get("takeover", {}).get("trials", [])
    for fail in dict.fromkeys(t["setting"].split()[0].removeprefix("fail=") for t in trials):
        panels.append((f"takeover, {fail}: seen by the client (1 ms probe)", "hist",
                       _takeover_values(res, "client_overhead", fail)))
        panels.append((f"takeover, {fail}: new master's first GARP", "hist",
                       _takeover_values(res, "first_garp", fail)))
    if res.get("jitter", {}).get("windows"):
        panels.append((f"advert jitter at {_interval(results):g} ms (CDF)", "cdf",
                       res["jitter"]["windows"]))
    if res.get("mass", {}).get("trials"):
        series: dict[str, list[float]] = {}
        for t in res["mass"]["trials"]:
            if t.get("garp_max") is not None:
                series.setdefault(f"{t['daemon']} {t['setting']}", []).append(t["garp_max"])
        panels.append(("mass failover: the last VIP's GARP", "hist", series))
    if not panels:
        panels.append(("no results", "empty", None))
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.2 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (title, kind, data) in zip(flat, panels, strict=False):
        ax.set_title(title, fontsize=10)
        if kind == "hist":
            _histogram(ax, data)
            ax.set_xlabel("ms after the protocol floor")
        elif kind == "cdf":
            for w in data:
                dev = sorted(abs(g - _interval(results)) for g in w["gaps_ms"])
                if dev:
                    ys = [(i + 1) / len(dev) for i in range(len(dev))]
                    ax.step(dev, ys, where="post", label=f"{w['daemon']} {w['setting']}")
            ax.set_xscale("log")
            ax.set_xlabel("|advert gap - interval| (ms, log)")
            ax.set_ylabel("fraction of adverts")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no results", ha="center")
    for ax in flat[len(panels):]:
        ax.set_visible(False)
    machine = results.get("machine", {})
    fig.suptitle(f"fastvrrp bench {results.get('started', '')} · {machine.get('cpu_model', '')}, "
                 f"{machine.get('cores')} cores, kernel {machine.get('kernel', '')}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _interval(results: dict[str, Any]) -> float:
    return float(results["settings"]["jitter_interval"]) * 1000


def _histogram(ax: Any, series: Mapping[str, Sequence[float]]) -> None:
    """Outlined histograms on log-spaced bins: takeover tails span two decades."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        ax.text(0.5, 0.5, "no results", ha="center")
        return
    lo = max(min(values), 0.02)
    hi = max(max(values), lo * 1.5)
    bins = [lo * (hi / lo) ** (i / 30) for i in range(31)]
    for name, vs in series.items():
        shown = [max(v, lo) for v in vs]  # a reading before the floor sits in the first bin
        ax.hist(shown, bins=bins, histtype="step", linewidth=1.6, label=f"{name} (n={len(vs)})")
    ax.set_xscale("log")
    ax.set_ylabel("trials")
    ax.legend(fontsize=8)
