"""What `fastvrrp run` does with adverts it must not believe, and with adverts it outranks.

A fastvrrp master runs in r1; the client forges adverts for its VRID from a raw socket, each
with a higher priority than the master's. A forged advert that passes the checks makes the master
step down, so each test first shows the bad advert is ignored, then that the same advert made
good is obeyed (so the test proves the check, not a broken forgery). Checked: a wrong password,
a TTL below 255, a v2 interval mismatch; and a master answers a lower or zero priority at once.
"""

from __future__ import annotations

import socket
import time
from functools import partial

import pytest
from ops_helpers import VIP, instance_block

from fastvrrp import wire
from fastvrrp.lab import CapturedPacket, Lab, LabProcess, PacketKind

pytestmark = pytest.mark.netns

CLIENT = "198.18.0.10"
GROUP = "224.0.0.18"


def config(priority: int, *, version: int, advert_int: str, auth_pass: str | None = None) -> str:
    auth = (
        f"    authentication {{\n        auth_type PASS\n        auth_pass {auth_pass}\n    }}\n"
        if auth_pass is not None
        else ""
    )
    return instance_block(priority, version=version, interval=advert_int, body=auth)


def report(lab: Lab, *procs: LabProcess) -> str:
    parts = [f"holders of {VIP}: {lab.holders(VIP)}"]
    parts += [f"--- {p.host} (exit {p.returncode}):\n{p.log_text()}" for p in procs]
    return "\n".join(parts)


def stepped_down(proc: LabProcess, after: int) -> bool:
    return any("(VI_1) Entering BACKUP STATE" in line
               for line in proc.log_text().splitlines()[after:])


def forge(lab: Lab, payload: bytes, *, ttl: int, seconds: float, every: float) -> None:
    """Send `payload` to 224.0.0.18 from the client with `ttl`, every `every` s for `seconds`."""
    with lab.socket("client", socket.AF_INET, socket.SOCK_RAW, 112) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(CLIENT))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        for _ in range(max(1, round(seconds / every))):
            sock.sendto(payload, (GROUP, 0))
            time.sleep(every)


def start_master(lab: Lab, conf: str) -> LabProcess:
    r1 = lab.start_fastvrrp("r1", conf)
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1"], 10.0), report(lab, r1)
    return r1


def test_a_wrong_auth_pass_is_ignored_so_both_become_master(lab: Lab) -> None:
    # keepalived's behaviour too: neither believes the other, so each holds the VIP.
    r1 = start_master(lab, config(150, version=2, advert_int="1", auth_pass="1111"))
    r2 = lab.start_fastvrrp("r2", config(100, version=2, advert_int="1", auth_pass="2222"))
    assert lab.wait_for(lambda: lab.holders(VIP) == ["r1", "r2"], 10.0), report(lab, r1, r2)
    assert "(VI_1) Entering MASTER STATE" in r2.log_text()
    assert "Entering BACKUP STATE" not in r1.log_text().split("Entering MASTER STATE", 1)[1]


def test_forged_adverts_with_a_wrong_password_do_not_move_the_master(lab: Lab) -> None:
    r1 = start_master(lab, config(100, version=2, advert_int="1", auth_pass="1111"))
    mark = len(r1.log_text().splitlines())

    def advert(password: bytes) -> bytes:
        return wire.build(2, 51, 200, 1.0, [VIP], CLIENT, GROUP, auth_type=1, auth_data=password)

    # Priority 200 beats 100; a master obeys it at once, so 2 s of silence is a clear answer.
    forge(lab, advert(b"wrong"), ttl=255, seconds=2.0, every=0.2)
    assert lab.holders(VIP) == ["r1"], report(lab, r1)
    assert not stepped_down(r1, mark), report(lab, r1)

    forge(lab, advert(b"1111"), ttl=255, seconds=0.6, every=0.2)
    assert lab.wait_for(lambda: stepped_down(r1, mark), 2.0), report(lab, r1)


def test_adverts_with_a_ttl_below_255_do_not_move_the_master(lab: Lab) -> None:
    r1 = start_master(lab, config(100, version=3, advert_int="0.1"))
    mark = len(r1.log_text().splitlines())
    payload = wire.build(3, 51, 200, 0.1, [VIP], CLIENT, GROUP)

    forge(lab, payload, ttl=254, seconds=1.0, every=0.05)
    assert lab.holders(VIP) == ["r1"], report(lab, r1)
    assert not stepped_down(r1, mark), report(lab, r1)

    forge(lab, payload, ttl=255, seconds=0.3, every=0.05)
    assert lab.wait_for(lambda: stepped_down(r1, mark), 2.0), report(lab, r1)


def test_dropped_adverts_are_logged_in_keepalived_words(lab: Lab) -> None:
    r1 = start_master(lab, config(100, version=2, advert_int="1", auth_pass="1111"))
    bad_password = wire.build(2, 51, 200, 1.0, [VIP], CLIENT, GROUP, auth_type=1,
                              auth_data=b"wrong")
    good = wire.build(2, 51, 200, 1.0, [VIP], CLIENT, GROUP, auth_type=1, auth_data=b"1111")
    forge(lab, bad_password, ttl=255, seconds=0.2, every=0.1)
    forge(lab, good, ttl=254, seconds=0.2, every=0.1)
    assert lab.wait_for(lambda: "(VI_1) received an invalid passwd!" in r1.log_text(), 1.0)
    assert lab.wait_for(
        lambda: "(VI_1) invalid TTL/HL. Received 254 and expect 255" in r1.log_text(), 1.0
    )


def advert_after(src: str, after: float, packet: CapturedPacket) -> bool:
    """An advert from `src` captured after `after`."""
    return packet.kind is PacketKind.ADVERT and packet.src_ip == src and packet.time > after


@pytest.mark.parametrize("priority", [50, 0], ids=["lower", "zero"])
def test_a_master_answers_a_lower_or_zero_priority_at_once(lab: Lab, priority: int) -> None:
    # advert_int 1: an answer within 0.15 s of each forged advert, three times, is no accident.
    r1 = start_master(lab, config(100, version=2, advert_int="1", auth_pass="1111"))
    payload = wire.build(2, 51, priority, 1.0, [VIP], CLIENT, GROUP, auth_type=1,
                         auth_data=b"1111")
    gaps = []
    with lab.capture(duration=10.0) as cap:
        for _ in range(3):
            time.sleep(0.35)
            before = time.monotonic()
            forge(lab, payload, ttl=255, seconds=0.01, every=0.01)  # one advert
            # Both ends on the wire, stamped by the kernel: the time this test takes to open
            # the forging socket on a busy host is no part of the gap.
            forged = cap.wait_for(partial(advert_after, CLIENT, before), 1.5)
            assert forged is not None, "the forged advert was not captured"
            answer = cap.wait_for(partial(advert_after, "198.18.0.1", forged.time), 1.5)
            assert answer is not None, report(lab, r1)
            gaps.append(answer.time - forged.time)
    assert max(gaps) < 0.15, gaps
    assert lab.holders(VIP) == ["r1"]
    if priority:
        # RFC 9568 / keepalived: it also re-announces the VIP, to heal a split brain.
        garps = [p for p in cap.packets() if p.kind is PacketKind.ARP and p.src_ip == VIP]
        assert garps, "no gratuitous ARP after a lower-priority advert"


def test_a_v2_advert_with_another_interval_does_not_move_the_master(lab: Lab) -> None:
    r1 = start_master(lab, config(100, version=2, advert_int="1", auth_pass="1111"))
    mark = len(r1.log_text().splitlines())
    slower = wire.build(2, 51, 200, 2.0, [VIP], CLIENT, GROUP, auth_type=1, auth_data=b"1111")

    forge(lab, slower, ttl=255, seconds=1.5, every=0.25)
    assert lab.holders(VIP) == ["r1"], report(lab, r1)
    assert not stepped_down(r1, mark), report(lab, r1)
    assert "(VI_1) advertisement interval mismatch mine=1 sec rcv'd=2 sec" in r1.log_text()
