"""From raw blocks to the typed model: defaults, inheritance, cross references and checks.

The messages follow keepalived 2.2.7's wording, so an operator grepping for keepalived's
complaint finds fastvrrp's.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from fastvrrp.config import model as m
from fastvrrp.config.keywords import Raw
from fastvrrp.config.model import NOWHERE, Location
from fastvrrp.config.reader import Statement
from fastvrrp.config.values import Context, parse_address, parse_prefix

_SCOPES = frozenset({"site", "link", "host", "nowhere", "global"})
_ADDRESS_FLAGS = frozenset({"home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin"})
_ROUTE_TYPES = frozenset({"unicast", "blackhole", "unreachable", "prohibit", "throw", "local",
                          "broadcast", "multicast", "nat", "anycast"})
_ROUTE_VALUE_OPTIONS = frozenset({
    "tos", "mtu", "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "ssthresh",
    "realms", "rto_min", "initcwnd", "initrwnd", "features", "quickack", "congctl", "pref",
    "fastopen_no_cookie", "vrf", "hoplimit", "expires", "ttl-propagate", "track_group",
    "encap",
})
_ROUTE_FLAGS = frozenset({"onlink", "append", "inet6", "inet", "lock", "ecn", "pervasive",
                          "no_track"})
_RULE_VALUE_OPTIONS = frozenset({"tos", "realms", "goto", "uidrange", "protocol", "ip_proto",
                                 "sport", "dport", "suppress_prefixlength", "suppress_ifgroup",
                                 "track_group", "dsfield"})
_RULE_ACTIONS = frozenset({"blackhole", "prohibit", "unreachable", "nop"})


def _loc(raw: Raw, key: str) -> Location:
    where = raw.get("@" + key)
    if isinstance(where, Location):
        return where
    if isinstance(where, tuple):
        return Location(*where)
    self_loc = raw.get("@self")
    return self_loc if isinstance(self_loc, Location) else NOWHERE


def _name(ctx: Context, raw: Raw, what: str) -> str | None:
    args: list[str] = raw.get("args", [])
    if not args:
        ctx.diagnostics.error(_loc(raw, "self"), f"{what} needs a name")
        return None
    return args[0]


# --- addresses, routes, rules -------------------------------------------------------------


def read_address(ctx: Context, line: Statement, static: bool = False) -> m.VirtualAddress | None:
    """One `virtual_ipaddress` / `static_ipaddress` line."""
    words = line.words()
    diag = ctx.diagnostics
    parsed = parse_prefix(words[0])
    if parsed is None:
        diag.error(line.location, f"VRRP parsed invalid IP {words[0]}. skipping IP...")
        return None
    address, prefix = parsed
    full = 128 if ":" in address else 32
    if prefix is None:
        prefix = full
    elif not 0 <= prefix <= full:
        diag.warning(line.location, f"number '{prefix}' outside range [0, {full}]")
        diag.warning(line.location,
                     f"Invalid address prefix len {prefix} for address {words[0]} - using {full}")
        prefix = full
    fields: dict[str, Any] = {}
    flags: list[str] = []
    i = 1
    n = len(words)
    while i < n:
        word = words[i]
        value = words[i + 1] if i + 1 < n else None
        if word in ("dev", "brd", "label", "scope", "peer", "broadcast", "track_group",
                    "preferred_lft"):
            if value is None:
                diag.error(line.location, f"'{word}' needs a value")
                break
            if word == "scope" and value not in _SCOPES and not value.isdigit():
                diag.error(line.location, f"invalid scope '{value}'")
            elif word == "scope" and ":" in address:
                diag.warning(line.location, f"Cannot specify scope for IPv6 addresses "
                                            f"({words[0]}) - ignoring scope")
            elif word == "preferred_lft":
                fields["preferred_lft"] = None if value == "forever" else _int_or(value, None)
            elif word == "track_group":
                if not static:
                    diag.warning(line.location, "track_group only applies to static addresses")
            else:
                fields["brd" if word == "broadcast" else word] = value
            i += 2
            continue
        if word == "no_track":
            fields["no_track"] = True
        elif word == "use_vmac":
            fields["use_vmac"] = True
        elif word in _ADDRESS_FLAGS:
            flags.append(word)
        else:
            diag.warning(line.location, f"Unknown configuration entry '{word}' for ip address")
        i += 1
    dev = fields.get("dev")
    if isinstance(dev, str) and ctx.interface_missing(dev):
        diag.warning(line.location,
                     f"WARNING - interface {dev} for ip address {address} doesn't exist")
    return m.VirtualAddress(address=address, prefix=prefix, flags=tuple(flags),
                            location=line.location, **fields)


def _int_or(text: str, default: int | None) -> int | None:
    try:
        return int(text, 10)
    except ValueError:
        return default


def _valid_destination(text: str) -> bool:
    if text == "default":
        return True
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def read_route(ctx: Context, line: Statement, virtual: bool) -> m.Route | None:
    """One `virtual_routes` / `static_routes` line, `ip route add` style."""
    words = line.words()
    diag = ctx.diagnostics
    where = line.location
    fields: dict[str, Any] = {}
    nexthops: list[tuple[str, ...]] = []
    destination: str | None = None
    devs: list[str] = []
    i = 0
    n = len(words)
    while i < n:
        word = words[i]
        value = words[i + 1] if i + 1 < n else None
        if word in _ROUTE_TYPES and destination is None and "type" not in fields:
            fields["type"] = word
            i += 1
            continue
        if word == "nexthop":
            j = i + 1
            hop: list[str] = []
            while j < n and words[j] != "nexthop":
                hop.append(words[j])
                j += 1
            nexthops.append(tuple(hop))
            for k, hop_word in enumerate(hop[:-1]):
                if hop_word == "dev":
                    devs.append(hop[k + 1])
            i = j
            continue
        if word in _ROUTE_FLAGS:
            if word == "no_track":
                fields["no_track"] = True
            i += 1
            continue
        if word == "to" and value is not None:
            destination = value
            i += 2
            continue
        if word in ("src", "via", "gw", "or", "dev", "oif", "table", "metric", "priority",
                    "preference", "scope", "proto", "protocol") or word in _ROUTE_VALUE_OPTIONS:
            if value is None:
                diag.error(where, f"'{word}' needs a value")
                break
            if word == "gw":
                diag.warning(where, '"gw" for routes is deprecated. Please use "via"')
            if word == "or":
                diag.warning(where, '"or" for routes is deprecated. Please use "nexthop"')
                nexthops.append(("via", value))
            elif word in ("via", "gw"):
                if parse_address(value) is None:
                    diag.error(where, f"invalid gateway address '{value}'")
                fields["via"] = value
            elif word in ("dev", "oif"):
                fields["dev"] = value
                devs.append(value)
            elif word == "src":
                fields["source"] = value
            elif word in ("metric", "priority", "preference"):
                metric = _int_or(value, None)
                if metric is None:
                    diag.error(where, f"invalid metric '{value}'")
                fields["metric"] = metric
            elif word in ("proto", "protocol"):
                fields["protocol"] = value
            elif word in ("table", "scope"):
                fields[word] = value
            if word == "ssthresh" and value == "lock":
                i += 1
            i += 2
            continue
        if destination is None:
            destination = word
            i += 1
            continue
        diag.warning(where, f"Unknown route option '{word}'")
        i += 1
    if destination is None:
        diag.error(where, "route has no destination")
        return None
    if not _valid_destination(destination):
        diag.error(where, f"VRRP parsed invalid IP {destination}. skipping route...")
        return None
    for dev in devs:
        if ctx.interface_missing(dev):
            diag.warning(where, f"WARNING - interface {dev} for VROUTE nexthop doesn't exist")
    # keepalived says so for static routes as well as virtual ones.
    if not devs and not fields.get("no_track"):
        diag.warning(where, f"Warning - cannot track route {destination} with no interface "
                            "specified, not tracking")
        fields["no_track"] = True
    return m.Route(destination=destination, nexthops=tuple(nexthops), words=tuple(words),
                   location=where, **fields)


def read_rule(ctx: Context, line: Statement) -> m.Rule | None:
    """One `virtual_rules` / `static_rules` line, `ip rule add` style."""
    words = line.words()
    diag = ctx.diagnostics
    where = line.location
    fields: dict[str, Any] = {}
    i = 0
    n = len(words)
    while i < n:
        word = words[i]
        value = words[i + 1] if i + 1 < n else None
        if word in ("not", "inet6", "inet", "l3mdev"):
            i += 1
            continue
        if word == "no_track":
            fields["no_track"] = True
            i += 1
            continue
        if word in _RULE_ACTIONS:
            fields["action"] = word
            i += 1
            continue
        if value is None:
            diag.error(where, f"'{word}' needs a value")
            break
        if word in ("from", "to"):
            if value != "all" and not _valid_destination(value):
                diag.error(where, f"VRRP parsed invalid IP {value}. skipping IP...")
                diag.error(where, f"Invalid rule {word} address {value}")
                return None
            fields["source" if word == "from" else "destination"] = value
        elif word in ("table", "lookup"):
            fields["table"] = value
        elif word in ("preference", "priority", "pref", "order"):
            preference = _int_or(value, None)
            if preference is None:
                diag.error(where, f"invalid rule preference '{value}'")
            fields["preference"] = preference
        elif word in ("iif", "dev"):
            fields["iif"] = value
        elif word == "oif":
            fields["oif"] = value
        elif word == "fwmark":
            fields["fwmark"] = value
        elif word not in _RULE_VALUE_OPTIONS:
            diag.warning(where, f"Unknown rule option '{word}'")
            i += 1
            continue
        i += 2
    if fields.get("preference") is None:
        preference = ctx.next_rule_preference
        ctx.next_rule_preference -= 1
        diag.warning(where, f"Rule has no preference specified - setting to {preference}. "
                            "This is probably not what you want.")
        fields["preference"] = preference
    return m.Rule(words=tuple(words), location=where, **fields)


# --- SSL ------------------------------------------------------------------------------------


def resolve_ssl(blocks: list[Raw]) -> m.SslSettings | None:
    """The SSL blocks, merged (later values win); None when there is none."""
    if not blocks:
        return None
    merged: Raw = {}
    for block in blocks:
        merged.update(block)
    return m.SslSettings(password=merged.get("password"), ca=merged.get("ca"),
                         certificate=merged.get("certificate"), key=merged.get("key"),
                         location=blocks[0]["@self"])


# --- global_defs ----------------------------------------------------------------------------

_GLOBAL_FIELDS = frozenset(f for f in m.GlobalDefs.__dataclass_fields__ if f != "location")


def resolve_globals(raws: list[Raw]) -> m.GlobalDefs:
    """Merge every global_defs block (later values win)."""
    fields: dict[str, Any] = {}
    location = NOWHERE
    for raw in raws:
        if location is NOWHERE:
            location = _loc(raw, "self")
        for key, value in raw.items():
            if key in _GLOBAL_FIELDS:
                fields[key] = value
    for key in ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"):
        if key in fields:
            path, user, group, where = fields[key]
            fields[key] = m.NotifyFifo(path, user, group, where)
    if "notification_email" in fields:
        fields["notification_email"] = tuple(fields["notification_email"])
    if fields.get("vrrp_min_garp"):
        # One GARP/NA and no second block, unless a GARP keyword says otherwise.
        for key, value in m.MIN_GARP_DEFAULTS.items():
            fields.setdefault(key, value)
    return m.GlobalDefs(location=location, **fields)



# --- trackers -------------------------------------------------------------------------------


def _script_exists(command: m.Command) -> bool:
    words = command.command.split()
    if not words:
        return False
    program = words[0].strip("'\"")
    if os.path.isabs(program):
        return os.path.isfile(program) and os.access(program, os.X_OK)
    return shutil.which(program) is not None


def _default_script_user_missing(g: m.GlobalDefs) -> bool:
    """With script security, keepalived needs script_user or a `keepalived_script` user."""
    if not g.enable_script_security or g.script_user is not None:
        return False
    try:
        pwd.getpwnam("keepalived_script")
    except KeyError:
        return True
    return False


def resolve_scripts(ctx: Context, raws: list[Raw],
                    g: m.GlobalDefs) -> dict[str, m.VrrpScript]:
    """vrrp_script blocks by name; scripts without a command are removed (as keepalived does)."""
    out: dict[str, m.VrrpScript] = {}
    diag = ctx.diagnostics
    no_default_user = _default_script_user_missing(g)
    for name, raw in _first_definitions(ctx, raws, "vrrp_script", "vrrp_script", out):
        script = raw.get("script")
        if script is None:
            diag.warning(_loc(raw, "end"), f"No script set for vrrp_script {name} - removing")
            continue
        if not _script_exists(script):
            diag.warning(_loc(raw, "script"),
                         f"Disabling track script {name} since not found/accessible")
        if "user" in raw:
            script = replace(script, user=raw["user"], group=raw.get("group"))
        if script.user is None and no_default_user:
            diag.warning(_loc(raw, "end"), "Unable to set default user keepalived_script for "
                                           "script")
            diag.warning(_loc(raw, "end"), f"Unable to set default user for vrrp script {name} "
                                           "- removing")
            continue
        interval: float = raw.get("interval", 1.0)
        timeout: float = raw.get("timeout", interval)
        out[name] = m.VrrpScript(
            name=name, location=_loc(raw, "self"), script=script, interval=interval,
            timeout=timeout, weight=raw.get("weight", 0),
            weight_reverse=raw.get("weight_reverse", False), rise=raw.get("rise", 1),
            fall=raw.get("fall", 1), init_fail=raw.get("init_fail", False),
        )
    return out


def _first_definitions(ctx: Context, raws: list[Raw], block: str, label: str,
                       defined: Mapping[str, object]) -> Iterator[tuple[str, Raw]]:
    """The named blocks of one kind with their names. A name already in `defined` (the caller
    fills it as it goes) is skipped with a note: keepalived accepts the repeat (`-t` exits 0) and
    looks trackers up by name, so the first definition is the one that counts."""
    for raw in raws:
        name = _name(ctx, raw, block)
        if name is None:
            continue
        if name in defined:
            ctx.diagnostics.note(_loc(raw, "self"),
                                 f"{label} {name} already defined - the first definition is used")
            continue
        yield name, raw


def resolve_track_files(ctx: Context, raws: list[Raw]) -> dict[str, m.TrackFile]:
    """track_file blocks by name."""
    out: dict[str, m.TrackFile] = {}
    for name, raw in _first_definitions(ctx, raws, "track_file", "track_file", out):
        if "file" not in raw:
            ctx.diagnostics.warning(_loc(raw, "end"), f"No file set for track_file {name}")
            continue
        init = raw.get("init_file")
        out[name] = m.TrackFile(
            name=name, location=_loc(raw, "self"), file=raw["file"],
            weight=raw.get("weight", 1), weight_reverse=raw.get("weight_reverse", False),
            init_file=raw["file"] if init else None, init_value=raw.get("init_value", 0),
            init_overwrite=raw.get("init_overwrite", False),
        )
    return out


def resolve_track_processes(ctx: Context, raws: list[Raw]) -> dict[str, m.TrackProcess]:
    """vrrp_track_process blocks by name."""
    out: dict[str, m.TrackProcess] = {}
    for name, raw in _first_definitions(ctx, raws, "vrrp_track_process", "track_process", out):
        if "process" not in raw:
            ctx.diagnostics.warning(_loc(raw, "end"),
                                    f"No process set for vrrp_track_process {name}")
            continue
        fields = {k: raw[k] for k in ("process", "parameters", "param_match", "weight",
                                      "weight_reverse", "quorum", "quorum_max", "fork_delay",
                                      "terminate_delay", "delay", "full_command") if k in raw}
        out[name] = m.TrackProcess(name=name, location=_loc(raw, "self"), **fields)
    return out


def read_track_refs(ctx: Context, lines: list[Statement], owner: str, what: str,
                    known: set[str] | None, low: int, high: int,
                    own_interface: str | None = None) -> tuple[m.TrackRef, ...]:
    """track_interface/track_script/track_file/track_process entries of an instance or group."""
    diag = ctx.diagnostics
    out: list[m.TrackRef] = []
    for line in lines:
        name = line.keyword
        weight: int | None = None
        reverse = False
        args = line.args
        bad = False
        interface = what == "tracked interface"
        i = 0
        while i < len(args):
            word = args[i]
            if word == "weight" and i + 1 < len(args):
                weight = _int_or(args[i + 1], None)
                if weight is None or not low <= weight <= high:
                    diag.error(line.location,
                               f"({owner}) {what} {name}: weight must be between "
                               f"[{low}..{high}] inclusive, ignoring...")
                    bad = True
                i += 2
                # keepalived takes reverse only right after the weight (noreverse not for
                # interfaces).
                if i < len(args) and (args[i] == "reverse" or (
                        args[i] in ("noreverse", "no_reverse") and not interface)):
                    reverse = args[i] == "reverse"
                    i += 1
                elif i < len(args) and interface:
                    diag.warning(line.arg_location(i), f"({owner}) unknown track_interace {name} "
                                                       f"weight option {args[i]} - ignoring")
                    i += 1
                continue
            if interface:
                diag.warning(line.arg_location(i), f"({owner}) unknown track_interface {name} "
                                                   f"option {word} - ignoring")
            else:
                diag.warning(line.arg_location(i), f"({owner}) unknown {what} option {word} - "
                                                   "ignoring")
            i += 1
        if bad:
            continue
        if what == "tracked interface":
            if name == own_interface:
                diag.warning(line.location, f"({owner}) Ignoring track_interface {name} since "
                                            "own interface")
                continue
            if ctx.interface_missing(name):
                diag.warning(line.location, f"({owner}) tracked interface {name} doesn't exist")
        elif known is not None and name not in known:
            diag.warning(line.location, f"({owner}) {what} {name} not found, ignoring...")
            continue
        out.append(m.TrackRef(name, weight, reverse, line.location))
    return tuple(out)


# --- vrrp_instance --------------------------------------------------------------------------


def _garp(raw: Raw, g: m.GlobalDefs) -> dict[str, Any]:
    master_delay = raw.get("garp_master_delay", g.vrrp_garp_master_delay)
    master_repeat = raw.get("garp_master_repeat", g.vrrp_garp_master_repeat)
    lower_delay = g.vrrp_garp_lower_prio_delay
    lower_repeat = g.vrrp_garp_lower_prio_repeat
    return {
        "garp_master_delay": master_delay,
        "garp_master_repeat": master_repeat,
        "garp_master_refresh": raw.get("garp_master_refresh", g.vrrp_garp_master_refresh),
        "garp_master_refresh_repeat": raw.get("garp_master_refresh_repeat",
                                              g.vrrp_garp_master_refresh_repeat),
        "garp_lower_prio_delay": raw.get(
            "garp_lower_prio_delay", master_delay if lower_delay is None else lower_delay),
        "garp_lower_prio_repeat": raw.get(
            "garp_lower_prio_repeat", master_repeat if lower_repeat is None else lower_repeat),
    }


_COPIED_INSTANCE_FIELDS = (
    "mcast_src_ip", "mcast_dst_ip", "unicast_src_ip", "unicast_ttl", "vmac_mac",
    "vmac_xmit_base", "dont_track_primary", "notify_master", "notify_backup", "notify_fault",
    "notify_stop", "notify", "notify_master_rx_lower_pri", "promote_secondaries",
    "down_timer_adverts",
)


def resolve_instance(ctx: Context, raw: Raw, g: m.GlobalDefs, scripts: set[str],
                     files: set[str], processes: set[str]) -> m.VrrpInstance | None:
    """One vrrp_instance, resolved against the globals and the trackers; None if unusable."""
    diag = ctx.diagnostics
    name = _name(ctx, raw, "vrrp_instance")
    if name is None:
        return None
    where = _loc(raw, "self")
    fields: dict[str, Any] = {k: raw[k] for k in _COPIED_INSTANCE_FIELDS if k in raw}

    interface = raw.get("interface")
    if interface is not None:
        if interface in ctx.loopbacks:
            diag.warning(_loc(raw, "interface"),
                         f"({name}) cannot use a loopback interface ({interface}) for vrrp - "
                         "ignoring")
            interface = None
        elif ctx.interface_missing(interface):
            diag.warning(_loc(raw, "interface"),
                         f"WARNING - interface {interface} for vrrp_instance {name} doesn't exist")

    # Addresses and the family they choose.
    vips: list[m.VirtualAddress] = []
    family: m.Family | None = "inet6" if raw.get("native_ipv6") else None
    for line in raw.get("virtual_ipaddress", []):
        vip = read_address(ctx, line)
        if vip is None:
            continue
        if family is None:
            family = vip.family
        elif vip.family != family:
            diag.error(line.location, f"({name}): address family must match VRRP instance "
                                      f"[{vip.address}] - ignoring")
            continue
        vips.append(vip)
    excluded = [a for a in (read_address(ctx, line)
                            for line in raw.get("virtual_ipaddress_excluded", []))
                if a is not None]
    peers: list[m.UnicastPeer] = []
    for line in raw.get("unicast_peer", []):
        peer = _read_peer(ctx, line, name)
        if peer is not None:
            peers.append(peer)
    if "unicast_ttl" in raw and not peers:
        diag.warning(_loc(raw, "unicast_ttl"),
                     f"({name}): Cannot use unicast_ttl without unicast peers - resetting")
        fields.pop("unicast_ttl", None)
    if family is None:
        probe = raw.get("unicast_src_ip") or (peers[0].address if peers else None)
        family = "inet6" if probe is not None and ":" in probe else "inet"
    dst = raw.get("mcast_dst_ip")
    if dst is not None and (":" in dst) != (family == "inet6"):
        diag.warning(_loc(raw, "mcast_dst_ip"),
                     f"({name}) mcast_dst_ip {dst} is not of the instance's family - ignoring")
        fields.pop("mcast_dst_ip", None)
    if interface is None and not peers and "interface" not in raw:
        diag.error(where, f"({name}) Unknown interface!")
    if "virtual_routes" in raw:
        fields["virtual_routes"] = tuple(
            r for r in (read_route(ctx, line, True) for line in raw["virtual_routes"])
            if r is not None)
    if "virtual_rules" in raw:
        fields["virtual_rules"] = tuple(
            r for r in (read_rule(ctx, line) for line in raw["virtual_rules"]) if r is not None)

    vrid = raw.get("virtual_router_id")
    if vrid is None:
        diag.error(where, f"({name}) the virtual router id must be set")
        return None

    version = raw.get("version", g.vrrp_version)
    if family == "inet6":
        if raw.get("version") == 2:
            diag.warning(_loc(raw, "version"), f"({name}) cannot use VRRPv2 with IPv6 - using 3")
        version = 3

    state = raw.get("state")
    priority = raw.get("priority")
    if priority is None:
        priority = 255 if state == "MASTER" else 100

    advert_int = raw.get("advert_int", 1.0)
    if version == 2 and advert_int != int(advert_int):
        diag.warning(_loc(raw, "advert_int"),
                     f"({name}) VRRPv2 advertisement interval {advert_int:f}s must be an "
                     "integer. rounding")
        advert_int = float(max(1, int(advert_int + 0.5)))
    elif version == 3:
        centis = round(advert_int * 100)
        if centis > 4095:
            diag.warning(_loc(raw, "advert_int"),
                         f"({name}) VRRPv3 advertisement interval {advert_int:f}s is more "
                         "than 40.95s - using 40.95")
            centis = 4095
        advert_int = max(centis, 1) / 100

    strict = raw.get("strict_mode", g.vrrp_strict)
    nopreempt = raw.get("nopreempt", False)
    preempt_delay = raw.get("preempt_delay", 0.0)
    if nopreempt and state == "MASTER":
        diag.warning(_loc(raw, "nopreempt"),
                     f"({name}) Warning - nopreempt will not work with initial state MASTER - "
                     "clearing")
        nopreempt = False
    if preempt_delay and nopreempt:
        diag.warning(_loc(raw, "preempt_delay"), f"({name}) preempt_delay is incompatible with "
                                                 "nopreempt mode - resetting")
        preempt_delay = 0.0
    if preempt_delay and state == "MASTER":
        diag.warning(_loc(raw, "preempt_delay"),
                     f"({name}) Warning - preempt delay will not work with initial state MASTER "
                     "- clearing")
        preempt_delay = 0.0

    auth_type = raw.get("auth_type")
    auth_pass = raw.get("auth_pass", b"")
    if auth_type is not None and version == 3:
        diag.warning(_loc(raw, "authentication"),
                     f"({name}) authentication is not supported with VRRPv3 - ignoring")
        auth_type, auth_pass = None, b""
    if auth_type == "AH" and state == "MASTER" and priority != 255:
        # AH needs an advert's sequence number before taking over (keepalived's reason).
        diag.warning(where, f"({name}) Initial state master is incompatible with AH "
                            "authentication - clearing")
        state = "BACKUP"
    if auth_type is not None and not auth_pass:
        diag.warning(_loc(raw, "authentication"), f"({name}) auth_type set without auth_pass")

    accept = raw.get("accept")
    lower_prio_no_advert = raw.get("lower_prio_no_advert", g.vrrp_lower_prio_no_advert)
    higher_prio_send_advert = raw.get("higher_prio_send_advert",
                                      g.vrrp_higher_prio_send_advert)
    vmac_xmit_base = raw.get("vmac_xmit_base", False)
    if strict:
        if auth_type is not None:
            diag.warning(_loc(raw, "authentication"),
                         f"({name}) Strict mode does not support authentication. Ignoring.")
            auth_type, auth_pass = None, b""
        if peers:
            diag.error(_loc(raw, "unicast_peer"),
                       f"({name}) Unicast peers are not supported in strict mode")
            return None
        if not vips:
            diag.error(where, f"({name}) Strict mode requires at least one VIP")
        if state == "MASTER" and priority != 255:
            diag.warning(_loc(raw, "state"),
                         f"({name}) Strict mode requires priority 255 for state MASTER - "
                         "setting BACKUP")
            state = "BACKUP"
        if preempt_delay:
            diag.warning(_loc(raw, "preempt_delay"),
                         f"({name}) Strict mode does not support preempt_delay. Ignoring.")
            preempt_delay = 0.0
        if version == 2 and accept:
            diag.warning(_loc(raw, "accept"),
                         f"({name}) Strict mode does not support accept with VRRPv2. Ignoring.")
            accept = False
        if vmac_xmit_base:
            diag.warning(_loc(raw, "vmac_xmit_base"),
                         f"({name}) Strict mode does not support vmac_xmit_base. Ignoring.")
            vmac_xmit_base = False
        if family == "inet6" and vips and not vips[0].address.startswith("fe80:"):
            diag.warning(where, f"({name}) the first IPv6 VIP address must be link local")
        lower_prio_no_advert = True
        higher_prio_send_advert = False
        if accept is None:
            accept = priority == 255
    if accept is None:
        accept = True

    if not vips:
        diag.warning(where, f"({name}) No VIP specified; at least one is sensible")

    use_vmac = raw.get("use_vmac")
    if use_vmac == "":
        use_vmac = f"vrrp.{vrid}"
    if use_vmac is not None and peers and not vmac_xmit_base:
        diag.warning(_loc(raw, "end"), f"({name}) unicast with use_vmac requires "
                                       "vmac_xmit_base - setting")
        vmac_xmit_base = True
    if vmac_xmit_base and use_vmac is None:
        diag.warning(_loc(raw, "vmac_xmit_base"), f"({name}) vmac_xmit_base is only valid with "
                                                  "a vmac")
        vmac_xmit_base = False
    if use_vmac is not None:
        if raw.get("promote_secondaries"):
            diag.warning(_loc(raw, "promote_secondaries"),
                         f"({name}) promote_secondaries is automatically set for vmacs - "
                         "ignoring")
        fields["promote_secondaries"] = True
    if not peers and ("@unicast_src_ip" in raw or "@check_unicast_src" in raw
                      or "@unicast_peer" in raw):
        diag.warning(where, f"({name}) A unicast keyword has been specified without any unicast "
                            "peers. Defaulting to multicast. This usage is deprecated - please "
                            "update your configuration.")

    iface_range = (-253, 253)
    fields.update(
        track_interfaces=read_track_refs(ctx, raw.get("track_interface", []), name,
                                         "tracked interface", None, *iface_range,
                                         own_interface=interface),
        track_scripts=read_track_refs(ctx, raw.get("track_script", []), name, "track script",
                                      scripts, *iface_range),
        track_files=read_track_refs(ctx, raw.get("track_file", []), name, "track file",
                                    files, -254, 254),
        track_processes=read_track_refs(ctx, raw.get("track_process", []), name,
                                        "track process", processes, -254, 254),
    )
    fields.update(_garp(raw, g))
    smtp_alert = raw.get("smtp_alert")
    if smtp_alert is None:
        smtp_alert = bool(g.smtp_alert_vrrp if g.smtp_alert_vrrp is not None else g.smtp_alert)
    return m.VrrpInstance(
        name=name, location=where, state=state, interface=interface, virtual_router_id=vrid,
        priority=priority, advert_int=advert_int, version=version, family=family,
        nopreempt=nopreempt, preempt_delay=preempt_delay, auth_type=auth_type,
        auth_pass=auth_pass if auth_type is not None else b"",
        virtual_ipaddress=tuple(vips), virtual_ipaddress_excluded=tuple(excluded),
        unicast_peers=tuple(peers), use_vmac=use_vmac,
        # Only unicast instances check the source of adverts.
        check_unicast_src=bool(peers) and (
            raw.get("check_unicast_src", g.vrrp_check_unicast_src)
            or any(p.min_ttl != 0 or p.max_ttl != 255 for p in peers)),
        smtp_alert=smtp_alert, lower_prio_no_advert=lower_prio_no_advert,
        higher_prio_send_advert=higher_prio_send_advert, vmac_xmit_base=vmac_xmit_base,
        v3_checksum_as_v2=raw.get("v3_checksum_as_v2", g.v3_checksum_as_v2),
        accept=accept, strict_mode=strict,
        skip_check_adv_addr=raw.get("skip_check_adv_addr", g.vrrp_skip_check_adv_addr),
        **{k: v for k, v in fields.items() if k not in ("vmac_xmit_base",)},
    )


def _read_peer(ctx: Context, line: Statement, owner: str) -> m.UnicastPeer | None:
    address = parse_address(line.keyword)
    if address is None:
        ctx.diagnostics.error(line.location, f"({owner}) invalid unicast peer '{line.keyword}'")
        return None
    ttl = {"min_ttl": 0, "max_ttl": 255}
    args = line.args
    i = 0
    while i < len(args):
        word = args[i]
        if word in ttl and i + 1 < len(args):
            value = _int_or(args[i + 1], None)
            if value is None or not 0 <= value <= 255:
                ctx.diagnostics.error(line.location, f"({owner}) invalid {word} '{args[i + 1]}'")
            else:
                ttl[word] = value
            i += 2
        else:
            ctx.diagnostics.warning(line.arg_location(i),
                                    f"({owner}) unknown unicast_peer option '{word}'")
            i += 1
    if ttl["min_ttl"] > ttl["max_ttl"]:
        ctx.diagnostics.warning(line.location, f"({owner}) min_ttl {ttl['min_ttl']} > max_ttl "
                                               f"{ttl['max_ttl']} - all packets will be discarded")
    return m.UnicastPeer(address, ttl["min_ttl"], ttl["max_ttl"], line.location)


def resolve_sync_group(ctx: Context, raw: Raw, instances: dict[str, m.VrrpInstance],
                       scripts: set[str], files: set[str],
                       processes: set[str]) -> m.VrrpSyncGroup | None:
    """One vrrp_sync_group; members must exist."""
    name = _name(ctx, raw, "vrrp_sync_group")
    if name is None:
        return None
    members: list[str] = []
    for member in raw.get("group", []):
        if member not in instances:
            ctx.diagnostics.warning(
                _loc(raw, "group"),
                f"Virtual router {member} specified in sync group {name} doesn't exist - "
                "ignoring")
            continue
        members.append(member)
    if not members:
        ctx.diagnostics.warning(_loc(raw, "self"), f"Sync group {name} has no virtual router(s) "
                                                   "- removing")
        return None
    if "@global_tracking" in raw:
        ctx.diagnostics.warning(_loc(raw, "global_tracking"),
                                f"({name}) global_tracking is deprecated. Use "
                                "track_interface/script/file on the sync group")
    fields = {k: raw[k] for k in ("notify_master", "notify_backup", "notify_fault",
                                  "notify_stop", "notify", "smtp_alert", "global_tracking",
                                  "sync_group_tracking_weight") if k in raw}
    return m.VrrpSyncGroup(
        name=name, location=_loc(raw, "self"), group=tuple(members),
        track_interfaces=read_track_refs(ctx, raw.get("track_interface", []), name,
                                         "tracked interface", None, -253, 253),
        track_scripts=read_track_refs(ctx, raw.get("track_script", []), name, "track script",
                                      scripts, -253, 253),
        track_files=read_track_refs(ctx, raw.get("track_file", []), name, "track file", files,
                                    -254, 254),
        track_processes=read_track_refs(ctx, raw.get("track_process", []), name,
                                        "track process", processes, -254, 254),
        **fields,
    )


# --- LVS ------------------------------------------------------------------------------------

_CHECKER_CLASSES: dict[str, type[m.Checker]] = {
    "HTTP_GET": m.HttpGet, "SSL_GET": m.SslGet, "TCP_CHECK": m.TcpCheck,
    "SMTP_CHECK": m.SmtpCheck, "DNS_CHECK": m.DnsCheck, "MISC_CHECK": m.MiscCheck,
    "PING_CHECK": m.PingCheck, "UDP_CHECK": m.UdpCheck, "FILE_CHECK": m.FileCheck,
}
_INHERITED = ("connect_timeout", "retry", "delay_before_retry", "warmup", "delay_loop", "alpha")


def _resolve_checker(ctx: Context, raw: Raw, server: dict[str, Any],
                     files: set[str]) -> m.Checker | None:
    kind: str = raw["kind"]
    cls = _CHECKER_CLASSES[kind]
    names = set(cls.__dataclass_fields__)
    fields: dict[str, Any] = {}
    for key in _INHERITED:
        if key in raw:
            fields[key] = raw[key]
        elif server.get(key) is not None:
            fields[key] = server[key]
    if kind == "DNS_CHECK" and "delay_before_retry" not in fields:
        fields["delay_before_retry"] = fields.get("delay_loop", 60.0)
    for key, value in raw.items():
        if key in names and key not in fields and not key.startswith("@"):
            fields[key] = value
    if kind in ("HTTP_GET", "SSL_GET"):
        urls = []
        for url in raw.get("urls", []):
            codes = url.get("status_code")
            urls.append(m.Url(
                path=url.get("path", "/"), digest=url.get("digest"),
                status_code=tuple(codes) if codes else ((200, 299),),
                virtualhost=url.get("virtualhost"), regex=url.get("regex"),
                regex_no_match=url.get("regex_no_match", False), location=_loc(url, "self")))
        if not urls:
            ctx.diagnostics.warning(_loc(raw, "end"), "HTTP/SSL_GET checker has no urls "
                                                      "specified - ignoring")
            return None
        fields["urls"] = tuple(urls)
        if "virtualhost" not in fields and server.get("virtualhost") is not None:
            fields["virtualhost"] = server["virtualhost"]
    if kind == "MISC_CHECK":
        if "misc_path" not in raw:
            ctx.diagnostics.error(_loc(raw, "end"), "MISC_CHECK has no misc_path - removing")
            return None
        if "user" in raw:
            fields["misc_path"] = replace(raw["misc_path"], user=raw["user"],
                                          group=raw.get("group"))
    if kind == "FILE_CHECK":
        track = raw.get("track_file")
        if track is None or track not in files:
            ctx.diagnostics.error(_loc(raw, "self"),
                                  f"FILE_CHECK track_file {track} not found - removing")
            return None
    fields.pop("urls_raw", None)
    return cls(location=_loc(raw, "self"), **fields)


def _ip_and_port(ctx: Context, raw: Raw, what: str) -> tuple[str, int | None] | None:
    args: list[str] = raw.get("args", [])
    locs: list[Location] = raw.get("@args", [])
    where = _loc(raw, "self")
    if not args:
        ctx.diagnostics.error(where, f"{what} needs an address")
        return None
    address = parse_address(args[0])
    if address is None:
        ctx.diagnostics.error(locs[0] if locs else where, f"invalid {what} address '{args[0]}'")
        return None
    port: int | None = None
    if len(args) > 1:
        port = _int_or(args[1], None)
        if port is None or not 0 <= port <= 65535:
            ctx.diagnostics.error(locs[1] if len(locs) > 1 else where,
                                  f"invalid {what} port '{args[1]}'")
            return None
    return address, port


def resolve_virtual_server(ctx: Context, raw: Raw, groups: set[str],
                           files: set[str]) -> m.VirtualServer | None:
    """One virtual_server with its real servers and checkers."""
    diag = ctx.diagnostics
    args: list[str] = raw.get("args", [])
    where = _loc(raw, "self")
    fields: dict[str, Any] = {}
    if args[:1] == ["fwmark"]:
        mark = _int_or(args[1], None) if len(args) > 1 else None
        if mark is None or not 1 <= mark <= 2**32 - 1:
            diag.error(where, "virtual_server fwmark needs a mark in [1, 4294967295]")
            return None
        fields["fwmark"] = mark
        label = f"FWM {mark}"
        if "protocol" in raw:
            diag.warning(_loc(raw, "protocol"), f"Warning: Virtual server {label}: protocol "
                                                "specified for fwmark - protocol will be ignored")
    elif args[:1] == ["group"]:
        if "protocol" in raw:
            fields["protocol"] = raw["protocol"]
        if len(args) < 2 or args[1] not in groups:
            diag.error(where, f"virtual_server group {args[1] if len(args) > 1 else ''} "
                              "is not defined")
            return None
        fields["group"] = args[1]
        label = f"group {args[1]}"
    else:
        parsed = _ip_and_port(ctx, raw, "virtual_server")
        if parsed is None:
            return None
        fields["ip"], fields["port"] = parsed
        label = f"[{fields['ip']}]:{str(raw.get('protocol', 'none')).lower()}:{fields['port']}"
        if fields["port"] is None and "persistence_timeout" not in raw:
            diag.error(where, f"Virtual server {label}: a port is needed unless persistent")
            return None
        if "protocol" in raw:
            fields["protocol"] = raw["protocol"]
        else:
            # What keepalived 2.2.7 does (and says), odd as it is.
            diag.warning(where, f"Virtual server {label}: no protocol set - defaulting to UDP")
            fields["protocol"] = "UDP"
            label = label.replace(":none:", ":udp:")
    if "@lvs_sched" not in raw:
        diag.warning(where, f"Virtual server {label}: no scheduler set, setting default 'wlc'")
    if "@lvs_method" not in raw:
        diag.warning(where, f"Virtual server {label}: no forwarding method set, setting "
                            "default NAT")
    for key in ("lvs_sched", "lvs_method", "persistence_timeout",
                "persistence_granularity", "persistence_engine", "delay_loop", "connect_timeout",
                "retry", "delay_before_retry", "warmup", "virtualhost", "sorry_server_inhibit",
                "alpha", "omega", "quorum", "hysteresis", "quorum_up", "quorum_down",
                "inhibit_on_failure", "ha_suspend", "ops", "smtp_alert", "family"):
        if key in raw:
            fields[key] = raw[key]
    if "ip" in fields and fields["ip"] is not None and ":" in fields["ip"]:
        fields["family"] = "inet6"
    if raw.get("sorry_server_inhibit") and (
        "sorry_server" not in raw
        or _loc(raw, "sorry_server").line > _loc(raw, "sorry_server_inhibit").line
    ):
        diag.warning(_loc(raw, "sorry_server_inhibit"),
                     "Ignoring sorry_server inhibit used before or without sorry_server")
        fields["sorry_server_inhibit"] = False
    if "sorry_server" in raw:
        ip, port, sorry_where = raw["sorry_server"]
        address = parse_address(ip)
        if address is None:
            diag.error(sorry_where, f"invalid sorry_server address '{ip}'")
        else:
            fields["sorry_server"] = (address, port)
    inherited = {k: raw.get(k) for k in (*_INHERITED, "virtualhost")}
    inherited.setdefault("delay_loop", None)
    servers: list[m.RealServer] = []
    seen: set[tuple[str, int | None]] = set()
    for rs_raw in raw.get("real_servers", []):
        rs = _resolve_real_server(ctx, rs_raw, inherited, files, fields.get("port"))
        if rs is None:
            continue
        server_key = (rs.ip, rs.port)
        if server_key in seen:
            diag.warning(rs.location, f"VS {label}: real server [{rs.ip}]:{rs.port} is "
                                      "duplicated - removing second rs")
            continue
        method = rs.lvs_method or fields.get("lvs_method", "NAT")
        vs_port = fields.get("port")
        if method in ("DR", "TUN") and vs_port is not None and rs.port != vs_port:
            proto = str(fields.get("protocol", "TCP")).lower()
            diag.warning(rs.location, f"WARNING - virtual server [{fields['ip']}]:{proto}:"
                                      f"{vs_port} and real server [{rs.ip}]:{proto}:{rs.port} "
                                      "ports don't match - resetting")
            rs = replace(rs, port=vs_port)
        seen.add(server_key)
        servers.append(rs)
    if not servers:
        diag.warning(where, f"Virtual server {label} has no real servers - ignoring")
        return None
    total = sum(rs.weight for rs in servers)
    quorum = fields.get("quorum", 1)
    if quorum > total:
        diag.warning(_loc(raw, "quorum"), f"Warning - quorum {quorum} for {label} exceeds total "
                                          f"weight of real servers {total}, reducing quorum to "
                                          f"{total}")
        quorum = fields["quorum"] = total
    hysteresis = fields.get("hysteresis", 0)
    if hysteresis >= quorum:
        fixed = max(quorum - 1, 0)
        diag.warning(_loc(raw, "hysteresis"), f"Virtual server {label}: hysteresis {hysteresis} "
                                              f">= quorum {quorum}; setting hysteresis to {fixed}")
        fields["hysteresis"] = fixed
    return m.VirtualServer(location=where, real_servers=tuple(servers), **fields)


def _resolve_real_server(ctx: Context, raw: Raw, vs: dict[str, Any], files: set[str],
                         vs_port: int | None) -> m.RealServer | None:
    parsed = _ip_and_port(ctx, raw, "real_server")
    if parsed is None:
        return None
    ip, port = parsed
    if port is None:
        port = vs_port
    server = dict(vs)
    for key in (*_INHERITED, "virtualhost"):
        if key in raw:
            server[key] = raw[key]
    checkers = [c for c in (_resolve_checker(ctx, c_raw, server, files)
                            for c_raw in raw.get("checkers", [])) if c is not None]
    fields = {k: raw[k] for k in ("weight", "lvs_method", "inhibit_on_failure", "notify_up",
                                  "notify_down", "uthreshold", "lthreshold", "smtp_alert",
                                  "virtualhost", "alpha") if k in raw}
    return m.RealServer(ip=ip, port=port, location=_loc(raw, "self"),
                        checkers=tuple(checkers), **fields)


def resolve_server_group(ctx: Context, raw: Raw) -> m.VirtualServerGroup | None:
    """One virtual_server_group: address (range) and port lines, or fwmark lines."""
    name = _name(ctx, raw, "virtual_server_group")
    if name is None:
        return None
    members: list[m.VirtualServerGroupMember] = []
    for line in raw.get("lines", []):
        words = line.words()
        if words[0] == "fwmark":
            mark = _int_or(words[1], None) if len(words) > 1 else None
            if mark is None:
                ctx.diagnostics.error(line.location, "fwmark needs a number")
                continue
            family: m.Family | None = None
            if len(words) > 2 and words[2] in ("inet", "inet6"):
                family = "inet6" if words[2] == "inet6" else "inet"
            members.append(m.VirtualServerGroupMember(fwmark=mark, family=family,
                                                      location=line.location))
            continue
        member = _read_group_address(ctx, line, words)
        if member is not None:
            members.append(member)
    return m.VirtualServerGroup(name=name, location=_loc(raw, "self"), members=tuple(members))


def _read_group_address(ctx: Context, line: Statement,
                        words: list[str]) -> m.VirtualServerGroupMember | None:
    text = words[0]
    port = None
    if len(words) > 1:
        port = _int_or(words[1], None)
        if port is None or not 0 <= port <= 65535:
            ctx.diagnostics.error(line.location, f"invalid port '{words[1]}'")
            return None
    range_end: str | None = None
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            ctx.diagnostics.error(line.location, f"invalid address range '{text}'")
            return None
        start, range_end = str(network.network_address), str(network.broadcast_address)
    elif "-" in text:
        first, _, last = text.partition("-")
        start_addr = parse_address(first)
        if start_addr is None:
            ctx.diagnostics.error(line.location, f"invalid address range '{text}'")
            return None
        start = start_addr
        if parse_address(last) is not None:
            range_end = parse_address(last)
        else:
            sep = ":" if ":" in start else "."
            head = start.rsplit(sep, 1)[0] if sep == "." else first.rsplit(":", 1)[0]
            range_end = parse_address(f"{head}{sep}{last}")
        if range_end is None:
            ctx.diagnostics.error(line.location, f"invalid address range '{text}'")
            return None
    else:
        address = parse_address(text)
        if address is None:
            ctx.diagnostics.error(line.location, f"invalid address '{text}'")
            return None
        start = address
    return m.VirtualServerGroupMember(ip=start, range_end=range_end, port=port,
                                      location=line.location)


# --- the whole config -----------------------------------------------------------------------


#: Schedulers the nftables dataplane expresses (docs/lvs.md); others run as wrr there.
_NFT_SCHEDULERS = ("rr", "wrr", "sh", "dh", "mh")


def _check_lvs_backend(ctx: Context, raws: list[Raw], g: m.GlobalDefs) -> None:
    """Report, at its line, what the nftables dataplane (no IPVS here) cannot express."""
    if g.lvs_backend == "ipvs" or (g.lvs_backend == "auto" and os.path.exists("/proc/net/ip_vs")):
        return
    diag = ctx.diagnostics
    # Asked for by name, the backend's limits are errors/warnings; reached by auto-detection
    # (no IPVS on this host) they are notes, so `check` keeps keepalived -t's exit code.
    explicit = g.lvs_backend == "nftables"
    error = diag.error if explicit else diag.note
    warning = diag.warning if explicit else diag.note
    for raw in raws:
        for block in (raw, *raw.get("real_servers", [])):
            method = block.get("lvs_method")
            if method in ("DR", "TUN"):
                error(_loc(block, "lvs_method"), f"lvs_method {method} is not supported on "
                                                 "the nftables backend (NAT only)")
        sched = raw.get("lvs_sched")
        if sched is not None and sched not in _NFT_SCHEDULERS:
            warning(_loc(raw, "lvs_sched"), f"lvs_sched {sched} is not supported on the "
                                            "nftables backend - it runs as wrr")
        for key in ("persistence_granularity", "ops"):
            if raw.get(key):
                warning(_loc(raw, key), f"{key} is not supported on the nftables backend "
                                        "- ignored")


def resolve(ctx: Context, raw: Raw, files: tuple[str, ...]) -> m.Config:
    """Build the Config from the top-level raw dict."""
    diag = ctx.diagnostics
    g = resolve_globals(raw.get("global_defs", []))
    if g.dynamic_interfaces:
        # Interfaces may come later: keepalived then does not check that they exist.
        ctx.interfaces = None
    scripts = resolve_scripts(ctx, raw.get("vrrp_scripts", []), g)
    track_files = resolve_track_files(ctx, raw.get("track_files", []))
    processes = resolve_track_processes(ctx, raw.get("track_processes", []))
    script_names, file_names, process_names = set(scripts), set(track_files), set(processes)
    static_addresses = [a for a in (read_address(ctx, line, static=True)
                                    for line in raw.get("static_ipaddress", []))
                        if a is not None]
    static_routes = [r for r in (read_route(ctx, line, False)
                                 for line in raw.get("static_routes", [])) if r is not None]
    static_rules = [r for r in (read_rule(ctx, line) for line in raw.get("static_rules", []))
                    if r is not None]
    instances: dict[str, m.VrrpInstance] = {}
    for inst_raw in raw.get("vrrp_instances", []):
        args = inst_raw.get("args", [])
        if args and args[0] in instances:
            diag.error(_loc(inst_raw, "self"), f"vrrp instance {args[0]} already defined")
            continue
        inst = resolve_instance(ctx, inst_raw, g, script_names, file_names, process_names)
        if inst is not None:
            instances[inst.name] = inst
    _check_duplicate_vrids(ctx, list(instances.values()))
    _check_vmac_names(ctx, instances)
    groups: list[m.VrrpSyncGroup] = []
    for group_raw in raw.get("vrrp_sync_groups", []):
        group = resolve_sync_group(ctx, group_raw, instances, script_names, file_names,
                                   process_names)
        if group is None:
            continue
        for member in group.group:
            current = instances[member]
            if current.sync_group is not None:
                diag.warning(group.location, f"VRRP instance {member} is already in sync group "
                                             f"{current.sync_group} - ignoring")
                continue
            instances[member] = _with_group(ctx, current, group)
        groups.append(group)
    vsgs = [g_ for g_ in (resolve_server_group(ctx, r)
                          for r in raw.get("virtual_server_groups", [])) if g_ is not None]
    group_names = {v.name for v in vsgs}
    servers = [s for s in (resolve_virtual_server(ctx, r, group_names, file_names)
                           for r in raw.get("virtual_servers", [])) if s is not None]
    _check_lvs_backend(ctx, raw.get("virtual_servers", []), g)
    config = m.Config(
        global_defs=g, vrrp_instances=tuple(instances.values()), vrrp_sync_groups=tuple(groups),
        vrrp_scripts=tuple(scripts.values()), track_files=tuple(track_files.values()),
        track_processes=tuple(processes.values()), virtual_servers=tuple(servers),
        virtual_server_groups=tuple(vsgs), static_ipaddress=tuple(static_addresses),
        static_routes=tuple(static_routes), static_rules=tuple(static_rules), files=files,
        ssl=resolve_ssl(raw.get("ssl", [])),
    )
    _check_command_quotes(ctx, config)
    _check_script_security(ctx, config)
    return config


def _runs_as_root(command: m.Command, g: m.GlobalDefs) -> bool:
    user = command.user or g.script_user
    if user is None:
        try:
            pwd.getpwnam("keepalived_script")
        except KeyError:
            return True
        return False
    try:
        return pwd.getpwnam(user).pw_uid == 0
    except KeyError:
        return False


def _commands(config: m.Config) -> list[m.Command]:
    """Every script of the config: globals, vrrp_scripts, notifies, checkers."""
    out: list[m.Command | None] = [s.script for s in config.vrrp_scripts]
    g = config.global_defs
    out += [g.notify_fifo_script, g.vrrp_notify_fifo_script, g.lvs_notify_fifo_script]
    for inst in config.vrrp_instances:
        out += [inst.notify_master, inst.notify_backup, inst.notify_fault, inst.notify_stop,
                inst.notify, inst.notify_master_rx_lower_pri]
    for group in config.vrrp_sync_groups:
        out += [group.notify_master, group.notify_backup, group.notify_fault, group.notify_stop,
                group.notify]
    for vs in config.virtual_servers:
        out += [vs.quorum_up, vs.quorum_down]
        for rs in vs.real_servers:
            out += [rs.notify_up, rs.notify_down]
            out += [c.misc_path for c in rs.checkers if isinstance(c, m.MiscCheck)]
    return [c for c in out if c is not None]


def _check_command_quotes(ctx: Context, config: m.Config) -> None:
    """keepalived splits script command lines itself; an odd single quote is reported."""
    for command in _commands(config):
        if command.command.count("'") % 2:
            ctx.diagnostics.warning(command.location,
                                    f"String '{command.command}': missing terminating '")


def _check_script_security(ctx: Context, config: m.Config) -> None:
    """keepalived refuses (exit 6) scripts that would run as root without script security."""
    g = config.global_defs
    # keepalived 2.2.7 stops before vetting scripts once an interface is missing.
    if g.enable_script_security or ctx.saw_missing_interface:
        return
    for command in _commands(config):
        if _runs_as_root(command, g) and _script_exists(command):
            ctx.diagnostics.warning(command.location, "SECURITY VIOLATION - scripts are being "
                                                      "executed but script_security not enabled.")
            ctx.diagnostics.security_error = True
            return


def _with_group(ctx: Context, inst: m.VrrpInstance, group: m.VrrpSyncGroup) -> m.VrrpInstance:
    """A sync group member; its trackers lose their weights unless the group keeps them."""
    if group.sync_group_tracking_weight:
        return replace(inst, sync_group=group.name)
    diag = ctx.diagnostics
    interfaces = []
    for ref in inst.track_interfaces:
        if ref.weight:
            diag.warning(ref.location, f"({inst.name}) ignoring {ref.name} tracked interface "
                                       "weight due to SYNC group")
            ref = replace(ref, weight=0, reverse=False)
        interfaces.append(ref)
    zeroed: dict[str, tuple[m.TrackRef, ...]] = {}
    for field, what in (("track_scripts", "track script"), ("track_files", "track file"),
                        ("track_processes", "track process")):
        refs = []
        for ref in getattr(inst, field):
            if ref.weight != 0:
                diag.note(ref.location, f"({inst.name}) {what} {ref.name}: weight set to 0 in "
                                        f"sync group {group.name}")
                ref = replace(ref, weight=0, reverse=False)
            refs.append(ref)
        zeroed[field] = tuple(refs)
    return replace(inst, sync_group=group.name, track_interfaces=tuple(interfaces),
                   track_scripts=zeroed["track_scripts"], track_files=zeroed["track_files"],
                   track_processes=zeroed["track_processes"])


def _check_vmac_names(ctx: Context, instances: dict[str, m.VrrpInstance]) -> None:
    """A macvlan name serves one instance; later ones fall back to vrrp.<VRID>."""
    owners: dict[str, str] = {}
    for name, inst in list(instances.items()):
        if inst.use_vmac is None:
            continue
        owner = owners.get(inst.use_vmac)
        if owner is None:
            owners[inst.use_vmac] = name
            continue
        ctx.diagnostics.warning(inst.location, f"({name}) VRRP instance {owner} is already "
                                               f"using {inst.use_vmac} - ignoring name")
        fallback = f"vrrp.{inst.virtual_router_id}"
        instances[name] = replace(inst, use_vmac=fallback)
        owners.setdefault(fallback, name)


def _check_duplicate_vrids(ctx: Context, instances: list[m.VrrpInstance]) -> None:
    seen: dict[tuple[str | None, str, int, bool, str | None], m.VrrpInstance] = {}
    for inst in instances:
        # Different multicast groups keep the same VRID apart on one interface.
        group = None if inst.unicast_peers else inst.mcast_dst_ip
        key = (inst.interface, inst.family, inst.virtual_router_id, bool(inst.unicast_peers),
               group)
        other = seen.get(key)
        if other is None:
            seen[key] = inst
            continue
        if inst.unicast_peers and not {p.address for p in inst.unicast_peers} & {
            p.address for p in other.unicast_peers
        }:
            continue
        family = "IPv6" if inst.family == "inet6" else "IPv4"
        ctx.diagnostics.warning(
            inst.location,
            f"{other.name} and {inst.name} both use VRID {inst.virtual_router_id} with {family} "
            f"on interface {inst.interface}")
