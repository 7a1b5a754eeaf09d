"""HTTP_GET and SSL_GET: each url answers with a wanted status code and body digest."""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import ssl
from dataclasses import dataclass

from fastvrrp.check.base import CheckFailed, Outcome, Target, host_header, open_socket
from fastvrrp.config.model import SslSettings, Url

#: The most of a body that is read; keepalived also stops at its buffer.
MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class HttpResponse:
    """What a GET returned: the status code, the body (up to Content-Length) and its MD5."""

    status: int
    headers: bytes
    body: bytes

    @property
    def digest(self) -> str:
        """The MD5 of the body, as lower-case hex: what `digest` and genhash use."""
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()


def request_bytes(path: str, host: str, protocol: str) -> bytes:
    """keepalived's request: GET, its User-Agent, `Connection: close` for 1.0C and 1.1, Host."""
    minor = 1 if protocol == "1.1" else 0
    close = "Connection: close\r\n" if protocol in ("1.0C", "1.1") else ""
    return (f"GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}"
            f"Host: {host}\r\n\r\n").encode()


def parse_response(data: bytes) -> HttpResponse:
    """Split a raw response; the body is cut at Content-Length when there is one."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise CheckFailed("Read, no data received")
    match = re.match(rb"HTTP/\d\.\d\s+(\d{3})", head)
    if match is None:
        raise CheckFailed("HTTP status line not found")
    length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    if length is not None:
        body = body[: int(length.group(1))]
    return HttpResponse(int(match.group(1)), head, body)


async def fetch(target: Target, path: str, host: str, protocol: str = "1.0",
                tls: ssl.SSLContext | None = None, server_name: str | None = None) -> HttpResponse:
    """One GET over a fresh connection, read to EOF (the caller bounds the time)."""
    sock = open_socket(target, socket.SOCK_STREAM)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (target.ip, target.port))
    except OSError as exc:
        sock.close()
        raise CheckFailed(f"Error connecting: {exc.strerror or exc}") from exc
    try:
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=tls, server_hostname=(server_name or "") if tls is not None else None)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise CheckFailed(f"SSL handshake/communication error connecting: {exc}") from exc
    try:
        writer.write(request_bytes(path, host, protocol))
        await writer.drain()
        chunks: list[bytes] = []
        size = 0
        while size < MAX_BODY:
            chunk = await reader.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, ssl.SSLError) as exc:
        raise CheckFailed(f"Read error: {exc}") from exc
    finally:
        writer.close()
    return parse_response(b"".join(chunks))


def client_context(settings: SslSettings | None = None) -> ssl.SSLContext:
    """SSL_GET's TLS client context from the `SSL` block.

    As in keepalived, the server is verified only when the block names a `ca` (its chain, not
    its name: checks connect to addresses). `certificate`/`key` (with `password`) are presented
    to servers that ask for a client certificate. Raises OSError or ssl.SSLError on bad files.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if settings is not None and settings.ca:
        context.load_verify_locations(cafile=settings.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    else:
        context.verify_mode = ssl.CERT_NONE
    if settings is not None and settings.certificate:
        context.load_cert_chain(settings.certificate, settings.key or None,
                                password=settings.password)
    return context


@dataclass
class HttpProbe:
    """GET every url in turn; each must have a wanted status and, if set, the digest/regex."""

    target: Target
    deadline: float
    urls: tuple[Url, ...]
    virtualhost: str | None = None
    protocol: str = "1.0"
    tls: ssl.SSLContext | None = None
    sni: bool = False

    async def attempt(self) -> Outcome:
        """Fetch each url; the first that disappoints fails the attempt."""
        if self.target.port is None:
            raise CheckFailed("no port to check")
        for url in self.urls:
            vhost = url.virtualhost or self.virtualhost
            host = vhost or host_header(self.target.ip, self.target.port)
            server_name = vhost if self.sni and vhost else None
            response = await fetch(self.target, url.path, host, self.protocol, self.tls,
                                   server_name)
            if not any(low <= response.status <= high for low, high in url.status_code):
                raise CheckFailed(f"HTTP status code error ({response.status}) url {url.path}")
            if url.digest and response.digest != url.digest.lower():
                raise CheckFailed(f"MD5 digest error url {url.path}")
            if url.regex is not None:
                found = re.search(url.regex.encode(), response.body) is not None
                if found == url.regex_no_match:
                    raise CheckFailed(f"Regex match failed url {url.path}")
        return Outcome()
