"""keepalived.conf texts for the lab's pairs: the same text runs under fastvrrp and keepalived."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Where the /32 VIPs of multi-instance settings live; a client adds this route on-link.
MULTI_VIP_ROUTE = "198.18.2.0/23"


@dataclass(frozen=True)
class PairSettings:
    """The VRRP settings shared by both routers of a pair, as a benchmark states them."""

    advert: float = 0.1
    version: int = 3
    instances: int = 1
    vips_per_instance: int = 1
    first_vrid: int = 51
    auth_pass: str | None = None
    rt_priority: int | None = None  # vrrp_rt_priority: SCHED_RR for the VRRP process/thread

    def vrid(self, index: int) -> int:
        """The VRID of instance `index` (0-based), wrapping within 1..255."""
        return (self.first_vrid - 1 + index) % 255 + 1

    def vips(self, index: int) -> list[str]:
        """The VIPs (CIDR) of instance `index`: 198.18.0.100/24 alone, else /32s from 198.18.2.1.

        Clients reach the /32s through `MULTI_VIP_ROUTE`, on-link.
        """
        if self.instances == 1 and self.vips_per_instance == 1:
            return ["198.18.0.100/24"]
        out = []
        for j in range(self.vips_per_instance):
            n = index * self.vips_per_instance + j
            out.append(f"198.18.{2 + n // 254}.{n % 254 + 1}/32")
        return out

    def all_vips(self) -> list[str]:
        """Every VIP of every instance, without prefix length."""
        return [v.split("/")[0] for i in range(self.instances) for v in self.vips(i)]


def skew_time(priority: int, interval: float, version: int) -> float:
    """Skew_Time in seconds: v3 scales it by the interval, v2 does not (RFC 3768/5798)."""
    return (256 - priority) * (interval if version == 3 else 1.0) / 256


def master_down_interval(priority: int, interval: float, version: int) -> float:
    """Master_Down_Interval of a backup of `priority` listening to adverts every `interval`."""
    return 3 * interval + skew_time(priority, interval, version)


def router_config(
    settings: PairSettings, *, priority: int, master: bool, router_id: str,
    interface: str = "eth0",
) -> str:
    """A keepalived.conf for one router of the pair."""
    lines = [
        "global_defs {",
        f"    router_id {router_id}",
        f"    vrrp_version {settings.version}",
        "    vrrp_garp_master_delay 0",
    ]
    if settings.rt_priority is not None:
        lines.append(f"    vrrp_rt_priority {settings.rt_priority}")
    lines += [
        "}",
    ]
    for i in range(settings.instances):
        lines += _instance(settings, i, priority=priority, master=master, interface=interface)
    return "\n".join(lines) + "\n"


def _instance(
    settings: PairSettings, index: int, *, priority: int, master: bool, interface: str
) -> Sequence[str]:
    advert = f"{settings.advert:g}"
    block = [
        f"vrrp_instance VI_{index + 1} {{",
        f"    state {'MASTER' if master else 'BACKUP'}",
        f"    interface {interface}",
        f"    virtual_router_id {settings.vrid(index)}",
        f"    priority {priority}",
        f"    advert_int {advert}",
    ]
    if settings.auth_pass is not None and settings.version == 2:
        block += [
            "    authentication {",
            "        auth_type PASS",
            f"        auth_pass {settings.auth_pass}",
            "    }",
        ]
    block.append("    virtual_ipaddress {")
    block += [f"        {vip}" for vip in settings.vips(index)]
    block += ["    }", "}"]
    return block
