"""lvs_flush, lvs_timeouts and lvs_flush_on_stop: read as keepalived reads them, and what each
dataplane does with them (IPVS at the netlink-message level: this kernel has no IPVS)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from types import SimpleNamespace

from pyroute2.netlink.generic import ipvs

from fastvrrp.config import CheckResult, check_file
from fastvrrp.config import model as m
from fastvrrp.config.render import render
from fastvrrp.lvs.ipvs import IpvsDataplane, IpvsRequest, release_requests, to_message
from fastvrrp.lvs.nftables import build, timeout_declarations, timeout_removals
from fastvrrp.lvs.table import Destination, LvsOptions, Service, ServiceKey

ETH = frozenset({"lo", "eth0", "eth1"})
VIP = "198.18.0.100"
KEY = ServiceKey("inet", "tcp", VIP, 80)
WEB = Service(KEY, "rr", destinations=(Destination("198.18.1.11", 80, 1),
                                       Destination("198.18.1.12", 80, 1)))


def check(tmp_path: Path, global_defs: str) -> CheckResult:
    path = tmp_path / "keepalived.conf"
    path.write_text(f"global_defs {{\n{global_defs}}}\n"
                    f"virtual_server {VIP} 80 {{\n    protocol TCP\n    lvs_sched rr\n"
                    "    lvs_method NAT\n"
                    "    real_server 198.18.1.11 80 {\n        TCP_CHECK {\n        }\n    }\n}\n")
    return check_file(str(path), "node1", interfaces=ETH)


def messages(result: CheckResult) -> list[tuple[int, str, str]]:
    return [(d.location.line, d.severity, d.message) for d in result.diagnostics
            if d.location.line <= 4]


# --- the keywords ---------------------------------------------------------------------------

def test_the_three_keywords_are_read_without_a_note(tmp_path: Path) -> None:
    result = check(tmp_path, "    lvs_flush\n    lvs_timeouts tcp 900 tcpfin 30 udp 100\n"
                             "    lvs_flush_on_stop VS\n")
    assert messages(result) == []
    assert result.config is not None
    g = result.config.global_defs
    assert (g.lvs_flush, g.lvs_timeouts, g.lvs_flush_on_stop) == (True, (900, 30, 100), "VS")
    assert LvsOptions.of(g) == LvsOptions(True, "VS", (900, 30, 100))


def test_lvs_flush_on_stop_forms_and_the_old_spelling(tmp_path: Path) -> None:
    for line, mode in (("lvs_flush_on_stop", "FULL"), ("lvs_flush_onstop", "FULL"),
                       ("lvs_flush_onstop VS", "VS"), ("", "NO")):
        result = check(tmp_path, f"    {line}\n")
        assert messages(result) == [], line
        assert result.config is not None
        assert result.config.global_defs.lvs_flush_on_stop == mode, line
    # keepalived 2.2.7 knows only VS after the keyword (not NO, not vs).
    for word in ("NO", "vs"):
        result = check(tmp_path, f"    lvs_flush_on_stop {word}\n")
        assert messages(result) == [(2, "error", f"Unknown lvs_flush_on_stop type {word}")]
        assert result.config is not None and result.config.global_defs.lvs_flush_on_stop == "NO"


def test_lvs_timeouts_errors_in_keepalived_words_the_good_parts_still_count(
        tmp_path: Path) -> None:
    cases = {
        "lvs_timeouts": ["lvs_timeouts requires at least one option"],
        "lvs_timeouts tcp": ["lvs_timeouts requires at least one option"],
        "lvs_timeouts foo 5 udp 40": ["Unknown option foo specified for lvs_timeouts",
                                      "Unknown option 5 specified for lvs_timeouts"],
        "lvs_timeouts tcp 2678401 udp 40": ["number '2678401' outside range [0, 2678400]"],
        "lvs_timeouts udp 40 tcp": ["No value specified for lvs_timeout tcp - ignoring"],
    }
    for line, expected in cases.items():
        result = check(tmp_path, f"    {line}\n")
        assert [text for _, _, text in messages(result)] == expected, line
        assert result.config is not None
        got = result.config.global_defs.lvs_timeouts
        assert got == (None if "requires" in expected[0] else (0, 0, 40)), line
    result = check(tmp_path, "    lvs_timeouts tcp 0 udp 5\n")
    assert messages(result) == []
    assert result.config is not None and result.config.global_defs.lvs_timeouts == (0, 0, 5)


def test_the_keywords_render_back_to_the_same_model(tmp_path: Path) -> None:
    for g in (m.GlobalDefs(lvs_flush=True, lvs_flush_on_stop="FULL", lvs_timeouts=(0, 0, 0)),
              m.GlobalDefs(lvs_flush_on_stop="VS", lvs_timeouts=(900, 0, 100))):
        text = render(m.Config(global_defs=g))
        path = tmp_path / "rendered.conf"
        path.write_text(text)
        result = check_file(str(path), "node1", interfaces=ETH)
        assert result.config is not None, text
        back = result.config.global_defs
        assert (back.lvs_flush, back.lvs_flush_on_stop, back.lvs_timeouts) == (
            g.lvs_flush, g.lvs_flush_on_stop, g.lvs_timeouts), text


# --- IPVS -----------------------------------------------------------------------------------

def decoded(request: IpvsRequest) -> tuple[int, dict[str, object]]:
    """The command and attributes of the message as the kernel receives it."""
    msg = ipvs.ipvsmsg(to_message(request).data)
    msg.decode()
    attrs = {}
    for name, value in msg["attrs"]:
        if name.startswith("IPVS_CMD_ATTR_TIMEOUT"):  # NLA_U32, decoded as bytes by pyroute2
            value = int.from_bytes(bytes.fromhex(value.replace(":", "")), sys.byteorder)
        attrs[name] = value
    return msg["cmd"], attrs


def test_ipvs_lvs_flush_then_timeouts_go_out_before_the_first_service() -> None:
    plane = IpvsDataplane(options=LvsOptions(flush=True, timeouts=(900, 0, 100)))
    requests = plane.plan([WEB])
    cmds = [decoded(r)[0] for r in requests]
    assert cmds == [ipvs.IPVS_CMD_FLUSH, ipvs.IPVS_CMD_SET_CONFIG, ipvs.IPVS_CMD_NEW_SERVICE,
                    ipvs.IPVS_CMD_NEW_DEST, ipvs.IPVS_CMD_NEW_DEST]
    assert decoded(requests[0])[1] == {}  # a flush carries nothing: the whole table goes
    # The timeouts are NLA_U32 attributes; tcpfin 0 leaves IPVS's own, so it is not sent.
    raw = to_message(requests[1]).data
    assert raw[16:] == bytes([12, 1, 0, 0,  # IPVS_CMD_SET_CONFIG, version 1
                              8, 0, 4, 0]) + (900).to_bytes(4, sys.byteorder) + bytes(
                                  [8, 0, 6, 0]) + (100).to_bytes(4, sys.byteorder)
    assert decoded(requests[1])[1] == {"IPVS_CMD_ATTR_TIMEOUT_TCP": 900,
                                       "IPVS_CMD_ATTR_TIMEOUT_UDP": 100}


def test_ipvs_without_lvs_flush_nothing_is_flushed_and_no_timeouts_are_set() -> None:
    plane = IpvsDataplane()
    cmds = [decoded(r)[0] for r in plane.plan([WEB])]
    assert ipvs.IPVS_CMD_FLUSH not in cmds and ipvs.IPVS_CMD_SET_CONFIG not in cmds
    assert cmds[0] == ipvs.IPVS_CMD_NEW_SERVICE


def test_ipvs_flushes_at_startup_only_and_sends_changed_timeouts_on_reload() -> None:
    sent: list[IpvsRequest] = []

    class Plane(IpvsDataplane):
        def send(self, request: IpvsRequest) -> None:  # the kernel here has no IPVS
            sent.append(request)

    plane = Plane(options=LvsOptions(flush=True, timeouts=(900, 0, 0)))
    plane.apply([WEB])
    assert [r.command for r in sent] == ["flush", "timeouts", "add", "add", "add"]
    sent.clear()
    plane.apply([WEB])  # a checker verdict with nothing to change
    assert sent == []
    plane.options = LvsOptions(flush=True, timeouts=(600, 60, 0))  # reload: new timeouts
    plane.apply([WEB])
    assert sent == [IpvsRequest("timeouts", timeouts=(600, 60, 0))]
    assert decoded(sent[0])[1] == {"IPVS_CMD_ATTR_TIMEOUT_TCP": 600,
                                   "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN": 60}


def test_ipvs_timeouts_refused_are_logged_and_the_services_still_go_in(caplog: object) -> None:
    sent: list[str] = []

    class Plane(IpvsDataplane):
        def send(self, request: IpvsRequest) -> None:
            if request.command == "timeouts":
                raise OSError("Invalid argument")
            sent.append(request.command)

    plane = Plane(options=LvsOptions(flush=True, timeouts=(900, 0, 0)))
    with caplog.at_level(logging.ERROR):  # type: ignore[attr-defined]
        plane.apply([WEB])
        plane.apply([WEB])  # not sent again, not flushed again
    assert sent == ["flush", "add", "add", "add"]
    assert caplog.messages == [  # type: ignore[attr-defined]
        "lvs_timeouts: IPVS refused them: Invalid argument"]


def test_ipvs_on_stop_follows_lvs_flush_on_stop() -> None:
    applied = {KEY: WEB}
    # Default (NO): each real server, then its service, as keepalived does.
    default = [decoded(r)[0] for r in release_requests(applied, "NO")]
    assert default == [ipvs.IPVS_CMD_DEL_DEST, ipvs.IPVS_CMD_DEL_DEST,
                       ipvs.IPVS_CMD_DEL_SERVICE]
    # VS: the services only (the kernel drops their destinations).
    assert [decoded(r)[0] for r in release_requests(applied, "VS")] == [
        ipvs.IPVS_CMD_DEL_SERVICE]
    # Bare keyword: one flush of the whole table.
    assert release_requests(applied, "FULL") == [IpvsRequest("flush")]
    assert decoded(IpvsRequest("flush"))[0] == ipvs.IPVS_CMD_FLUSH

    sent: list[IpvsRequest] = []

    class Plane(IpvsDataplane):
        def send(self, request: IpvsRequest) -> None:
            sent.append(request)

    for keep, mode, expected in ((False, "FULL", ["flush"]), (True, "FULL", []),
                                 (False, "VS", ["del"])):
        plane = Plane(options=LvsOptions(flush_on_stop=mode))  # type: ignore[arg-type]
        plane.apply([WEB])
        sent.clear()
        plane.release(keep=keep)  # keep: keepalived's -I (--dont-release-ipvs)
        assert [r.command for r in sent] == expected, (keep, mode)


def test_the_service_hands_the_options_to_the_dataplane_before_its_first_write() -> None:
    from fastvrrp.lvs.service import LoadBalancerService

    seen: list[LvsOptions] = []

    class Plane:
        name = "recording"
        options = LvsOptions()

        def apply(self, services: object) -> None:
            seen.append(self.options)

        def release(self, keep: bool = False) -> None:
            pass

    def config(timeouts: tuple[int, int, int]) -> m.Config:
        return m.Config(
            global_defs=m.GlobalDefs(lvs_flush=True, lvs_timeouts=timeouts,
                                     lvs_flush_on_stop="VS"),
            virtual_servers=(m.VirtualServer(m.NOWHERE, ip=VIP, port=80, real_servers=(
                m.RealServer("198.18.1.11", 80, m.NOWHERE),)),))

    async def scenario() -> None:
        service = LoadBalancerService(config((900, 0, 0)), logging.getLogger("test"), Plane(),
                                      realtime_default=False)
        await service.start()
        await service.reload(SimpleNamespace(config=config((600, 0, 0))))  # type: ignore[arg-type]
        await service.stop()

    asyncio.run(scenario())
    assert seen[0] == LvsOptions(True, "VS", (900, 0, 0))
    assert seen[-1] == LvsOptions(True, "VS", (600, 0, 0))


# --- nftables -------------------------------------------------------------------------------

def test_nftables_timeouts_are_policies_attached_by_the_service_chains_only() -> None:
    udp = Service(ServiceKey("inet", "udp", VIP, 53), "rr",
                  destinations=(Destination("198.18.1.11", 53, 1),))
    sctp = Service(ServiceKey("inet", "sctp", VIP, 9), "rr",
                   destinations=(Destination("198.18.1.11", 9, 1),))
    ruleset = build([WEB, udp, sctp], "ip", timeouts=(900, 30, 100))
    tcp_policy = "lvs_timeouts_tcp_900_30"
    assert ruleset.timeouts == {
        tcp_policy: ("tcp", {"established": 900, "fin_wait": 30, "close_wait": 30}),
        "lvs_timeouts_udp_100": ("udp", {"unreplied": 100, "replied": 100})}
    l4 = {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}
    assert ruleset.chains["svc_tcp_198_18_0_100_80"][0] == {
        "expr": [l4, {"ct timeout": tcp_policy}]}
    assert ruleset.chains["svc_udp_198_18_0_100_53"][0]["expr"][1] == {
        "ct timeout": "lvs_timeouts_udp_100"}
    # IPVS's timeouts have no SCTP; the dispatch chains never set a timeout themselves.
    assert "ct timeout" not in str(ruleset.chains["svc_sctp_198_18_0_100_9"])
    assert "ct timeout" not in str(ruleset.chains["prerouting"] + ruleset.chains["output"])
    assert timeout_declarations(None, ruleset) == (
        "add ct timeout ip fastvrrp lvs_timeouts_tcp_900_30 { protocol tcp; l3proto ip; "
        "policy = { established: 900, fin_wait: 30, close_wait: 30 }; }\n"
        "add ct timeout ip fastvrrp lvs_timeouts_udp_100 { protocol udp; l3proto ip; "
        "policy = { unreplied: 100, replied: 100 }; }\n")
    # tcp 0 leaves established alone: only the FIN states are set.
    changed = build([WEB], "ip", ruleset, timeouts=(0, 60, 0))
    assert changed.timeouts == {"lvs_timeouts_tcp_0_60": ("tcp", {"fin_wait": 60,
                                                                  "close_wait": 60})}
    assert timeout_removals(ruleset, changed) == (
        "delete ct timeout ip fastvrrp lvs_timeouts_tcp_900_30\n"
        "delete ct timeout ip fastvrrp lvs_timeouts_udp_100\n")
    assert build([WEB], "ip").timeouts == {}
    assert "ct timeout" not in str(build([WEB], "ip").chains)
    assert build([WEB], "ip6", timeouts=(900, 0, 0)).timeouts == {}  # no IPv6 service
