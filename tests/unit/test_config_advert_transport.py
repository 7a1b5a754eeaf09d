"""The advert transport keywords read and checked as keepalived does: multicast groups,
unicast_ttl, vrrp_priority and vrrp_cpu_affinity."""

from __future__ import annotations

from pathlib import Path

from fastvrrp.config import CheckResult, check_file
from fastvrrp.config.model import Config, GlobalDefs
from fastvrrp.daemon import instance_spec


def check_text(tmp_path: Path, text: str) -> CheckResult:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    return check_file(str(path), "node1", interfaces=None)


def instance(extra: str = "", vip: str = "198.18.0.100/24") -> str:
    return ("vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n"
            f"{extra}    virtual_ipaddress {{\n        {vip}\n    }}\n}}\n")


def config_of(result: CheckResult) -> Config:
    assert result.config is not None, result.diagnostics
    return result.config


def messages(result: CheckResult) -> list[str]:
    return [d.message for d in result.diagnostics]


def test_groups_and_engine_settings_are_read(tmp_path: Path) -> None:
    result = check_text(tmp_path, (
        "global_defs {\n    vrrp_mcast_group4 239.255.18.18\n    vrrp_mcast_group6 ff12::1:18\n"
        "    vrrp_priority -5\n    vrrp_cpu_affinity 1 0 1\n}\n") + instance(
        "    mcast_dst_ip 239.1.1.1\n"))
    assert messages(result) == []
    g = config_of(result).global_defs
    assert (g.vrrp_mcast_group4, g.vrrp_mcast_group6) == ("239.255.18.18", "ff12::1:18")
    assert (g.vrrp_priority, g.vrrp_cpu_affinity) == (-5, (0, 1))
    assert config_of(result).vrrp_instances[0].mcast_dst_ip == "239.1.1.1"


def test_groups_must_be_multicast_and_ipv6_link_local(tmp_path: Path) -> None:
    result = check_text(tmp_path, (
        "global_defs {\n    vrrp_mcast_group4 198.18.0.1\n    vrrp_mcast_group6 ff05::12\n"
        "    vrrp_cpu_affinity 0 x\n}\n") + instance("    mcast_dst_ip 2001:2::1\n"))
    assert messages(result) == [
        "vrrp_mcast_group4 '198.18.0.1' is not a multicast address",
        "vrrp_mcast_group6 'ff05::12' is not a multicast address of link-local scope (ffX2::)",
        "invalid CPU 'x' in vrrp_cpu_affinity",
        "mcast_dst_ip '2001:2::1' is not a multicast address of link-local scope (ffX2::)",
    ]
    assert config_of(result).global_defs.vrrp_mcast_group4 == "224.0.0.18"


def test_an_instance_sends_to_its_group_else_the_global_one(tmp_path: Path) -> None:
    result = check_text(tmp_path, "global_defs {\n    vrrp_mcast_group4 239.255.18.18\n}\n"
                        + instance("    unicast_ttl 9\n    unicast_peer {\n        198.18.0.2\n"
                                   "    }\n"))
    spec = instance_spec(config_of(result).vrrp_instances[0], config_of(result).global_defs)
    assert spec.name == "VI_1"
    wrong_family = check_text(tmp_path, instance("    mcast_dst_ip ff02::1:18\n"))
    assert messages(wrong_family) == [
        "(VI_1) mcast_dst_ip ff02::1:18 is not of the instance's family - ignoring"]
    assert config_of(wrong_family).vrrp_instances[0].mcast_dst_ip is None
    assert instance_spec(config_of(wrong_family).vrrp_instances[0], GlobalDefs()).name == "VI_1"
