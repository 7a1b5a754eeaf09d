"""Shared by the netns tests: configs, script directories, running fastvrrp with its control
socket, and running one sequence under keepalived and under fastvrrp."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fastvrrp.lab import Lab, LabProcess, netns
from fastvrrp.lab.pytest_fixtures import LabFactory

T = TypeVar("T")
#: How a test starts a daemon in a host with a config text: lab.start_fastvrrp or
#: lab.start_keepalived.
Start = Callable[[str, str], LabProcess]

VIP = "198.18.0.100"
VIP2 = "198.18.0.101"
VI2_VIP = "198.18.0.110"  # the address of SECOND_INSTANCE
ADDRESSES = {"r1": "198.18.0.1", "r2": "198.18.0.2"}
METRICS_PORT = 9477


def instance_block(priority: int, *, name: str = "VI_1", vrid: int = 51,
                   vips: tuple[str, ...] = (VIP,), interval: float | str = 0.1,
                   version: int = 3, body: str = "") -> str:
    """A vrrp_instance on eth0 starting as BACKUP, VIPs /24; `body`: more lines in it."""
    vip_lines = "\n".join(f"        {v}/24" for v in vips)
    more = body.rstrip("\n") + "\n" if body else ""
    return f"""vrrp_instance {name} {{
    state BACKUP
    interface eth0
    virtual_router_id {vrid}
    version {version}
    priority {priority}
    advert_int {interval}
    virtual_ipaddress {{
{vip_lines}
    }}
{more}}}
"""


#: A second instance, VI_2 (VRID 52, priority 100), for configs that add one.
SECOND_INSTANCE = "\n" + instance_block(100, name="VI_2", vrid=52, vips=(VI2_VIP,))


def instance_conf(priority: int, vips: tuple[str, ...] = (VIP,), extra: str = "",
                  interval: float = 0.1, tracker: str = "") -> str:
    """A VRRPv3 instance on eth0; `tracker` is a track_script body line, `extra` a top block."""
    track = f"    track_script {{\n        {tracker}\n    }}\n" if tracker else ""
    return f"{extra}\n" + instance_block(priority, vips=vips, interval=interval, body=track)


def script_dir(lab: Lab, name: str) -> Path:
    """A directory in the lab for scripts root may run under enable_script_security."""
    directory = Path(lab.workdir) / name
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    return directory


def write_script(path: Path, text: str) -> Path:
    """An executable script at `path`."""
    path.write_text(text)
    path.chmod(0o755)
    return path


def under_both(lab_factory: LabFactory, keepalived_ready: str | None,
               run: Callable[[Lab, Start], T]) -> tuple[T, T]:
    """`run(lab, start)` in a fresh lab under keepalived, then in another under fastvrrp:
    (keepalived's result, fastvrrp's). Skips the test where keepalived cannot run."""
    if keepalived_ready is not None:
        pytest.skip(keepalived_ready)
    lab = lab_factory()
    theirs = run(lab, lab.start_keepalived)
    lab = lab_factory()
    return theirs, run(lab, lab.start_fastvrrp)


def in_fresh_namespace(prefix: str, fn: Callable[[], T]) -> T:
    """`fn()` run inside a new network namespace (`prefix` + random suffix), deleted after."""
    name = prefix + secrets.token_hex(3)
    netns.create([name])
    try:
        return netns.run_in(name, fn)
    finally:
        netns.delete([name])


def lines(path: Path) -> list[str]:
    """The lines a script wrote to `path` so far (none before it exists)."""
    return path.read_text().splitlines() if path.exists() else []


def both_on(lab: Lab, node: str) -> bool:
    """Whether `node` alone holds VIP and VIP2."""
    return lab.holders(VIP) == [node] and lab.holders(VIP2) == [node]


def config_path(proc: LabProcess) -> Path:
    """The config file the daemon of `proc` was started with (`-f`)."""
    return Path(proc.argv[proc.argv.index("-f") + 1])


def control_path(lab: Lab, host: str) -> Path:
    """Each daemon its own control socket (the lab's hosts share one filesystem)."""
    return Path(lab.workdir) / host / "fastvrrp.sock"


def start(lab: Lab, host: str, conf: str, *extra: str, metrics: bool = False) -> LabProcess:
    """fastvrrp in `host` with a control socket, dumps in its directory, metrics if asked."""
    args = ["--control-socket", str(control_path(lab, host)),
            "--dump-dir", str(dump_dir(lab, host)), *extra]
    if metrics:
        args += ["--metrics", f"{ADDRESSES[host]}:{METRICS_PORT}"]
    dump_dir(lab, host).mkdir(parents=True, exist_ok=True)
    return lab.start_fastvrrp(host, conf, extra_args=args)


def dump_dir(lab: Lab, host: str) -> Path:
    """Where the daemon in `host` writes keepalived.data/.stats/.json."""
    return Path(lab.workdir) / host / "dumps"


def status_json(lab: Lab, host: str) -> dict[str, Any]:
    """`fastvrrp status --json` against the daemon in `host`, as a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "fastvrrp", "status", "--json",
         "--control-socket", str(control_path(lab, host))],
        capture_output=True, text=True, check=True, timeout=20)
    reply: dict[str, Any] = json.loads(proc.stdout)
    return reply


def instance(lab: Lab, host: str, name: str = "VI_1") -> dict[str, Any]:
    """One instance's `{"data", "stats", "fastvrrp"}` from the live status."""
    for entry in status_json(lab, host)["instances"]:
        if entry["data"]["iname"] == name:
            return dict(entry)
    raise KeyError(name)


def ready(lab: Lab, host: str) -> bool:
    """Whether the daemon in `host` answers on its control socket."""
    path = control_path(lab, host)
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def scrape(lab: Lab, host: str) -> str:
    """GET /metrics from inside `host`'s namespace."""
    with lab.socket(host, socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((ADDRESSES[host], METRICS_PORT))
        sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head
    return body.decode()
