"""SMTP alerts: a real mail server (aiosmtpd) on loopback inside a router's namespace gets the
alert; a mail server that never answers does not delay a failover.
"""

from __future__ import annotations

import socket
import sys
import time

import pytest

from fastvrrp.lab import Lab

pytestmark = pytest.mark.netns

VIP = "198.18.0.100"

CONFIG = """\
global_defs {{
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

vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    version 3
    priority {priority}
    advert_int 0.5
    virtual_ipaddress {{
        {vip}/24
    }}
    smtp_alert
}}
"""


def config(node: str, priority: int, port: int) -> str:
    return CONFIG.format(node=node, priority=priority, port=port, vip=VIP)


def test_the_alert_reaches_a_real_mail_server(lab: Lab) -> None:
    pytest.importorskip("aiosmtpd")
    mailer = lab.spawn("r1", [sys.executable, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:2525",
                              "-c", "aiosmtpd.handlers.Debugging"])
    assert lab.wait_for(
        lambda: ":2525" in lab.run("r1", ["ss", "-ltn"]).stdout, timeout=10, interval=0.1)
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
