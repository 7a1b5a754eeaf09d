"""SMTP alerts: a real mail server (aiosmtpd) on loopback inside a router's namespace gets the
alert; a mail server that never answers does not delay a failover.
"""

from __future__ import annotations

import socket
import sys
import time

import pytest
from ops_helpers import VIP, Start, instance_block, under_both

from fastvrrp.lab import Lab, LabProcess
from fastvrrp.lab.pytest_fixtures import LabFactory

pytestmark = pytest.mark.netns


def config(node: str, priority: int, port: int) -> str:
    return f"""global_defs {{
    router_id {node}
    notification_email {{
        ops@example.net
        oncall@example.net
    }}
    notification_email_from keepalived@{node}.example.net
    smtp_server 127.0.0.1 {port}
    smtp_connect_timeout 30
    smtp_helo_name {node}.example.net
}}

""" + instance_block(priority, interval=0.5, body="    smtp_alert")


def start_mail_server(lab: Lab) -> LabProcess:
    """aiosmtpd on 127.0.0.1:2525 in r1, printing each message it gets, once it listens."""
    mailer = lab.spawn("r1", [sys.executable, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:2525",
                              "-c", "aiosmtpd.handlers.Debugging"])
    assert lab.wait_for(
        lambda: ":2525" in lab.run("r1", ["ss", "-ltn"]).stdout, timeout=10, interval=0.1)
    return mailer


def test_the_alert_reaches_a_real_mail_server(lab: Lab) -> None:
    pytest.importorskip("aiosmtpd")
    mailer = start_mail_server(lab)
    daemon = lab.start_fastvrrp("r1", config("r1", 100, 2525))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
    subject = "Subject: [r1] VRRP Instance VI_1 - Entering MASTER state"
    assert lab.wait_for(lambda: subject in mailer.log_text(), timeout=5)
    text = mailer.log_text()
    assert "=> VRRP Instance is now owning VRRP VIPs <=" in text
    assert "X-Mailer: Keepalived" in text
    assert "From: keepalived@r1.example.net" in text
    assert "To: ops@example.net, oncall@example.net" in text
    assert "SMTP alert successfully sent." in daemon.log_text()


def test_a_mail_server_that_never_answers_does_not_delay_failover(lab: Lab) -> None:
    # A listener nobody accepts from: connections complete, and the greeting never comes.
    with lab.socket("r2", socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 2526))
        silent.listen(64)
        lab.start_fastvrrp("r1", config("r1", 100, 2526))
        r2 = lab.start_fastvrrp("r2", config("r2", 90, 2526))
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], timeout=5)
        time.sleep(0.5)  # r2's startup mail is now hanging on the silent server

        t0 = time.monotonic()
        lab.link_down("r1")
        assert lab.wait_for(lambda: lab.holders(VIP) == ["r2"], timeout=5, interval=0.01)
        took = time.monotonic() - t0
        # Master_Down_Interval is 3 x 0.5 s + skew (0.33 s); the mail must add nothing.
        assert took < 2.5
        assert "SMTP alert successfully sent." not in r2.log_text()


def mails(log: str) -> list[dict[str, str]]:
    """The messages aiosmtpd's Debugging handler printed: headers we compare, and the body."""
    out: list[dict[str, str]] = []
    for chunk in log.split("---------- MESSAGE FOLLOWS ----------")[1:]:
        text = chunk.split("------------ END MESSAGE ------------")[0].strip("\n")
        head, _, body = text.partition("\n\n")
        fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        out.append({k: fields.get(k, "") for k in ("From", "Subject", "X-Mailer", "To")}
                   | {"body": body.strip()})
    return out


def startup_mails(lab: Lab, start: Start) -> list[dict[str, str]]:
    mailer = start_mail_server(lab)
    start("r1", config("r1", 100, 2525))
    assert lab.wait_for(lambda: len(mails(mailer.log_text())) >= 2, timeout=8)
    return mails(mailer.log_text())[:2]


@pytest.mark.interop
def test_the_mails_match_keepalived_s(
    lab_factory: LabFactory, keepalived_ready: str | None
) -> None:
    pytest.importorskip("aiosmtpd")
    theirs, ours = under_both(lab_factory, keepalived_ready, startup_mails)
    assert [m["Subject"] for m in theirs] == ["[r1] VRRP Instance VI_1 - Entering BACKUP state",
                                             "[r1] VRRP Instance VI_1 - Entering MASTER state"]
    assert ours == theirs
