"""keepalived's genhash: fetch a URL the way HTTP_GET does and print the MD5 of its body."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import TextIO

from fastvrrp.check.base import CheckFailed, Target, host_header
from fastvrrp.check.http import HttpResponse, client_context, fetch


@dataclass(frozen=True)
class GenhashRequest:
    """What to fetch: the options of keepalived's genhash."""

    server: str
    port: int
    url: str = "/"
    ssl: bool = False
    virtualhost: str | None = None
    protocol: str = "1.0"
    timeout: float = 5.0
    fwmark: int | None = None
    bind_if: str | None = None
    sni: bool = False


async def fetch_for_digest(request: GenhashRequest) -> HttpResponse:
    """GET the URL with the checker's request form, bounded by the timeout."""
    target = Target(request.server, request.port, bind_if=request.bind_if, fwmark=request.fwmark)
    host = request.virtualhost or host_header(request.server, request.port)
    tls = client_context() if request.ssl else None
    name = request.virtualhost if request.sni else None
    return await asyncio.wait_for(fetch(target, request.url, host, request.protocol, tls, name),
                                  request.timeout)


def genhash(request: GenhashRequest, verbose: bool = False, out: TextIO = sys.stdout) -> int:
    """Print the digest (and, verbose, the headers); return the exit code."""
    try:
        response = asyncio.run(fetch_for_digest(request))
    except CheckFailed as exc:
        sys.stderr.write(f"genhash: {exc}\n")
        return 1
    except asyncio.TimeoutError:
        sys.stderr.write(f"genhash: timeout after {request.timeout:g} s\n")
        return 1
    if not response.body:
        sys.stderr.write("no data received from remote webserver\n")
        return 1
    if verbose:
        out.write(response.headers.decode(errors="replace") + "\n\n")
        out.write(f"HTTP status code: {response.status}\n")
        out.write(f"MD5SUM = {response.digest}\n")
    else:
        out.write(response.digest + "\n")
    return 0
