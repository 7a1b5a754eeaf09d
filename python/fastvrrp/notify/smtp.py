"""SMTP alerts in keepalived's form, sent from a background task that failover never waits for.

Subject `[<router_id>] VRRP Instance VI_1 - Entering MASTER state`, a one-line body such as
`=> VRRP Instance is now owning VRRP VIPs <=`, and the headers Date, From, Subject, X-Mailer, To.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from dataclasses import dataclass
from email.utils import formatdate

from fastvrrp.config.model import GlobalDefs
from fastvrrp.notify.runner import finish

_INSTANCE_TEXT = {
    "MASTER": ("Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="),
    "BACKUP": ("Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "FAULT": ("Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="),
    "STOP": ("Stopping", "=> VRRP Instance stopping <="),
}
_GROUP_TEXT = {
    "MASTER": ("Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="),
    "BACKUP": ("Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="),
    "FAULT": ("Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="),
    "STOP": ("Stopping", "=> All VRRP group instances are now stopping <="),
}


@dataclass(frozen=True)
class Alert:
    """One mail: subject and body, before the headers are added."""

    subject: str
    body: str


def router_id(global_defs: GlobalDefs) -> str:
    """`router_id`, or the host name as keepalived defaults it."""
    return global_defs.router_id or socket.gethostname()


def instance_alert(global_defs: GlobalDefs, name: str, state: str) -> Alert | None:
    """The alert keepalived sends when instance `name` enters `state` (None: no mail for it)."""
    text = _INSTANCE_TEXT.get(state)
    if text is None:
        return None
    return Alert(f"[{router_id(global_defs)}] VRRP Instance {name} - {text[0]}", text[1])


def group_alert(global_defs: GlobalDefs, name: str, state: str) -> Alert | None:
    """The alert keepalived sends when sync group `name` enters `state`."""
    text = _GROUP_TEXT.get(state)
    if text is None:
        return None
    return Alert(f"[{router_id(global_defs)}] VRRP Group {name} - {text[0]}", text[1])


def message(global_defs: GlobalDefs, alert: Alert) -> bytes:
    """The DATA part of the mail, dot-stuffed, ending with the lone dot."""
    headers = (
        f"Date: {formatdate(localtime=True)}\r\n"
        f"From: {global_defs.notification_email_from or ''}\r\n"
        f"Subject: {alert.subject}\r\n"
        "X-Mailer: Keepalived\r\n"
        f"To: {', '.join(global_defs.notification_email)}\r\n\r\n"
    )
    body = "\r\n".join(
        "." + line if line.startswith(".") else line for line in alert.body.splitlines()
    )
    return (headers + body + "\r\n\r\n.\r\n").encode()


class SmtpError(Exception):
    """The server refused a step; the message says which and with what code."""


class SmtpAlerter:
    """Sends alerts to `smtp_server` in background tasks; each step has `smtp_connect_timeout`."""

    def __init__(self, global_defs: GlobalDefs, logger: logging.Logger) -> None:
        self.global_defs = global_defs
        self.logger = logger
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        """keepalived sends mail only with a server and at least one recipient."""
        return bool(self.global_defs.smtp_server and self.global_defs.notification_email)

    def send(self, alert: Alert) -> None:
        """Queue `alert` for sending and return at once."""
        if not self.enabled:
            return
        task = asyncio.get_running_loop().create_task(self._send(alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, grace: float = 1.0) -> None:
        """Give mails in flight `grace` seconds, then drop them."""
        await finish(self._tasks, grace)

    async def _send(self, alert: Alert) -> None:
        g = self.global_defs
        host = f"[{g.smtp_server}]:{g.smtp_port}"
        try:
            await self._deliver(alert)
        except asyncio.TimeoutError:
            self.logger.info("Timeout connecting SMTP server %s.", host)
        except (OSError, SmtpError) as exc:
            self.logger.info("SMTP connection ERROR to %s: %s", host, exc)
        else:
            self.logger.info("SMTP alert successfully sent.")

    async def _deliver(self, alert: Alert) -> None:
        g = self.global_defs
        timeout = g.smtp_connect_timeout
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(g.smtp_server, g.smtp_port), timeout
        )
        try:

            async def step(line: bytes | None, want: int) -> None:
                if line is not None:
                    writer.write(line)
                    await asyncio.wait_for(writer.drain(), timeout)
                code = await asyncio.wait_for(_reply_code(reader), timeout)
                if code != want:
                    what = line.split(b" ")[0].decode().strip() if line else "greeting"
                    raise SmtpError(f"{what} got status {code}")

            await step(None, 220)
            await step(f"HELO {g.smtp_helo_name or socket.gethostname()}\r\n".encode(), 250)
            await step(f"MAIL FROM:<{g.notification_email_from or ''}>\r\n".encode(), 250)
            for rcpt in g.notification_email:
                await step(f"RCPT TO:<{rcpt}>\r\n".encode(), 250)
            await step(b"DATA\r\n", 354)
            await step(message(g, alert), 250)
            writer.write(b"QUIT\r\n")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), timeout)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


async def _reply_code(reader: asyncio.StreamReader) -> int:
    """The code of the last line of a (possibly multi-line) SMTP reply."""
    while True:
        line = await reader.readline()
        if not line:
            raise SmtpError("server closed the connection")
        if len(line) < 3 or not line[:3].isdigit():
            raise SmtpError(f"bad reply {line[:40]!r}")
        if line[3:4] != b"-":
            return int(line[:3])
