"""The notify building blocks with real processes and real FIFOs (SMTP: tests/netns)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from daemon_stand_ins import Host, lo_instance, read_config

from fastvrrp.config.model import Command, Config, GlobalDefs, NotifyFifo
from fastvrrp.notify import (
    Alert,
    FifoWriter,
    ScriptRunner,
    group_alert,
    insecure_reason,
    instance_alert,
    instance_line,
)

LOG = logging.getLogger("test.notify")


def script(path: Path, body: str) -> Command:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return Command(str(path))


def no_zombies_of(pid: int) -> bool:
    """True when no child of `pid` is a zombie."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            return False
    return True


def test_run_passes_args_and_reaps(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = script(tmp_path / "notify.sh", f'echo "$@" >> {out}\n')

    async def main() -> None:
        runner = ScriptRunner(LOG)
        task = runner.run(cmd, ["INSTANCE", "VI_1", "MASTER", "100"])
        assert task is not None
        assert await task == 0
        await runner.close()

    asyncio.run(main())
    assert out.read_text() == "INSTANCE VI_1 MASTER 100\n"
    assert no_zombies_of(os.getpid())


def test_command_line_quoting_like_keepalived(tmp_path: Path) -> None:
    out = tmp_path / "out"
    path = tmp_path / "n.sh"
    script(path, f'for a in "$@"; do echo "[$a]" >> {out}; done\n')

    async def main() -> None:
        runner = ScriptRunner(LOG)
        task = runner.run(Command(f"{path} 'two words' plain"), ["X"])
        assert task is not None
        await task

    asyncio.run(main())
    assert out.read_text() == "[two words]\n[plain]\n[X]\n"


def test_a_hanging_check_is_killed_at_its_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    cmd = script(tmp_path / "hang.sh", f"echo $$ > {pidfile}\nsleep 30 & wait\n")

    async def main() -> tuple[bool, float]:
        runner = ScriptRunner(LOG)
        t0 = time.monotonic()
        result = await runner.check(cmd, timeout=0.3)
        elapsed = time.monotonic() - t0
        await runner.close()
        return result.timed_out and not result.ok, elapsed

    failed, elapsed = asyncio.run(main())
    assert failed
    assert elapsed < 2.0
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists()  # the script and its sleep are gone, and reaped
    assert no_zombies_of(os.getpid())


def test_slow_checks_do_not_delay_each_other(tmp_path: Path) -> None:
    slow = script(tmp_path / "slow.sh", "sleep 0.5\n")
    fast = script(tmp_path / "fast.sh", "exit 3\n")

    async def main() -> list[float]:
        runner = ScriptRunner(LOG)
        t0 = time.monotonic()
        done: list[float] = []

        async def timed(cmd: Command) -> None:
            await runner.check(cmd, timeout=2)
            done.append(time.monotonic() - t0)

        await asyncio.gather(timed(slow), timed(fast))
        return done

    done = asyncio.run(main())
    assert done[0] < 0.3  # the fast one finished first, while the slow one ran


def test_script_security_refuses_a_group_writable_script(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    bad = script(tmp_path / "bad.sh", "exit 0\n")
    os.chmod(bad.command, 0o775)
    os.chown(bad.command, 0, 1234)
    assert "writable by group 1234" in (insecure_reason(bad.command, 0) or "")
    good = script(tmp_path / "good.sh", "exit 0\n")
    if insecure_reason(str(tmp_path), 0) is None:
        assert insecure_reason(good.command, 0) is None

    async def main() -> bool:
        runner = ScriptRunner(LOG, GlobalDefs(enable_script_security=True))
        return runner.run(bad) is None

    assert asyncio.run(main())


def test_script_security_refuses_a_script_in_a_world_writable_dir(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    cmd = script(shared / "s.sh", "exit 0\n")
    assert "writable by everyone" in (insecure_reason(cmd.command, 0) or "")
    shared.chmod(0o777 | stat.S_ISVTX)  # sticky, like /tmp: others cannot replace root's file
    assert "everyone" not in (insecure_reason(cmd.command, 0) or "")


def test_fifo_lines_keep_their_order(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    lines = [instance_line("VI_1", s, p) for s, p in
             [("BACKUP", 100), ("MASTER", 100), ("FAULT", 100), ("BACKUP", 80)] * 50]

    async def main() -> bytes:
        writer = FifoWriter(NotifyFifo(str(path)), LOG)
        writer.open()
        assert stat.S_ISFIFO(os.stat(path).st_mode)
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        for line in lines:
            writer.write(line)
        await asyncio.sleep(0.05)
        data = os.read(reader, 1 << 20)
        os.close(reader)
        writer.close()
        return data

    data = asyncio.run(main())
    assert data.decode().splitlines() == lines
    assert lines[0] == 'INSTANCE "VI_1" BACKUP 100'
    assert not path.exists()  # we created it, so we removed it


def test_fifo_never_blocks_on_a_full_pipe_and_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    line = "x" * 1000

    async def main() -> tuple[int, float]:
        writer = FifoWriter(NotifyFifo(str(path)), LOG)
        writer.open()
        t0 = time.monotonic()
        for i in range(200):  # 200 kB: more than a pipe holds
            writer.write(f"{i} {line}")
        spent = time.monotonic() - t0
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        got = b""
        for _ in range(200):
            await asyncio.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                got += os.read(reader, 1 << 20)
            if got.count(b"\n") >= 200:
                break
        os.close(reader)
        writer.close()
        numbers = [int(x.split()[0]) for x in got.decode().splitlines()]
        assert numbers == list(range(200))
        return len(numbers), spent

    count, spent = asyncio.run(main())
    assert count == 200
    assert spent < 0.5


def test_fifo_script_gets_the_fifo_path(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    out = tmp_path / "out"
    reader = script(tmp_path / "reader.sh", f'echo "$1" > {out}\n')

    async def main() -> None:
        runner = ScriptRunner(LOG)
        writer = FifoWriter(NotifyFifo(str(path)), LOG, reader, runner)
        writer.open()
        await runner.close(grace=2)
        writer.close()

    asyncio.run(main())
    assert out.read_text().strip() == str(path)


def test_alert_text_is_keepalived_s() -> None:
    g = GlobalDefs(router_id="LVS_MASTER")
    alert = instance_alert(g, "VI_1", "MASTER")
    assert alert == Alert("[LVS_MASTER] VRRP Instance VI_1 - Entering MASTER state",
                          "=> VRRP Instance is now owning VRRP VIPs <=")
    backup = instance_alert(g, "VI_1", "BACKUP")
    assert backup is not None
    assert backup.body == "=> VRRP Instance is no longer owning VRRP VIPs <="
    group = group_alert(g, "G1", "FAULT")
    assert group is not None
    assert group.subject == "[LVS_MASTER] VRRP Group G1 - Entering FAULT state"


def test_scripts_run_as_their_user() -> None:
    if os.geteuid() != 0:
        return  # only root can switch users
    # pytest's tmp_path is not reachable by `nobody`: use a fresh directory under /tmp.
    base = Path(tempfile.mkdtemp(prefix="fvnotify"))
    try:
        run_as_nobody(base)
    finally:
        shutil.rmtree(base)


def run_as_nobody(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    out = shared / "who"
    path = tmp_path / "who.sh"
    path.write_text(f"#!/bin/sh\nid -un > {out}\nid -G >> {out}\n")
    path.chmod(0o755)

    async def main() -> None:
        runner = ScriptRunner(LOG, GlobalDefs(script_user="nobody"))
        task = runner.run(Command(str(path)))
        assert task is not None
        await task

    asyncio.run(main())
    name, groups = out.read_text().split("\n", 1)
    assert name == "nobody"
    assert "0" not in groups.split()  # root's groups were dropped


def test_a_script_that_is_not_executable_is_refused_once(tmp_path: Path, caplog: object) -> None:
    path = tmp_path / "plain.sh"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o644)

    async def main() -> list[bool]:
        runner = ScriptRunner(LOG)
        return [runner.allowed(Command(str(path))) for _ in range(3)]

    with_log = caplog  # pytest's LogCaptureFixture
    assert asyncio.run(main()) == [False, False, False]
    messages = [r.getMessage() for r in with_log.records]  # type: ignore[attr-defined]
    assert sum("is not an executable file" in m for m in messages) == 1


def fifo_config(tmp_path: Path, notify_fifo: str, vrrp_fifo: str) -> Config:
    return read_config(tmp_path, f"""global_defs {{
    notify_fifo {notify_fifo}
    vrrp_notify_fifo {vrrp_fifo}
}}
""" + lo_instance())


def test_reload_keeps_an_unchanged_fifo_open_and_replaces_a_moved_one(tmp_path: Path) -> None:
    from fastvrrp.notify import VrrpNotifier

    kept, moved, moved_to = tmp_path / "kept", tmp_path / "old", tmp_path / "new"
    before = fifo_config(tmp_path, str(kept), str(moved))
    after = fifo_config(tmp_path, str(kept), str(moved_to))

    async def main() -> tuple[bool, bool, bytes]:
        host = Host(before)
        notifier = VrrpNotifier(before, LOG)
        await notifier.start(host)  # type: ignore[arg-type]
        reader = os.open(kept, os.O_RDONLY | os.O_NONBLOCK)
        first = notifier.fifos[0]
        host.config = after
        await notifier.reload(host)  # type: ignore[arg-type]
        same = notifier.fifos[0] is first
        await asyncio.sleep(0.05)
        data = os.read(reader, 1 << 16)
        # With a writer still holding it open and nothing to say, the read raises;
        # end-of-file would read as b"".
        with contextlib.suppress(BlockingIOError):
            data += os.read(reader, 1 << 16) or b"<EOF>"
        os.close(reader)
        opened = stat.S_ISFIFO(os.stat(moved_to).st_mode)
        await notifier.stop()
        return same, opened, data

    same, opened, data = asyncio.run(main())
    assert same and opened
    assert data == b'INSTANCE "VI_1" MASTER 100\n'  # from startup only: not again
    assert not moved.exists()
