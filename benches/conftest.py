"""Shared pytest settings for benches/: after a run, print the wire benchmarks' per-call medians."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any, config: Any) -> None:
    """For each wire-* group: each per-call median (one benchmarked loop's median divided by its
    `loops`), and for each fastvrrp row how many times faster it is than scapy and dpkt."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    groups: dict[str, list[tuple[str, float]]] = {}
    for bench in session.benchmarks:
        if bench.group and bench.group.startswith("wire-") and bench.stats:
            loops = bench.extra_info.get("loops", 1)
            groups.setdefault(bench.group, []).append((bench.name, bench.stats.median / loops))
    if not groups:
        return
    terminalreporter.section("wire: per-call medians (x = times faster than scapy / dpkt)")
    for group, rows in sorted(groups.items()):
        others = {lib: m for name, m in rows for lib in ("scapy", "dpkt") if name.endswith(lib)}
        for name, per_call in sorted(rows, key=lambda r: r[1]):
            ratios = ""
            if "fastvrrp" in name:
                ratios = "  ".join(
                    f"{m / per_call:7.1f}x {lib}" for lib, m in sorted(others.items())
                )
            terminalreporter.write_line(f"{group:20} {name:45} {per_call * 1e9:10.1f} ns  {ratios}")
