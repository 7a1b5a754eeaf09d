"""fastvrrp: a keepalived-compatible VRRP and load-balancer daemon with a Rust hot path."""

from fastvrrp._native import BUILD as NATIVE_BUILD
from fastvrrp._native import __version__

__all__ = ["NATIVE_BUILD", "__version__"]
