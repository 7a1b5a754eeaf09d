"""The broken-config corpus: each file marks its broken line with `# expect: SEVERITY: TEXT`.

A file whose only expectations are notes is suspicious rather than broken: it must check clean.

fastvrrp must report that line with that severity and a message containing TEXT, and must not
complain about any line that carries no expectation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fastvrrp.config import check_file

BROKEN = Path(__file__).parent.parent / "configs" / "broken"
_EXPECT = re.compile(r"#\s*expect:\s*(fatal|error|warning|note):\s*(.+?)\s*$")


def expectations(path: Path) -> dict[int, tuple[str, str]]:
    found: dict[int, tuple[str, str]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = _EXPECT.search(line)
        if match:
            found[number] = (match.group(1), match.group(2))
    return found


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.conf")), ids=lambda p: p.stem)
def test_broken_config_is_reported_at_its_line(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no `# expect:` comment"
    result = check_file(str(path), "node1", interfaces=frozenset({"lo", "eth0", "eth1"}))
    report = result.report()
    for line, (severity, fragment) in expected.items():
        assert any(
            d.location.line == line and d.severity == severity and fragment in d.message
            for d in result.diagnostics
        ), f"line {line}: expected {severity}: {fragment}\n{report}"
    for d in result.diagnostics:
        if d.severity != "note":
            assert d.location.line in expected, f"unexpected: {d}"
    if {severity for severity, _ in expected.values()} == {"note"}:
        assert result.exit_code == 0, report
    else:
        assert result.exit_code in (4, 5, 6), report
