"""Fuzzing the reader: no input makes `check` raise; every problem is a diagnostic."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastvrrp.config import check_file
from fastvrrp.config.reader import expand_braces

SAMPLES = sorted(Path("/usr/share/doc/keepalived/samples").glob("keepalived.conf.*"))
SEED = sorted((Path(__file__).parent.parent / "configs" / "seed").glob("*.conf"))
CORPUS = [p.read_text() for p in [*SAMPLES, *SEED]] or ["vrrp_instance VI_1 {\n}\n"]

VOCABULARY = [
    "{", "}", "\n", " ", "vrrp_instance", "VI_1", "virtual_router_id", "priority", "state",
    "MASTER", "advert_int", "interface", "eth0", "virtual_ipaddress", "198.18.0.1/24",
    "2001:2::1", "track_script", "vrrp_script", "chk", "script", "weight", "-20", "300", "0.5",
    "authentication", "auth_type", "PASS", "auth_pass", "global_defs", "vrrp_strict",
    "virtual_server", "real_server", "HTTP_GET", "url", "status_code", "200-299", "TCP_CHECK",
    "lb_algo", "rr", "nb_get_retry", "virtual_server_group", "fwmark", "group", "static_routes",
    "via", "dev", "table", "virtual_rules", "from", "to", "unicast_peer", "min_ttl", "use_vmac",
    "notify", '"/bin/echo a b"', "'x y'", '"unterminated', "\\", "$X=1", "$X", "${X}", "${Y}",
    "$M= \\", "${_RANDOM 1 5}", "${_PWD}", "@node1", "@^node1", "~SEQ(N,1,3)", "~LST(A,1,2)",
    "~SEQ(N,1,0,3)", "#", "!", "vrrp_sync_group", "track_file", "vrrp_track_process", "process",
    "MISC_CHECK", "misc_path", "UDP_CHECK", "payload", "zz", "sorry_server", "-", "/", ":",
]


def check_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keepalived.conf"
        path.write_text(text, errors="surrogatepass")
        result = check_file(str(path), "node1", interfaces=frozenset({"lo", "eth0"}))
    assert result.exit_code in (0, 4, 5, 6)
    for diagnostic in result.diagnostics:
        assert diagnostic.location.line >= 0
        str(diagnostic)


fuzz = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@fuzz
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    check_text(text)


@fuzz
@given(st.lists(st.sampled_from(VOCABULARY), max_size=120))
def test_random_keyword_soup(tokens: list[str]) -> None:
    check_text(" ".join(tokens))


@st.composite
def mutated_samples(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "token", "duplicate"]))
        if action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif action == "insert":
            text = text[:at] + draw(st.text(max_size=12)) + text[at:]
        elif action == "token":
            text = text[:at] + " " + draw(st.sampled_from(VOCABULARY)) + " " + text[at:]
        else:
            end = min(len(text), at + draw(st.integers(1, 200)))
            text = text[:end] + text[at:end] + text[end:]
    return text


@fuzz
@given(mutated_samples())
def test_mutated_samples(text: str) -> None:
    check_text(text)


def test_brace_expansion_is_bounded() -> None:
    assert expand_braces("a{b,c{d,e}}f") == ["abf", "acdf", "acef"]
    assert len(expand_braces("{a,b}" * 30)) <= 1024
