"""`fastvrrp demo`: the seed's failover story in namespaces, shown live, measured, then torn down.

A master (priority 100) and a backup (priority 90) run fastvrrp for VRID 51 with one VIP and a
small web server each that names its node. A client fetches the VIP's page all along. The demo
cuts the master's link, shows the backup taking over (timed by a 1 ms UDP probe and by adverts
captured on the switch), brings the master back, shows the failback, and prints a summary.
"""

from __future__ import annotations

import contextlib
import math
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from fastvrrp.bench.configs import PairSettings, master_down_interval, router_config
from fastvrrp.bench.measure import Takeover, first_advert_from, first_garp, takeover
from fastvrrp.lab.capture import Capture, CapturedPacket
from fastvrrp.lab.lab import Lab, LabError, ProbeRun
from fastvrrp.lab.probe import ProbeResult
from fastvrrp.lab.process import LabProcess
from fastvrrp.lab.topology import Host, Interface, Topology

VIP = "198.18.0.100"
VRID = 51
NODES = {"master": ("198.18.0.1", 100), "backup": ("198.18.0.2", 90)}
CLIENT_IP = "198.18.0.10"
HTTP_PORT = 80
FETCH_EVERY = 0.05
MAX_PHASE_SECONDS = 30.0


class DemoError(RuntimeError):
    """The demo could not tell its story (a daemon died, the VIP did not move); says why."""


def demo_topology() -> Topology:
    """master .1, backup .2 and client .10 on 198.18.0.0/24."""
    def host(name: str, ip: str) -> Host:
        return Host(name, (Interface("eth0", (f"{ip}/24",)),))

    return Topology((*(host(n, ip) for n, (ip, _) in NODES.items()), host("client", CLIENT_IP)))


def demo_settings(advert: float) -> PairSettings:
    """The seed's pair: v2 with PASS auth at whole seconds; v3 (no auth in v3) below a second."""
    if advert >= 1 and float(advert).is_integer():
        return PairSettings(advert=advert, version=2, first_vrid=VRID, auth_pass="1111")
    return PairSettings(advert=advert, version=3, first_vrid=VRID)


@dataclass
class DemoState:
    """What the live view shows; written by the demo and the fetcher thread."""

    holder: str | None = None
    served_by: str | None = None
    fetches: int = 0
    failed_fetches: int = 0
    links: dict[str, str] = field(default_factory=lambda: {n: "up" for n in NODES})
    events: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, text: str) -> None:
        """Add a line to the event log, stamped with seconds since the start."""
        with self.lock:
            self.events.append(f"[{time.monotonic() - self.started:6.2f} s] {text}")


def fetch_page(lab: Lab, timeout: float = 0.3) -> str | None:
    """GET / from the VIP, from the client; the body names the serving node. None on failure."""
    try:
        with lab.socket("client", socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect((VIP, HTTP_PORT))
            sock.sendall(f"GET / HTTP/1.0\r\nHost: {VIP}\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except (OSError, LabError):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200") and not head.startswith(b"HTTP/1.1 200"):
        return None
    text = body.decode(errors="replace")
    return next((n for n in NODES if f"served by {n}" in text), None)


def _fetch_loop(lab: Lab, state: DemoState, stop: threading.Event) -> None:
    while not stop.is_set():
        served = fetch_page(lab)
        with state.lock:
            state.fetches += 1
            if served is None:
                state.failed_fetches += 1
            state.served_by = served
        stop.wait(FETCH_EVERY)


def render(state: DemoState, settings: PairSettings) -> Group:
    """The live view: the nodes, what the client sees, and the last events."""
    nodes = Table(title=f"VRID {VRID}, VIP {VIP}, advert_int {settings.advert:g} s, "
                  f"VRRPv{settings.version}", expand=False)
    for col in ("node", "priority", "link", "holds VIP", "serves the client"):
        nodes.add_column(col)
    with state.lock:
        for name, (ip, prio) in NODES.items():
            nodes.add_row(
                f"{name} ({ip})", str(prio), state.links[name],
                Text("yes", style="bold green") if state.holder == name else Text("no"),
                Text("◀ serving", style="bold green") if state.served_by == name else Text(""),
            )
        seen = state.served_by or "nothing (no answer)"
        client = Text(f"client {CLIENT_IP} fetches http://{VIP}/ every {FETCH_EVERY * 1000:g} ms: "
                      f"{seen} · {state.fetches} fetches, {state.failed_fetches} failed")
        events = Text("\n".join(state.events[-8:]))
    return Group(nodes, client, events)


@dataclass(frozen=True)
class Move:
    """One measured move of the VIP between the nodes."""

    what: str
    old: str
    new: str
    measured: Takeover


def _write_site(workdir: Path, name: str) -> Path:
    site = workdir / f"site-{name}"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text(
        f"<html><body><h1>served by {name}</h1></body></html>\n")
    return site


class Demo:
    """The demo's steps over one lab; `run()` returns the measured moves."""

    def __init__(self, lab: Lab, settings: PairSettings, state: DemoState) -> None:
        self.lab = lab
        self.settings = settings
        self.state = state
        self.daemons: dict[str, LabProcess] = {}

    def _alive(self) -> None:
        for name, proc in self.daemons.items():
            if not proc.running:
                tail = "\n".join(proc.log_text().splitlines()[-15:])
                raise DemoError(f"fastvrrp on {name} exited with status {proc.returncode}:\n{tail}")

    def _wait(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        def done() -> bool:
            self._alive()
            held = self.lab.holders(VIP)
            self.state.holder = held[0] if len(held) == 1 else None
            return predicate()

        if not self.lab.wait_for(done, timeout, 0.02):
            raise DemoError(f"{what} did not happen within {timeout:g} s")

    def start(self) -> None:
        """Start web servers, responders and both daemons; wait for the master to hold the VIP."""
        for name, (_, prio) in NODES.items():
            site = _write_site(self.lab.workdir, name)
            self.lab.spawn(name, [sys.executable, "-m", "http.server", str(HTTP_PORT),
                                  "--bind", "0.0.0.0", "--directory", str(site)])
            self.lab.start_responder(name)
            self.daemons[name] = self.lab.start_fastvrrp(name, router_config(
                self.settings, priority=prio, master=name == "master", router_id=name))
        self.state.event("started fastvrrp on master (priority 100) and backup (priority 90)")
        self._wait("the master taking the VIP", lambda: self.state.holder == "master",
                   MAX_PHASE_SECONDS)
        self.state.event("master holds the VIP")
        self._wait("the client being served by the master",
                   lambda: self.state.served_by == "master", MAX_PHASE_SECONDS)
        self.state.event("the client's page says: served by master")

    def move(
        self, what: str, old: str, new: str, act: Callable[[], None], *, from_floor: bool
    ) -> Move:
        """Do `act`, wait for `new` to serve the client, and measure the move.

        A takeover is measured from the protocol floor; a failback (preemption) from `act`.
        """
        cap: Capture = self.lab.capture(duration=MAX_PHASE_SECONDS * 2)
        time.sleep(max(0.2, 1.5 * self.settings.advert))  # the old master's recent adverts
        probe: ProbeRun = self.lab.start_probe(
            "client", VIP, interval=0.001, duration=MAX_PHASE_SECONDS * 2)
        time.sleep(0.05)
        at = time.monotonic()
        act()
        self._wait(f"{new} taking the VIP", lambda: self.state.holder == new, MAX_PHASE_SECONDS)
        self._wait(f"the client being served by {new}", lambda: self.state.served_by == new,
                   MAX_PHASE_SECONDS)
        records = probe.stop()
        packets = cap.stop()
        old_ip, _ = NODES[old]
        new_ip, new_prio = NODES[new]
        new_mac = self.lab.mac(new)
        if from_floor:
            measured = takeover(
                packets, records, old=old, new=new, old_ip=old_ip, new_ip=new_ip,
                new_mac=new_mac, vrid=VRID, vip=VIP, failed_at=at, backup_priority=new_prio,
                interval=self.settings.advert, version=self.settings.version,
            )
        else:
            measured = since(packets, records, new=new, new_ip=new_ip, new_mac=new_mac, at=at)
        self.state.event(f"{what}: {describe(measured)}")
        return Move(what, old, new, measured)

    def run(self) -> list[Move]:
        """The story: start, fail the master, bring it back."""
        self.start()
        time.sleep(1.0)
        self.state.event("cutting the master's link (ip link set eth0 down)")

        def cut() -> None:
            self.lab.link_down("master")
            self.state.links["master"] = "DOWN"

        takeover_move = self.move("takeover", "master", "backup", cut, from_floor=True)
        time.sleep(1.0)
        self.state.event("bringing the master's link back up; it preempts (priority 100 > 90)")

        def restore() -> None:
            self.lab.link_up("master")
            self.state.links["master"] = "up"

        failback = self.move("failback", "backup", "master", restore, from_floor=False)
        time.sleep(0.5)
        return [takeover_move, failback]


def since(
    packets: list[CapturedPacket], records: ProbeResult, *, new: str, new_ip: str,
    new_mac: str, at: float,
) -> Takeover:
    """A move measured from `at` (for a failback, which has no floor): ms after `at`."""
    advert = first_advert_from(packets, new_ip, VRID, at)
    garp = first_garp(packets, VIP, new_mac, at)
    reply = records.first_reply_from(new, at)
    old = next(n for n in NODES if n != new)
    outage = records.outage(old, new, at)

    def ms(t: float | None) -> float | None:
        return None if t is None else (t - at) * 1000

    return Takeover(
        "act", None if outage is None else outage * 1000,
        ms(reply.replied if reply is not None else None), ms(advert), ms(garp),
        records.lost_between(at, reply.sent if reply is not None else math.inf),
    )


def describe(m: Takeover) -> str:
    """One line: the client's outage and when things happened after the floor (or the act)."""
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f} ms" if abs(v) >= 10 else f"{v:.2f} ms"

    after = "over the protocol floor" if m.floor_basis != "act" else "after the link came up"
    return (f"client outage {ms(m.client_outage)}; {after}: client served "
            f"+{ms(m.client_overhead)}, first advert +{ms(m.first_advert)}, "
            f"first GARP +{ms(m.first_garp)}")


def summary_table(moves: list[Move], settings: PairSettings) -> Table:
    """The closing table of the demo."""
    floor = master_down_interval(NODES["backup"][1], settings.advert, settings.version)
    table = Table(title=f"fastvrrp demo: the backup's floor is {floor * 1000:.0f} ms after "
                  "the master's last advert")
    for col in ("move", "client outage", "measured from", "client served", "first advert",
                "first GARP", "probes lost"):
        table.add_column(col)

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} ms"

    for m in moves:
        t = m.measured
        table.add_row(f"{m.what}: {m.new}", ms(t.client_outage),
                      "the floor" if t.floor_basis != "act" else "link up",
                      ms(t.client_overhead), ms(t.first_advert), ms(t.first_garp),
                      str(t.lost))
    return table


@contextlib.contextmanager
def _fetching(lab: Lab, state: DemoState) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=_fetch_loop, args=(lab, state, stop), name="demo-fetch",
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(2.0)


def run_demo(*, advert: float = 1.0, keep: bool = False, console: Console | None = None) -> int:
    """Run the demo; return 0 when the VIP moved both ways. Raises DemoError otherwise."""
    console = console if console is not None else Console()
    settings = demo_settings(advert)
    if not 0.01 <= advert <= 40.95:
        raise DemoError("--advert must be between 0.01 and 40.95 s")
    state = DemoState()
    try:
        with Lab(demo_topology()) as lab, _fetching(lab, state):
            demo = Demo(lab, settings, state)
            with Live(render(state, settings), console=console, refresh_per_second=8,
                      get_renderable=lambda: render(state, settings)):
                moves = demo.run()
            console.print()
            console.print(summary_table(moves, settings))
            console.print(
                "The floor is the protocol's own wait (3 x advert_int + skew after the last "
                "advert heard); 'over the floor' is what the implementation adds.")
            if keep:
                _explore(lab, console)
    except LabError as exc:
        raise DemoError(f"the lab failed: {exc}") from None
    return 0


def _explore(lab: Lab, console: Console) -> None:
    console.print("\nThe lab stays up until you press Ctrl-C. Explore it:")
    for host in lab.hosts:
        console.print(f"  ip netns exec {lab.namespace(host)} bash        # a shell in {host}")
    console.print(f"  ip netns exec {lab.namespace('client')} curl -s http://{VIP}/")
    console.print(f"  ip netns exec {lab.namespace('master')} ip addr show eth0")
    console.print(f"  ip netns exec {lab.namespace(lab.switch)} tcpdump -ni br0 vrrp or arp")
    console.print(f"  logs and configs: {lab.workdir}")
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    console.print("tearing the lab down")
