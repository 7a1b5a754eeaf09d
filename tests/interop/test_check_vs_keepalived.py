"""`fastvrrp check` against `keepalived -t` on keepalived's own sample configs.

Both run in the same fresh network namespace (only `lo`), so their missing-interface
warnings agree. The exit codes must be equal, and every line keepalived names must be named
by fastvrrp too.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

SAMPLES = Path("/usr/share/doc/keepalived/samples")
SAMPLE_FILES = sorted(SAMPLES.glob("keepalived.conf.*")) if SAMPLES.is_dir() else []
SEED_FILES = sorted((Path(__file__).parent.parent / "configs" / "seed").glob("*.conf"))
BROKEN_FILES = sorted((Path(__file__).parent.parent / "configs" / "broken").glob("*.conf"))
#: Where fastvrrp knowingly differs: (keepalived's exit code, fastvrrp's, why).
KNOWN_DIFFERENCES = {
    "missing_parameter": (2, 5, "keepalived 2.2.7 stops reading; fastvrrp reports and goes on"),
    "block_needed": (5, 5, "keepalived reads the following lines as the missing block"),
    "unexpected_brace": (5, 5, "keepalived skips the '{' but not its '}', which then closes "
                               "the enclosing block"),
}
_NAMED_LINE = re.compile(r"\((?P<file>[^():]+): Line (?P<line>\d+)\)")
_OUR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):\d+: (?:fatal|error|warning|note): ",
                       re.M)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a network namespace"),
    pytest.mark.skipif(not SAMPLE_FILES, reason="keepalived's samples are not installed"),
]


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = "fvck" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def namespace_with_eth0() -> Iterator[str]:
    """A namespace where eth0 and eth1 exist (the two ends of a veth pair)."""
    name = "fvce" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name",
                        "eth1"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _keepalived(namespace: str, path: Path, *extra: str) -> tuple[int, set[int], str]:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, "keepalived", "-t", "-n", "-l", "-D", "-G",
         "-f", str(path), *extra],
        capture_output=True, text=True, timeout=60,
    )
    text = proc.stdout + proc.stderr
    lines = {int(m["line"]) for m in _NAMED_LINE.finditer(text) if m["file"] == str(path)}
    return proc.returncode, lines, text


def _fastvrrp(namespace: str, path: Path, *extra: str) -> tuple[int, set[int], str]:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "fastvrrp.cli", "check",
         "-f", str(path), *extra],
        capture_output=True, text=True, timeout=60,
    )
    assert "Traceback" not in proc.stderr
    lines = {int(m["line"]) for m in _OUR_LINE.finditer(proc.stderr) if m["file"] == str(path)}
    return proc.returncode, lines, proc.stderr


def _same_lines(ka_lines: set[int], fv_lines: set[int], ka_text: str, report: str) -> None:
    """Every line keepalived names, fastvrrp names too."""
    missing = sorted(ka_lines - fv_lines)
    assert not missing, f"keepalived names {missing}:\n{ka_text}\nfastvrrp:\n{report}"


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
def test_check_agrees_with_keepalived(namespace: str, sample: Path) -> None:
    ka_code, ka_lines, ka_text = _keepalived(namespace, sample)
    fv_code, fv_lines, report = _fastvrrp(namespace, sample)
    assert fv_code == ka_code, f"{ka_text}\n{report}"
    _same_lines(ka_lines, fv_lines, ka_text, report)


@pytest.mark.parametrize("config_id", ["high", "low", "other"])
def test_config_id_selects_the_same_lines(namespace: str, config_id: str,
                                          tmp_path: Path) -> None:
    sample = SAMPLES / "keepalived.conf.conditional_conf"
    if not sample.exists():
        pytest.skip("the conditional_conf sample is not installed")
    # Without its net_namespace lines: keepalived would check inside that namespace.
    config = tmp_path / "conditional.conf"
    config.write_text("".join(line if "net_namespace" not in line else "\n"
                              for line in sample.read_text().splitlines(keepends=True)))
    ka_code, ka_lines, ka_text = _keepalived(namespace, config, "-i", config_id)
    fv_code, fv_lines, report = _fastvrrp(namespace, config, "-i", config_id)
    assert fv_code == ka_code, f"{ka_text}\n{report}"
    _same_lines(ka_lines, fv_lines, ka_text, report)


@pytest.mark.parametrize("config", SEED_FILES, ids=lambda p: p.name)
def test_seed_configs_agree_with_keepalived(namespace_with_eth0: str, config: Path) -> None:
    ka_code, ka_lines, ka_text = _keepalived(namespace_with_eth0, config)
    fv_code, fv_lines, report = _fastvrrp(namespace_with_eth0, config)
    assert fv_code == ka_code, f"{ka_text}\n{report}"
    _same_lines(ka_lines, fv_lines, ka_text, report)


@pytest.mark.parametrize("config", BROKEN_FILES, ids=lambda p: p.stem)
def test_broken_configs_agree_with_keepalived(namespace_with_eth0: str, config: Path) -> None:
    ka_code, ka_lines, ka_text = _keepalived(namespace_with_eth0, config)
    fv_code, fv_lines, report = _fastvrrp(namespace_with_eth0, config)
    if config.stem in KNOWN_DIFFERENCES:
        ka_expected, fv_expected, _ = KNOWN_DIFFERENCES[config.stem]
        assert (ka_code, fv_code) == (ka_expected, fv_expected), report
        return
    assert fv_code == ka_code, f"{ka_text}\n{report}"
    _same_lines(ka_lines, fv_lines, ka_text, report)


def _strategies() -> ModuleType:
    """The model strategies of the round-trip test (tests/unit is not a package)."""
    path = Path(__file__).parent.parent / "unit" / "test_config_roundtrip.py"
    spec = importlib.util.spec_from_file_location("fastvrrp_config_strategies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CONFIGS = _strategies().configs(plain=True)


@settings(max_examples=int(os.environ.get("KEEPALIVED_EXAMPLES", "12")), deadline=None,
          derandomize=not os.environ.get("KEEPALIVED_EXAMPLES"),
          # Every example runs keepalived: no shrinking, the failing config is printed whole.
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_configs_agree_with_keepalived(namespace_with_eth0: str,
                                                 data: st.DataObject) -> None:
    """Models rendered to keepalived syntax get the same verdict from both checkers."""
    from fastvrrp.config.render import render

    config = data.draw(_CONFIGS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keepalived.conf"
        path.write_text(render(config))
        ka_code, ka_lines, ka_text = _keepalived(namespace_with_eth0, path)
        # keepalived 2.2.7 itself crashes on some inputs (signals); those prove nothing.
        assume(ka_code >= 0)
        fv_code, fv_lines, report = _fastvrrp(namespace_with_eth0, path)
        assert fv_code == ka_code, f"{ka_text}\n{report}\n{path.read_text()}"
        _same_lines(ka_lines, fv_lines, ka_text, report)
