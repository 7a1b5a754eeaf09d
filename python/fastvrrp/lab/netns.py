"""Network namespace operations: create and delete, run `ip` batches, open sockets inside.

Sockets are opened in a short-lived thread that has joined the namespace with setns(2); a socket
stays in the namespace it was created in, so the caller can use it from any thread afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class NamespaceError(RuntimeError):
    """An `ip` command or a namespace switch failed."""


def path(name: str) -> str:
    """The bind-mount that keeps namespace `name` alive."""
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    """Whether namespace `name` exists."""
    return os.path.exists(path(name))


def ip_batch(commands: Iterable[str], *, namespace: str | None = None, force: bool = False) -> None:
    """Run `ip -batch -` (optionally `-n namespace`) with one command per line; raise on failure."""
    argv = ["ip"]
    if namespace is not None:
        argv += ["-n", namespace]
    if force:
        argv.append("-force")
    argv += ["-batch", "-"]
    proc = subprocess.run(
        argv, input="\n".join(commands) + "\n", capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise NamespaceError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")


def ip_batches(batches: Mapping[str, Iterable[str]]) -> None:
    """Run one `ip -n NS -batch -` per namespace, all at once; raise if any failed."""
    procs = []
    for ns, commands in batches.items():
        argv = ["ip", "-n", ns, "-batch", "-"]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append((ns, proc, "\n".join(commands) + "\n"))
    errors = []
    for ns, proc, text in procs:
        _, err = proc.communicate(text)
        if proc.returncode != 0:
            errors.append(f"{ns}: {err.strip()}")
    if errors:
        raise NamespaceError("ip batch failed: " + "; ".join(errors))


def run_in(name: str, fn: Callable[[], T]) -> T:
    """Call `fn` in a fresh thread that has joined network namespace `name`; return its result."""
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise NamespaceError(f"setns({name}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=body, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def open_socket(name: str, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside namespace `name`."""
    return run_in(name, lambda: socket.socket(family, kind, proto))


def write_sysctls(name: str, values: Mapping[str, str], *, optional: bool = False) -> None:
    """Write sysctls ("net.ipv6.conf.all.accept_dad" style keys) inside namespace `name`.

    With `optional`, a sysctl this kernel does not have is skipped.
    """

    def write() -> None:
        for key, value in values.items():
            path = "/proc/sys/" + key.replace(".", "/")
            if optional and not os.path.exists(path):
                continue
            with open(path, "w") as f:
                f.write(value)

    run_in(name, write)


def create(names: Iterable[str]) -> None:
    """Create namespaces `names` (one `ip` call)."""
    ip_batch(f"netns add {n}" for n in names)


def _ns_id(p: str) -> tuple[int, int] | None:
    try:
        st = os.stat(p)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def pids_in(names: Iterable[str]) -> list[int]:
    """Processes whose network namespace is one of `names`."""
    wanted = {i for i in (_ns_id(path(n)) for n in names) if i is not None}
    if not wanted:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _ns_id(f"/proc/{entry}/ns/net") in wanted:
            found.append(int(entry))
    return found


def kill_all_in(names: Iterable[str], *, timeout: float = 2.0) -> list[int]:
    """SIGKILL every process in namespaces `names` and wait (bounded) until they are gone.

    Returns the pids still there after `timeout` (normally none).
    """
    names = list(names)
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in pids_in(names) if p != os.getpid()]
        if not pids or time.monotonic() >= deadline:
            return pids
        # No reaping here: a zombie has left its namespace already (pids_in does not list it),
        # and its exit status belongs to whoever started it (a Popen that reads it later; reaped
        # here, Popen would report exit 0 for a killed process).
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def delete(names: Iterable[str]) -> list[str]:
    """Delete namespaces `names` that exist; return those that could not be deleted."""
    present = [n for n in names if exists(n)]
    if present:
        # A failure shows in the check below.
        with contextlib.suppress(NamespaceError):
            ip_batch((f"netns del {n}" for n in present), force=True)
    return [n for n in present if exists(n)]


# Owner records: a lab writes one before it creates namespaces and removes it after teardown.
# If the owner was SIGKILLed, `sweep_stale` finds the record of a dead process and cleans up.
OWNERS_DIR = "/run/fastvrrp-lab"


def _start_time(pid: int) -> str | None:
    """The process start time (clock ticks since boot), which tells pid reuse apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def write_owner(lab_id: str, names: Iterable[str], scratch: str | None = None) -> str:
    """Record that this process owns namespaces `names` (and the temp dir `scratch`).

    Returns the record's path.
    """
    os.makedirs(OWNERS_DIR, exist_ok=True)
    record = os.path.join(OWNERS_DIR, lab_id)
    pid = os.getpid()
    with open(record, "w") as f:
        f.write(f"{pid} {_start_time(pid)} {_pid_namespace()}\n{scratch or '-'}\n")
        f.write("\n".join(names) + "\n")
    return record


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").replace(" ", "")
    except OSError:
        return "?"


def owned_by(pid: int) -> list[str]:
    """The namespaces recorded by labs whose owner is process `pid` (live labs only)."""
    try:
        records = os.listdir(OWNERS_DIR)
    except FileNotFoundError:
        return []
    names: list[str] = []
    for entry in records:
        try:
            with open(os.path.join(OWNERS_DIR, entry)) as f:
                head, _, *listed = f.read().split("\n")
        except (OSError, ValueError):
            continue  # removed meanwhile, or not written whole yet
        if head.split()[:1] == [str(pid)]:
            names += [n for n in listed if n]
    return names


def sweep_stale() -> list[str]:
    """Delete namespaces recorded by labs whose owner process is gone; return their names."""
    try:
        records = os.listdir(OWNERS_DIR)
    except FileNotFoundError:
        return []
    swept: list[str] = []
    for entry in records:
        record = os.path.join(OWNERS_DIR, entry)
        try:
            with open(record) as f:
                head, scratch, *names = f.read().split("\n")
            pid, started, pidns = head.split()
        except (OSError, ValueError):
            continue
        if pidns != _pid_namespace():
            continue  # another container's lab: its pids mean nothing here
        if _start_time(int(pid)) == started:
            continue  # the owner is alive: its lab is in use
        names = [n for n in names if n]
        kill_all_in(names)
        if not delete(names):
            swept += names
            if scratch != "-":
                shutil.rmtree(scratch, ignore_errors=True)
            with contextlib.suppress(OSError):
                os.unlink(record)
    return swept
