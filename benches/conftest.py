"""Shared pytest settings for benches/: after a run, print the wire benchmarks' per-call times."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    """For each wire-* group: each benchmark's per-call min and median (one benchmarked loop's
    time divided by its `loops`), and for each fastvrrp row how many times faster it is than
    scapy and dpkt, by median (and by min)."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    groups: dict[str, list[tuple[str, float, float]]] = {}
    for bench in session.benchmarks:
        if bench.group and bench.group.startswith("wire-") and bench.stats:
            loops = bench.extra_info.get("loops", 1)
            row = (bench.name, bench.stats.min / loops, bench.stats.median / loops)
            groups.setdefault(bench.group, []).append(row)
    if not groups:
        return
    terminalreporter.section(
        "wire: per call, min / median (x = times faster than scapy / dpkt, by median (by min))"
    )
    for group, rows in sorted(groups.items()):
        others = {
            lib: (lo, med)
            for name, lo, med in rows
            for lib in ("scapy", "dpkt")
            if name.endswith(lib)
        }
        for name, lo, med in sorted(rows, key=lambda r: r[2]):
            ratios = ""
            if "fastvrrp" in name:
                ratios = "  ".join(
                    f"{m / med:6.1f}x ({m_lo / lo:6.1f}x) {lib}"
                    for lib, (m_lo, m) in sorted(others.items())
                )
            terminalreporter.write_line(
                f"{group:19} {name:42} {lo * 1e9:9.1f} / {med * 1e9:9.1f} ns  {ratios}"
            )
