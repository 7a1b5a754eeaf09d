"""`Lab`: build a topology in network namespaces, run things in it, and always tear it down."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from types import FrameType, TracebackType

from fastvrrp.lab import frames, netns, responder
from fastvrrp.lab.capture import Capture
from fastvrrp.lab.daemons import DaemonFiles, fastvrrp_argv, keepalived_argv
from fastvrrp.lab.probe import ProbeResult
from fastvrrp.lab.process import LabProcess
from fastvrrp.lab.topology import Topology, vrrp_pair

LAB_PREFIX = "fv"
_ID_ALPHABET = string.ascii_lowercase + string.digits

# Hosts: no DAD (IPv6 addresses usable at once), no RS/RA noise, keep IPv6 addresses over a
# link flap (the kernel flushes them on down otherwise). arp_ignore=1: answer ARP only for
# addresses on the receiving interface; arp_announce=2: ARP with the best local source. That is
# what VIP setups use, and it keeps a backup from answering for a VIP it does not hold.
HOST_SYSCTLS = {
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.all.accept_ra": "0",
    "net.ipv6.conf.default.accept_ra": "0",
    "net.ipv6.conf.all.router_solicitations": "0",
    "net.ipv6.conf.default.router_solicitations": "0",
    "net.ipv6.conf.all.keep_addr_on_down": "1",
    "net.ipv6.conf.default.keep_addr_on_down": "1",
    "net.ipv4.conf.all.arp_ignore": "1",
    "net.ipv4.conf.all.arp_announce": "2",
}
# The switch only forwards: no IPv6 on the bridge or its ports, so it sends nothing itself.
SWITCH_SYSCTLS = {
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
}
# A plain L2 switch: bridged frames skip iptables/ip6tables/arptables (br_netfilter). Otherwise
# the kernel charges that filtering of every multicast advert to the daemon that sent it, which
# no real switch would.
SWITCH_BRIDGE_SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "0",
    "net.bridge.bridge-nf-call-ip6tables": "0",
    "net.bridge.bridge-nf-call-arptables": "0",
}


class LabError(RuntimeError):
    """Building the lab or running a command in it failed."""


class LabTerminated(KeyboardInterrupt):
    """SIGTERM arrived while a lab was up.

    It is a KeyboardInterrupt so that it unwinds like Ctrl-C: `except Exception` does not
    swallow it, `with Lab()` blocks tear down, and pytest stops the run (after its teardowns).
    """


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into LabTerminated so `with Lab()` blocks unwind and tear down."""
    raise LabTerminated(f"signal {signum}")


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while tearing down; deliver them afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    sigs: list[int] = [signal.SIGINT, signal.SIGTERM]
    old = {s: signal.signal(s, record) for s in sigs}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        for s in dict.fromkeys(pending):
            signal.raise_signal(s)


class ProbeRun:
    """A probe running in a lab namespace; `result()` waits for it and returns the records."""

    def __init__(self, process: LabProcess, out: Path, duration: float) -> None:
        self.process = process
        self.out = out
        self._duration = duration
        self._result: ProbeResult | None = None

    def stop(self) -> ProbeResult:
        """Stop probing now and return what was recorded."""
        self.process.send_signal(signal.SIGTERM)
        return self.result()

    def result(self, timeout: float | None = None) -> ProbeResult:
        """Wait for the probe to finish (by default its duration plus 5 s) and read it."""
        if self._result is None:
            code = self.process.wait(self._duration + 5.0 if timeout is None else timeout)
            if code is None:
                self.process.stop(signal.SIGTERM, 2.0)
            if not self.out.exists():
                raise LabError(f"probe left no records; log:\n{self.process.log_text()}")
            self._result = ProbeResult.load(self.out)
        return self._result


class Lab:
    """A topology built in fresh network namespaces, with helpers to run and observe it.

    Namespaces are named `<id>-<host>` where `id` is `fv` + 5 random characters. Use it as a
    context manager. Teardown always happens (on exceptions, Ctrl-C, SIGTERM, and at interpreter
    exit as a fallback), is idempotent and never raises its own errors; a Ctrl-C that arrives
    during teardown is delivered after it. Teardown kills every process started in the lab's
    namespaces, then deletes the namespaces (which deletes their veths and the bridge).

    `workdir` holds configs, logs and probe records (default: a temp dir removed at teardown
    unless `keep_workdir`). At teardown, processes get SIGTERM and `stop_grace` seconds before
    SIGKILL; call `LabProcess.stop()` yourself for a fully graceful stop (keepalived needs ~1 s).
    """

    def __init__(
        self,
        topology: Topology | None = None,
        *,
        workdir: Path | None = None,
        keep_workdir: bool = False,
        stop_grace: float = 0.2,
    ) -> None:
        self.topology = topology if topology is not None else vrrp_pair()
        self.id = self._fresh_id()
        self._own_workdir = workdir is None
        # Created by up(), so a Lab that never comes up leaves no directory behind.
        self.workdir = (
            Path(tempfile.gettempdir()) / f"{self.id}-lab" if workdir is None else Path(workdir)
        )
        self._keep_workdir = keep_workdir
        self._stop_grace = stop_grace
        self._made_workdir = False
        self._processes: list[LabProcess] = []
        self._captures: list[Capture] = []
        self._created: list[str] = []
        self._owner_record: str | None = None
        self._owner_pid = os.getpid()
        self._sigterm_installed = False
        self._started = False
        self._closed = False
        self._counter = 0
        self.setup_seconds: float | None = None
        self.teardown_seconds: float | None = None
        self.teardown_errors: list[str] = []

    def _fresh_id(self) -> str:
        hosts = [h.name for h in self.topology.hosts] + [self.topology.switch]
        while True:
            lab_id = LAB_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(5))
            if not any(netns.exists(f"{lab_id}-{h}") for h in hosts):
                return lab_id

    def __repr__(self) -> str:
        return f"Lab({self.id}, hosts={self.hosts})"

    # -- names

    @property
    def hosts(self) -> list[str]:
        """Host names, in topology order (the switch is not a host)."""
        return [h.name for h in self.topology.hosts]

    @property
    def switch(self) -> str:
        """The switch namespace's host name (usable wherever a host name is asked)."""
        return self.topology.switch

    def namespace(self, host: str) -> str:
        """The namespace name of `host` (or of the switch)."""
        if host != self.topology.switch:
            self.topology.host(host)  # raises KeyError for unknown hosts
        return f"{self.id}-{host}"

    @property
    def namespaces(self) -> list[str]:
        """All namespace names of this lab, switch first."""
        return [self.namespace(h) for h in [self.topology.switch, *self.hosts]]

    # -- lifecycle

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def up(self) -> Lab:
        """Create the namespaces, veths, bridge and addresses. Returns self."""
        if self._started:
            raise LabError("a Lab can be brought up only once")
        self._started = True
        atexit.register(self.close)
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
        ):
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
            self._sigterm_installed = True
        t0 = time.monotonic()
        try:
            self.workdir.mkdir(parents=True, exist_ok=not self._own_workdir)
            self._made_workdir = self._own_workdir
            self._build()
        except BaseException:
            self.close()
            raise
        self.setup_seconds = time.monotonic() - t0
        return self

    def _build(self) -> None:
        topo = self.topology
        sw = self.namespace(topo.switch)
        self._created = list(self.namespaces)
        self._owner_record = netns.write_owner(
            self.id,
            self._created,
            str(self.workdir) if self._made_workdir and not self._keep_workdir else None,
        )
        netns.create(self._created)
        netns.write_sysctls(sw, SWITCH_SYSCTLS)
        netns.write_sysctls(sw, SWITCH_BRIDGE_SYSCTLS, optional=True)
        for host in self.hosts:
            netns.write_sysctls(self.namespace(host), HOST_SYSCTLS)

        links = [
            f"link add name {topo.bridge} netns {sw} type bridge stp_state 0 mcast_snooping 0"
        ]
        batches: dict[str, list[str]] = {sw: ["link set lo up", f"link set {topo.bridge} up"]}
        for node in topo.hosts:
            ns = self.namespace(node.name)
            cmds = ["link set lo up"]
            for iface in node.interfaces:
                port = topo.port_name(node.name, iface.name)
                mac = f" address {iface.mac}" if iface.mac else ""
                links.append(
                    f"link add name {port} netns {sw} type veth "
                    f"peer name {iface.name}{mac} netns {ns}"
                )
                batches[sw] += [f"link set {port} master {topo.bridge}", f"link set {port} up"]
                for cidr in iface.addresses:
                    nodad = " nodad" if ":" in cidr else ""
                    cmds.append(f"addr add {cidr} dev {iface.name}{nodad}")
                cmds.append(f"link set {iface.name} up")
            batches[ns] = cmds
        netns.ip_batch(links)
        netns.ip_batches(batches)

    def close(self) -> None:
        """Tear everything down. Idempotent; never raises its own errors."""
        if self._closed:
            return
        self._closed = True
        if os.getpid() != self._owner_pid:
            return  # a forked child inherited our atexit hook: the lab is not its to delete
        t0 = time.monotonic()
        with _signals_deferred():
            try:
                self._teardown()
            except Exception as exc:  # teardown must not raise; say what went wrong instead
                self.teardown_errors.append(f"teardown: {exc!r}")
            with suppress(Exception):
                atexit.unregister(self.close)
            if self._sigterm_installed and signal.getsignal(signal.SIGTERM) is _exit_on_sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.teardown_seconds = time.monotonic() - t0

    def _teardown(self) -> None:
        def attempt(what: str, fn: Callable[[], object]) -> None:
            try:
                fn()
            except Exception as exc:
                self.teardown_errors.append(f"{what}: {exc!r}")

        for cap in self._captures:
            attempt("stop capture", cap.stop)
        # Ask politely (SIGTERM to each group), then SIGKILL whatever is left.
        running = [p for p in self._processes if p.running]
        for proc in running:
            attempt(f"term {proc}", partial(proc.kill_group, signal.SIGTERM))
        deadline = time.monotonic() + self._stop_grace
        for proc in running:
            attempt(f"wait {proc}", partial(proc.wait, max(0.0, deadline - time.monotonic())))
        for proc in self._processes:
            attempt(f"kill {proc}", proc.kill_group)
            attempt(f"reap {proc}", partial(proc.wait, 2.0))
        # Anything else that entered our namespaces (ip netns exec by hand, daemons' children).
        left = netns.kill_all_in(self._created)
        if left:
            self.teardown_errors.append(f"processes survived SIGKILL: {left}")
        remaining = netns.delete(self._created)
        if remaining:
            self.teardown_errors.append(f"namespaces not deleted: {remaining}")
        elif self._owner_record is not None:
            attempt("remove owner record", partial(os.unlink, self._owner_record))
        if self._made_workdir and not self._keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _check_usable(self) -> None:
        if not self._started or self._closed:
            raise LabError("the lab is not up")

    # -- running things

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` in `host`'s namespace to completion; stdout and stderr are captured."""
        self._check_usable()
        full = ["ip", "netns", "exec", self.namespace(host), *argv]
        proc = subprocess.run(
            full, capture_output=True, text=True, timeout=timeout, input=input, check=False
        )
        if check and proc.returncode != 0:
            raise LabError(
                f"{' '.join(argv)} in {host} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc

    def _next_path(self, host: str, stem: str, suffix: str = "") -> Path:
        self._counter += 1
        return self.workdir / host / f"{stem}-{self._counter}{suffix}"

    def spawn(
        self,
        host: str,
        argv: Sequence[str],
        *,
        log_path: Path | None = None,
        pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None,
    ) -> LabProcess:
        """Start `argv` in the background in `host`'s namespace, in its own process group.

        stdout and stderr go to `log_path` (by default a file in the lab's workdir).
        """
        self._check_usable()
        if log_path is None:
            log_path = self._next_path(host, Path(argv[0]).name, ".log")
        full_env = dict(os.environ if env is None else env)
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        proc = LabProcess(
            host, self.namespace(host), argv, log_path, pass_fds=pass_fds, env=full_env
        )
        self._processes.append(proc)
        return proc

    @staticmethod
    def wait_for(
        predicate: Callable[[], object], timeout: float, interval: float = 0.01
    ) -> bool:
        """Poll `predicate` every `interval` seconds until it is true or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return bool(predicate())
            time.sleep(min(interval, left))

    def socket(self, host: str, family: int, kind: int, proto: int = 0) -> socket.socket:
        """A socket created inside `host`'s namespace (usable from any thread)."""
        self._check_usable()
        return netns.open_socket(self.namespace(host), family, kind, proto)

    # -- links and addresses

    def link_down(self, host: str, ifname: str = "eth0") -> None:
        """Set `ifname` down in `host` (the switch's ports are `<host>-<ifname>`)."""
        self._check_usable()
        netns.ip_batch([f"link set {ifname} down"], namespace=self.namespace(host))

    def link_up(self, host: str, ifname: str = "eth0") -> None:
        """Set `ifname` up in `host`."""
        self._check_usable()
        netns.ip_batch([f"link set {ifname} up"], namespace=self.namespace(host))

    def add_address(self, host: str, cidr: str, ifname: str = "eth0") -> None:
        """Add `cidr` to `ifname` in `host` (IPv6 without DAD)."""
        nodad = " nodad" if ":" in cidr else ""
        netns.ip_batch([f"addr add {cidr} dev {ifname}{nodad}"], namespace=self.namespace(host))

    def del_address(self, host: str, cidr: str, ifname: str = "eth0") -> None:
        """Remove `cidr` from `ifname` in `host`."""
        netns.ip_batch([f"addr del {cidr} dev {ifname}"], namespace=self.namespace(host))

    def _ip_json(self, host: str, args: Sequence[str]) -> list[dict[str, object]]:
        self._check_usable()
        proc = subprocess.run(
            ["ip", "-n", self.namespace(host), "-j", *args],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise LabError(f"ip {' '.join(args)} in {host}: {proc.stderr.strip()}")
        data: list[dict[str, object]] = json.loads(proc.stdout or "[]")
        return data

    def addresses(self, host: str, ifname: str | None = None) -> set[str]:
        """The addresses (without prefix length) on `ifname` in `host`, or on all interfaces."""
        args = ["addr", "show"] + (["dev", ifname] if ifname else [])
        found: set[str] = set()
        for link in self._ip_json(host, args):
            infos = link.get("addr_info", [])
            if isinstance(infos, list):
                found.update(str(a["local"]) for a in infos if "local" in a)
        return found

    def holders(self, address: str) -> list[str]:
        """The hosts that have `address` on some interface, in topology order."""
        return [h for h in self.hosts if address in self.addresses(h)]

    def holder(self, address: str) -> str | None:
        """The host holding `address`; None if none does. Raises LabError if several do."""
        found = self.holders(address)
        if len(found) > 1:
            raise LabError(f"{address} is held by several hosts: {found}")
        return found[0] if found else None

    def mac(self, host: str, ifname: str = "eth0") -> str:
        """The MAC address of `ifname` in `host`."""
        links = self._ip_json(host, ["link", "show", "dev", ifname])
        return str(links[0]["address"])

    def ping(self, host: str, address: str, count: int = 1, timeout: float = 1.0) -> bool:
        """Whether `host` gets an echo reply from `address` (bounded: `count` pings)."""
        argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(timeout), address]
        if ":" in address:
            argv.insert(1, "-6")
        return self.run(host, argv, check=False, timeout=count * timeout + 5).returncode == 0

    # -- probe, responder, capture, crafted frames

    def start_responder(
        self, host: str, port: int = 9000, name: str | None = None
    ) -> LabProcess:
        """A UDP responder in `host` answering with `name` (default: the host name).

        Its sockets (0.0.0.0 and [::]) are bound before this returns, so it is ready at once.
        """
        socks = netns.run_in(self.namespace(host), lambda: responder.bind_sockets(port))
        try:
            fd_args = [a for s in socks for a in ("--fd", str(s.fileno()))]
            return self.spawn(
                host,
                [sys.executable, "-m", "fastvrrp.lab", "responder", "--name", name or host,
                 *fd_args],
                pass_fds=[s.fileno() for s in socks],
            )
        finally:
            for s in socks:
                s.close()

    def start_probe(
        self,
        host: str,
        target: str,
        port: int = 9000,
        *,
        interval: float = 0.001,
        duration: float = 10.0,
        count: int | None = None,
    ) -> ProbeRun:
        """Start probing `target`:`port` from `host`; returns once the probe is sending."""
        out = self._next_path(host, "probe", ".txt")
        argv = [
            sys.executable, "-m", "fastvrrp.lab", "probe", "--target", target, "--port", str(port),
            "--interval", str(interval), "--duration", str(duration), "--out", str(out),
        ]
        if count is not None:
            argv += ["--count", str(count)]
        proc = self.spawn(host, argv, log_path=out.with_suffix(".log"))
        if not self.wait_for(lambda: "probe sending" in proc.log_text() or not proc.running, 10):
            raise LabError("the probe did not start")
        if not proc.running and not out.exists():
            raise LabError(f"the probe failed:\n{proc.log_text()}")
        return ProbeRun(proc, out, duration)

    def capture(
        self,
        host: str | None = None,
        ifname: str | None = None,
        *,
        duration: float = 10.0,
        limit: int = 100_000,
    ) -> Capture:
        """Capture adverts, ARP and NA on `ifname` in `host` (default: the switch's bridge).

        Recording starts before this returns and stops after `duration` s, `limit` packets,
        `Capture.stop()`, or teardown. The bridge sees broadcast and multicast frames (adverts,
        GARPs, unsolicited NAs); capture on a port (`<host>-eth0` in the switch) for unicast.
        """
        self._check_usable()
        if host is None:
            host = self.topology.switch
        if ifname is None:
            ifname = self.topology.bridge if host == self.topology.switch else "eth0"
        ns = self.namespace(host)
        cap = Capture.open(
            lambda f, k, p: netns.open_socket(ns, f, k, p), ifname, duration=duration, limit=limit
        )
        self._captures.append(cap)
        return cap

    def _send_raw(self, host: str, ifname: str, build: Callable[[bytes], list[bytes]]) -> None:
        self._check_usable()
        with self.socket(host, socket.AF_PACKET, socket.SOCK_RAW) as sock:
            sock.bind((ifname, 0))
            mac: bytes = sock.getsockname()[4]
            for frame in build(mac):
                sock.send(frame)

    def send_garp(self, host: str, address: str, ifname: str = "eth0", count: int = 1) -> None:
        """Send `count` gratuitous ARPs for `address` from `host`'s `ifname`."""
        self._send_raw(host, ifname, lambda mac: [frames.garp(mac, address)] * count)

    def send_na(self, host: str, address: str, ifname: str = "eth0", count: int = 1) -> None:
        """Send `count` unsolicited neighbour advertisements for `address` from `host`."""
        self._send_raw(host, ifname, lambda mac: [frames.unsolicited_na(mac, address)] * count)

    # -- daemons

    def _daemon_files(self, host: str, kind: str) -> DaemonFiles:
        self._counter += 1
        return DaemonFiles(self.workdir / host / f"{kind}-{self._counter}")

    def start_keepalived(
        self, host: str, config_text: str, extra_args: Sequence[str] = ()
    ) -> LabProcess:
        """Run keepalived in `host` with `config_text` (own config dir and pid files)."""
        files = self._daemon_files(host, "keepalived")
        files.write_config(config_text)
        return self.spawn(host, keepalived_argv(files, extra_args), log_path=files.log)

    def start_fastvrrp(
        self, host: str, config_text: str, extra_args: Sequence[str] = ()
    ) -> LabProcess:
        """Run `python -m fastvrrp run -n -l -f CONF` in `host` with `config_text`."""
        files = self._daemon_files(host, "fastvrrp")
        files.write_config(config_text)
        return self.spawn(host, fastvrrp_argv(files, extra_args), log_path=files.log)
