"""The virtual-server state machine and the dataplanes' requests, without a network."""

from __future__ import annotations

import socket
from collections import Counter

from fastvrrp.check.base import Outcome
from fastvrrp.config import model as m
from fastvrrp.lvs.ipvs import IpvsRequest, diff_requests, to_message
from fastvrrp.lvs.nftables import (
    FamilyRuleset,
    build,
    chain_name,
    diff_commands,
    map_declarations,
    remap,
    slots_for,
    unsupported,
    wrr_slots,
)
from fastvrrp.lvs.state import LoadBalancer, Notice, VirtualServerState, service_keys
from fastvrrp.lvs.table import Destination, Service, ServiceKey

VIP = "198.18.0.100"
KEY = ServiceKey("inet", "tcp", VIP, 80)


def rs(ip: str, weight: int = 1, checks: int = 1, **kw: object) -> m.RealServer:
    return m.RealServer(ip, 80, m.NOWHERE, weight=weight,
                        checkers=tuple(m.TcpCheck() for _ in range(checks)), **kw)  # type: ignore[arg-type]


def vs(*servers: m.RealServer, **kw: object) -> VirtualServerState:
    fields: dict[str, object] = {"ip": VIP, "port": 80, "lvs_sched": "rr", **kw}
    state = VirtualServerState.of(m.VirtualServer(m.NOWHERE, real_servers=servers, **fields))  # type: ignore[arg-type]
    state.start()
    return state


def dests(state: VirtualServerState) -> list[tuple[str, int]]:
    return [(d.address, d.weight) for d in state.services()[0].destinations]


def fifo(notices: list[Notice]) -> list[str]:
    return [n.text for n in notices if n.kind == "fifo"]


def test_a_failed_server_leaves_and_comes_back_with_keepalived_fifo_lines() -> None:
    down = m.Command("/bin/down.sh")
    state = vs(rs("198.18.1.11", notify_down=down), rs("198.18.1.12"))
    assert dests(state) == [("198.18.1.11", 1), ("198.18.1.12", 1)]
    notices = state.verdict(0, 0, False, None)
    assert fifo(notices) == ["RS [198.18.1.11]:tcp:80 [198.18.0.100]:tcp:80 DOWN"]
    assert [n.command for n in notices if n.kind == "script"] == [down]
    assert any(n.text == "Removing service [198.18.1.11]:tcp:80 from VS [198.18.0.100]:tcp:80"
               for n in notices)
    assert dests(state) == [("198.18.1.12", 1)]
    assert fifo(state.verdict(0, 0, True, None)) == [
        "RS [198.18.1.11]:tcp:80 [198.18.0.100]:tcp:80 UP"]
    assert dests(state) == [("198.18.1.11", 1), ("198.18.1.12", 1)]


def test_a_server_with_two_checkers_is_alive_only_while_both_pass() -> None:
    state = vs(rs("198.18.1.11", checks=2))
    state.verdict(0, 0, False, None)
    assert state.verdict(0, 1, False, None) == []  # already down: nothing new
    state.verdict(0, 0, True, None)
    assert dests(state) == []
    state.verdict(0, 1, True, None)
    assert dests(state) == [("198.18.1.11", 1)]


def test_inhibit_on_failure_keeps_the_server_with_weight_zero() -> None:
    state = vs(rs("198.18.1.11", weight=3, inhibit_on_failure=True), rs("198.18.1.12"))
    notices = state.verdict(0, 0, False, None)
    assert dests(state) == [("198.18.1.11", 0), ("198.18.1.12", 1)]
    assert any(n.text.startswith("Disabling service [198.18.1.11]") for n in notices)
    state.verdict(0, 0, True, None)
    assert dests(state) == [("198.18.1.11", 3), ("198.18.1.12", 1)]


def test_alpha_starts_servers_down_until_their_first_success() -> None:
    server = m.RealServer("198.18.1.11", 80, m.NOWHERE, checkers=(m.TcpCheck(alpha=True),))
    state = vs(server, quorum=1)
    assert dests(state) == []
    assert not state.quorum_up
    notices = state.verdict(0, 0, True, None)
    assert fifo(notices) == ["RS [198.18.1.11]:tcp:80 [198.18.0.100]:tcp:80 UP",
                             "VS [198.18.0.100]:tcp:80 UP"]


def test_quorum_with_hysteresis_and_the_sorry_server() -> None:
    up, down = m.Command("/bin/qup"), m.Command("/bin/qdown")
    state = vs(rs("198.18.1.11", 2), rs("198.18.1.12", 2), rs("198.18.1.13", 2), quorum=4,
               hysteresis=1, quorum_up=up, quorum_down=down, sorry_server=("198.18.2.1", 8080))
    state.verdict(0, 0, False, None)
    assert state.quorum_up  # 4 >= 4 - 1
    notices = state.verdict(1, 0, False, None)  # 2 < 3: lost
    assert "VS [198.18.0.100]:tcp:80 DOWN" in fifo(notices)
    assert [n.command for n in notices if n.kind == "script"] == [down]
    assert dests(state) == [("198.18.2.1", 1)]
    assert state.services()[0].destinations[0].port == 8080
    assert state.verdict(0, 0, True, None) == [Notice(
        "log", "Adding service [198.18.1.11]:tcp:80 to VS [198.18.0.100]:tcp:80"),
        Notice("fifo", "RS [198.18.1.11]:tcp:80 [198.18.0.100]:tcp:80 UP")]  # 4 < 5: still down
    notices = state.verdict(1, 0, True, None)  # 6 >= 5: gained
    assert "VS [198.18.0.100]:tcp:80 UP" in fifo(notices)
    assert [n.command for n in notices if n.kind == "script"] == [up]
    assert [a for a, _ in dests(state)] == ["198.18.1.11", "198.18.1.12", "198.18.1.13"]


def test_sorry_server_inhibit_keeps_it_at_weight_zero() -> None:
    state = vs(rs("198.18.1.11"), sorry_server=("198.18.2.1", None), sorry_server_inhibit=True)
    assert dests(state) == [("198.18.1.11", 1), ("198.18.2.1", 0)]
    state.verdict(0, 0, False, None)
    assert dests(state) == [("198.18.2.1", 1)]


def test_omega_reports_everything_down_on_shutdown() -> None:
    down = m.Command("/bin/down")
    quiet = vs(rs("198.18.1.11", notify_down=down))
    assert quiet.shutdown() == []
    state = vs(rs("198.18.1.11", notify_down=down), omega=True, quorum_down=down)
    notices = state.shutdown()
    assert fifo(notices) == ["RS [198.18.1.11]:tcp:80 [198.18.0.100]:tcp:80 DOWN",
                             "VS [198.18.0.100]:tcp:80 DOWN"]
    assert [n.command for n in notices if n.kind == "script"] == [down, down]


def test_dynamic_weights_from_misc_and_file_checks() -> None:
    state = vs(rs("198.18.1.11", weight=5, checks=2))
    state.verdict(0, 0, True, Outcome(weight=9))
    assert dests(state) == [("198.18.1.11", 9)]
    state.verdict(0, 1, True, Outcome(weight_delta=-4))
    assert dests(state) == [("198.18.1.11", 5)]


def test_groups_and_fwmark_services() -> None:
    group = m.VirtualServerGroup("G", m.NOWHERE, (
        m.VirtualServerGroupMember(ip="198.18.0.100", range_end="198.18.0.102", port=80),
        m.VirtualServerGroupMember(fwmark=7)))
    server = m.VirtualServer(m.NOWHERE, group="G", real_servers=(rs("198.18.1.11"),))
    keys = service_keys(server, [group])
    assert [str(k) for k in keys] == ["[198.18.0.100]:tcp:80", "[198.18.0.101]:tcp:80",
                                     "[198.18.0.102]:tcp:80", "FWM 7"]
    config = m.Config(virtual_servers=(server,), virtual_server_groups=(group,))
    balancer = LoadBalancer.of(config)
    balancer.start()
    assert len(balancer.services()) == 4
    assert all(s.destinations[0].address == "198.18.1.11" for s in balancer.services())
    assert fifo(balancer.verdict(0, False, None)) == ["RS [198.18.1.11]:tcp:80 [G]:tcp:0 DOWN",
                                                      "VS [G]:tcp:0 DOWN"]


# --- nftables ---------------------------------------------------------------------------------

def svc(sched: str, *weights: int, **kw: object) -> Service:
    return Service(KEY, sched, destinations=tuple(
        Destination(f"198.18.1.{11 + i}", 80, w) for i, w in enumerate(weights)), **kw)  # type: ignore[arg-type]


def test_wrr_slots_follow_the_weights_interleaved() -> None:
    slots = [d.address[-2:] for d in wrr_slots(svc("wrr", 3, 1, 0).destinations)]
    assert slots == ["11", "11", "11", "12"]
    slots = [d.address[-2:] for d in wrr_slots(svc("wrr", 4, 2).destinations)]
    assert slots == ["11", "11", "12"]
    big = wrr_slots(svc("wrr", 60000, 30000, 1).destinations)
    assert len(big) <= 1024 and big.count(big[0]) == 2 * sum(
        1 for d in big if d.address.endswith("12"))
    assert [d.address[-2:] for d in slots_for(svc("rr", 5, 1, 0))] == ["11", "12"]


def test_nftables_rules_for_rr_hash_and_persistence() -> None:
    ruleset = build([svc("rr", 1, 1), Service(ServiceKey("inet", "udp", fwmark=3), "sh",
                     destinations=(Destination("198.18.1.11", None, 1),))], "ip")
    chain = chain_name(KEY)
    assert chain == "svc_tcp_198_18_0_100_80"
    assert ruleset.chains["prerouting"][0]["expr"][-1] == {"jump": {"target": chain}}
    dnat = ruleset.chains[chain][0]["expr"][1]["dnat"]
    assert dnat["addr"]["map"] == {"key": {"numgen": {"mode": "inc", "mod": 2, "offset": 0}},
                                   "data": f"@{chain}_slots"}
    assert dnat["port"] == 80
    assert ruleset.maps[f"{chain}_slots"] == ["198.18.1.11", "198.18.1.12"]
    fwm = ruleset.chains["svc_fwm_3_udp"][0]["expr"][1]["dnat"]
    assert "jhash" in fwm["addr"]["map"]["key"] and "port" not in fwm
    assert ruleset.maps["svc_fwm_3_udp_slots"] == ["198.18.1.11"]
    sticky = build([svc("wrr", 1, 2, persistence_timeout=300)], "ip")
    assert sorted(sticky.sets.values()) == [300, 300]
    assert len(sticky.chains["postrouting"]) == 2


def test_destinations_on_different_ports_use_an_address_and_port_map() -> None:
    service = Service(KEY, "rr", destinations=(Destination("198.18.1.11", 80, 1),
                                               Destination("198.18.1.12", 8080, 1)))
    dnat = build([service], "ip").chains[chain_name(KEY)][0]["expr"][1]["dnat"]
    assert dnat["addr"]["map"]["data"]["set"][1] == [1, {"concat": ["198.18.1.12", 8080]}]


def test_inhibited_servers_are_listed_with_weight_zero_and_get_no_slot() -> None:
    ruleset = build([svc("rr", 0, 1)], "ip")
    chain = chain_name(KEY)
    assert ruleset.dests[f"{chain}_dests"] == {("198.18.1.11", 80): 0, ("198.18.1.12", 80): 1}
    assert ruleset.maps[f"{chain}_slots"] == ["198.18.1.12"]


def test_a_verdict_changes_map_elements_not_rules() -> None:
    other = Service(ServiceKey("inet", "tcp", VIP, 443), "rr",
                    destinations=(Destination("198.18.1.11", 443, 1),))
    first = build([svc("rr", 1, 1, 1), other], "ip")
    commands = diff_commands(None, first)
    assert commands[0] == {"add": {"table": {"family": "ip", "name": "fastvrrp"}}}
    assert "typeof numgen" in map_declarations(None, first)
    second = build([svc("rr", 1, 0, 1), other], "ip", first)
    name = f"{chain_name(KEY)}_slots"
    assert second.maps[name] == ["198.18.1.11", "198.18.1.11", "198.18.1.13"]
    commands = diff_commands(first, second)
    assert not any("rule" in next(iter(c.values())) for c in commands)
    assert {"delete": {"element": {"family": "ip", "table": "fastvrrp", "name": name,
                                   "elem": [1]}}} in commands
    assert {"add": {"element": {"family": "ip", "table": "fastvrrp", "name": name,
                                "elem": [[1, "198.18.1.11"]]}}} in commands
    back = build([svc("rr", 1, 1, 1), other], "ip", second)
    assert back.maps[name] == ["198.18.1.11", "198.18.1.12", "198.18.1.13"]
    assert diff_commands(back, FamilyRuleset("ip", dict(back.chains), dict(back.sets),
                                             dict(back.maps), dict(back.dests))) == []


def test_remap_moves_as_few_slots_as_possible() -> None:
    assert remap(["a", "b", "c", "d"], ["a", "c", "d"]) == ["a", "a", "c", "d"]
    assert remap(["a", "a", "c", "d"], ["a", "b", "c", "d"]) == ["a", "b", "c", "d"]
    assert remap(["a", "b"], ["s"]) == ["s", "s"]


def test_nftables_reports_what_it_cannot_express() -> None:
    assert unsupported(svc("rr", 1)) == []
    assert any("DR" in r for r in unsupported(Service(KEY, "rr", "DR")))
    assert any("wlc" in r for r in unsupported(svc("wlc", 1)))


# --- IPVS, at the netlink-message level ------------------------------------------------------

def attrs(msg: object, name: str) -> dict[str, object]:
    nla = msg.get_attr(name)  # type: ignore[attr-defined]
    return dict(nla["attrs"]) if nla else {}


def test_ipvs_new_service_and_destination_messages() -> None:
    from pyroute2.netlink.generic import ipvs

    service = Service(KEY, "wrr", "DR", persistence_timeout=300,
                      persistence_granularity="255.255.255.0",
                      destinations=(Destination("198.18.1.11", 8080, 3, "DR"),))
    requests = diff_requests({}, [service])
    assert [(r.command, r.dest is not None) for r in requests] == [("add", False), ("add", True)]
    msg = ipvs.ipvsmsg(to_message(requests[0]).data)
    msg.decode()
    assert msg["cmd"] == ipvs.IPVS_CMD_NEW_SERVICE
    svc_attrs = attrs(msg, "IPVS_CMD_ATTR_SERVICE")
    assert svc_attrs["IPVS_SVC_ATTR_AF"] == socket.AF_INET
    assert svc_attrs["IPVS_SVC_ATTR_PROTOCOL"] == socket.IPPROTO_TCP
    assert svc_attrs["IPVS_SVC_ATTR_ADDR"] == VIP
    assert svc_attrs["IPVS_SVC_ATTR_PORT"] == 80
    assert svc_attrs["IPVS_SVC_ATTR_SCHED_NAME"] == "wrr"
    assert svc_attrs["IPVS_SVC_ATTR_TIMEOUT"] == 300
    assert svc_attrs["IPVS_SVC_ATTR_NETMASK"] == "255.255.255.0"
    assert svc_attrs["IPVS_SVC_ATTR_FLAGS"]["flags"] & 1  # type: ignore[index]
    msg = ipvs.ipvsmsg(to_message(requests[1]).data)
    msg.decode()
    assert msg["cmd"] == ipvs.IPVS_CMD_NEW_DEST
    dest = attrs(msg, "IPVS_CMD_ATTR_DEST")
    assert (dest["IPVS_DEST_ATTR_ADDR"], dest["IPVS_DEST_ATTR_PORT"]) == ("198.18.1.11", 8080)
    assert dest["IPVS_DEST_ATTR_FWD_METHOD"] == 3  # IP_VS_CONN_F_DROUTE
    assert dest["IPVS_DEST_ATTR_WEIGHT"] == 3
    assert set(attrs(msg, "IPVS_CMD_ATTR_SERVICE")) == {
        "IPVS_SVC_ATTR_AF", "IPVS_SVC_ATTR_PROTOCOL", "IPVS_SVC_ATTR_ADDR", "IPVS_SVC_ATTR_PORT"}


def test_ipvs_changes_are_diffs_never_flushes() -> None:
    from pyroute2.netlink.generic import ipvs

    before = svc("wlc", 1, 1)
    after = Service(KEY, "wlc", destinations=(
        Destination("198.18.1.11", 80, 0), Destination("198.18.1.13", 80, 1)))
    requests = diff_requests({KEY: before}, [after])
    kinds = [(r.command, r.dest["addr"] if r.dest else None) for r in requests]
    assert kinds == [("del", "198.18.1.12"), ("set", "198.18.1.11"), ("add", "198.18.1.13")]
    cmds = [to_message(r)["cmd"] for r in requests]
    assert cmds == [ipvs.IPVS_CMD_DEL_DEST, ipvs.IPVS_CMD_SET_DEST, ipvs.IPVS_CMD_NEW_DEST]
    assert ipvs.IPVS_CMD_FLUSH not in cmds
    assert diff_requests({KEY: after}, [after]) == []
    removed = diff_requests({KEY: after}, [])
    assert removed == [IpvsRequest("del", removed[0].service)]


def test_ipvs_fwmark_udp_sctp_and_schedulers() -> None:
    for proto, number in (("udp", socket.IPPROTO_UDP), ("sctp", 132)):
        key = ServiceKey("inet", proto, fwmark=9)
        for sched in ("rr", "wrr", "lc", "wlc", "lblc", "sh", "dh", "mh", "sed", "nq"):
            request = diff_requests({}, [Service(key, sched)])[0]
            decoded = to_message(request).get_attr("IPVS_CMD_ATTR_SERVICE")
            fields = dict(decoded["attrs"])
            assert fields["IPVS_SVC_ATTR_FWMARK"] == 9
            assert fields["IPVS_SVC_ATTR_PROTOCOL"] == number
            assert fields["IPVS_SVC_ATTR_SCHED_NAME"] == sched
    tun = diff_requests({}, [Service(KEY, "rr", "TUN", destinations=(
        Destination("198.18.1.11", 80, 1, "TUN"),))])[1]
    assert tun.dest is not None and tun.dest["fwd_method"] == 2


def test_check_reports_what_nftables_cannot_do_at_its_line(tmp_path: object) -> None:
    from pathlib import Path

    from fastvrrp.config import check_file

    path = Path(str(tmp_path)) / "keepalived.conf"
    path.write_text("global_defs {\n    lvs_backend nftables\n}\n"
                    "virtual_server 198.18.0.100 80 {\n    lvs_sched lc\n    lvs_method DR\n"
                    "    protocol TCP\n    real_server 198.18.1.11 80 {\n        TCP_CHECK {\n"
                    "        }\n    }\n}\n")
    report = check_file(str(path), interfaces=None).report()
    assert f"{path}:5:5: warning: lvs_sched lc is not supported on the nftables backend" in report
    assert f"{path}:6:5: error: lvs_method DR is not supported on the nftables backend" in report
    path.write_text(path.read_text().replace("nftables", "ipvs"))
    assert "nftables" not in check_file(str(path), interfaces=None).report()


def test_smtp_alerts_for_servers_and_quorum_in_keepalived_words() -> None:
    quiet = vs(rs("198.18.1.11"))
    assert [n for n in quiet.verdict(0, 0, False, None) if n.kind == "smtp"] == []
    state = vs(rs("198.18.1.11", smtp_alert=True), rs("198.18.1.12"), smtp_alert=False)
    mails = [n for n in state.verdict(0, 0, False, None) if n.kind == "smtp"]
    assert mails == [Notice("smtp", "Realserver [198.18.1.11]:tcp:80 of virtual server "
                                    "[198.18.0.100]:tcp:80 - DOWN",
                            body="=> CHECK failed on service <=")]
    config = m.Config(global_defs=m.GlobalDefs(smtp_alert_checker=True), virtual_servers=(
        m.VirtualServer(m.NOWHERE, ip=VIP, port=80, real_servers=(rs("198.18.1.11"),)),))
    balancer = LoadBalancer.of(config)
    balancer.start()
    subjects = [n.text for n in balancer.verdict(0, False, None) if n.kind == "smtp"]
    assert subjects == ["Realserver [198.18.1.11]:tcp:80 of virtual server "
                        "[198.18.0.100]:tcp:80 - DOWN",
                        "Virtualserver [198.18.0.100]:tcp:80 - DOWN"]


class RecordingDataplane:
    """Keeps what it was told to hold."""

    name = "recording"

    def __init__(self) -> None:
        self.services: list[Service] = []

    def apply(self, services: object) -> None:
        self.services = list(services)  # type: ignore[call-overload]

    def release(self, keep: bool = False) -> None:
        self.services = []


def misc(ip: str, script: str, delay: float = 0.05) -> m.RealServer:
    return m.RealServer(ip, 80, m.NOWHERE, checkers=(m.MiscCheck(
        misc_path=m.Command(script), delay_loop=delay, connect_timeout=2.0),))


def lvs_config(*servers: m.RealServer) -> m.Config:
    return m.Config(virtual_servers=(m.VirtualServer(m.NOWHERE, ip=VIP, port=80, lvs_sched="rr",
                                                     real_servers=servers),))


def test_reload_keeps_unchanged_servers_and_their_checkers() -> None:
    import asyncio
    import logging
    from types import SimpleNamespace

    from fastvrrp.lvs.service import LoadBalancerService

    async def scenario() -> tuple[list[str], list[tuple[str, int]], bool, bool]:
        plane = RecordingDataplane()
        before = lvs_config(misc("198.18.1.1", "/bin/true"), misc("198.18.1.2", "/bin/false"),
                            misc("198.18.1.3", "/bin/true"), misc("198.18.1.4", "/bin/true"))
        service = LoadBalancerService(before, logging.getLogger("test"), plane,
                                      realtime_default=False)
        seen: list[str] = []
        dispatch = service._dispatch
        service._dispatch = lambda notices: (  # type: ignore[method-assign]
            seen.extend(fifo(notices)), dispatch(notices))[1]
        await service.start()
        for _ in range(100):
            await asyncio.sleep(0.02)
            if "RS [198.18.1.2]:tcp:80 [198.18.0.100]:tcp:80 DOWN" in seen:
                break
        kept = service.runners[0]
        seen.clear()
        # .1 unchanged, .2 unchanged (still down), .3 removed, .4's checker changed, .5 new.
        after = lvs_config(misc("198.18.1.1", "/bin/true"), misc("198.18.1.2", "/bin/false"),
                           misc("198.18.1.4", "/bin/true", delay=0.06),
                           misc("198.18.1.5", "/bin/true"))
        await service.reload(SimpleNamespace(config=after))  # type: ignore[arg-type]
        table = [(d.address, d.weight) for d in plane.services[0].destinations]
        same = service.runners[0] is kept and kept.ident == 0
        changed = all(r is not kept for r in service.runners[2:])
        await service.stop()
        return seen, table, same, changed

    seen, table, same, changed = asyncio.run(scenario())
    assert seen == ["RS [198.18.1.3]:tcp:80 [198.18.0.100]:tcp:80 DOWN"]  # only the removed one
    assert table == [("198.18.1.1", 1), ("198.18.1.4", 1), ("198.18.1.5", 1)]
    assert same and changed


def test_slot_index_moves_only_the_servers_slots_and_keeps_shares_even() -> None:
    from fastvrrp.lvs.nftables import SlotIndex

    slots = [f"10.0.0.{i % 8}" for i in range(16)]  # 8 servers, 2 slots each
    index = SlotIndex.of(slots, {f"10.0.0.{i}": 1 for i in range(8)}, weighted=False)
    assert index is not None
    moves = index.leave("10.0.0.3")
    assert moves is not None and sorted(moves) == [3, 11]  # only its two slots move
    assert len(set(moves.values())) == 2  # to two different servers
    for slot, target in moves.items():
        slots[slot] = target
    moves = index.join("10.0.0.3", 1)
    assert moves is not None and len(moves) == 2 and set(moves.values()) == {"10.0.0.3"}
    for slot, target in moves.items():
        slots[slot] = target
    assert sorted(Counter(slots).values()) == [2] * 8


def test_slot_index_follows_weights() -> None:
    from fastvrrp.lvs.nftables import SlotIndex

    slots = ["a"] * 6 + ["b"] * 2 + ["c"] * 2
    index = SlotIndex.of(slots, {"a": 3, "b": 1, "c": 1}, weighted=True)
    assert index is not None
    moves = index.leave("a")
    assert moves is not None
    for slot, target in moves.items():
        slots[slot] = target
    assert Counter(slots) == Counter({"b": 5, "c": 5})
    moves = index.join("a", 3)
    assert moves is not None
    for slot, target in moves.items():
        slots[slot] = target
    assert Counter(slots) == Counter({"a": 6, "b": 2, "c": 2})


def test_a_verdict_changes_the_table_before_anything_is_logged_or_notified() -> None:
    import gc
    import logging

    from fastvrrp.lvs.service import LoadBalancerService

    events: list[str] = []

    class Plane(RecordingDataplane):
        def apply(self, services: object) -> None:
            super().apply(services)
            events.append("table " + " ".join(d.address for d in self.services[0].destinations))

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append(record.getMessage())

    logger = logging.getLogger("test.verdict-order")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(Lines())
    service = LoadBalancerService(lvs_config(rs("198.18.1.1"), rs("198.18.1.2")), logger, Plane(),
                                  realtime_default=False)
    service.state.start()
    service._apply()
    service.labels[0] = "TCP_CHECK [198.18.1.1]:tcp:80"
    events.clear()
    service.on_verdict(0, False, None, "TCP connection failed: Connection refused")
    assert events == [
        "table 198.18.1.2",
        "TCP_CHECK [198.18.1.1]:tcp:80 failed: TCP connection failed: Connection refused",
        "Removing service [198.18.1.1]:tcp:80 from VS [198.18.0.100]:tcp:80"]
    assert gc.isenabled()  # collection is off only while the table changes
