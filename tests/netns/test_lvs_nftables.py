"""The load balancer live on nftables: a client, a director running fastvrrp, real servers.

    client 198.18.0.10 ── LAN ── director eth0 198.18.0.1 (+ VIP 198.18.0.100)
                                 director eth1 198.18.1.1 ── rs1 198.18.1.11, rs2 198.18.1.12,
                                                             sorry 198.18.1.20
The real servers route through the director, so NAT works both ways. Each real server runs a
small HTTP server that answers with its name.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from ops_helpers import in_fresh_namespace

from fastvrrp.lab import Host, Interface, Lab, LabProcess, Topology, netns

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"
SERVERS = {"rs1": "198.18.1.11", "rs2": "198.18.1.12", "sorry": "198.18.1.20"}

HTTP_SERVER = """
import http.server, sys
name = sys.argv[1].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(name)))
        self.end_headers()
        self.wfile.write(name)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("0.0.0.0", 80), Handler).serve_forever()
"""

CLIENT = """
import socket, sys
for _ in range(int(sys.argv[2])):
    try:
        with socket.create_connection((sys.argv[1], 80), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        print(data.split(b"\\r\\n\\r\\n", 1)[1].decode())
    except OSError as exc:
        print("error", type(exc).__name__)
"""


def topology() -> Topology:
    return Topology(hosts=(
        Host("client", (Interface("eth0", ("198.18.0.10/24",)),)),
        Host("dir", (Interface("eth0", ("198.18.0.1/24",)), Interface("eth1", ("198.18.1.1/24",)))),
        *(Host(name, (Interface("eth0", (f"{ip}/24",)),)) for name, ip in SERVERS.items()),
    ))


@dataclass
class NatLab:
    lab: Lab
    servers: dict[str, LabProcess]

    def stop_server(self, name: str) -> None:
        self.servers[name].stop()


@pytest.fixture
def nat(lab_factory, tmp_path: Path) -> NatLab:  # type: ignore[no-untyped-def]
    lab: Lab = lab_factory(topology())
    servers: dict[str, LabProcess] = {}
    netns.write_sysctls(lab.namespace("dir"), {"net.ipv4.ip_forward": "1"})
    lab.add_address("dir", f"{VIP}/32")
    script = tmp_path / "http_server.py"
    script.write_text(HTTP_SERVER)
    for name in SERVERS:
        lab.run(name, ["ip", "route", "add", "default", "via", "198.18.1.1"])
        servers[name] = lab.spawn(name, [sys.executable, str(script), name])
    (tmp_path / "client.py").write_text(CLIENT)
    for name, ip in SERVERS.items():
        answered = lab.wait_for(
            lambda ip=ip, name=name: ask(lab, tmp_path, ip, 1, "dir") == [name], 5, 0.05)
        assert answered, name
    return NatLab(lab, servers)


def ask(lab: Lab, tmp_path: Path, address: str, count: int, host: str = "client") -> list[str]:
    proc = lab.run(host, [sys.executable, str(tmp_path / "client.py"), address, str(count)],
                   check=False)
    return proc.stdout.split()


def config(tmp_path: Path, sched: str = "rr", weights: tuple[int, int] = (1, 1),
           extra_rs: str = "", extra_vs: str = "") -> str:
    servers = ""
    for (name, ip), weight in zip(list(SERVERS.items())[:2], weights, strict=True):
        servers += f"""
    real_server {ip} 80 {{
        weight {weight}
        notify_down "/bin/sh -c 'echo {name} >> {tmp_path}/down'"
        {extra_rs}
        TCP_CHECK {{
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
            delay_loop 1
        }}
    }}"""
    return f"""
global_defs {{
    lvs_backend nftables
    lvs_notify_fifo {tmp_path}/lvs.fifo
}}
virtual_server {VIP} 80 {{
    lvs_sched {sched}
    lvs_method NAT
    protocol TCP
    delay_loop 1
    {extra_vs}
{servers}
}}
"""


def start(lab: Lab, text: str) -> None:
    daemon = lab.start_fastvrrp("dir", text)
    ok = lab.wait_for(lambda: table(lab) is not None, 10, 0.05)
    assert ok, daemon.log_text()


def table(lab: Lab) -> dict[str, object] | None:
    proc = lab.run("dir", ["nft", "-j", "list", "table", "ip", "fastvrrp"], check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def destinations(lab: Lab, chain: str = "svc_tcp_198_18_0_100_80") -> str:
    """The service's destinations and weights, as `nft list set` shows them."""
    proc = lab.run("dir", ["nft", "list", "set", "ip", "fastvrrp", f"{chain}_dests"],
                   check=False)
    return proc.stdout


def test_rr_failover_notify_down_fifo_and_the_sorry_server(nat: NatLab, tmp_path: Path) -> None:
    start(nat.lab, config(tmp_path, extra_vs="sorry_server 198.18.1.20 80"))
    fifo = os.open(tmp_path / "lvs.fifo", os.O_RDONLY | os.O_NONBLOCK)
    answers = ask(nat.lab, tmp_path, VIP, 6)
    assert answers in (["rs1", "rs2"] * 3, ["rs2", "rs1"] * 3), answers

    nat.stop_server("rs1")
    stopped = time.monotonic()
    assert nat.lab.wait_for(lambda: (tmp_path / "down").exists(), 5, 0.05)
    left_after = time.monotonic() - stopped
    assert left_after < 1 + 1 + 0.5 + 1  # delay_loop + retry x (timeout + delay_before_retry)
    assert (tmp_path / "down").read_text().split() == ["rs1"]
    assert ask(nat.lab, tmp_path, VIP, 6) == ["rs2"] * 6

    nat.stop_server("rs2")
    assert nat.lab.wait_for(lambda: "rs2" in (tmp_path / "down").read_text(), 5, 0.05)
    assert ask(nat.lab, tmp_path, VIP, 3) == ["sorry"] * 3
    try:
        lines = os.read(fifo, 65536).decode().splitlines()
    finally:
        os.close(fifo)
    assert lines == ["RS [198.18.1.11]:tcp:80 [198.18.0.100]:tcp:80 DOWN",
                     "RS [198.18.1.12]:tcp:80 [198.18.0.100]:tcp:80 DOWN",
                     "VS [198.18.0.100]:tcp:80 DOWN"]


def test_wrr_follows_the_weights(nat: NatLab, tmp_path: Path) -> None:
    start(nat.lab, config(tmp_path, sched="wrr", weights=(3, 1)))
    answers = Counter(ask(nat.lab, tmp_path, VIP, 16))
    assert answers == Counter({"rs1": 12, "rs2": 4})


def test_inhibit_on_failure_keeps_the_server_at_weight_zero(nat: NatLab, tmp_path: Path) -> None:
    start(nat.lab, config(tmp_path, extra_rs="inhibit_on_failure"))
    nat.stop_server("rs1")
    assert nat.lab.wait_for(lambda: (tmp_path / "down").exists(), 5, 0.05)
    assert nat.lab.wait_for(
        lambda: '198.18.1.11 . 80 comment "weight 0"' in destinations(nat.lab), 2, 0.05), \
        destinations(nat.lab)
    assert ask(nat.lab, tmp_path, VIP, 4) == ["rs2"] * 4


def test_the_table_is_removed_on_stop_and_nothing_else_is_touched(nat: NatLab,
                                                                 tmp_path: Path) -> None:
    nat.lab.run("dir", ["nft", "add", "table", "inet", "operator"])
    nat.lab.run("dir", ["nft", "add", "chain", "inet", "operator", "input"])
    daemon = nat.lab.start_fastvrrp("dir", config(tmp_path))
    assert nat.lab.wait_for(lambda: table(nat.lab) is not None, 10, 0.05), daemon.log_text()
    daemon.stop()
    assert table(nat.lab) is None
    listing = nat.lab.run("dir", ["nft", "list", "ruleset"]).stdout
    assert "table inet operator" in listing and "chain input" in listing


def test_dont_release_ipvs_leaves_the_table_on_stop(nat: NatLab, tmp_path: Path) -> None:
    # keepalived's -I: a restart of the daemon must not interrupt the forwarding.
    daemon = nat.lab.start_fastvrrp("dir", config(tmp_path), extra_args=["-I"])
    assert nat.lab.wait_for(lambda: table(nat.lab) is not None, 10, 0.05), daemon.log_text()
    daemon.stop()
    assert table(nat.lab) is not None
    assert sorted(set(ask(nat.lab, tmp_path, VIP, 4))) == ["rs1", "rs2"]


def test_persistence_keeps_a_client_on_one_server(nat: NatLab, tmp_path: Path) -> None:
    start(nat.lab, config(tmp_path, extra_vs="persistence_timeout 60"))
    answers = ask(nat.lab, tmp_path, VIP, 6)
    assert len(set(answers)) == 1 and answers[0] in ("rs1", "rs2"), answers


def test_the_seed_config_loads_and_runs_on_nftables(lab: Lab) -> None:
    seed = Path(__file__).parent.parent / "configs" / "seed" / "master.conf"
    daemon = lab.start_fastvrrp("r1", seed.read_text())

    def listed() -> str:
        proc = lab.run("r1", ["nft", "list", "set", "ip", "fastvrrp",
                              "svc_tcp_198_18_0_100_80_dests"], check=False)
        return proc.stdout

    assert lab.wait_for(listed, 10, 0.05), daemon.log_text()
    assert '198.18.0.11 . 80 comment "weight 1"' in listed()
    assert '198.18.0.12 . 80 comment "weight 1"' in listed()


def test_ipv6_and_ipv4_services_load_diff_and_are_released(netns_ready: str | None) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    from fastvrrp.lvs.nftables import NftablesDataplane
    from fastvrrp.lvs.table import Destination, Service, ServiceKey

    six = ServiceKey("inet6", "tcp", "2001:2::100", 80)
    four = ServiceKey("inet", "tcp", VIP, 80)

    def scenario() -> tuple[str, str]:
        plane = NftablesDataplane()
        plane.apply([
            Service(six, "rr", persistence_timeout=30, destinations=(
                Destination("2001:2:1::11", 80, 1), Destination("2001:2:1::12", 80, 1))),
            Service(ServiceKey("inet6", "udp", fwmark=5), "sh",
                    destinations=(Destination("2001:2:1::11", None, 1),)),
            Service(four, "wrr", destinations=(Destination("198.18.1.11", 80, 2),
                                               Destination("198.18.1.12", 8080, 1)))])
        plane.apply([Service(six, "rr", persistence_timeout=30, destinations=(
            Destination("2001:2:1::11", 80, 0), Destination("2001:2:1::12", 80, 1))),
            Service(four, "wrr", destinations=(Destination("198.18.1.11", 80, 2),))])
        listing = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                                 check=True).stdout
        plane.release()
        return listing, subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                                       text=True, check=True).stdout

    listing, after = in_fresh_namespace("fvv6", scenario)
    assert "ip6 daddr 2001:2::100 tcp dport 80 jump svc_tcp_2001_2__100_80" in listing
    assert "elements = { 0 : 2001:2:1::12, 1 : 2001:2:1::12 }" in listing
    assert '2001:2:1::11 . 80 comment "weight 0"' in listing
    assert "svc_fwm_5_udp" not in listing
    assert "ip daddr 198.18.0.100 tcp dport 80 jump" in listing
    assert after == ""


def test_reload_adding_a_server_keeps_the_others_state_and_entries(nat: NatLab,
                                                                   tmp_path: Path) -> None:
    # rs1 is down before the reload and must stay down without a flap; rs2 is healthy and must
    # never leave the table; the reload adds "sorry" (198.18.1.20) as a third real server.
    text = config(tmp_path)
    daemon = nat.lab.start_fastvrrp("dir", text)
    assert nat.lab.wait_for(lambda: table(nat.lab) is not None, 10, 0.05), daemon.log_text()
    fifo = os.open(tmp_path / "lvs.fifo", os.O_RDONLY | os.O_NONBLOCK)
    try:
        nat.stop_server("rs1")
        assert nat.lab.wait_for(lambda: (tmp_path / "down").exists(), 5, 0.05)
        assert nat.lab.wait_for(lambda: "198.18.1.11" not in destinations(nat.lab), 2, 0.05)
        before = destinations(nat.lab)
        assert '198.18.1.12 . 80 comment "weight 1"' in before, before
        os.read(fifo, 65536)

        # A steady request loop through the VIP (bounded: 300 requests) across the SIGHUP.
        (tmp_path / "steady.py").write_text(
            "import time, runpy, sys\n"
            "for _ in range(300):\n"
            f"    sys.argv = ['client', '{VIP}', '1']\n"
            f"    runpy.run_path('{tmp_path / 'client.py'}')\n"
            "    time.sleep(0.01)\n")
        loop = nat.lab.spawn("client", [sys.executable, str(tmp_path / "steady.py")])
        time.sleep(0.3)
        third = """
    real_server 198.18.1.20 80 {
        TCP_CHECK {
            connect_timeout 1
            delay_loop 1
        }
    }
}
"""
        path = Path(daemon.argv[daemon.argv.index("-f") + 1])
        path.write_text(text.rstrip().removesuffix("}") + third)
        daemon.send_signal(signal.SIGHUP)
        assert nat.lab.wait_for(lambda: "LVS reloaded" in daemon.log_text(), 5, 0.05), \
            daemon.log_text()
        assert nat.lab.wait_for(lambda: "198.18.1.20" in destinations(nat.lab), 2, 0.05)
        after = destinations(nat.lab)
        assert nat.lab.wait_for(lambda: not loop.running, 30, 0.1)
        time.sleep(2.5)  # two more delay_loops: a flap of rs1 or rs2 would show by now
        try:
            lines = os.read(fifo, 65536).decode().splitlines()
        except BlockingIOError:  # nothing written since the reload
            lines = []
    finally:
        os.close(fifo)
    answers = loop.log_text().split()
    assert '198.18.1.12 . 80 comment "weight 1"' in after, after
    assert '198.18.1.20 . 80 comment "weight 1"' in after, after
    assert "198.18.1.11" not in after, after
    assert (tmp_path / "down").read_text().split() == ["rs1"]
    assert lines == [], lines  # no RS/VS line: nobody went up or down
    assert "2 checkers kept, 1 started, 0 stopped" in daemon.log_text(), daemon.log_text()
    assert len(answers) == 300 and "error" not in answers, answers
    assert set(answers) == {"rs2", "sorry"}, answers  # rs1 never, rs2 throughout


def test_a_verdict_changes_only_its_servers_elements(netns_ready: str | None) -> None:
    # NftablesDataplane.change: one small transaction touching the server's dests element and
    # the slots it loses or gains; a full apply afterwards finds nothing left to do.
    if netns_ready is not None:
        pytest.skip(netns_ready)
    from fastvrrp.lvs.nftables import NftablesDataplane
    from fastvrrp.lvs.table import Destination, Service, ServiceKey

    key = ServiceKey("inet", "tcp", VIP, 80)
    servers = [Destination(f"198.18.1.{10 + i}", 80, 1) for i in range(4)]

    def slots() -> list[str]:
        out = subprocess.run(["nft", "-j", "list", "map", "ip", "fastvrrp",
                              "svc_tcp_198_18_0_100_80_slots"], capture_output=True, text=True,
                             check=True).stdout
        elems = next(o["map"] for o in json.loads(out)["nftables"] if "map" in o)["elem"]
        return [address for _, address in sorted(elems)]

    def scenario() -> list[object]:
        plane = NftablesDataplane()
        seen: list[object] = []
        for sched in ("rr", "wrr"):
            plane.apply([Service(key, sched, destinations=tuple(servers))])
            full = slots()
            down = Destination("198.18.1.11", 80, 0)
            seen.append(plane.change(key, servers[1], down))
            seen.append((len(plane.last_commands), slots(), destinations_of()))
            seen.append(plane.change(key, down, servers[1]))
            after = slots()
            seen.append(sorted(after) == sorted(full))
            plane.apply([Service(key, sched, destinations=tuple(servers))])
            seen.append(plane.last_commands)  # unchanged: nothing was sent
            # apply() indexed the map again, so the next verdict needs no rebuild either.
            seen.append(sorted(plane.indexes))
            seen.append(plane.change(key, servers[1], down))
            plane.release()
            plane = NftablesDataplane()
        return seen

    def destinations_of() -> str:
        return subprocess.run(["nft", "list", "set", "ip", "fastvrrp",
                               "svc_tcp_198_18_0_100_80_dests"], capture_output=True, text=True,
                              check=True).stdout

    seen = in_fresh_namespace("fvch", scenario)
    for offset in (0, 7):
        assert seen[offset] is True
        count, after_down, dests = seen[offset + 1]  # type: ignore[misc]
        assert count == 4  # dests delete + add (weight 0), slot delete + add
        assert "198.18.1.11" not in after_down and len(after_down) == 4, after_down
        assert '198.18.1.11 . 80 comment "weight 0"' in dests, dests
        assert seen[offset + 2] is True and seen[offset + 3] is True
        assert seen[offset + 4] == [], seen[offset + 4]
        assert seen[offset + 5] == ["svc_tcp_198_18_0_100_80_slots"], seen[offset + 5]
        assert seen[offset + 6] is True


@pytest.mark.parametrize("family", ["inet", "inet6"])
def test_a_verdict_over_netlink_writes_what_libnftables_would(netns_ready: str | None,
                                                              family: str) -> None:
    # A verdict's elements go straight to nf_tables over netlink; the table they leave must be
    # the one libnftables leaves for the same changes, comments and byte orders included.
    if netns_ready is not None:
        pytest.skip(netns_ready)
    from fastvrrp.lvs.nftables import NftablesDataplane
    from fastvrrp.lvs.table import Destination, Service, ServiceKey

    v6 = family == "inet6"
    key = ServiceKey(family, "tcp", "2001:2::100" if v6 else VIP, 80)
    servers = [Destination(f"2001:2::{10 + i}" if v6 else f"198.18.1.{10 + i}", 8080, 1 + i % 2)
               for i in range(5)]

    def scenario(netlink: bool) -> list[object]:
        plane = NftablesDataplane()
        plane.apply([Service(key, "wrr", destinations=tuple(servers))])
        if not netlink:
            assert plane.writer is not None
            plane.writer.close()
            plane.writer = None
        seen: list[object] = []
        down = Destination(servers[1].address, 8080, 0)
        for old, new in ((servers[1], down), (servers[3], None), (down, servers[1]),
                         (None, servers[3])):
            seen.append(plane.change(key, old, new))
            seen.append(subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                                       text=True, check=True).stdout)
        plane.release()
        return seen

    results = []
    for netlink in (True, False):
        results.append(in_fresh_namespace("fvnl", lambda n=netlink: scenario(n)))  # type: ignore[misc]
    assert results[0][::2] == [True] * 4
    assert results[0] == results[1]
    assert 'comment "weight 0"' in str(results[0][1])


def test_a_refused_netlink_batch_is_an_error_and_changes_nothing(netns_ready: str | None) -> None:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    from fastvrrp.lvs.nfnetlink import Element, ElementChange, ElementWriter, NetlinkError
    from fastvrrp.lvs.nftables import NftablesDataplane
    from fastvrrp.lvs.table import Destination, Service, ServiceKey

    key = ServiceKey("inet", "tcp", VIP, 80)
    servers = tuple(Destination(f"198.18.1.{10 + i}", 80, 1) for i in range(3))
    dests = "svc_tcp_198_18_0_100_80_dests"

    def scenario() -> tuple[str, str, str, bool]:
        plane = NftablesDataplane()
        plane.apply([Service(key, "rr", destinations=servers)])
        before = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                                check=True).stdout
        writer = ElementWriter()
        gone = Element(bytes([198, 18, 1, 99, 0, 80, 0, 0]))
        fresh = Element(bytes([198, 18, 1, 98, 0, 80, 0, 0]))
        errors = []
        batches = ([ElementChange(True, dests, (fresh,)), ElementChange(False, dests, (gone,))],
                   [ElementChange(True, "no_such_set", (fresh,))])
        for changes in batches:
            try:
                writer.run("ip", "fastvrrp", changes)
            except NetlinkError as exc:
                errors.append(str(exc))
        after = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                               check=True).stdout
        # The writer is still in step with the kernel: the next verdict goes through.
        ok = plane.change(key, servers[0], None)
        writer.close()
        plane.release()
        return errors[0], errors[1], "same" if after == before else after, ok

    missing_element, missing_set, same, ok = in_fresh_namespace("fvnr", scenario)
    assert "ENOENT" in missing_element and "ENOENT" in missing_set
    assert same == "same"  # the batch's first (valid) add was rolled back with it
    assert ok is True


HOLD = """
import socket, sys, time
kind, address, port, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if kind == "tcp":
    s = socket.create_connection((address, port), timeout=2)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"ping", (address, port))
print("sent", flush=True)
time.sleep(seconds)
"""


def conntrack(lab: Lab, host: str = "dir") -> list[list[str]]:
    """The director's connections as /proc/net/nf_conntrack lists them, split in words."""
    text = lab.run(host, ["cat", "/proc/net/nf_conntrack"]).stdout
    return [line.split() for line in text.splitlines()]


def timeout_of(entries: list[list[str]], proto: str, dst: str, dport: int) -> int | None:
    """The seconds left of the `proto` connection to dst:dport (open, for TCP)."""
    for words in entries:
        if words[2] != proto or (proto == "tcp" and words[5] != "ESTABLISHED"):
            continue
        # The original direction's key=value words come first: keep their first values.
        original = dict(w.split("=", 1) for w in reversed(words) if "=" in w)
        if (original.get("dst"), original.get("dport")) == (dst, str(dport)):
            return int(words[4])
    return None


def test_lvs_timeouts_set_the_nat_connections_timeouts_and_no_others(nat: NatLab,
                                                                     tmp_path: Path) -> None:
    # keepalived's lvs_timeouts set IPVS's timeouts; here they become conntrack timeout
    # policies that fastvrrp's service chains attach to the connections they NAT. lvs_flush
    # replaces fastvrrp's table only, and lvs_flush_on_stop deletes that table only.
    lab = nat.lab
    lab.run("dir", ["nft", "add", "table", "inet", "operator"])
    lab.run("dir", ["nft", "add", "chain", "inet", "operator", "input"])
    lab.run("dir", ["nft", "add", "table", "ip", "fastvrrp"])  # left by an earlier run
    lab.run("dir", ["nft", "add", "chain", "ip", "fastvrrp", "stale"])
    text = config(tmp_path).replace(
        "lvs_backend nftables",
        "lvs_backend nftables\n    lvs_flush\n    lvs_flush_on_stop\n"
        "    lvs_timeouts tcp 900 tcpfin 30 udp 100")
    text += f"""
virtual_server {VIP} 53 {{
    lvs_sched rr
    lvs_method NAT
    protocol UDP
    real_server 198.18.1.11 53 {{
    }}
}}
"""
    daemon = lab.start_fastvrrp("dir", text)
    listing = ""

    def listed() -> bool:
        nonlocal listing
        listing = lab.run("dir", ["nft", "list", "table", "ip", "fastvrrp"], check=False).stdout
        # The maps and the policies go in before the chains that use them (separate
        # transactions): wait for the chains.
        return "ct timeout set" in listing and "svc_udp_198_18_0_100_53" in listing

    assert lab.wait_for(listed, 10, 0.05), listing + daemon.log_text()
    assert "not supported" not in daemon.log_text(), daemon.log_text()
    assert "ct timeout lvs_timeouts_tcp_900_30 {" in listing, listing
    assert "policy = { established : 900, fin_wait : 30, close_wait : 30 }" in listing, listing
    assert "ct timeout lvs_timeouts_udp_100 {" in listing, listing
    assert "meta l4proto tcp ct timeout set \"lvs_timeouts_tcp_900_30\"" in listing, listing
    assert "chain stale" not in listing, listing
    assert "table inet operator" in lab.run("dir", ["nft", "list", "tables"]).stdout

    # Once the checker has let the servers in: a connection through the VIP, one straight to a
    # real server from the director (no NAT), and a datagram through the VIP.
    assert lab.wait_for(lambda: sorted(ask(lab, tmp_path, VIP, 2)) == ["rs1", "rs2"], 10, 0.1)
    hold = tmp_path / "hold.py"
    hold.write_text(HOLD)
    held = [lab.spawn("client", [sys.executable, str(hold), "tcp", VIP, "80", "10"]),
            lab.spawn("dir", [sys.executable, str(hold), "tcp", "198.18.1.12", "80", "10"]),
            lab.spawn("client", [sys.executable, str(hold), "udp", VIP, "53", "10"])]
    try:
        assert lab.wait_for(lambda: all("sent" in p.log_text() for p in held), 5, 0.05)
        seen: dict[str, int | None] = {}

        def timeouts() -> bool:
            entries = conntrack(lab)
            seen.update(vip_tcp=timeout_of(entries, "tcp", VIP, 80),
                        direct_tcp=timeout_of(entries, "tcp", "198.18.1.12", 80),
                        vip_udp=timeout_of(entries, "udp", VIP, 53))
            return all(v is not None for v in seen.values())

        assert lab.wait_for(timeouts, 5, 0.1), (seen, conntrack(lab))
    finally:
        for proc in held:
            proc.stop()
    assert 800 < seen["vip_tcp"] <= 900, seen  # type: ignore[operator]
    assert seen["direct_tcp"] > 86400, seen  # type: ignore[operator]  # the kernel's 5 days
    assert 30 < seen["vip_udp"] <= 100, seen  # type: ignore[operator]  # unreplied: not 30

    daemon.stop()
    assert table(lab) is None
    assert "table inet operator" in lab.run("dir", ["nft", "list", "tables"]).stdout


def test_changed_lvs_timeouts_switch_policies_and_leave_no_old_one(netns_ready: str | None
                                                                   ) -> None:
    # A reload with other lvs_timeouts: the chains switch to the new policy in one transaction
    # and the old policy goes; without lvs_timeouts no policy is left. IPv6 has its own.
    if netns_ready is not None:
        pytest.skip(netns_ready)
    from fastvrrp.lvs.nftables import NftablesDataplane
    from fastvrrp.lvs.table import Destination, LvsOptions, Service, ServiceKey

    services = [Service(ServiceKey("inet", "tcp", VIP, 80), "rr",
                        destinations=(Destination("198.18.1.11", 80, 1),)),
                Service(ServiceKey("inet6", "tcp", "2001:2::100", 80), "rr",
                        destinations=(Destination("2001:2:1::11", 80, 1),))]

    def scenario() -> list[str]:
        plane = NftablesDataplane(options=LvsOptions(timeouts=(900, 0, 0)))
        listings = []
        for timeouts in ((900, 0, 0), (600, 20, 0), None):
            plane.options = LvsOptions(timeouts=timeouts)
            plane.apply(services)
            listings.append(subprocess.run(["nft", "list", "ruleset"], capture_output=True,
                                           text=True, check=True).stdout)
        plane.release()
        return listings

    first, second, third = in_fresh_namespace("fvto", scenario)
    assert first.count("ct timeout lvs_timeouts_tcp_900_0 {") == 2, first  # ip and ip6
    assert "l3proto ip6" in first and "policy = { established : 900 }" in first, first
    assert "lvs_timeouts_tcp_900_0" not in second, second
    assert second.count('ct timeout set "lvs_timeouts_tcp_600_20"') == 2, second
    assert "policy = { established : 600, fin_wait : 20, close_wait : 20 }" in second, second
    assert "ct timeout" not in third, third


def test_a_kernel_refusing_timeout_policies_still_balances(netns_ready: str | None,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    # A kernel without the nf_conntrack timeout extension refuses `ct timeout`: the error is
    # logged once and the table is written without the policies. (Only the policy text is
    # refused here; everything else reaches this kernel.)
    if netns_ready is not None:
        pytest.skip(netns_ready)
    from fastvrrp.lvs.libnft import Nft, NftError
    from fastvrrp.lvs.nftables import NftablesDataplane
    from fastvrrp.lvs.table import Destination, LvsOptions, Service, ServiceKey

    class NoTimeouts(Nft):
        def run_text(self, text: str) -> dict[str, object]:
            if "ct timeout" in text:
                raise NftError("Error: Could not process rule: No such file or directory")
            return super().run_text(text)

    web = Service(ServiceKey("inet", "tcp", VIP, 80), "rr",
                  destinations=(Destination("198.18.1.11", 80, 1),))

    def scenario() -> str:
        plane = NftablesDataplane(nft=NoTimeouts(), options=LvsOptions(timeouts=(900, 0, 0)))
        plane.apply([web])
        plane.apply([web])  # nothing left to do, nothing tried again
        listing = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                                 check=True).stdout
        plane.release()
        return listing

    with caplog.at_level(logging.ERROR):
        listing = in_fresh_namespace("fvnt", scenario)
    assert "ct timeout" not in listing and "ip daddr 198.18.0.100 tcp dport 80 jump" in listing
    assert [r.getMessage() for r in caplog.records] == [
        "lvs_timeouts: cannot add conntrack timeout policies (Error: Could not process rule: "
        "No such file or directory) - connections keep the kernel's timeouts"]
