"""What a lab is made of: one LAN (a bridge in its own switch namespace) and the hosts on it."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

# The only ranges the lab may use (benchmarking ranges, RFC 2544 and RFC 5180).
LAB_IPV4 = ipaddress.ip_network("198.18.0.0/15")
LAB_IPV6 = ipaddress.ip_network("2001:2::/48")

IFNAME_MAX = 15
# A namespace is named `<lab id>-<host>`; the lab id is 7 characters (`fv` + 5), so hosts get 7.
HOST_NAME_MAX = 7
_NAME = re.compile(r"^[a-z][a-z0-9]*$")


def _check_lab_address(cidr: str) -> None:
    iface = ipaddress.ip_interface(cidr)
    allowed = LAB_IPV4 if iface.version == 4 else LAB_IPV6
    if iface.ip not in allowed:
        raise ValueError(f"{cidr}: lab addresses must come from {LAB_IPV4} or {LAB_IPV6}")


@dataclass(frozen=True)
class Interface:
    """One veth interface of a host, plugged into the LAN bridge.

    `addresses` are CIDR strings ("198.18.0.1/24", "2001:2::1/64"); `mac` is optional
    (the kernel picks a random one otherwise).
    """

    name: str = "eth0"
    addresses: tuple[str, ...] = ()
    mac: str | None = None

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > IFNAME_MAX or "/" in self.name or " " in self.name:
            raise ValueError(f"bad interface name {self.name!r}")
        for cidr in self.addresses:
            _check_lab_address(cidr)


@dataclass(frozen=True)
class Host:
    """A network namespace with one or more interfaces on the LAN."""

    name: str
    interfaces: tuple[Interface, ...] = (Interface(),)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or len(self.name) > HOST_NAME_MAX:
            raise ValueError(
                f"host name {self.name!r} must be lowercase [a-z][a-z0-9]*, at most "
                f"{HOST_NAME_MAX} characters"
            )
        names = [i.name for i in self.interfaces]
        if len(set(names)) != len(names):
            raise ValueError(f"host {self.name}: duplicate interface names {names}")

    def interface(self, name: str) -> Interface:
        """The interface called `name`."""
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        raise KeyError(f"host {self.name} has no interface {name}")


@dataclass(frozen=True)
class Topology:
    """A LAN: the bridge `bridge` in namespace `switch`, and `hosts` plugged into it.

    Each host interface is one veth pair: `<ifname>` inside the host, and the bridge port
    `<host>-<ifname>` inside the switch namespace.
    """

    hosts: tuple[Host, ...]
    switch: str = "sw"
    bridge: str = "br0"
    _by_name: dict[str, Host] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate host names {names}")
        Host(self.switch, ())  # same naming rules as a host
        if self.switch in names:
            raise ValueError(f"host name {self.switch!r} is taken by the switch")
        for host in self.hosts:
            for iface in host.interfaces:
                port = self.port_name(host.name, iface.name)
                if len(port) > IFNAME_MAX:
                    raise ValueError(f"bridge port name {port!r} is longer than {IFNAME_MAX}")
        object.__setattr__(self, "_by_name", {h.name: h for h in self.hosts})

    def host(self, name: str) -> Host:
        """The host called `name`."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no host {name!r} in this topology") from None

    @staticmethod
    def port_name(host: str, ifname: str) -> str:
        """The name of the bridge port (in the switch namespace) facing `host`'s `ifname`."""
        return f"{host}-{ifname}"


def vrrp_pair(routers: int = 2, *, ipv6: bool = False) -> Topology:
    """The classic VRRP lab: routers r1..rN (.1, .2, .3) and `client` (.10) on 198.18.0.0/24.

    With `ipv6`, each also gets 2001:2::<same number>/64. Every host has `eth0`.
    """
    if not 1 <= routers <= 9:
        raise ValueError("routers must be between 1 and 9")

    def host(name: str, n: int) -> Host:
        addrs = [f"198.18.0.{n}/24"]
        if ipv6:
            addrs.append(f"2001:2::{n}/64")
        return Host(name, (Interface("eth0", tuple(addrs)),))

    return Topology(
        (*(host(f"r{i}", i) for i in range(1, routers + 1)), host("client", 10))
    )
