"""Shared pytest settings for benches/: after a run, print the wire benchmarks' median ratios."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    """For each wire-* group: each median, and how many times slower it is than fastvrrp."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    groups: dict[str, list[tuple[str, float]]] = {}
    for bench in session.benchmarks:
        if bench.group and bench.group.startswith("wire-") and bench.stats:
            groups.setdefault(bench.group, []).append((bench.name, bench.stats.median))
    if not groups:
        return
    terminalreporter.section("wire: median ratios (x = times slower than fastvrrp)")
    for group, rows in sorted(groups.items()):
        ours = min(m for name, m in rows if "fastvrrp" in name)
        for name, median in sorted(rows, key=lambda r: r[1]):
            terminalreporter.write_line(
                f"{group:20} {name:45} {median * 1e9:12.0f} ns {median / ours:9.1f}x"
            )
