"""Virtual servers: the state machine over checker verdicts, and the IPVS/nftables dataplanes."""

from fastvrrp.lvs.state import LoadBalancer, Notice, VirtualServerState
from fastvrrp.lvs.table import Dataplane, Destination, Service, ServiceKey

__all__ = ["Dataplane", "Destination", "LoadBalancer", "Notice", "Service", "ServiceKey",
           "VirtualServerState"]
