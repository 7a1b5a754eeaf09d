"""`fastvrrp check` against `keepalived -t` on a 10,000-instance config (~100k lines).

Run by hand as root (both checks look at interfaces, so both run in one fresh namespace that
has the config's eth0..eth39):

    .venv/bin/python -m pytest -q -s benches/test_config_bench.py     # or
    .venv/bin/python benches/test_config_bench.py

It prints wall time and peak RSS (from /usr/bin/time) of each run, three runs each,
interleaved. No timing assertion: only that both accept the config.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTANCES = 10_000
PER_INTERFACE = 250
RUNS = 3
TIME = "/usr/bin/time"


def generate_config(instances: int = INSTANCES) -> str:
    """A config of `instances` VRRP instances, 250 per interface eth0, eth1, ..."""
    lines = ["global_defs {", "    router_id bench", "}"]
    for i in range(instances):
        lines += [
            f"vrrp_instance VI_{i} {{",
            "    state BACKUP",
            f"    interface eth{i // PER_INTERFACE}",
            f"    virtual_router_id {i % PER_INTERFACE + 1}",
            f"    priority {100 + i % 100}",
            "    advert_int 1",
            "    virtual_ipaddress {",
            f"        198.18.{i // 256}.{i % 256}/32",
            "    }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _interfaces(instances: int) -> int:
    return (instances + PER_INTERFACE - 1) // PER_INTERFACE


Row = tuple[str, int, float, float, int]


def timed(namespace: str, argv: list[str]) -> tuple[int, float, float, int]:
    """Run argv in the namespace under /usr/bin/time.

    Returns (exit code, wall seconds, CPU seconds (user + sys), peak RSS KiB).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        proc = subprocess.run(
            ["ip", "netns", "exec", namespace, TIME, "-o", report.name, "-f", "%e %U %S %M",
             *argv],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False,
        )
        wall, user, system, rss = Path(report.name).read_text().split()[-4:]
    return proc.returncode, float(wall), float(user) + float(system), int(rss)


@pytest.fixture(scope="module")
def bench_namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    name = "fvcb" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for i in range(_interfaces(INSTANCES)):
            subprocess.run(["ip", "-n", name, "link", "add", f"eth{i}", "type", "veth", "peer",
                            "name", f"p{i}"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run(namespace: str, path: str) -> list[Row]:
    """Interleaved runs of both checkers: (tool, exit code, seconds, KiB)."""
    fastvrrp = [sys.executable, "-m", "fastvrrp.cli", "check", "-f", path]
    keepalived = ["keepalived", "-t", "-n", "-l", "-G", "-f", path]
    rows = []
    for _ in range(RUNS):
        rows.append(("fastvrrp check", *timed(namespace, fastvrrp)))
        rows.append(("keepalived -t", *timed(namespace, keepalived)))
    return rows


def report(rows: list[Row]) -> str:
    lines = ["| tool | exit | wall s | CPU s | peak RSS MiB |", "|---|---|---|---|---|"]
    lines += [f"| {tool} | {code} | {wall:.2f} | {cpu:.2f} | {kib / 1024:.1f} |"
              for tool, code, wall, cpu, kib in rows]
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.netns
@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived is not installed")
@pytest.mark.skipif(not Path(TIME).exists(), reason="needs /usr/bin/time")
def test_check_10k_instances_against_keepalived(bench_namespace: str, tmp_path: Path) -> None:
    path = tmp_path / "big.conf"
    path.write_text(generate_config())
    rows = run(bench_namespace, str(path))
    print("\n" + report(rows))
    assert {row[1] for row in rows} == {0}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "big.conf"
        config.write_text(generate_config())
        ns = "fvcb" + secrets.token_hex(3)
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            for index in range(_interfaces(INSTANCES)):
                subprocess.run(["ip", "-n", ns, "link", "add", f"eth{index}", "type", "veth",
                                "peer", "name", f"p{index}"], check=True)
            print(f"{INSTANCES} instances, {len(config.read_text().splitlines())} lines")
            print(report(run(ns, str(config))))
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
