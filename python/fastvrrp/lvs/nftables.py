"""The nftables dataplane: IPVS-like NAT load balancing in fastvrrp's own table.

One table per family (`ip fastvrrp`, `ip6 fastvrrp`) holds:
- `prerouting` and `output` NAT chains that send each virtual service to its chain;
- one chain per service, `svc_...`: sticky rules (persistence) and one `dnat` whose target is
  picked from a slot map by `numgen inc` (rr, wrr) or `jhash` (sh, dh, mh);
- a `postrouting` NAT chain that records, for persistent services, which destination a client
  got, in a per-destination set with a timeout;
- with `lvs_timeouts`, conntrack timeout policies (`ct timeout` objects) that each service chain
  attaches to the new connections it NATs, and to no other connection.
Each change is one transaction that rewrites only the chains whose content changed.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastvrrp.lvs import nfnetlink as nl
from fastvrrp.lvs.libnft import Nft, NftError
from fastvrrp.lvs.nfnetlink import Element, ElementChange, ElementWriter
from fastvrrp.lvs.table import Destination, LvsOptions, Service, ServiceKey

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
    #: conntrack timeout policies in use (lvs_timeouts): name -> (protocol, state -> seconds).
    timeouts: dict[str, tuple[str, dict[str, int]]] = field(default_factory=dict)


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


def timeout_policies(timeouts: tuple[int, int, int] | None
                     ) -> dict[str, tuple[str, dict[str, int]]]:
    """lvs_timeouts (tcp, tcpfin, udp; 0: unchanged) as conntrack timeout policies, per
    protocol: (object name, state -> seconds).

    IPVS's tcp timeout is that of established connections; tcpfin that of a connection after
    its first FIN (conntrack's fin_wait and close_wait: the half-closed states); udp that of
    every UDP connection (unreplied and replied). The name carries the values, so a changed
    policy is a new object: the chains switch to it in one transaction and the old one goes.
    """
    tcp, tcpfin, udp = timeouts or (0, 0, 0)
    policies: dict[str, tuple[str, dict[str, int]]] = {}
    states = {**({"established": tcp} if tcp else {}),
              **({"fin_wait": tcpfin, "close_wait": tcpfin} if tcpfin else {})}
    if states:
        policies["tcp"] = (f"lvs_timeouts_tcp_{tcp}_{tcpfin}", states)
    if udp:
        policies["udp"] = (f"lvs_timeouts_udp_{udp}", {"unreplied": udp, "replied": udp})
    return policies


def build(services: Sequence[Service], family: str,
          previous: FamilyRuleset | None = None,
          timeouts: tuple[int, int, int] | None = None) -> FamilyRuleset:
    """The table content for the services of one family ("ip" or "ip6").

    With `previous`, a service whose slots fit in its previous map keeps the map's size.
    With `timeouts` (lvs_timeouts), each service chain first attaches its protocol's conntrack
    timeout policy to the connection (the NAT chains see only a connection's first packet).
    """
    ruleset = FamilyRuleset(family)
    policies = timeout_policies(timeouts)
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
        policy = policies.get(key.protocol)
        if policy is not None:
            ruleset.timeouts[policy[0]] = (key.protocol, policy[1])
            rules.append({"expr": [l4, {"ct timeout": policy[0]}]})
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


def timeout_declarations(old: FamilyRuleset | None, new: FamilyRuleset) -> str:
    """Native nft commands adding the new timeout policies, run before the transaction that
    refers to them: nftables 1.0.6's JSON drops a `ct timeout` policy (and aborts on its
    delete)."""
    lines = []
    for name, (protocol, states) in new.timeouts.items():
        if old is None or name not in old.timeouts:
            policy = ", ".join(f"{state}: {seconds}" for state, seconds in states.items())
            lines.append(f"add ct timeout {new.family} {TABLE} {name} {{ protocol {protocol}; "
                         f"l3proto {new.family}; policy = {{ {policy} }}; }}\n")
    return "".join(lines)


def timeout_removals(old: FamilyRuleset | None, new: FamilyRuleset) -> str:
    """Native nft commands deleting the policies no chain refers to any more (run after)."""
    if old is None:
        return ""
    return "".join(f"delete ct timeout {new.family} {TABLE} {name}\n"
                   for name in old.timeouts if name not in new.timeouts)


def _in(family: str) -> Json:
    return {"family": family, "table": TABLE}


@dataclass
class SlotIndex:
    """Where each live address sits in one service's slot map, and its share weight: what a
    verdict needs to move only that server's slots.

    Two lazy heaps find the address with the fewest and the most slots per weight without a
    scan: an entry is current while its address still holds that count at that weight.
    """

    weighted: bool
    positions: dict[str, list[int]] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)
    low: list[tuple[float, str, int, int]] = field(default_factory=list)
    high: list[tuple[float, str, int, int]] = field(default_factory=list)

    @classmethod
    def of(cls, slots: list[str], weights: dict[str, int], weighted: bool) -> SlotIndex | None:
        """The index of a map; None when a live address has no slot or a slot no weight."""
        index = cls(weighted)
        for slot, address in enumerate(slots):
            index.positions.setdefault(address, []).append(slot)
        index.weights = {a: index.share(w) for a, w in weights.items()
                         if a in index.positions}
        if set(index.weights) != set(index.positions) or 0 in index.weights.values():
            return None
        index.low = [index._entry(a, 1) for a in index.positions]
        index.high = [index._entry(a, -1) for a in index.positions]
        heapq.heapify(index.low)
        heapq.heapify(index.high)
        return index

    def share(self, weight: int) -> int:
        """The weight a destination's slots follow: its own (wrr, hashes) or 1 (rr)."""
        return (weight if self.weighted else 1) if weight > 0 else 0

    def _entry(self, address: str, sign: int) -> tuple[float, str, int, int]:
        count, weight = len(self.positions[address]), self.weights[address]
        return (sign * count / weight, address, count, weight)

    def _pop(self, heap: list[tuple[float, str, int, int]]) -> str | None:
        while heap:
            _, address, count, weight = heapq.heappop(heap)
            held = self.positions.get(address)
            if held is not None and len(held) == count and self.weights.get(address) == weight:
                return address
        return None

    def _move(self, slot: int, source: str | None, target: str) -> None:
        if source is not None:
            self.positions[source].remove(slot)
        self.positions.setdefault(target, []).append(slot)
        for address in (source, target):
            if address is not None and address in self.weights and self.positions[address]:
                heapq.heappush(self.low, self._entry(address, 1))
                heapq.heappush(self.high, self._entry(address, -1))

    def leave(self, address: str) -> dict[int, str] | None:
        """Give `address`'s slots to the addresses holding the fewest per weight."""
        given = self.positions.get(address)
        if given is None or len(self.positions) < 2:
            return None  # the map would empty: the rule changes
        del self.weights[address]
        moves: dict[int, str] = {}
        for slot in list(given):
            target = self._pop(self.low)
            if target is None:
                return None
            self._move(slot, address, target)
            moves[slot] = target
        del self.positions[address]
        return moves

    def join(self, address: str, weight: int) -> dict[int, str] | None:
        """Take `address`'s share of slots from the addresses holding the most per weight."""
        size = sum(len(p) for p in self.positions.values())
        wanted = size * weight // (sum(self.weights.values()) + weight)
        if wanted < 1 or address in self.positions:
            return None  # the map is too small for it: the rule changes
        self.weights[address] = weight
        moves: dict[int, str] = {}
        for _ in range(wanted):
            donor = self._pop(self.high)
            if donor is None or len(self.positions[donor]) <= 1:
                return None
            slot = self.positions[donor][-1]
            self._move(slot, donor, address)
            moves[slot] = address
        return moves

    def compact(self) -> None:
        """Drop stale heap entries once they outnumber the live ones."""
        if len(self.low) > 4 * len(self.positions) + 64:
            self.low = [self._entry(a, 1) for a in self.positions]
            self.high = [self._entry(a, -1) for a in self.positions]
            heapq.heapify(self.low)
            heapq.heapify(self.high)


def element_commands(family: str, dests_name: str, slots_name: str, old: Destination | None,
                     new: Destination | None, moves: dict[int, str]) -> list[Json]:
    """A verdict's change as nft JSON: the server's dests element, then its slots."""
    table = _in(family)
    commands: list[Json] = []
    if old is not None:
        commands.append({"delete": {"element": {**table, "name": dests_name, "elem": [
            {"concat": [old.address, old.port or 0]}]}}})
    if new is not None:
        commands.append({"add": {"element": {**table, "name": dests_name, "elem": [
            {"elem": {"val": {"concat": [new.address, new.port or 0]},
                      "comment": f"weight {new.weight}"}}]}}})
    if moves:
        changed = sorted(moves)
        commands.append({"delete": {"element": {**table, "name": slots_name, "elem": changed}}})
        commands.append({"add": {"element": {**table, "name": slots_name,
                                             "elem": [[i, moves[i]] for i in changed]}}})
    return commands


def element_changes(dests_name: str, slots_name: str, old: Destination | None,
                    new: Destination | None, moves: list[tuple[int, str]]) -> list[ElementChange]:
    """The same change as element_commands, encoded for nf_tables netlink."""
    changes: list[ElementChange] = []
    if old is not None:
        changes.append(ElementChange(False, dests_name, (
            Element(nl.address_port(old.address, old.port or 0)),)))
    if new is not None:
        changes.append(ElementChange(True, dests_name, (
            Element(nl.address_port(new.address, new.port or 0),
                    userdata=nl.comment(f"weight {new.weight}")),)))
    if moves:
        changes.append(ElementChange(False, slots_name,
                                     tuple(Element(nl.integer(i)) for i, _ in moves)))
        changes.append(ElementChange(True, slots_name, tuple(
            Element(nl.integer(i), nl.address(target)) for i, target in moves)))
    return changes


@dataclass
class NftablesDataplane:
    """Keeps fastvrrp's nftables tables equal to the services it is given."""

    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("fastvrrp.lvs"))
    nft: Nft | None = None
    name: str = "nftables"
    #: lvs_flush changes nothing here (the table is replaced at start anyway); lvs_timeouts
    #: become conntrack timeout policies; any lvs_flush_on_stop deletes the table whole.
    options: LvsOptions = field(default_factory=LvsOptions)
    #: The kernel refused conntrack timeout policies: lvs_timeouts are left out.
    timeouts_refused: bool = False
    applied: dict[str, FamilyRuleset] = field(default_factory=dict)
    #: The last transaction sent, for tests and debugging.
    last_commands: list[Json] = field(default_factory=list)
    #: Per slot map of a service that change() can update: the map's port and scheduler kind.
    changeable: dict[str, tuple[int, bool]] = field(default_factory=dict)
    #: Slot indexes of those maps, built by apply() so that no verdict pays for them.
    indexes: dict[str, SlotIndex] = field(default_factory=dict)
    #: Sends a verdict's element changes over netlink (None: through libnftables).
    writer: ElementWriter | None = None

    def change(self, key: ServiceKey, old: Destination | None, new: Destination | None) -> bool:
        """One destination of one service changed (a checker verdict): update only its dests
        element and the slots it gains or loses, in one small transaction.

        Returns False, having changed nothing, when that is not enough (persistence, a map that
        would empty or grow, a live weight change...): the caller then calls apply().
        """
        family = "ip6" if key.family == "inet6" else "ip"
        ruleset = self.applied.get(family)
        chain = chain_name(key)
        name, dests_name = f"{chain}_slots", f"{chain}_dests"
        kind = self.changeable.get(name)
        if ruleset is None or kind is None or self.nft is None or old == new:
            return old == new and ruleset is not None
        port = kind[0]
        weights = ruleset.dests.get(dests_name)
        slots = ruleset.maps.get(name)
        if weights is None or slots is None:
            return False
        for dest in (old, new):
            if dest is not None and (dest.port != port or dest.method != "NAT"):
                return False
        index = self.indexes.get(name)
        if index is None:
            return False  # no index (a map apply() could not index): the full diff
        before = index.share(old.weight) if old is not None else 0
        after = index.share(new.weight) if new is not None else 0
        moves: dict[int, str] | None = {}
        address = (new or old).address  # type: ignore[union-attr]
        if before != after and before and after:
            return False  # a live weight change: let the full build spread it
        if before and not after:
            moves = index.leave(address)
        elif after and not before:
            moves = index.join(address, after)
        if moves is None:
            # The index may be half-moved: forget it (the caller's apply() rebuilds it).
            del self.indexes[name]
            return False
        changed = sorted(moves)
        try:
            if self.writer is not None:
                self.writer.run(family, TABLE, element_changes(dests_name, name, old, new,
                                                               [(i, moves[i]) for i in changed]))
            else:
                self.nft.run(element_commands(family, dests_name, name, old, new, moves))
        except (NftError, OSError) as exc:
            # The kernel did not take it: rebuild the whole family's table on the next apply.
            self.indexes.clear()
            del self.applied[family]
            raise NftError(str(exc)) from exc
        # The same change in nft's JSON, for tests and debugging (after the kernel has it).
        commands = element_commands(family, dests_name, name, old, new, moves)
        self.last_commands = commands
        if old is not None:
            weights.pop((old.address, old.port or 0), None)
        if new is not None:
            weights[(new.address, new.port or 0)] = new.weight
        for slot, target in moves.items():
            slots[slot] = target
        index.compact()
        return True

    def apply(self, services: Sequence[Service]) -> None:
        """Rewrite the chains that differ from what was applied last, in one transaction."""
        if self.nft is None:
            self.nft = Nft()
            try:
                self.writer = ElementWriter()
            except OSError as exc:
                self.logger.debug("nf_tables netlink: %s - verdicts go through libnftables", exc)
        self.indexes.clear()
        self.changeable = {}
        changeable = {
            f"{chain_name(s.key)}_slots": (s.destinations[0].port or 0, s.scheduler != "rr")
            for s in services
            if not s.persistence_timeout and s.method == "NAT" and s.destinations
            and s.destinations[0].port and all(d.port == s.destinations[0].port
                                               and d.method == "NAT" for d in s.destinations)}
        commands: list[Json] = []
        declarations = policies = removals = ""
        wanted: dict[str, FamilyRuleset] = {}
        timeouts = None if self.timeouts_refused else self.options.timeouts
        for family in ("ip", "ip6"):
            mine = [s for s in services if (s.key.family == "inet6") == (family == "ip6")]
            if not mine and family not in self.applied:
                continue
            wanted[family] = build(mine, family, self.applied.get(family), timeouts)
            before = self.applied.get(family)
            declarations += map_declarations(before, wanted[family])
            policies += timeout_declarations(before, wanted[family])
            removals += timeout_removals(before, wanted[family])
            commands += diff_commands(before, wanted[family])
        if not commands:
            self.changeable = changeable
            self.last_commands = []
            self._index()
            return
        fresh = [family for family in wanted if family not in self.applied]
        if declarations or fresh:
            # A table left by an earlier run (-I) is replaced: add, delete, add.
            text = "".join(f"add table {f} {TABLE}\ndelete table {f} {TABLE}\n" for f in fresh)
            text += "".join(f"add table {f} {TABLE}\n" for f in wanted)
            self.nft.run_text(text + declarations)
        if policies:
            try:
                self.nft.run_text(policies)
            except NftError as exc:
                # A kernel without conntrack timeout policies: balance all the same.
                self.logger.error("lvs_timeouts: cannot add conntrack timeout policies (%s) "
                                  "- connections keep the kernel's timeouts", exc)
                self.timeouts_refused = True
                self.apply(services)
                return
        self.nft.run(commands)
        self.last_commands = commands
        if removals:
            try:
                self.nft.run_text(removals)
            except NftError as exc:  # an unused policy left behind harms nothing
                self.logger.warning("lvs_timeouts: cannot delete an old policy: %s", exc)
        self.applied = wanted
        self.changeable = changeable
        self._index()

    def _index(self) -> None:
        """Index every changeable slot map now, while the table is written, so that a verdict's
        change() finds it ready (about 2 ms for 1,000 slots, off the verdict path)."""
        for ruleset in self.applied.values():
            for name, (_, weighted) in self.changeable.items():
                slots = ruleset.maps.get(name)
                weights = ruleset.dests.get(name.removesuffix("_slots") + "_dests")
                if slots is None or weights is None:
                    continue
                index = SlotIndex.of(slots, {a: w for (a, _), w in weights.items()}, weighted)
                if index is not None:
                    self.indexes[name] = index

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
            if self.writer is not None:
                self.writer.close()
                self.writer = None
