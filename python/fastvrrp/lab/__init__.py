"""A network lab in namespaces: a LAN bridge, routers and a client, probes and captures.

    from fastvrrp.lab import Lab

    with Lab() as lab:                    # r1 .1, r2 .2, client .10 on 198.18.0.0/24
        lab.start_keepalived("r1", conf)  # every host has eth0
        ...

See docs/lab.md.
"""

from fastvrrp.lab.capture import Capture, CapturedPacket, PacketKind
from fastvrrp.lab.lab import Lab, LabError, ProbeRun
from fastvrrp.lab.probe import ProbeRecord, ProbeResult
from fastvrrp.lab.process import LabProcess
from fastvrrp.lab.topology import Host, Interface, Topology, vrrp_pair

__all__ = [
    "Capture",
    "CapturedPacket",
    "Host",
    "Interface",
    "Lab",
    "LabError",
    "LabProcess",
    "PacketKind",
    "ProbeRecord",
    "ProbeResult",
    "ProbeRun",
    "Topology",
    "vrrp_pair",
]
