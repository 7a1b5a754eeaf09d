"""VRRP advertisements on the wire: parse, validate and build them with the Rust core.

- ``parse(payload, src, dst, *, auth_type=None, auth_data=None) -> Advert`` validates a VRRP
  message (the IP payload) as RFC 5798 §7.1 receive checks do, and raises :class:`WireError`
  with a short ``.reason`` (``"length"``, ``"version"``, ``"addr_count"``,
  ``"auth_type_unknown"``, ``"auth_type"``, ``"auth"``, ``"interval"``, ``"type"``,
  ``"checksum"``, ``"family"``) and the keepalived counter in ``.stat``.
- ``build(version, vrid, priority, interval, addresses, src, dst, auth_type=0, auth_data=None,
  checksum_form="pseudo") -> bytes`` emits one.
- ``build_garp`` and ``build_unsolicited_na`` emit the announcement frames a new master sends.
"""

from fastvrrp._native import Advert, WireError, build_garp, build_unsolicited_na
from fastvrrp._native import build_advert as build
from fastvrrp._native import parse_advert as parse

__all__ = ["Advert", "WireError", "build", "build_garp", "build_unsolicited_na", "parse"]
