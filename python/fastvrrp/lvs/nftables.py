"""The nftables dataplane: IPVS-like NAT load balancing in fastvrrp's own table.

One table per family (`ip fastvrrp`, `ip6 fastvrrp`) holds:
- `prerouting` and `output` NAT chains that send each virtual service to its chain;
- one chain per service, `svc_...`: sticky rules (persistence) and one `dnat` whose target is
  picked from a slot map by `numgen inc` (rr, wrr) or `jhash` (sh, dh, mh);
- a `postrouting` NAT chain that records, for persistent services, which destination a client
  got, in a per-destination set with a timeout.
Each change is one transaction that rewrites only the chains whose content changed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastvrrp.lvs.libnft import Nft, NftError
from fastvrrp.lvs.table import Destination, Service, ServiceKey

TABLE = "fastvrrp"
#: Schedulers nftables expresses: by a counter, or by a hash.
COUNTER_SCHEDULERS = {"rr", "wrr"}
HASH_SCHEDULERS = {"sh": "saddr", "dh": "daddr", "mh": "saddr"}
#: Schedulers that need connection counts, which nftables cannot keep: run as wrr.
WEIGHTED_FALLBACK = {"lc", "wlc", "sed", "nq", "lblc", "lblcr", "fo", "ovf", "twos"}
#: The most slots one service's map holds; weights are scaled down to fit.
MAX_SLOTS = 1024

Json = dict[str, Any]


def unsupported(service: Service) -> list[str]:
    """Why nftables cannot run this service as configured (empty when it can)."""
    reasons = []
    if service.method != "NAT" or any(d.method != "NAT" for d in service.destinations):
        reasons.append("lvs_method DR/TUN is not supported on the nftables backend (NAT only)")
    if service.scheduler in WEIGHTED_FALLBACK:
        reasons.append(f"lvs_sched {service.scheduler} is not supported on the nftables backend "
                       "(it runs as wrr)")
    if service.persistence_granularity not in (None, "255.255.255.255", "128"):
        reasons.append("persistence_granularity is not supported on the nftables backend")
    if service.ops:
        reasons.append("ops is not supported on the nftables backend")
    return reasons


def wrr_slots(destinations: Sequence[Destination]) -> list[Destination]:
    """IPVS's weighted round robin as a fixed sequence: higher weights are picked more often,
    interleaved, and the sequence is scaled to at most MAX_SLOTS entries."""
    live = [d for d in destinations if d.weight > 0]
    if not live:
        return []
    weights = [d.weight for d in live]
    total = sum(weights)
    if total > MAX_SLOTS:
        weights = [max(1, w * MAX_SLOTS // total) for w in weights]
    gcd = math.gcd(*weights)
    weights = [w // gcd for w in weights]
    slots: list[Destination] = []
    for current in range(max(weights), 0, -1):
        slots += [d for d, w in zip(live, weights, strict=True) if w >= current]
    return slots


def slots_for(service: Service) -> list[Destination]:
    """The slot map of a service: each live destination once (rr) or by weight."""
    if service.scheduler == "rr":
        return [d for d in service.destinations if d.weight > 0]
    return wrr_slots(service.destinations)


def chain_name(key: ServiceKey) -> str:
    """A chain name that says which service it is."""
    if key.fwmark is not None:
        return f"svc_fwm_{key.fwmark}_{key.protocol}"
    address = re.sub(r"[^0-9a-fA-F]", "_", key.address or "")
    return f"svc_{key.protocol}_{address}_{key.port or 0}"


def sticky_set(chain: str, dest: Destination) -> str:
    """The set of clients stuck to one destination of one service."""
    tag = hashlib.sha1(f"{dest.address}|{dest.port}".encode()).hexdigest()[:10]
    return f"{chain}_p{tag}"


@dataclass(frozen=True)
class FamilyRuleset:
    """The desired content of one family's table: chains (rules) and sticky sets (timeouts)."""

    family: str  # "ip" or "ip6"
    chains: dict[str, list[Json]] = field(default_factory=dict)
    sets: dict[str, int] = field(default_factory=dict)
    #: Named slot maps (slot number -> destination address) of services with one port.
    maps: dict[str, list[str]] = field(default_factory=dict)
    #: Per service, every destination (address, port) and its weight, weight 0 included.
    dests: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)


def _payload(proto: str, name: str) -> Json:
    return {"payload": {"protocol": proto, "field": name}}


def _match(left: Json, right: Any) -> Json:
    return {"match": {"op": "==", "left": left, "right": right}}


def _target(dest: Destination) -> Any:
    return {"concat": [dest.address, dest.port]} if dest.port else dest.address


def _dnat(family: str, addr: Any, port: int | None = None) -> Json:
    stmt: Json = {"family": family, "addr": addr}
    if port:
        stmt["port"] = port
    return {"dnat": stmt}


def remap(previous: list[str], wanted: list[str]) -> list[str]:
    """Spread `wanted`'s shares over `previous`'s slots, moving as few slots as possible, so a
    verdict changes a few map elements and not the rule (its modulus stays)."""
    size = len(previous)
    order = list(dict.fromkeys(wanted))
    counts = Counter(wanted)
    quota = {t: counts[t] * size // len(wanted) for t in order}
    spare = size - sum(quota.values())
    for target in order[:spare]:
        quota[target] += 1
    slots: list[str | None] = [None] * size
    for index, target in enumerate(previous):
        if quota.get(target, 0) > 0:
            slots[index] = target
            quota[target] -= 1
    refill = iter([t for t in order for _ in range(quota[t])])
    return [t if t is not None else next(refill) for t in slots]


def build(services: Sequence[Service], family: str,
          previous: FamilyRuleset | None = None) -> FamilyRuleset:
    """The table content for the services of one family ("ip" or "ip6").

    With `previous`, a service whose slots fit in its previous map keeps the map's size.
    """
    ruleset = FamilyRuleset(family)
    dispatch: list[Json] = []
    sticky: list[Json] = []
    wanted = "inet6" if family == "ip6" else "inet"
    for service in services:
        key = service.key
        if key.family != wanted or service.method != "NAT":
            continue
        chain = chain_name(key)
        l4 = _match({"meta": {"key": "l4proto"}}, key.protocol)
        if key.fwmark is not None:
            head = [_match({"meta": {"key": "mark"}}, key.fwmark), l4]
        else:
            head = [_match(_payload(family, "daddr"), key.address),
                    _match(_payload(key.protocol, "dport"), key.port)]
        dispatch.append({"expr": [*head, {"jump": {"target": chain}}]})
        rules: list[Json] = []
        live = [d for d in service.destinations if d.weight > 0]
        if service.persistence_timeout:
            for dest in live:
                name = sticky_set(chain, dest)
                ruleset.sets[name] = service.persistence_timeout
                rules.append({"expr": [_match(_payload(family, "saddr"), f"@{name}"), l4,
                                       _dnat(family, dest.address, dest.port)]})
                match_dest = ([_match(_payload(family, "daddr"), dest.address)] +
                             ([_match(_payload("th", "dport"), dest.port)] if dest.port else []))
                sticky.append({"expr": [
                    {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
                    *match_dest,
                    {"set": {"op": "update", "elem": _payload(family, "saddr"),
                             "set": f"@{name}"}}]})
        ruleset.dests[f"{chain}_dests"] = {(d.address, d.port or 0): d.weight
                                           for d in service.destinations}
        comment = f"{service.key} {service.scheduler}"
        slots = slots_for(service)
        ports = {d.port for d in slots}
        if slots and len(ports) == 1:
            # One port: a named map of addresses, updated element by element.
            name = f"{chain}_slots"
            addresses = [d.address for d in slots]
            before = previous.maps.get(name) if previous is not None else None
            if before is not None and len(before) >= len(addresses):
                addresses = remap(before, addresses)
            ruleset.maps[name] = addresses
            rules.append({"expr": [l4, _dnat(family, {"map": {
                "key": _pick(service, family, len(addresses)), "data": f"@{name}"}},
                ports.pop())], "comment": comment})
        elif slots:
            table = [[i, _target(d)] for i, d in enumerate(slots)]
            rules.append({"expr": [l4, _dnat(family, {"map": {
                "key": _pick(service, family, len(slots)), "data": {"set": table}}})],
                "comment": comment})
        else:
            rules.append({"expr": [{"counter": None}], "comment": f"{comment}: no destination"})
        ruleset.chains[chain] = rules
    ruleset.chains["prerouting"] = dispatch
    ruleset.chains["output"] = list(dispatch)
    ruleset.chains["postrouting"] = sticky
    return ruleset


def _pick(service: Service, family: str, size: int) -> Json:
    if service.scheduler in HASH_SCHEDULERS:
        return {"jhash": {"mod": size, "seed": 0,
                          "expr": _payload(family, HASH_SCHEDULERS[service.scheduler])}}
    return {"numgen": {"mode": "inc", "mod": size, "offset": 0}}


BASE_CHAINS = {"prerouting": ("prerouting", -100), "output": ("output", -100),
               "postrouting": ("postrouting", 100)}


def diff_commands(old: FamilyRuleset | None, new: FamilyRuleset) -> list[Json]:
    """One transaction turning table `old` (None: whatever is there) into `new`."""
    fam = new.family
    table = {"family": fam, "name": TABLE}
    commands: list[Json] = []
    if old is None:
        # The table was just (re)created empty by apply(); see `reset`.
        commands.append({"add": {"table": table}})
        old = FamilyRuleset(fam)
        for name, (hook, prio) in BASE_CHAINS.items():
            commands.append({"add": {"chain": {**_in(fam), "name": name, "type": "nat",
                                               "hook": hook, "prio": prio,
                                               "policy": "accept"}}})
        old.chains.update({name: [] for name in BASE_CHAINS})
    for name, timeout in new.sets.items():
        if name not in old.sets:
            commands.append({"add": {"set": {**_in(fam), "name": name,
                                             "type": "ipv6_addr" if fam == "ip6" else "ipv4_addr",
                                             "flags": ["timeout"],
                                             "timeout": timeout}}})
    addr_type = "ipv6_addr" if fam == "ip6" else "ipv4_addr"
    for name, slots in new.maps.items():
        before = old.maps.get(name)
        if before is None:
            pass  # declared by map_declarations(): JSON here cannot say `typeof`
        elif len(before) != len(slots):
            commands.append({"flush": {"map": {**_in(fam), "name": name}}})
        else:
            changed = [i for i, (a, b) in enumerate(zip(before, slots, strict=True)) if a != b]
            if changed:
                commands.append({"delete": {"element": {**_in(fam), "name": name,
                                                        "elem": changed}}})
                commands.append({"add": {"element": {**_in(fam), "name": name,
                                                     "elem": [[i, slots[i]] for i in changed]}}})
            continue
        commands.append({"add": {"element": {**_in(fam), "name": name,
                                             "elem": [[i, a] for i, a in enumerate(slots)]}}})
    for name, weights in new.dests.items():
        before_weights = old.dests.get(name)
        if before_weights is None:
            commands.append({"add": {"set": {**_in(fam), "name": name,
                                             "type": [addr_type, "inet_service"]}}})
            before_weights = {}
        gone = [k for k, w in before_weights.items() if weights.get(k) != w]
        fresh = [k for k, w in weights.items() if before_weights.get(k) != w]
        if gone:
            commands.append({"delete": {"element": {**_in(fam), "name": name, "elem": [
                {"concat": list(k)} for k in gone]}}})
        if fresh:
            commands.append({"add": {"element": {**_in(fam), "name": name, "elem": [
                {"elem": {"val": {"concat": list(k)}, "comment": f"weight {weights[k]}"}}
                for k in fresh]}}})
    for name, rules in new.chains.items():
        if name not in old.chains:
            commands.append({"add": {"chain": {**_in(fam), "name": name}}})
        elif old.chains[name] != rules:
            commands.append({"flush": {"chain": {**_in(fam), "name": name}}})
        else:
            continue
        for rule in rules:
            commands.append({"add": {"rule": {**_in(fam), "chain": name, **rule}}})
    for name in old.chains:
        if name not in new.chains:
            commands.append({"delete": {"chain": {**_in(fam), "name": name}}})
    for name in old.sets:
        if name not in new.sets:
            commands.append({"delete": {"set": {**_in(fam), "name": name}}})
    for name in old.dests:
        if name not in new.dests:
            commands.append({"delete": {"set": {**_in(fam), "name": name}}})
    for name in old.maps:
        if name not in new.maps:
            commands.append({"delete": {"map": {**_in(fam), "name": name}}})
    return commands


def map_declarations(old: FamilyRuleset | None, new: FamilyRuleset) -> str:
    """Native nft commands declaring the new slot maps, run before diff_commands' transaction.

    nftables 1.0.6's JSON cannot declare a map keyed by `typeof numgen` (an integer), so these
    few lines use the native syntax; everything else, elements included, goes through JSON.
    """
    addr = "ip6 daddr" if new.family == "ip6" else "ip daddr"
    return "".join(f"add map {new.family} {TABLE} {name} {{ typeof numgen inc mod 1 : {addr}; }}\n"
                   for name in new.maps if old is None or name not in old.maps)


def _in(family: str) -> Json:
    return {"family": family, "table": TABLE}


@dataclass
class NftablesDataplane:
    """Keeps fastvrrp's nftables tables equal to the services it is given."""

    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fastvrrp.lvs"))
    nft: Nft | None = None
    name: str = "nftables"
    applied: dict[str, FamilyRuleset] = field(default_factory=dict)
    #: The last transaction sent, for tests and debugging.
    last_commands: list[Json] = field(default_factory=list)

    def apply(self, services: Sequence[Service]) -> None:
        """Rewrite the chains that differ from what was applied last, in one transaction."""
        if self.nft is None:
            self.nft = Nft()
        commands: list[Json] = []
        declarations = ""
        wanted: dict[str, FamilyRuleset] = {}
        for family in ("ip", "ip6"):
            mine = [s for s in services if (s.key.family == "inet6") == (family == "ip6")]
            if not mine and family not in self.applied:
                continue
            wanted[family] = build(mine, family, self.applied.get(family))
            before = self.applied.get(family)
            declarations += map_declarations(before, wanted[family])
            commands += diff_commands(before, wanted[family])
        if not commands:
            return
        fresh = [family for family in wanted if family not in self.applied]
        if declarations or fresh:
            # A table left by an earlier run (-I) is replaced: add, delete, add.
            text = "".join(f"add table {f} {TABLE}\ndelete table {f} {TABLE}\n" for f in fresh)
            text += "".join(f"add table {f} {TABLE}\n" for f in wanted)
            self.nft.run_text(text + declarations)
        self.nft.run(commands)
        self.last_commands = commands
        self.applied = wanted

    def release(self, keep: bool = False) -> None:
        """Delete fastvrrp's tables (unless `keep`), leaving the rest of the ruleset alone."""
        if self.nft is None:
            return
        try:
            if not keep:
                for family in self.applied:
                    self.nft.run([{"delete": {"table": {"family": family, "name": TABLE}}}])
        except NftError as exc:
            self.logger.warning("cannot remove nftables table %s: %s", TABLE, exc)
        finally:
            self.applied = {}
            self.nft.close()
            self.nft = None
