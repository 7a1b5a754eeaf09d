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
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

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


class Verdict(NamedTuple):
    """What one checker said about a config: exit code, the lines it named, its output."""

    code: int
    lines: set[int]
    text: str


def _keepalived(namespace: str, path: Path, *extra: str) -> Verdict:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, "keepalived", "-t", "-n", "-l", "-D", "-G",
         "-f", str(path), *extra],
        capture_output=True, text=True, timeout=60,
    )
    text = proc.stdout + proc.stderr
    lines = {int(m["line"]) for m in _NAMED_LINE.finditer(text) if m["file"] == str(path)}
    return Verdict(proc.returncode, lines, text)


def _fastvrrp(namespace: str, path: Path, *extra: str) -> Verdict:
    proc = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "fastvrrp.cli", "check",
         "-f", str(path), *extra],
        capture_output=True, text=True, timeout=60,
    )
    assert "Traceback" not in proc.stderr
    lines = {int(m["line"]) for m in _OUR_LINE.finditer(proc.stderr) if m["file"] == str(path)}
    return Verdict(proc.returncode, lines, proc.stderr)


def _assert_agree(keepalived: Verdict, fastvrrp: Verdict, shown: str = "") -> None:
    """The same exit code, and every line keepalived names, fastvrrp names too."""
    assert fastvrrp.code == keepalived.code, f"{keepalived.text}\n{fastvrrp.text}{shown}"
    missing = sorted(keepalived.lines - fastvrrp.lines)
    assert not missing, (
        f"keepalived names {missing}:\n{keepalived.text}\nfastvrrp:\n{fastvrrp.text}")


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
def test_check_agrees_with_keepalived(namespace: str, sample: Path) -> None:
    _assert_agree(_keepalived(namespace, sample), _fastvrrp(namespace, sample))


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
    _assert_agree(_keepalived(namespace, config, "-i", config_id),
                  _fastvrrp(namespace, config, "-i", config_id))


@pytest.mark.parametrize("config", SEED_FILES, ids=lambda p: p.name)
def test_seed_configs_agree_with_keepalived(namespace_with_eth0: str, config: Path) -> None:
    _assert_agree(_keepalived(namespace_with_eth0, config), _fastvrrp(namespace_with_eth0, config))


@pytest.mark.parametrize("config", BROKEN_FILES, ids=lambda p: p.stem)
def test_broken_configs_agree_with_keepalived(namespace_with_eth0: str, config: Path) -> None:
    theirs = _keepalived(namespace_with_eth0, config)
    ours = _fastvrrp(namespace_with_eth0, config)
    if config.stem in KNOWN_DIFFERENCES:
        ka_expected, fv_expected, _ = KNOWN_DIFFERENCES[config.stem]
        assert (theirs.code, ours.code) == (ka_expected, fv_expected), ours.text
        return
    _assert_agree(theirs, ours)


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
    if data.draw(st.booleans(), label="vrrp_strict"):
        # Strict mode reshapes every instance; keepalived's verdict must still be ours.
        config = replace(config, global_defs=replace(config.global_defs, vrrp_strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keepalived.conf"
        path.write_text(render(config))
        theirs = _keepalived(namespace_with_eth0, path)
        # keepalived 2.2.7 itself crashes on some inputs (signals); those prove nothing.
        assume(theirs.code >= 0)
        _assert_agree(theirs, _fastvrrp(namespace_with_eth0, path), "\n" + path.read_text())


#: Where each block's keywords can be tried: the lines around them.
_BLOCK_FRAMES = {
    "top": ("", ""),
    "global_defs": ("global_defs {", "}"),
    "vrrp_instance": ("vrrp_instance VI_1 {", "}"),
    "vrrp_script": ("vrrp_script s {", "}"),
    "track_file": ("track_file f {", "}"),
    "vrrp_track_process": ("vrrp_track_process p {", "}"),
    "vrrp_sync_group": ("vrrp_sync_group g {", "}"),
    "virtual_server": ("virtual_server 198.18.0.1 80 {", "}"),
    "real_server": ("virtual_server 198.18.0.1 81 {\nreal_server 198.18.0.2 81 {", "}\n}"),
    "TCP_CHECK": ("virtual_server 198.18.0.1 83 {\nreal_server 198.18.0.2 83 {\nTCP_CHECK {",
                  "}\n}\n}"),
    "MISC_CHECK": ("virtual_server 198.18.0.1 84 {\nreal_server 198.18.0.2 84 {\nMISC_CHECK {",
                   "}\n}\n}"),
    "url": ("virtual_server 198.18.0.1 82 {\nreal_server 198.18.0.2 82 {\nHTTP_GET {\nurl {",
            "}\n}\n}\n}"),
    "authentication": ("vrrp_instance VI_2 {\nauthentication {", "}\n}"),
    **{kind: (f"virtual_server 198.18.0.1 85 {{\nreal_server 198.18.0.2 85 {{\n{kind} {{"
              # keepalived 2.2.7 crashes on an HTTP checker without a url.
              + ("\nurl {\npath /\n}" if kind.endswith("_GET") else ""),
              "}\n}\n}")
       for kind in ("HTTP_GET", "SSL_GET", "SMTP_CHECK", "DNS_CHECK", "PING_CHECK",
                    "UDP_CHECK", "FILE_CHECK")},
}
#: fastvrrp's own keywords, and nb_get_retry, which 2.2.7 calls unknown (fastvrrp warns too).
_NOT_IN_KEEPALIVED = {"lvs_backend", "v3_checksum_as_v2", "nb_get_retry"}


def _unknown_to_keepalived(namespace: str, block: str, words: list[str], tmp_path: Path,
                           blocks: frozenset[str] = frozenset()) -> set[str] | None:
    head, tail = _BLOCK_FRAMES[block]
    config = tmp_path / f"{block}.conf"
    # Every word gets an argument (and an empty block if it takes one): keepalived only has
    # to say whether it knows it.
    config.write_text(head + "\n" + "".join(f"{w} 1\n{{\n}}\n" if w in blocks else f"{w} 1\n"
                                            for w in words) + tail + "\n")
    code, _, text = _keepalived(namespace, config)
    if code < 0:
        return None  # keepalived crashed part way (2.2.7 does on some nonsense): no verdict
    return set(re.findall(r"Unknown keyword '([^']+)'", text))


@pytest.mark.parametrize("block", sorted(_BLOCK_FRAMES))
def test_keyword_tables_match_keepalived(namespace: str, block: str, tmp_path: Path) -> None:
    """Each table knows what keepalived 2.2.7 knows in that block, no more and no less."""
    from fastvrrp.config.keywords import BLOCKS

    table = BLOCKS[block].keywords
    ours = set(table)
    takes_block = frozenset(name for name, kw in table.items() if kw.block is not None)
    unknown = _unknown_to_keepalived(namespace, block, sorted(ours), tmp_path, takes_block)
    if unknown is None:
        # An empty url block crashes keepalived 2.2.7's HTTP checkers: try the others alone.
        unknown = _unknown_to_keepalived(namespace, block, sorted(ours - takes_block), tmp_path)
    assert unknown is not None, "keepalived crashed on our own keywords"
    assert unknown - _NOT_IN_KEEPALIVED == set()
    strings = shutil.which("strings")
    if strings is None:
        return
    # Keyword-like strings of the keepalived binary that are not in our table must be unknown
    # to keepalived in this block (include is the reader's).
    words = subprocess.run([strings, shutil.which("keepalived") or "keepalived"],
                           capture_output=True, text=True, check=True).stdout.split()
    others = sorted({w for w in words if re.fullmatch(r"[a-zA-Z][\w-]{2,40}", w)} - ours
                    - {"include"})
    unknown_others = _unknown_to_keepalived(namespace, block, others, tmp_path)
    if unknown_others is not None:
        assert set(others) - unknown_others == set()
