"""The seed's httpd scenario (keepalived pair, §8.4/8.5) end to end in the netns lab.

Each router runs fastvrrp with the seed's VRRP config: a `vrrp_script` (weight -20) checks the
local web server, and notify_master/notify_backup start and stop it. A tiny HTTP server stands
in for httpd and serves a page naming its node, so the client sees which router serves the VIP.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fastvrrp.lab import Lab

pytestmark = [pytest.mark.netns, pytest.mark.slow]

VIP = "198.18.0.100"

HTTPD = """\
import http.server, sys
node, root = sys.argv[1], sys.argv[2]
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"served by {node}\\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("0.0.0.0", 80), Page).serve_forever()
"""

# notify_master starts the server (then records the role), notify_backup stops it. pgrep and
# pkill see every process on the host: the pattern names this node's server by its directory,
# so another run of this test (another session on the same host) is left alone.
NOTIFY = """\
#!/bin/sh
dir={dir}
case "$1" in
master)
    if ! pgrep -f "$dir/httpd.py {node}" >/dev/null; then
        setsid {python} $dir/httpd.py {node} $dir </dev/null >>$dir/httpd.log 2>&1 &
    fi
    echo master > $dir/role ;;
backup)
    echo backup > $dir/role
    pkill -f "$dir/httpd.py {node}" ;;
esac
echo "$1" >> $dir/notified
"""

# The check fails only when this node should serve and its server is gone.
CHECK = """\
#!/bin/sh
[ "$(cat {dir}/role 2>/dev/null)" != master ] || pgrep -f "{dir}/httpd.py {node}" >/dev/null
"""

CONFIG = """\
! the seed's VRRP part, scripts moved to the test's directory
global_defs {{
    router_id {router_id}
    script_user root
    enable_script_security
}}

vrrp_script chk_httpd {{
    script "{dir}/chk_httpd.sh"
    interval 1
    weight -20
}}

vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass 1111
    }}
    virtual_ipaddress {{
        {vip}/24
    }}
    track_script {{
        chk_httpd
    }}
    notify_master "{dir}/vrrp-notify.sh master"
    notify_backup "{dir}/vrrp-notify.sh backup"
}}
"""


def setup_node(lab: Lab, node: str, state: str, priority: int, daemon: str = "fastvrrp") -> Path:
    """Write the node's scripts and config, and start fastvrrp there."""
    directory = lab.workdir / f"seed-{node}"
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    (directory / "httpd.py").write_text(HTTPD)
    for name, text in (("vrrp-notify.sh", NOTIFY), ("chk_httpd.sh", CHECK)):
        path = directory / name
        path.write_text(text.format(dir=directory, node=node, python=sys.executable))
        path.chmod(0o755)
    config = CONFIG.format(router_id=f"LVS_{state}", dir=directory, state=state,
                           priority=priority, vip=VIP)
    (lab.start_keepalived if daemon == "keepalived" else lab.start_fastvrrp)(node, config)
    return directory


def page(lab: Lab) -> str | None:
    """What the client gets from http://VIP/ (None when nothing answers)."""
    code = (f"import urllib.request; print(urllib.request.urlopen('http://{VIP}/', "
            "timeout=0.5).read().decode().strip())")
    proc = lab.run("client", [sys.executable, "-c", code], check=False, timeout=5)
    return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.mark.parametrize(
    "daemon", ["fastvrrp", pytest.param("keepalived", marks=pytest.mark.interop)])
def test_check_script_demotes_the_master_and_notify_moves_the_web_server(
    lab: Lab, daemon: str, keepalived_ready: str | None
) -> None:
    """The same scenario runs under keepalived too: the scripts and the outcome are the same."""
    if daemon == "keepalived" and keepalived_ready is not None:
        pytest.skip(keepalived_ready)
    r1 = setup_node(lab, "r1", "MASTER", 100, daemon)
    assert lab.wait_for(lambda: page(lab) == "served by r1", timeout=15, interval=0.2)
    r2 = setup_node(lab, "r2", "BACKUP", 90, daemon)  # after r1 is master: no election race
    assert lab.wait_for(lambda: (r2 / "role").exists(), timeout=5)
    assert lab.holders(VIP) == ["r1"]
    assert (r2 / "role").read_text().strip() == "backup"  # notify_backup ran at startup

    # httpd dies on the master: its check fails, 100 - 20 = 80 < 90, and r2 takes over.
    lab.run("r1", ["pkill", "-f", f"{r1}/httpd.py r1"])
    assert lab.wait_for(lambda: page(lab) == "served by r2", timeout=12, interval=0.2)
    assert lab.holders(VIP) == ["r2"]
    assert lab.wait_for(lambda: (r1 / "role").read_text().strip() == "backup", timeout=5)

    # As a backup r1's check passes again (100 > 90): it preempts, and its notify_master
    # brings its server back; r2's notify_backup stops r2's server.
    assert lab.wait_for(lambda: page(lab) == "served by r1", timeout=12, interval=0.2)
    assert lab.wait_for(
        lambda: lab.run("r2", ["pgrep", "-f", f"{r2}/httpd.py r2"], check=False).returncode != 0,
        timeout=5,
    )
    # r1 says `state MASTER` below 255, so it starts as BACKUP, as keepalived 2.2.7 does.
    assert (r1 / "notified").read_text().split() == ["backup", "master", "backup", "master"]
    assert (r2 / "notified").read_text().split() == ["backup", "master", "backup"]
