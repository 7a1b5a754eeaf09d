"""Checker scheduling and the pure parts of the probes (no network)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from fastvrrp.check import CheckFailed, CheckRunner, Outcome, Schedule, Target, probe_for
from fastvrrp.check.dns import check_reply, encode_query
from fastvrrp.check.http import parse_response, request_bytes
from fastvrrp.check.tcp import TcpProbe
from fastvrrp.config import model as m


@dataclass
class ScriptedProbe:
    """Answers from a script of results: True passes, False fails, None hangs."""

    results: list[bool | None]
    deadline: float = 0.05
    calls: int = 0
    times: list[float] = field(default_factory=list)

    async def attempt(self) -> Outcome:
        self.times.append(asyncio.get_running_loop().time())
        result = self.results[min(self.calls, len(self.results) - 1)]
        self.calls += 1
        if result is None:
            await asyncio.sleep(60)
        if not result:
            raise CheckFailed("scripted failure")
        return Outcome()


def verdicts_of(probe: ScriptedProbe, rounds: int, retry: int, up: bool = True
                ) -> list[tuple[bool, str]]:
    seen: list[tuple[bool, str]] = []

    async def main() -> None:
        runner = CheckRunner(1, probe, Schedule(1.0, retry, 0.01),
                             lambda i, ok, o, why: seen.append((ok, why)), up=up)
        for _ in range(rounds):
            await runner.check_once()

    asyncio.run(main())
    return seen


def test_a_server_goes_down_only_after_all_retries_fail() -> None:
    probe = ScriptedProbe([False, False, True])
    assert verdicts_of(probe, 1, retry=2) == []  # the third attempt succeeds: still up
    assert probe.calls == 3
    probe = ScriptedProbe([False])
    assert verdicts_of(probe, 2, retry=1) == [(False, "scripted failure")]
    assert probe.calls == 4


def test_one_success_brings_a_down_server_up() -> None:
    assert verdicts_of(ScriptedProbe([True]), 1, retry=3, up=False) == [(True, "success")]


def test_a_hung_attempt_is_cut_at_its_deadline() -> None:
    probe = ScriptedProbe([None], deadline=0.05)
    assert verdicts_of(probe, 1, retry=0) == [(False, "Timeout after 0.05 s")]


def test_checks_run_every_delay_loop_without_drift() -> None:
    probe = ScriptedProbe([True])
    dues: list[tuple[float, float]] = []

    async def main() -> None:
        runner = CheckRunner(1, probe, Schedule(0.05, 0, 0.0), lambda *a: None,
                             record=lambda due, at: dues.append((due, at)))
        runner.start()
        await asyncio.sleep(0.27)
        await runner.stop()

    asyncio.run(main())
    assert len(dues) >= 5
    starts = [due for due, _ in dues]
    assert all(abs((b - a) - 0.05) < 1e-9 for a, b in itertools.pairwise(starts))


def test_keepalived_http_request_forms() -> None:
    assert request_bytes("/", "198.18.1.1:80", "1.0") == (
        b"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 198.18.1.1:80\r\n\r\n")
    assert request_bytes("/x", "h", "1.0C") == (
        b"GET /x HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: h\r\n\r\n")
    assert b"HTTP/1.1\r\n" in request_bytes("/", "h", "1.1")


def test_response_body_is_cut_at_content_length() -> None:
    response = parse_response(b"HTTP/1.1 204 No\r\nContent-Length: 3\r\n\r\nabcdef")
    assert (response.status, response.body) == (204, b"abc")
    assert response.digest == "900150983cd24fb0d6963f7d28e17f72"


def test_dns_query_and_reply_checks() -> None:
    query = encode_query(0x1234, "example.test", "SOA")
    assert query[:4] == b"\x12\x34\x01\x00"
    assert query.endswith(b"\x07example\x04test\x00\x00\x06\x00\x01")
    answer = b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
    check_reply(answer, 0x1234)
    for bad, why in ((answer[:2] + b"\x81\x83" + answer[4:], "rcode 3"),
                     (b"\x00\x00" + answer[2:], "does not match"),
                     (answer[:6] + b"\x00\x00" + answer[8:], "no answer")):
        try:
            check_reply(bad, 0x1234)
        except CheckFailed as exc:
            assert why in str(exc)
        else:
            raise AssertionError(why)


def test_checkers_inherit_the_real_server_address_and_port() -> None:
    server = m.RealServer("198.18.1.11", 8080, m.NOWHERE)
    probe = probe_for(m.TcpCheck(connect_timeout=2.0), server, m.Config())
    assert isinstance(probe, TcpProbe)
    assert probe.target == Target("198.18.1.11", 8080)
    assert probe.deadline == 2.0
    probe = probe_for(m.TcpCheck(connect_ip="198.18.1.12", connect_port=22), server, m.Config())
    assert isinstance(probe, TcpProbe)
    assert probe.target == Target("198.18.1.12", 22)


def test_stop_ends_a_runner_in_the_middle_of_a_hung_attempt() -> None:
    probe = ScriptedProbe([None], deadline=30.0)

    async def main() -> float:
        runner = CheckRunner(1, probe, Schedule(1.0, 0, 0.0), lambda *a: None)
        runner.start()
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(runner.stop(), 1.0)
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(main()) < 0.5
    assert probe.calls == 1


def test_a_checker_bug_fails_the_check_instead_of_killing_its_loop() -> None:
    class Broken:
        deadline = 1.0

        async def attempt(self) -> Outcome:
            raise TypeError("bug")

    seen: list[tuple[bool, str]] = []

    async def main() -> None:
        runner = CheckRunner(1, Broken(), Schedule(1.0, 0, 0.0),
                             lambda i, ok, o, why: seen.append((ok, why)))
        assert not await runner.check_once()

    asyncio.run(main())
    assert seen == [(False, "internal error: TypeError: bug")]


def test_a_checker_without_a_port_cannot_run() -> None:
    server = m.RealServer("198.18.1.11", None, m.NOWHERE)
    assert probe_for(m.TcpCheck(), server, m.Config()) is None
    assert probe_for(m.TcpCheck(connect_port=80), server, m.Config()) is not None
