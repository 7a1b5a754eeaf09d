"""The vrrp_notify_fifo across a SIGHUP: its reader sees no end-of-file and no repeated line."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from ops_helpers import SECOND_INSTANCE, VIP, config_path, instance_conf, ready, start

from fastvrrp.lab import Lab

pytestmark = pytest.mark.netns

def conf(fifo: Path, router_id: str, extra: str = "") -> str:
    top = f"global_defs {{\n    router_id {router_id}\n    vrrp_notify_fifo {fifo}\n}}\n"
    return instance_conf(150, extra=top + extra)


class FifoReader:
    """Reads the FIFO without blocking and remembers whether it ever saw end-of-file."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.data = b""
        self.eof = False

    def poll(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return  # a writer holds it open, nothing to read now
            if not chunk:
                self.eof = True
                return
            self.data += chunk

    def lines(self) -> list[str]:
        return self.data.decode().splitlines()

    def close(self) -> None:
        os.close(self.fd)


def test_the_fifo_reader_sees_no_eof_and_no_repeated_line_across_a_reload(lab: Lab) -> None:
    fifo = Path(lab.workdir) / "vrrp.fifo"
    r1 = start(lab, "r1", conf(fifo, "before"))
    assert lab.wait_for(lambda: ready(lab, "r1") and fifo.exists(), 10)
    reader = FifoReader(fifo)
    try:
        assert lab.wait_for(lambda: (reader.poll(), lab.holder(VIP) == "r1")[1], 5)
        assert lab.wait_for(
            lambda: (reader.poll(), 'INSTANCE "VI_1" MASTER 150' in reader.lines())[1], 3), \
            reader.lines()
        before = reader.lines()
        done = r1.log_text().count("Reload finished")
        config_path(r1).write_text(conf(fifo, "after", SECOND_INSTANCE))
        r1.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and r1.log_text().count("Reload finished") == done:
            reader.poll()
            time.sleep(0.005)
        assert r1.log_text().count("Reload finished") > done, r1.log_text()
        # The added instance is notified as at startup; VI_1, still master, is not again.
        assert lab.wait_for(
            lambda: (reader.poll(), 'INSTANCE "VI_2" MASTER 100' in reader.lines())[1], 5), \
            reader.lines()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            reader.poll()
            time.sleep(0.01)
        assert not reader.eof
        after = reader.lines()[len(before):]
        assert after == ['INSTANCE "VI_2" BACKUP 100', 'INSTANCE "VI_2" MASTER 100'], after
        assert fifo.exists()
    finally:
        reader.close()
