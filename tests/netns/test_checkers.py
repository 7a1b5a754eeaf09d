"""Each checker against a real server it should pass and one it should fail.

The servers and the checkers run in one event loop, in a thread that has joined a namespace of
this test's own (loopback only, addresses 198.18.0.1 and 198.18.0.2), so nothing touches the host.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import shutil
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from fastvrrp.check import CheckFailed, Outcome, Target
from fastvrrp.check.dns import DnsProbe
from fastvrrp.check.file import FileProbe
from fastvrrp.check.http import HttpProbe, client_context
from fastvrrp.check.misc import MiscProbe
from fastvrrp.check.ping import PingProbe
from fastvrrp.check.smtp import SmtpProbe
from fastvrrp.check.tcp import TcpProbe
from fastvrrp.check.udp import UdpProbe
from fastvrrp.config.model import Url
from fastvrrp.lab import netns

pytestmark = pytest.mark.netns

T = TypeVar("T")
HOST = "198.18.0.1"
OTHER = "198.18.0.2"  # assigned, nothing listens: connections are refused
BODY = b"<html>fastvrrp</html>\n"


@pytest.fixture
def ns(netns_ready: str | None) -> Iterator[str]:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    name = "fvck" + secrets.token_hex(3)
    netns.create([name])
    try:
        netns.ip_batch(["link set lo up", f"addr add {HOST}/32 dev lo",
                        f"addr add {OTHER}/32 dev lo"], namespace=name)
        yield name
    finally:
        netns.kill_all_in([name])
        netns.delete([name])


def run(ns: str, main: Callable[[], Awaitable[T]]) -> T:
    """Run `main()` in a fresh event loop inside the namespace, with a 20 s bound."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), 20)

    return netns.run_in(ns, lambda: asyncio.run(bounded()))


async def verdict(probe: object) -> str:
    """'up' or the failure reason, with the probe's own deadline."""
    try:
        await asyncio.wait_for(probe.attempt(), probe.deadline)  # type: ignore[attr-defined]
    except CheckFailed as exc:
        return f"down: {exc}"
    except asyncio.TimeoutError:
        return "down: timeout"
    return "up"


async def http_server(port: int, status: int = 200, body: bytes = BODY,
                      tls: ssl.SSLContext | None = None,
                      seen: list[bytes] | None = None) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(request)
        writer.write(b"HTTP/1.0 %d X\r\nContent-Length: %d\r\n\r\n" % (status, len(body)) + body)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, HOST, port, ssl=tls)


def test_tcp_check_passes_on_a_listener_and_fails_on_a_closed_port(ns: str) -> None:
    async def main() -> tuple[str, str]:
        server = await asyncio.start_server(lambda r, w: w.close(), HOST, 8080)
        async with server:
            return (await verdict(TcpProbe(Target(HOST, 8080), 1.0)),
                    await verdict(TcpProbe(Target(OTHER, 8080), 1.0)))

    up, down = run(ns, main)
    assert up == "up"
    assert down.startswith("down: TCP connection failed")


def test_tcp_check_to_a_silent_server_times_out_and_the_next_checks_still_work(ns: str) -> None:
    # 198.18.3.2 is on a veth whose peer has no address: ARP goes unanswered, the SYN is
    # never sent, the connect never completes.
    netns.ip_batch(["link add fvs0 type veth peer name fvs1", "link set fvs0 up",
                    "link set fvs1 up", "addr add 198.18.3.1/24 dev fvs0"], namespace=ns)

    async def main() -> list[str]:
        seen: list[str] = []
        async with await asyncio.start_server(lambda r, w: w.close(), HOST, 8082):
            for _ in range(3):  # a cut attempt leaves nothing behind in the event loop
                seen.append(await verdict(TcpProbe(Target("198.18.3.2", 80), 0.2)))
                seen.append(await verdict(TcpProbe(Target(HOST, 8082), 1.0)))
        return seen

    assert run(ns, main) == ["down: timeout", "up"] * 3


def test_tcp_check_binds_the_source_address(ns: str) -> None:
    peers: list[str] = []

    async def main() -> str:
        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer.get_extra_info("peername")[0])
            writer.close()

        async with await asyncio.start_server(accept, HOST, 8081):
            result = await verdict(TcpProbe(Target(HOST, 8081, bindto=OTHER), 1.0))
            await asyncio.sleep(0.05)
            return result

    assert run(ns, main) == "up"
    assert peers == [OTHER]


def test_http_get_sends_keepalived_request_and_checks_status_and_digest(ns: str) -> None:
    digest = hashlib.md5(BODY).hexdigest()
    seen: list[bytes] = []

    async def main() -> list[str]:
        ok = await http_server(8000, seen=seen)
        bad_status = await http_server(8001, status=503)
        async with ok, bad_status:
            return [
                await verdict(HttpProbe(Target(HOST, 8000), 2.0, (Url("/health", digest),))),
                await verdict(HttpProbe(Target(HOST, 8000), 2.0, (Url("/", "0" * 32),))),
                await verdict(HttpProbe(Target(HOST, 8001), 2.0, (Url("/"),))),
                await verdict(HttpProbe(Target(HOST, 8001), 2.0,
                                        (Url("/", status_code=((500, 503),)),))),
                await verdict(HttpProbe(Target(OTHER, 8000), 2.0, (Url("/"),))),
            ]

    results = run(ns, main)
    assert results[0] == "up"
    assert results[1].startswith("down: MD5 digest error")
    assert results[2].startswith("down: HTTP status code error (503)")
    assert results[3] == "up"
    assert results[4].startswith("down: Error connecting")
    assert seen[0] == (b"GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n"
                       b"Host: 198.18.0.1:8000\r\n\r\n")


def test_http_get_virtualhost_and_http_1_1(ns: str) -> None:
    seen: list[bytes] = []

    async def main() -> str:
        async with await http_server(8002, seen=seen):
            return await verdict(HttpProbe(Target(HOST, 8002), 2.0, (Url("/"),),
                                           virtualhost="www.example.test", protocol="1.1"))

    assert run(ns, main) == "up"
    assert seen[0] == (b"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\n"
                       b"Host: www.example.test\r\n\r\n")


def test_http_get_cannot_hang_on_a_silent_server(ns: str) -> None:
    async def main() -> str:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(30)

        async with await asyncio.start_server(silent, HOST, 8003):
            return await verdict(HttpProbe(Target(HOST, 8003), 0.3, (Url("/"),)))

    assert run(ns, main) == "down: timeout"


def test_ssl_get_with_a_self_signed_certificate_and_sni(ns: str) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("www.example.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    names: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    digest = hashlib.md5(BODY).hexdigest()

    async def main() -> list[str]:
        async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n")  # no TLS: the handshake breaks
            writer.close()

        tls = await http_server(8443, tls=server_ctx)
        plain = await asyncio.start_server(plain_http, HOST, 8444)
        async with tls, plain:
            return [
                await verdict(HttpProbe(Target(HOST, 8443), 2.0, (Url("/", digest),),
                                        virtualhost="www.example.test", tls=client_context(),
                                        sni=True)),
                await verdict(HttpProbe(Target(HOST, 8444), 2.0, (Url("/"),),
                                        tls=client_context())),
            ]

    up, down = run(ns, main)
    assert up == "up"
    assert names == ["www.example.test"]
    assert down.startswith("down: SSL handshake")


def ssl_get_config(tmp_path: Path, port: int, ssl_block: str) -> object:
    """A config with one SSL_GET checker on HOST:port and `ssl_block` at the top level."""
    from fastvrrp.config import check_file

    path = tmp_path / "keepalived.conf"
    path.write_text(f"""{ssl_block}
virtual_server 198.18.0.100 443 {{
    real_server {HOST} {port} {{
        SSL_GET {{
            url {{
                path /
            }}
            connect_timeout 2
        }}
    }}
}}
""")
    result = check_file(str(path))
    assert result.config is not None, [str(d) for d in result.diagnostics]
    return result.config


def test_ssl_get_presents_the_ssl_blocks_client_certificate_and_verifies_with_its_ca(
        ns: str, tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    from cryptography.hazmat.primitives import serialization

    from fastvrrp.check.build import probe_for

    ca, other_ca = trustme.CA(), trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("rs1.example.test").configure_cert(server_ctx)
    ca.configure_trust(server_ctx)
    server_ctx.verify_mode = ssl.CERT_REQUIRED  # the server wants a client certificate
    client = ca.issue_cert("director.example.test")
    client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    # The key on disk is encrypted: `password` opens it.
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), None)
    (tmp_path / "client.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    other_ca.cert_pem.write_to_path(str(tmp_path / "other.pem"))
    files = f"certificate {tmp_path}/client.pem\n    key {tmp_path}/client.key\n" \
            "    password s3cret"
    configs = {
        "with the block": f"SSL {{\n    {files}\n}}",
        "with the block and its ca": f"SSL {{\n    {files}\n    ca {tmp_path}/ca.pem\n}}",
        "without the block": "",
        "with another ca": f"SSL {{\n    {files}\n    ca {tmp_path}/other.pem\n}}",
    }
    probes = {}
    for name, block in configs.items():
        config = ssl_get_config(tmp_path, 8445, block)
        vs = config.virtual_servers[0]  # type: ignore[attr-defined]
        rs = vs.real_servers[0]
        probes[name] = probe_for(rs.checkers[0], rs, config)  # type: ignore[arg-type]
        assert probes[name] is not None, name

    async def main() -> dict[str, str]:
        async with await http_server(8445, tls=server_ctx):
            return {name: await verdict(probe) for name, probe in probes.items()}

    verdicts = run(ns, main)
    assert verdicts["with the block"] == "up"
    assert verdicts["with the block and its ca"] == "up"
    assert verdicts["without the block"].startswith("down"), verdicts
    assert verdicts["with another ca"].startswith("down: SSL handshake"), verdicts


def test_smtp_check_against_aiosmtpd(ns: str) -> None:
    smtp = pytest.importorskip("aiosmtpd.smtp")

    async def main() -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: smtp.SMTP(object(), hostname="rs1"), HOST, 2525)
        async with server:
            return (await verdict(SmtpProbe(Target(HOST, 2525), 2.0, "director")),
                    await verdict(SmtpProbe(Target(OTHER, 2525), 2.0, "director")))

    up, down = run(ns, main)
    assert up == "up"
    assert down.startswith("down: SMTP connection failed")


def test_smtp_check_fails_on_a_server_that_is_not_smtp(ns: str) -> None:
    async def main() -> str:
        async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.0 400 Bad\r\n\r\n")
            writer.close()

        async with await asyncio.start_server(http, HOST, 2526):
            return await verdict(SmtpProbe(Target(HOST, 2526), 2.0, "director"))

    assert run(ns, main).startswith("down: bad SMTP reply")


class DnsZone(asyncio.DatagramProtocol):
    """A one-zone DNS server built on dnspython: SOA and A for example.test., NXDOMAIN else."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        import dns.message
        import dns.rcode
        import dns.rrset

        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text()
        records = {("example.test.", 6): "ns1.example.test. admin.example.test. 1 60 60 60 60",
                   ("example.test.", 1): "198.18.0.1"}
        rdata = records.get((name, question.rdtype))
        if rdata is None:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        else:
            reply.answer.append(dns.rrset.from_text(name, 60, "IN", question.rdtype, rdata))
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)


def test_dns_check_against_a_dnspython_zone(ns: str) -> None:
    pytest.importorskip("dns.message")

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(DnsZone, local_addr=(HOST, 5353))
        try:
            return [
                await verdict(DnsProbe(Target(HOST, 5353), 1.0, "SOA", "example.test")),
                await verdict(DnsProbe(Target(HOST, 5353), 1.0, "A", "example.test.")),
                await verdict(DnsProbe(Target(HOST, 5353), 1.0, "A", "missing.test")),
                await verdict(DnsProbe(Target(OTHER, 5353), 1.0, "SOA", "example.test")),
            ]
        finally:
            transport.close()

    soa, a, missing, closed = run(ns, main)
    assert (soa, a) == ("up", "up")
    assert missing == "down: DNS reply rcode 3"
    assert closed.startswith("down: DNS query failed")


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"pong:" + data, addr)


def test_udp_check_with_and_without_a_required_reply(ns: str) -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(HOST, 9000))
        try:
            return [
                await verdict(UdpProbe(Target(HOST, 9000), 0.5, b"ping", True, b"pong")),
                await verdict(UdpProbe(Target(HOST, 9000), 0.5, b"ping", True, b"nope")),
                await verdict(UdpProbe(Target(HOST, 9000), 0.5, b"ping", True, None, 0, 4)),
                await verdict(UdpProbe(Target(OTHER, 9000), 0.5, b"ping")),
                await verdict(UdpProbe(Target(HOST, 9000), 0.2)),
            ]
        finally:
            transport.close()

    matched, mismatched, too_long, refused, silent_ok = run(ns, main)
    assert matched == "up"
    assert mismatched == "down: UDP reply does not match"
    assert too_long.startswith("down: UDP reply too long")
    assert refused.startswith("down: UDP check failed")
    assert silent_ok == "up"


def test_ping_check(ns: str) -> None:
    async def main() -> tuple[str, str]:
        return (await verdict(PingProbe(Target(HOST, None), 1.0)),
                await verdict(PingProbe(Target("198.18.9.9", None), 0.3)))

    up, down = run(ns, main)
    assert up == "up"
    assert down.startswith("down")


def test_misc_check_exit_codes_dynamic_weight_and_deadline(ns: str, tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit \"$1\"\n")
    script.chmod(0o755)

    async def main() -> list[object]:
        results: list[object] = []
        for code, dynamic in ((0, False), (1, False), (7, False), (7, True)):
            probe = MiscProbe(f"{script} {code}", 2.0, dynamic)
            try:
                results.append(await probe.attempt())
            except CheckFailed as exc:
                results.append(str(exc))
        # The shell becomes the sleep (exec), so the pid it writes is the one to be killed.
        results.append(await verdict(MiscProbe(
            f"sh -c 'echo $$ > {pidfile}; exec sleep 30'", 0.3)))
        return results

    pidfile = tmp_path / "slow.pid"
    ok, fail, fail7, dynamic, slow = run(ns, main)
    assert ok == Outcome()
    assert fail == "Misc check failed with exit status 1"
    assert fail7 == "Misc check failed with exit status 7"
    assert dynamic == Outcome(weight=5)
    assert slow == "down: timeout"
    # Our own sleep is gone (not any "sleep 30": other tests on this host may run one). No pid
    # written: the deadline killed the shell before it got that far, so it is gone as well.
    pid = pidfile.read_text().strip() if pidfile.exists() else ""
    if pid:
        assert "sleep" not in command_of(int(pid))


def command_of(pid: int) -> str:
    """The command line of process `pid`, or "" if there is none."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_file_check(tmp_path: Path) -> None:
    path = tmp_path / "value"

    async def main() -> list[str]:
        results = []
        for text, weight in (("0", 0), ("1", 0), ("3", 2), ("-300", 1)):
            path.write_text(text)
            results.append(await verdict(FileProbe(str(path), 1.0, weight)))
        return results

    assert asyncio.run(main()) == ["up", f"down: track file {path} value 1", "up",
                                   f"down: track file {path} value -300"]


async def run_command(*argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 10)
    return process.returncode or 0, out.decode()


def test_genhash_prints_the_digest_http_get_compares(ns: str) -> None:
    seen: list[bytes] = []

    async def main() -> tuple[int, str, int]:
        async with await http_server(8080, seen=seen):
            code, out = await run_command(sys.executable, "-m", "fastvrrp", "genhash",
                                          "-s", HOST, "-p", "8080", "-u", "/index.html")
            closed, _ = await run_command(sys.executable, "-m", "fastvrrp", "genhash",
                                          "-s", OTHER, "-p", "8080", "-t", "1")
        return code, out, closed

    code, out, closed = run(ns, main)
    assert (code, out) == (0, hashlib.md5(BODY).hexdigest() + "\n")
    assert seen[0].startswith(b"GET /index.html HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n")
    assert closed == 1


@pytest.mark.interop
def test_genhash_and_the_request_match_keepalived_genhash(ns: str) -> None:
    if shutil.which("genhash") is None:
        pytest.skip("keepalived's genhash is not installed")
    seen: list[bytes] = []

    async def main() -> tuple[str, str]:
        async with await http_server(8080, seen=seen):
            _, theirs = await run_command("genhash", "-s", HOST, "-p", "8080", "-u", "/a",
                                          "-V", "www.example.test")
            _, ours = await run_command(sys.executable, "-m", "fastvrrp", "genhash", "-s", HOST,
                                        "-p", "8080", "-u", "/a", "-V", "www.example.test")
        return theirs, ours

    theirs, ours = run(ns, main)
    assert ours.strip() in theirs
    assert seen[0] == seen[1]


def test_ha_suspend_skips_checks_while_the_virtual_address_is_absent(ns: str) -> None:
    from fastvrrp.config import model as m
    from fastvrrp.lvs.service import LoadBalancerService
    from fastvrrp.lvs.table import Service

    class Recorder:
        name = "recorder"

        def apply(self, services: list[Service]) -> None:
            pass

        def release(self, keep: bool = False) -> None:
            pass

    def config(vip: str) -> m.Config:
        server = m.RealServer(HOST, 8090, m.NOWHERE, checkers=(m.TcpCheck(delay_loop=0.05),))
        return m.Config(virtual_servers=(m.VirtualServer(m.NOWHERE, ip=vip, port=80,
                                                         ha_suspend=True,
                                                         real_servers=(server,)),))

    async def checks(vip: str) -> int:
        service = LoadBalancerService(config(vip), logging.getLogger("test"),
                                      dataplane=Recorder(), realtime_default=False)
        await service.start()
        attempts = 0
        probe = service.runners[0].probe
        original = probe.attempt

        async def counted() -> Outcome:
            nonlocal attempts
            attempts += 1
            return await original()

        probe.attempt = counted  # type: ignore[method-assign]
        await asyncio.sleep(0.3)
        await service.stop()
        return attempts

    assert run(ns, lambda: checks(OTHER)) > 0  # 198.18.0.2 is on this host
    assert run(ns, lambda: checks("198.18.0.99")) == 0
