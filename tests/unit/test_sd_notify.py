"""sd_notify as systemd receives it: datagrams on the socket named by NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastvrrp.observe.systemd import (
    SystemdNotifier,
    notify_address,
    sd_notify,
    watchdog_interval,
)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(2)
    yield sock, path
    sock.close()


def test_a_message_arrives_as_one_datagram(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert sd_notify(notify_address({"NOTIFY_SOCKET": path}), "READY=1\nSTATUS=ok")
    assert sock.recv(4096) == b"READY=1\nSTATUS=ok"


def test_abstract_socket_names_start_with_at() -> None:
    name = f"fastvrrp-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert sd_notify(notify_address({"NOTIFY_SOCKET": "@" + name}), "STOPPING=1")
        assert sock.recv(4096) == b"STOPPING=1"


def test_no_socket_means_no_notification() -> None:
    assert notify_address({}) is None
    assert notify_address({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    assert not sd_notify(None, "READY=1")


def test_watchdog_is_half_the_interval_and_only_for_its_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "2000000"}, 42) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}, 42) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "7"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_interval({}, 42) is None


def test_reload_messages_carry_the_monotonic_time(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = SystemdNotifier(logging.getLogger("test"), notify_address({"NOTIFY_SOCKET": path}))
    notifier.reloading()
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0
    notifier.reloaded()
    assert sock.recv(4096).startswith(b"READY=1")
