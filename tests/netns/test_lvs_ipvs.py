"""The IPVS dataplane live, where the kernel has IPVS (this project's machines do not)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from fastvrrp.lab import netns
from fastvrrp.lvs.ipvs import PROC_IP_VS, IpvsDataplane
from fastvrrp.lvs.table import Destination, Service, ServiceKey

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not os.path.exists(PROC_IP_VS),
                       reason="this kernel has no IPVS (/proc/net/ip_vs is missing); the IPVS "
                              "backend is tested at the netlink-message level in "
                              "tests/unit/test_lvs.py"),
]


@pytest.fixture
def ns(netns_ready: str | None) -> Iterator[str]:
    if netns_ready is not None:
        pytest.skip(netns_ready)
    name = "fvipvs" + secrets.token_hex(3)
    netns.create([name])
    try:
        yield name
    finally:
        netns.delete([name])


def test_services_and_destinations_reach_the_kernel_as_diffs(ns: str) -> None:
    key = ServiceKey("inet", "tcp", "198.18.0.100", 80)

    def scenario() -> tuple[str, str, str]:
        plane = IpvsDataplane()
        plane.apply([Service(key, "wrr", destinations=(Destination("198.18.1.11", 80, 3),
                                                       Destination("198.18.1.12", 80, 1)))])
        with open(PROC_IP_VS) as handle:
            first = handle.read()
        plane.apply([Service(key, "wrr", destinations=(Destination("198.18.1.11", 80, 0),))])
        with open(PROC_IP_VS) as handle:
            second = handle.read()
        plane.release()
        with open(PROC_IP_VS) as handle:
            return first, second, handle.read()

    first, second, last = netns.run_in(ns, scenario)
    assert "C6126401:0050 wrr" in first  # 198.18.0.100:80
    assert "C612010B:0050      Masq    3" in first and "C612010C:0050" in first
    assert "C612010C" not in second and "Masq    0" in second
    assert "C6126401" not in last


def test_lvs_flush_empties_the_table_first_and_flush_on_stop_in_one_command(ns: str) -> None:
    from fastvrrp.lvs.table import LvsOptions

    earlier = ServiceKey("inet", "tcp", "198.18.0.101", 80)
    key = ServiceKey("inet", "tcp", "198.18.0.100", 80)

    def scenario() -> tuple[str, str]:
        other = IpvsDataplane()  # a service fastvrrp does not know about (an earlier run)
        other.apply([Service(earlier, "rr", destinations=(Destination("198.18.1.11", 80, 1),))])
        other._socket.close()
        other._socket = None
        plane = IpvsDataplane(options=LvsOptions(flush=True, flush_on_stop="FULL",
                                                 timeouts=(900, 0, 100)))
        plane.apply([Service(key, "rr", destinations=(Destination("198.18.1.12", 80, 1),))])
        with open(PROC_IP_VS) as handle:
            running = handle.read()
        plane.release()
        with open(PROC_IP_VS) as handle:
            return running, handle.read()

    running, last = netns.run_in(ns, scenario)
    assert "C6126465" not in running and "C6126464:0050 rr" in running  # .101 flushed
    assert "C6126464" not in last
