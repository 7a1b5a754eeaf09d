"""The keyword tables: one table per block, keyword -> status, syntax, handler.

Handlers read a statement into a raw dict (model field name -> value, plus "@keyword" ->
Location); `fastvrrp.config.resolve` turns raw dicts into the typed model. docs/config.md is
generated from these same tables (`fastvrrp.config.reference`), so the documentation cannot
drift from what the reader does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from fastvrrp.config.model import Location
from fastvrrp.config.reader import Statement
from fastvrrp.config.values import (
    Context,
    arg,
    parse_bool,
    parse_command,
    parse_float,
    parse_int,
)

Status = Literal["supported", "not supported yet", "deprecated alias"]
SUPPORTED: Status = "supported"
NOT_YET: Status = "not supported yet"
ALIAS: Status = "deprecated alias"

Raw = dict[str, Any]
Handler = Callable[[Context, Statement, Raw], None]


@dataclass(frozen=True)
class Keyword:
    """One keyword of one block: what it is called, its status, syntax, and how to read it."""

    name: str
    status: Status
    syntax: str = ""
    doc: str = ""
    handler: Handler | None = None
    #: For a deprecated alias: the keyword it stands for.
    alias_of: str | None = None
    #: A deprecated alias that keepalived warns about.
    warn: bool = False
    #: The block table of its `{ ... }` contents, or "list" for a block of plain lines.
    block: str | None = None
    #: The raw-dict key recording where the keyword (or its alias target) was.
    key: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", "@" + (self.alias_of or self.name))


@dataclass(frozen=True)
class Block:
    """A block's keyword table."""

    name: str
    title: str
    doc: str
    keywords: dict[str, Keyword]


# --- keyword factories -------------------------------------------------------------------


def _bounded(parse: Callable[[Context, Statement, int, Any, Any], int | float | None],
             field: str, low: float, high: float, invalid: str | None) -> Handler:
    """Read one number in [low, high] with `parse`; `invalid` is keepalived's extra complaint."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = parse(ctx, st, 0, low, high)
        if value is None:
            if invalid is not None and st.args:
                ctx.diagnostics.error(st.location, invalid.format(
                    name=out.get("@name", ""), value=st.args[0], low=low, high=high))
            return
        out[field] = value

    return handle


def integer(name: str, field: str, low: int, high: int, doc: str,
            invalid: str | None = None) -> Keyword:
    """An integer keyword in [low, high]; `invalid` is keepalived's extra complaint."""
    return Keyword(name, SUPPORTED, f"<{low}..{high}>", doc,
                   _bounded(parse_int, field, low, high, invalid))


def number(name: str, field: str, low: float, high: float, doc: str,
           invalid: str | None = None) -> Keyword:
    """A decimal (seconds) keyword in [low, high]."""
    return Keyword(name, SUPPORTED, f"<{_decimal(low)}..{_decimal(high)}>", doc,
                   _bounded(parse_float, field, low, high, invalid))


def _decimal(value: float) -> str:
    """A bound as people write it: 0.000001, 255, 4294.967295."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


#: Flags that keepalived 2.2.7 reads with an optional BOOL; every other flag is set by its
#: mere presence, and keepalived ignores what follows it ("nopreempt off" still sets it).
BOOL_FLAGS = frozenset({
    "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "vrrp_min_garp",
    "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "lower_prio_no_advert",
    "higher_prio_send_advert", "alpha", "inhibit_on_failure", "log_all_failures",
    "fast_recovery",
})


def flag(name: str, field: str, doc: str, value: bool = True,
         boolean: bool | None = None) -> Keyword:
    """A flag keyword; with `boolean`, optionally followed by on|off|true|false|yes|no."""
    takes_bool = name in BOOL_FLAGS if boolean is None else boolean

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        if not takes_bool:
            if st.args:
                ctx.diagnostics.note(st.arg_location(0), f"'{st.keyword}' takes no argument - "
                                                         f"'{' '.join(st.args)}' ignored")
            out[field] = value
            return
        given = parse_bool(ctx, st)
        if given is not None:
            out[field] = value if given else not value

    return Keyword(name, SUPPORTED, "[<BOOL>]" if takes_bool else "", doc, handle)


def string(name: str, field: str, doc: str, syntax: str = "<STRING>") -> Keyword:
    """A keyword with one string value."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = arg(ctx, st)
        if value is not None:
            out[field] = value

    return Keyword(name, SUPPORTED, syntax, doc, handle)


def choice(name: str, field: str, choices: tuple[str, ...], doc: str) -> Keyword:
    """A keyword whose value is one of `choices`."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = arg(ctx, st)
        if value is None:
            return
        if value not in choices:
            ctx.diagnostics.error(
                st.arg_location(0),
                f"invalid {st.keyword} '{value}', expected one of {'|'.join(choices)}")
            return
        out[field] = value

    return Keyword(name, SUPPORTED, "|".join(choices), doc, handle)


def command(name: str, field: str, doc: str) -> Keyword:
    """A script keyword: `SCRIPT [username [groupname]]`."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = parse_command(ctx, st)
        if value is not None:
            out[field] = value

    return Keyword(name, SUPPORTED, "<STRING>|<QUOTED-STRING> [username [groupname]]", doc,
                   handle)


def custom(name: str, handler: Handler, syntax: str, doc: str,
           block: str | None = None) -> Keyword:
    """A keyword with its own handler."""
    return Keyword(name, SUPPORTED, syntax, doc, handler, block=block)


def not_yet(name: str, syntax: str = "", doc: str = "", handler: Handler | None = None,
            block: str | None = None) -> Keyword:
    """A keyword keepalived knows and fastvrrp does not implement yet."""
    return Keyword(name, NOT_YET, syntax, doc, handler, block=block)


def pending(keyword: Keyword) -> Keyword:
    """A keyword the model reads (and `check` validates) that the daemon does not act on yet."""
    return replace(keyword, status=NOT_YET)


def alias(name: str, target: str, warn: bool = False) -> Keyword:
    """A deprecated spelling of `target` (filled in by `table`)."""
    return Keyword(name, ALIAS, alias_of=target, warn=warn)


def table(*keywords: Keyword) -> dict[str, Keyword]:
    """A keyword table; aliases take their target's handler and syntax."""
    out: dict[str, Keyword] = {}
    for kw in keywords:
        if kw.alias_of is not None:
            target = out[kw.alias_of]
            kw = replace(kw, syntax=target.syntax, handler=target.handler, block=target.block,
                         doc=f"Deprecated spelling of `{target.name}`.")
        out[kw.name] = kw
    return out


# --- dispatch ----------------------------------------------------------------------------


def read_block(ctx: Context, block: Block, statements: list[Statement], out: Raw) -> None:
    """Read the statements of a block into `out` through the block's keyword table."""
    keywords = block.keywords
    diag = ctx.diagnostics
    for st in statements:
        kw = keywords.get(st.keyword)
        if kw is None:
            diag.warning(st.location, f"Unknown keyword '{st.keyword}'")
            continue
        if kw.status == NOT_YET:
            diag.note(st.location, f"'{st.keyword}' is not supported by fastvrrp yet - ignored")
            out[kw.key] = (st.file, st.line, st.column)
            if kw.handler is not None:
                kw.handler(ctx, st, out)
            continue
        if kw.warn:
            diag.warning(st.location, f"'{st.keyword}' is deprecated - use '{kw.alias_of}'")
        out[kw.key] = (st.file, st.line, st.column)
        if kw.block is None and st.block is not None:
            diag.warning(st.location,
                         f"'{st.keyword}' does not take a block - ignoring its contents")
        elif kw.block is not None and st.block is None:
            diag.error(st.location, f"'{st.keyword}' needs a block {{ ... }}")
            continue
        if kw.handler is not None:
            kw.handler(ctx, st, out)


def sub_block(block_name: str, collect: str | None = None,
              arg_locations: bool = False) -> Handler:
    """A handler that reads `{ ... }` through another table into a new raw dict.

    With `collect`, the dict is appended to out[collect]; otherwise it is merged into `out`.
    `arg_locations` records where each argument is (for blocks whose arguments are checked).
    """

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        # The end stays a tuple until a diagnostic needs it as a Location.
        inner: Raw = {"@self": st.location, "@end": st.end_position, "args": st.args,
                      "@name": st.args[0] if st.args else ""}
        if arg_locations:
            inner["@args"] = [st.arg_location(i) for i in range(len(st.args))]
        if collect is None:
            inner = out
        read_block(ctx, BLOCKS[block_name], st.block or [], inner)
        if collect is not None:
            out.setdefault(collect, []).append(inner)

    return handle


def nested(name: str, collect: str, syntax: str, doc: str,
           arg_locations: bool = False) -> Keyword:
    """A keyword whose `{ ... }` is read through the block table of the same name into a new raw
    dict appended to out[collect] (see `sub_block`)."""
    return custom(name, sub_block(name, collect, arg_locations), syntax, doc, block=name)


def lines_block(field: str) -> Handler:
    """A handler for a block of plain lines (addresses, names): keeps the statements."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        lines: list[Statement] = out.setdefault(field, [])
        for line in st.block or []:
            if line.block is not None:
                ctx.diagnostics.warning(line.location, f"Unexpected '{{' in {st.keyword}")
            lines.append(line)

    return handle


def line_list(name: str, syntax: str, doc: str) -> Keyword:
    """A keyword whose `{ ... }` holds plain lines, kept as statements in out[name]."""
    return custom(name, lines_block(name), syntax, doc, block="list")


def _words_block(field: str) -> Handler:
    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        words: list[str] = out.setdefault(field, [])
        for line in st.block or []:
            words.extend(line.words())

    return handle


# --- special handlers --------------------------------------------------------------------


def _weight_reverse(field: str, low: int, high: int) -> Handler:
    """`weight N [reverse]` of vrrp_script / track_file / vrrp_track_process."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = parse_int(ctx, st, 0, low, high)
        if value is None:
            if st.args:
                ctx.diagnostics.error(
                    st.location,
                    f"{out.get('kind', 'tracker')} {out.get('@name', '')} weight {st.args[0]} "
                    f"must be in [{low}, {high}]")
            return
        out[field] = value
        if len(st.args) > 1:
            if st.args[1] == "reverse":
                out[field + "_reverse"] = True
            elif st.args[1] not in ("noreverse", "no_reverse"):
                ctx.diagnostics.warning(st.arg_location(1), f"unknown option '{st.args[1]}'")

    return handle


def _script_user(ctx: Context, st: Statement, out: Raw) -> None:
    user = arg(ctx, st)
    if user is not None:
        out["user"] = user
        out["group"] = st.args[1] if len(st.args) > 1 else None


def _global_script_user(ctx: Context, st: Statement, out: Raw) -> None:
    user = arg(ctx, st)
    if user is not None:
        out["script_user"] = user
        out["script_group"] = st.args[1] if len(st.args) > 1 else None


def _fifo(field: str) -> Handler:
    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        path = arg(ctx, st)
        if path is not None:
            out[field] = (path, st.args[1] if len(st.args) > 1 else None,
                          st.args[2] if len(st.args) > 2 else None, st.location)

    return handle


def _fifo_keywords(name: str, lines: str) -> tuple[Keyword, Keyword]:
    """A notify FIFO receiving `lines` state lines, and `<name>_script`, the script reading it."""
    return (custom(name, _fifo(name), "<FIFO> [username [groupname]]",
                   f"FIFO receiving {lines} state lines."),
            command(f"{name}_script", f"{name}_script", f"Script reading {name}."))


def _smtp_server(ctx: Context, st: Statement, out: Raw) -> None:
    server = arg(ctx, st)
    if server is None:
        return
    out["smtp_server"] = server
    if len(st.args) > 1:
        port = parse_int(ctx, st, 1, 1, 65535)
        if port is not None:
            out["smtp_port"] = port


#: keepalived's largest lvs_timeouts value: 31 days.
LVS_MAX_TIMEOUT = 86400 * 31


def _lvs_timeouts(ctx: Context, st: Statement, out: Raw) -> None:
    # As keepalived: a bad part is reported and skipped, the others still count.
    values = dict.fromkeys(("tcp", "tcpfin", "udp"), 0)
    args = st.args
    if len(args) < 2:
        ctx.diagnostics.error(st.location, "lvs_timeouts requires at least one option")
        return
    i = 0
    while i < len(args):
        name = args[i]
        if name not in values:
            ctx.diagnostics.error(st.arg_location(i),
                                  f"Unknown option {name} specified for lvs_timeouts")
            i += 1
            continue
        if i + 1 >= len(args):
            ctx.diagnostics.error(st.arg_location(i),
                                  f"No value specified for lvs_timeout {name} - ignoring")
            break
        value = parse_int(ctx, st, i + 1, 0, LVS_MAX_TIMEOUT)
        if value is not None:
            values[name] = value
        i += 2
    out["lvs_timeouts"] = (values["tcp"], values["tcpfin"], values["udp"])


def _lvs_flush_on_stop(ctx: Context, st: Statement, out: Raw) -> None:
    if not st.args:
        out["lvs_flush_on_stop"] = "FULL"
    elif st.args[0] == "VS":
        out["lvs_flush_on_stop"] = "VS"
    else:
        ctx.diagnostics.error(st.arg_location(0),
                              f"Unknown lvs_flush_on_stop type {st.args[0]}")


def _state(ctx: Context, st: Statement, out: Raw) -> None:
    value = arg(ctx, st)
    if value is None:
        return
    if value in ("MASTER", "BACKUP"):
        out["state"] = value
    else:
        out["state"] = "BACKUP"
        ctx.diagnostics.error(
            st.arg_location(0),
            f"({out.get('@name', '')}) unknown state '{value}', defaulting to BACKUP")


def _version(ctx: Context, st: Statement, out: Raw) -> None:
    value = parse_int(ctx, st, 0, 2, 3)
    if value is not None:
        out["version"] = value


def _advert_int(ctx: Context, st: Statement, out: Raw) -> None:
    value = parse_float(ctx, st, 0, 0.01, 255)
    if value is None:
        if st.args:
            ctx.diagnostics.error(
                st.location,
                f"({out.get('@name', '')}) Advert interval ({st.args[0]}) not valid! "
                "Must be > 0 - ignoring")
        return
    out["advert_int"] = value


def _preempt_delay(ctx: Context, st: Statement, out: Raw) -> None:
    value = parse_float(ctx, st, 0, 0, 1000)
    if value is not None:
        out["preempt_delay"] = value


def _use_vmac(ctx: Context, st: Statement, out: Raw) -> None:
    out["use_vmac"] = st.args[0] if st.args else ""
    if len(st.args) > 1:
        out["vmac_mac"] = st.args[1]


def _authentication(ctx: Context, st: Statement, out: Raw) -> None:
    read_block(ctx, BLOCKS["authentication"], st.block or [], out)


def _auth_type(ctx: Context, st: Statement, out: Raw) -> None:
    value = arg(ctx, st)
    if value is None:
        return
    if value not in ("PASS", "AH"):
        ctx.diagnostics.error(st.arg_location(0), f"unknown authentication type '{value}'")
        return
    out["auth_type"] = value


def _auth_pass(ctx: Context, st: Statement, out: Raw) -> None:
    value = arg(ctx, st)
    if value is None:
        return
    data = value.encode("utf-8", errors="replace")
    if len(data) > 8:
        ctx.diagnostics.warning(st.location, "Truncating auth_pass to 8 characters")
        data = data[:8]
    out["auth_pass"] = data


def _skip_check_adv_addr(ctx: Context, st: Statement, out: Raw) -> None:
    value = parse_bool(ctx, st)
    if value is not None:
        out["skip_check_adv_addr"] = value


def _lvs_sync_daemon_interface(ctx: Context, st: Statement, out: Raw) -> None:
    ctx.diagnostics.warning(
        st.location,
        f"({out.get('@name', '')}) Specifying lvs_sync_daemon_interface against a vrrp is "
        "deprecated. Please use global lvs_sync_daemon")


def _persistence_timeout(ctx: Context, st: Statement, out: Raw) -> None:
    if not st.args:
        out["persistence_timeout"] = 360
        return
    value = parse_int(ctx, st, 0, 1, 2**31 - 1)
    if value is not None:
        out["persistence_timeout"] = value


def _lvs_method(field: str) -> Handler:
    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = arg(ctx, st)
        if value is None:
            return
        if value not in ("NAT", "DR", "TUN"):
            ctx.diagnostics.error(st.arg_location(0), f"invalid lvs_method '{value}'")
            return
        out[field] = value
        if len(st.args) > 1:
            ctx.diagnostics.note(st.arg_location(1),
                                 "tunnel options are not supported by fastvrrp yet - ignored")

    return handle


def _protocol(ctx: Context, st: Statement, out: Raw) -> None:
    value = arg(ctx, st)
    if value is None:
        return
    upper = value.upper()
    if upper not in ("TCP", "UDP", "SCTP"):
        ctx.diagnostics.error(st.arg_location(0), f"unknown protocol '{value}'")
        return
    out["protocol"] = upper


def _ip_port(field: str) -> Handler:
    """`IP [PORT]` (sorry_server)."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        ip = arg(ctx, st)
        if ip is None:
            return
        port = parse_int(ctx, st, 1, 0, 65535) if len(st.args) > 1 else None
        out[field] = (ip, port, st.arg_location(0))

    return handle


def _status_code(ctx: Context, st: Statement, out: Raw) -> None:
    ranges: list[tuple[int, int]] = []
    if not st.args:
        arg(ctx, st)
        return
    for i, text in enumerate(st.args):
        low_text, _, high_text = text.partition("-")
        low = parse_int(ctx, st, i, 100, 599, low_text)
        high = parse_int(ctx, st, i, 100, 599, high_text) if high_text else low
        if low is None or high is None:
            continue
        if high < low:
            ctx.diagnostics.error(st.arg_location(i), f"invalid status code range '{text}'")
            continue
        ranges.append((low, high))
    if ranges:
        out.setdefault("status_code", []).extend(ranges)


def _misc_path(ctx: Context, st: Statement, out: Raw) -> None:
    value = parse_command(ctx, st)
    if value is not None:
        out["misc_path"] = value


def _misc_user(ctx: Context, st: Statement, out: Raw) -> None:
    _script_user(ctx, st, out)


def _hex(ctx: Context, st: Statement, text: str, wildcard: bool) -> bytes | None:
    """keepalived's free-form hex: pairs per word, a lone last digit is a byte of its own
    ("Ab12f 3" is AB 12 0F 03); with `wildcard`, X nibbles (ignored in replies) read as 0."""
    out = bytearray()
    for word in text.split():
        if wildcard:
            word = word.replace("X", "0").replace("x", "0")
        pairs = [word[i:i + 2] for i in range(0, len(word), 2)]
        try:
            out.extend(int(pair, 16) for pair in pairs)
        except ValueError:
            ctx.diagnostics.error(st.location, f"invalid hex string '{text}'")
            return None
    return bytes(out)


def _payload(ctx: Context, st: Statement, out: Raw) -> None:
    if not st.args:
        arg(ctx, st)
        return
    data = _hex(ctx, st, " ".join(st.args), False)
    if data is not None:
        out["payload"] = data


def _require_reply(ctx: Context, st: Statement, out: Raw) -> None:
    out["require_reply"] = True
    if st.args:
        data = _hex(ctx, st, " ".join(st.args), True)
        if data is not None:
            out["reply_data"] = data


def _init_file(ctx: Context, st: Statement, out: Raw) -> None:
    out["init_file"] = True
    for i, word in enumerate(st.args):
        if word == "overwrite":
            out["init_overwrite"] = True
        else:
            value = parse_int(ctx, st, i, -(2**31), 2**31 - 1)
            if value is not None:
                out["init_value"] = value


def _process(ctx: Context, st: Statement, out: Raw) -> None:
    name = arg(ctx, st)
    if name is not None:
        out["process"] = name
        out["parameters"] = tuple(st.args[1:])


def _param_match(ctx: Context, st: Statement, out: Raw) -> None:
    if not st.args:
        out["param_match"] = "exact"
        return
    value = st.args[0]
    if value not in ("initial", "partial"):
        ctx.diagnostics.error(st.arg_location(0), f"invalid param_match '{value}'")
        return
    out["param_match"] = value


def _process_delay(ctx: Context, st: Statement, out: Raw) -> None:
    value = parse_float(ctx, st, 0, 0.000001, 3600)
    if value is not None:
        out["fork_delay"] = value
        out["terminate_delay"] = value
        out["delay"] = value


def _script(ctx: Context, st: Statement, out: Raw) -> None:
    value = parse_command(ctx, st)
    if value is not None:
        out["script"] = value


def _garp_repeat(field: str) -> Handler:
    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = parse_int(ctx, st, 0, 0, 255)
        if value == 0:
            owner = f"({out.get('@name', '')}): " if out.get("@name") else ""
            ctx.diagnostics.warning(st.location,
                                    f"{owner}{st.keyword} must be greater than 0, setting to 1")
            value = 1
        if value is not None:
            out[field] = value

    return handle


def _script_interval(ctx: Context, st: Statement, out: Raw) -> None:
    text = arg(ctx, st)
    if text is None:
        return
    name = out.get("@name", "")
    try:
        value = int(text, 10)
    except ValueError:
        ctx.diagnostics.error(st.arg_location(0), f"invalid number '{text}'")
        ctx.diagnostics.error(st.location, f"({name}): vrrp script interval '{text}' must be "
                                           "between 1 and 4294 - ignoring")
        return
    if value <= 0:
        ctx.diagnostics.error(
            st.location, f"({name}): vrrp script interval must be greater than 0, setting to 1")
        value = 1
    elif value > 4294:
        ctx.diagnostics.error(st.location, f"({name}): vrrp script interval '{text}' must be "
                                           "between 1 and 4294 - ignoring")
        return
    out["interval"] = float(value)


def _script_timeout(ctx: Context, st: Statement, out: Raw) -> None:
    text = arg(ctx, st)
    if text is None:
        return
    try:
        value = int(text, 10)
        if not 1 <= value <= 4294:
            raise ValueError(text)
    except ValueError:
        ctx.diagnostics.error(st.arg_location(0), f"invalid number '{text}'")
        ctx.diagnostics.error(st.location, f"({out.get('@name', '')}): vrrp script timeout "
                                           f"'{text}' invalid - ignoring")
        return
    out["timeout"] = float(value)


def _file_check_weight(ctx: Context, st: Statement, out: Raw) -> None:
    _weight_reverse("weight", -(2**31 - 1), 2**31 - 1)(ctx, st, out)
    if out.pop("weight_reverse", False):
        out["reverse"] = True


def _checker(kind: str) -> Handler:
    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        inner: Raw = {"kind": kind, "@self": st.location, "@end": st.end_location}
        read_block(ctx, BLOCKS[kind], st.block or [], inner)
        out.setdefault("checkers", []).append(inner)

    return handle


def _dns_type(ctx: Context, st: Statement, out: Raw) -> None:
    value = arg(ctx, st)
    if value is None:
        return
    if value.upper() not in ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"):
        ctx.diagnostics.error(st.arg_location(0), f"unknown DNS_CHECK type '{value}'")
        return
    out["type"] = value.upper()


def _http_protocol(ctx: Context, st: Statement, out: Raw) -> None:
    value = arg(ctx, st)
    if value is None:
        return
    if value not in ("1.0", "1.0C", "1.1"):
        ctx.diagnostics.error(st.arg_location(0), f"invalid http_protocol '{value}'")
        return
    out["http_protocol"] = value


def _lvs_backend(ctx: Context, st: Statement, out: Raw) -> None:
    value = arg(ctx, st)
    if value is None:
        return
    if value not in ("auto", "ipvs", "nftables"):
        ctx.diagnostics.error(st.arg_location(0),
                              f"invalid lvs_backend '{value}', expected auto|ipvs|nftables")
        return
    out["lvs_backend"] = value


def _dynamic_interfaces(ctx: Context, st: Statement, out: Raw) -> None:
    out["dynamic_interfaces"] = True


def _max_auto_priority(ctx: Context, st: Statement, out: Raw) -> None:
    if not st.args:
        out["max_auto_priority"] = 99
        return
    value = parse_int(ctx, st, 0, -1, 99)
    if value is not None:
        out["max_auto_priority"] = value


def _multicast_group(field: str, family: str | None) -> Handler:
    # IPv4 multicast, or IPv6 multicast of link-local scope (ffX2::): adverts stay on the link.
    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        value = arg(ctx, st)
        if value is None:
            return
        try:
            group = ipaddress.ip_address(value)
        except ValueError:
            ctx.diagnostics.error(st.arg_location(0), f"{st.keyword} '{value}' is not an address")
            return
        v6 = group.version == 6
        if family is not None and v6 != (family == "inet6"):
            ctx.diagnostics.error(st.arg_location(0),
                                  f"{st.keyword} '{value}' is not of the right family")
            return
        if not group.is_multicast or (v6 and group.packed[1] & 0x0f != 2):
            scope = " of link-local scope (ffX2::)" if v6 else ""
            ctx.diagnostics.error(st.arg_location(0),
                                  f"{st.keyword} '{value}' is not a multicast address{scope}")
            return
        out[field] = str(group)

    return handle


def _cpu_affinity(ctx: Context, st: Statement, out: Raw) -> None:
    if not st.args:
        ctx.diagnostics.error(st.location, f"{st.keyword} needs at least one CPU")
        return
    cpus: list[int] = []
    for i, word in enumerate(st.args):
        if not word.isdigit() or int(word) > 1023:
            ctx.diagnostics.error(st.arg_location(i), f"invalid CPU '{word}' in {st.keyword}")
            return
        cpus.append(int(word))
    out[st.keyword] = tuple(sorted(set(cpus)))


def _checker_rt_priority(ctx: Context, st: Statement, out: Raw) -> None:
    # keepalived clamps an out-of-range priority to 1..99 and says so.
    if not st.args:
        parse_int(ctx, st, 0, 1, 99)
        return
    text = st.args[0]
    try:
        value = int(text, 10)
    except ValueError:
        ctx.diagnostics.error(st.arg_location(0), f"invalid number '{text}'")
        ctx.diagnostics.error(st.arg_location(0),
                              f"checker process real-time priority '{text}' invalid")
        return
    if value < 1:
        ctx.diagnostics.warning(st.arg_location(0), f"checker process real-time priority {value} "
                                                    "less than minimum 1 - setting to minimum")
    elif value > 99:
        ctx.diagnostics.warning(st.arg_location(0), f"checker process real-time priority {value} "
                                                    "greater than maximum 99 - setting to maximum")
    out["checker_rt_priority"] = min(max(value, 1), 99)


# --- the tables ----------------------------------------------------------------------------

_SCRIPT_SYNTAX = "<STRING>|<QUOTED-STRING> [username [groupname]]"
_VIP_SYNTAX = ("{ <IPADDR>[/<MASK>] [brd <IPADDR>] [dev <STRING>] [scope <SCOPE>] "
               "[label <LABEL>] [peer <IPADDR>] [no_track] ... }")


def _track_list(name: str, doc: str) -> Keyword:
    """A track_interface/script/file/process list: tracker names with optional weights."""
    # keepalived bounds the weights of interfaces and scripts by 253, of files and processes by 254.
    bound = 253 if name in ("track_interface", "track_script") else 254
    return line_list(name, f"{{ <NAME> [weight <-{bound}..{bound}> [reverse|noreverse]] ... }}",
                     doc)


#: A setting that global_defs gives as `vrrp_<name>` and a vrrp_instance overrides as `<name>`:
#: (name, how to build its keyword from a name and a doc, the doc of the global default).
_Setting = tuple[str, Callable[[str, str], Keyword], str]

_GARP_SETTINGS: tuple[_Setting, ...] = (
    ("garp_master_delay", lambda name, doc: number(name, name, 0, 1000, doc),
     "Seconds after becoming master before the second GARP batch (5; 0 = off)."),
    ("garp_master_repeat", lambda name, doc: custom(name, _garp_repeat(name), "<1..255>", doc),
     "GARPs/NAs per VIP in each batch (5)."),
    ("garp_master_refresh", lambda name, doc: number(name, name, 0, 2**31 - 1, doc),
     "Seconds between periodic GARP refreshes while master (0 = off)."),
    ("garp_master_refresh_repeat", lambda name, doc: integer(name, name, 1, 255, doc),
     "GARPs per VIP in each refresh (1)."),
    ("garp_lower_prio_delay", lambda name, doc: number(name, name, 0, 1000, doc),
     "GARP delay after a lower-priority advert (default: garp_master_delay)."),
    ("garp_lower_prio_repeat", lambda name, doc: integer(name, name, 0, 255, doc),
     "GARPs after a lower-priority advert (default: garp_master_repeat)."),
)
_ADVERT_SETTINGS: tuple[_Setting, ...] = (
    ("lower_prio_no_advert", lambda name, doc: flag(name, name, doc),
     "Do not answer a lower-priority advert with an advert."),
    ("higher_prio_send_advert", lambda name, doc: flag(name, name, doc),
     "Send an advert before yielding to a higher priority."),
)


def _global_defaults(settings: tuple[_Setting, ...]) -> tuple[Keyword, ...]:
    """The global_defs keywords (`vrrp_<name>`) of overridable settings."""
    return tuple(build("vrrp_" + name, doc) for name, build, doc in settings)


def _instance_overrides(settings: tuple[_Setting, ...]) -> tuple[Keyword, ...]:
    """The vrrp_instance keywords that override the global defaults of `settings`."""
    return tuple(build(name, f"Overrides vrrp_{name}.") for name, build, _ in settings)


# keepalived 2.2.7 (Debian) knows these in global_defs; net_namespace, instance and the like
# are top-level keywords there, and vrrp_ipsets is not built in.
_NOT_YET_GLOBALS = (
    "tmp_config_directory", "config_save_dir",
    "process_names", "process_name", "vrrp_process_name", "checker_process_name",
    "bfd_process_name", "startup_script", "startup_script_timeout", "shutdown_script",
    "shutdown_script_timeout", "checker_log_all_failures", "no_email_faults",
    "default_interface", "lvs_sync_daemon", "vrrp_down_timer_adverts",
    "vrrp_garp_extra_if", "nftables", "nftables_priority", "nftables_counters",
    "nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark", "vrrp_iptables", "disable_local_igmp",
    "vrrp_notify_priority_changes", "min_auto_priority_delay",
    "bfd_priority", "bfd_no_swap", "checker_cpu_affinity",
    "bfd_cpu_affinity", "bfd_rt_priority", "vrrp_rlimit_rttime",
    "bfd_rlimit_rttime", "snmp_socket", "enable_snmp_vrrp",
    "enable_snmp_checker", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3",
    "enable_traps", "enable_dbus", "dbus_service_name", "fifo_write_vrrp_states_on_reload",
    "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs", "lvs_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force", "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier", "rs_init_notifies", "no_checker_emails", "umask",
    "vrrp_startup_delay", "log_unknown_vrids", "vmac_prefix", "vmac_addr_prefix",
    "random_seed", "reload_check_config", "include_check", "reload_time_file",
    "reload_repeat", "reload_file", "data_use_instance", "bfd_rlimit_rtime",
    "vrrp_rlimit_rtime", "enable_snmp_keepalived",
    "lvs_process_name", "vrrp_vmac_garp_intvl",
)

GLOBAL_DEFS = Block("global_defs", "global_defs", "Daemon-wide settings and VRRP defaults.", table(
    string("router_id", "router_id", "String identifying this machine (default: host name)."),
    integer("vrrp_version", "vrrp_version", 2, 3, "Default VRRP version of instances (2)."),
    flag("vrrp_strict", "vrrp_strict", "Enforce strict RFC compliance (see the checks below)."),
    flag("vrrp_skip_check_adv_addr", "vrrp_skip_check_adv_addr",
         "Do not check the address list of adverts from the current master."),
    *_global_defaults(_GARP_SETTINGS),
    number("vrrp_garp_interval", "vrrp_garp_interval", 0.000001, 4294.967295,
           "Seconds between GARPs (default: none).",
           invalid="vrrp_garp_interval '{value}' is invalid"),
    number("vrrp_gna_interval", "vrrp_gna_interval", 0.000001, 4294.967295,
           "Seconds between unsolicited NAs (default: none).",
           invalid="vrrp_gna_interval '{value}' is invalid"),
    *_global_defaults(_ADVERT_SETTINGS),
    flag("vrrp_min_garp", "vrrp_min_garp",
         "One GARP/NA on takeover and no second block: the vrrp_garp_master_* and "
         "vrrp_garp_lower_prio_* defaults become delay 0, repeat 1."),
    custom("vrrp_mcast_group4", _multicast_group("vrrp_mcast_group4", "inet"), "<IPADDR>",
           "IPv4 multicast group of adverts (224.0.0.18)."),
    custom("vrrp_mcast_group6", _multicast_group("vrrp_mcast_group6", "inet6"), "<IPADDR>",
           "IPv6 multicast group of adverts (ff02::12); link-local scope (ffX2::)."),
    integer("vrrp_priority", "vrrp_priority", -20, 19,
            "Nice value of the engine thread, in effect on normal scheduling "
            "(`fastvrrp run --no-realtime`, or no SCHED_RR)."),
    custom("vrrp_cpu_affinity", _cpu_affinity, "<CPU> [<CPU>]...",
           "CPUs the engine thread may run on."),
    integer("vrrp_rt_priority", "vrrp_rt_priority", 1, 99,
            "SCHED_RR priority of the engine thread."),
    flag("vrrp_no_swap", "vrrp_no_swap", "Lock the daemon's memory (mlockall)."),
    flag("vrrp_check_unicast_src", "vrrp_check_unicast_src",
         "Drop unicast adverts not from a configured peer."),
    flag("v3_checksum_as_v2", "v3_checksum_as_v2",
         "VRRPv3 IPv4 checksum without the pseudo-header (RFC 9568 form; keepalived 2.3+)."),
    custom("notification_email", _words_block("notification_email"),
           "{ <EMAIL> ... }", "Recipients of SMTP alerts.", block="list"),
    string("notification_email_from", "notification_email_from", "From: of SMTP alerts."),
    custom("smtp_server", _smtp_server, "<IPADDR|NAME> [<PORT>]", "SMTP relay (port 25)."),
    number("smtp_connect_timeout", "smtp_connect_timeout", 1, 3600,
           "SMTP connect timeout in seconds (30)."),
    string("smtp_helo_name", "smtp_helo_name", "HELO name (default: host name)."),
    flag("smtp_alert", "smtp_alert", "Default for all smtp_alert settings."),
    flag("smtp_alert_vrrp", "smtp_alert_vrrp", "Default smtp_alert of VRRP instances/groups."),
    flag("smtp_alert_checker", "smtp_alert_checker", "Default smtp_alert of checkers."),
    custom("script_user", _global_script_user, "<USERNAME> [<GROUPNAME>]",
           "User (and group) that runs scripts by default."),
    flag("enable_script_security", "enable_script_security",
         "Refuse scripts that a non-root user could change when run as root."),
    *_fifo_keywords("notify_fifo", "VRRP and LVS"),
    *_fifo_keywords("vrrp_notify_fifo", "VRRP"),
    *_fifo_keywords("lvs_notify_fifo", "LVS"),
    custom("dynamic_interfaces", _dynamic_interfaces, "[allow_if_changes]",
           "Allow interfaces that do not exist yet."),
    pending(custom("max_auto_priority", _max_auto_priority, "[<-1..99>]",
                   "Raise the engine to real-time priority automatically.")),
    custom("lvs_timeouts", _lvs_timeouts, "[tcp SECS] [tcpfin SECS] [udp SECS]",
           "Connection timeouts of the load balancer: IPVS's (all of them), or conntrack "
           "timeout policies on fastvrrp's NAT connections (nftables)."),
    flag("lvs_flush", "lvs_flush",
         "Flush the whole IPVS table at startup (nftables: fastvrrp's table is always "
         "replaced; nothing else is flushed)."),
    custom("lvs_flush_on_stop", _lvs_flush_on_stop, "[VS]",
           "On stop, flush the whole IPVS table in one command; with VS, delete each service "
           "without its real servers first (nftables: fastvrrp's table is deleted whole)."),
    alias("lvs_flush_onstop", "lvs_flush_on_stop"),
    custom("checker_rt_priority", _checker_rt_priority, "<1..99>",
           "SCHED_RR priority of the thread running the checkers and the LVS dataplane "
           "(default 1; `fastvrrp run --no-realtime`: normal scheduling)."),
    integer("checker_priority", "checker_priority", -20, 19,
            "Nice value of the thread running the checkers and the LVS dataplane.",
            invalid="Invalid checker process priority specified"),
    flag("checker_no_swap", "checker_no_swap",
         "Lock the daemon's memory (mlockall) when it has virtual servers."),
    integer("checker_rlimit_rttime", "checker_rlimit_rttime", 1, 2**32 - 1,
            "Microseconds of CPU a real-time checker thread may use without blocking "
            "(RLIMIT_RTTIME; no limit unless set).",
            invalid="Invalid checker real-time limit - {value}"),
    alias("checker_rlimit_rtime", "checker_rlimit_rttime"),
    custom("lvs_backend", _lvs_backend, "auto|ipvs|nftables",
           "fastvrrp extension: the LVS dataplane to drive (auto)."),
    *(not_yet(name) for name in _NOT_YET_GLOBALS),
))

AUTHENTICATION = Block("authentication", "authentication", "VRRPv2 authentication.", table(
    custom("auth_type", _auth_type, "PASS|AH", "PASS: simple password; AH: IPsec AH."),
    custom("auth_pass", _auth_pass, "<STRING>", "Password; only the first 8 bytes are used."),
))

VRRP_INSTANCE = Block("vrrp_instance", "vrrp_instance <NAME>", "A VRRP virtual router.", table(
    custom("state", _state, "MASTER|BACKUP", "Initial state (BACKUP)."),
    string("interface", "interface", "Interface the instance runs on.", "<IFNAME>"),
    integer("virtual_router_id", "virtual_router_id", 1, 255, "The VRID (required).",
            invalid="({name}): VRID '{value}' not valid - must be between 1 & 255"),
    integer("priority", "priority", 1, 255,
            "Priority (100; 255 with state MASTER and no priority).",
            invalid="({name}) Priority not valid! must be between 1 & 255. Using default 100"),
    custom("advert_int", _advert_int, "<0.01..255>",
           "Advert interval in seconds (1); v2 rounds to whole seconds, v3 to centiseconds."),
    custom("version", _version, "2|3", "VRRP version (global vrrp_version; IPv6 is always 3)."),
    flag("nopreempt", "nopreempt", "Do not preempt a lower-priority master (needs BACKUP)."),
    flag("preempt", "nopreempt", "Preempt (the default).", value=False),
    custom("preempt_delay", _preempt_delay, "<0..1000>",
           "Seconds to wait before preempting at startup (needs BACKUP)."),
    custom("authentication", _authentication, "{ auth_type PASS|AH auth_pass <STRING> }",
           "VRRPv2 authentication (not with vrrp_strict).", block="authentication"),
    line_list("virtual_ipaddress", _VIP_SYNTAX,
              "Addresses carried in adverts and added on MASTER."),
    line_list("virtual_ipaddress_excluded", _VIP_SYNTAX,
              "Addresses added on MASTER but not advertised."),
    line_list("virtual_routes", "{ <ip route syntax> ... }", "Routes added on MASTER."),
    line_list("virtual_rules", "{ <ip rule syntax> ... }", "Rules added on MASTER."),
    string("mcast_src_ip", "mcast_src_ip",
           "Source address of adverts (keepalived keeps one: the same as unicast_src_ip).",
           "<IPADDR>"),
    custom("mcast_dst_ip", _multicast_group("mcast_dst_ip", None), "<MULTICAST_IPADDR>",
           "Multicast group adverts of this instance go to and are heard on "
           "(global vrrp_mcast_group4/6); IPv6: link-local scope (ffX2::)."),
    string("unicast_src_ip", "unicast_src_ip", "Source address of unicast adverts.",
           "<IPADDR>"),
    line_list("unicast_peer", "{ <IPADDR> [min_ttl <0..255>] [max_ttl <0..255>] ... }",
              "Send adverts to these peers instead of multicast."),
    integer("unicast_ttl", "unicast_ttl", 1, 255, "TTL / hop limit of unicast adverts (255)."),
    flag("check_unicast_src", "check_unicast_src", "Drop adverts not from a unicast peer."),
    custom("use_vmac", _use_vmac, "[<IFNAME>] [<MAC>]",
           "Run on a macvlan with the virtual MAC (default name vrrp.<VRID>)."),
    pending(flag("vmac_xmit_base", "vmac_xmit_base",
                 "Send and receive adverts on the base interface.")),
    flag("dont_track_primary", "dont_track_primary", "Ignore faults of the instance interface."),
    _track_list("track_interface",
                "Interfaces whose state changes the priority or faults the instance."),
    _track_list("track_script", "vrrp_scripts that change the priority or fault the instance."),
    _track_list("track_file", "track_files whose value changes the priority."),
    _track_list("track_process", "vrrp_track_processes that change the priority."),
    command("notify_master", "notify_master", "Run on entering MASTER."),
    command("notify_backup", "notify_backup", "Run on entering BACKUP."),
    command("notify_fault", "notify_fault", "Run on entering FAULT."),
    command("notify_stop", "notify_stop", "Run when the instance stops."),
    command("notify", "notify", "Run on every transition with INSTANCE NAME STATE PRIORITY."),
    command("notify_master_rx_lower_pri", "notify_master_rx_lower_pri",
            "Run when the master receives a lower-priority advert."),
    flag("smtp_alert", "smtp_alert", "Send SMTP alerts on transitions."),
    *_instance_overrides(_GARP_SETTINGS + _ADVERT_SETTINGS),
    flag("v3_checksum_as_v2", "v3_checksum_as_v2", "Overrides the global v3_checksum_as_v2."),
    flag("accept", "accept", "Accept packets to the VIPs when not the owner (default)."),
    flag("no_accept", "accept", "Drop packets to the VIPs when not the owner.", value=False),
    custom("strict_mode", lambda ctx, st, out: _bool_field(ctx, st, out, "strict_mode"),
           "[<BOOL>]", "Overrides vrrp_strict for this instance."),
    custom("skip_check_adv_addr", _skip_check_adv_addr, "[<BOOL>]",
           "Overrides vrrp_skip_check_adv_addr."),
    flag("promote_secondaries", "promote_secondaries",
         "Set promote_secondaries on the interface while running (removing its primary "
         "address then keeps the VIPs); the old value is restored on stop."),
    integer("down_timer_adverts", "down_timer_adverts", 1, 100,
            "Adverts missed before the master is down (3)."),
    flag("native_ipv6", "native_ipv6", "Deprecated: the VIPs choose the family."),
    not_yet("vrf", "<IFNAME>"),
    not_yet("use_vmac_addr"),
    not_yet("use_ipvlan", "[<IFNAME>] [<IPADDR>] [bridge|private|vepa]"),
    not_yet("track_bfd", "{ <NAME> [weight <-253..253> [reverse]] ... }", block="list"),
    not_yet("track_src_ip"),
    not_yet("unicast_fault_no_peer"),
    not_yet("old_unicast_checksum", "[never]"),
    not_yet("garp_extra_if", "[all] <SECONDS>"),
    not_yet("debug", "<0..4>"),
    not_yet("notify_priority_changes", "[<BOOL>]"),
    not_yet("notify_deleted", _SCRIPT_SYNTAX),
    not_yet("kernel_rx_buf_size", "<BYTES>"),
    not_yet("linkbeat_use_polling"),
    not_yet("lvs_sync_daemon_interface", "<IFNAME>", "Deprecated: use global lvs_sync_daemon.",
            handler=_lvs_sync_daemon_interface),
))


def _bool_field(ctx: Context, st: Statement, out: Raw, field: str) -> None:
    value = parse_bool(ctx, st)
    if value is not None:
        out[field] = value


VRRP_SCRIPT = Block("vrrp_script", "vrrp_script <NAME>", "A script run periodically.", table(
    custom("script", _script, _SCRIPT_SYNTAX, "The command to run."),
    custom("interval", _script_interval, "<1..4294>", "Seconds between runs (1)."),
    custom("timeout", _script_timeout, "<1..4294>", "Seconds before a run fails (interval)."),
    custom("weight", _weight_reverse("weight", -253, 253), "<-253..253> [reverse]",
           "Priority change (0: fault on failure)."),
    integer("rise", "rise", 1, 2**31 - 1, "Successes before OK (1)."),
    integer("fall", "fall", 1, 2**31 - 1, "Failures before KO (1)."),
    custom("user", _script_user, "<USERNAME> [<GROUPNAME>]", "Run the script as this user."),
    flag("init_fail", "init_fail", "Start in the failed state."),
))

TRACK_FILE = Block("track_file", "track_file <NAME>", "A file whose number changes priority.",
                   table(
    string("file", "file", "The file to read.", "<PATH>"),
    custom("weight", _weight_reverse("weight", -254, 254), "<-254..254> [reverse]",
           "Multiplier of the value read (1)."),
    custom("init_file", _init_file, "[<VALUE>] [overwrite]",
           "Create the file with VALUE (0) at startup."),
))

TRACK_PROCESS = Block("vrrp_track_process", "vrrp_track_process <NAME>",
                      "Processes whose presence changes priority.", table(
    custom("process", _process, "<STRING> [<PARAM> ...]", "Process name and parameters."),
    custom("param_match", _param_match, "[initial|partial]", "How parameters match."),
    custom("weight", _weight_reverse("weight", -254, 254), "<-254..254> [reverse]",
           "Priority change (0: fault on failure)."),
    integer("quorum", "quorum", 0, 2**31 - 1, "Minimum processes for success (1)."),
    integer("quorum_max", "quorum_max", 0, 2**31 - 1, "Maximum processes for success."),
    number("fork_delay", "fork_delay", 0.000001, 3600, "Seconds before a new process counts.",
           invalid="fork_delay ({value}) for vrrp_track_process {name} must be between "
                   "[0.000001..3600] inclusive. Ignoring..."),
    number("terminate_delay", "terminate_delay", 0.000001, 3600,
           "Seconds before a gone process counts.",
           invalid="terminate_delay ({value}) for vrrp_track_process {name} must be between "
                   "[0.000001..3600] inclusive. Ignoring..."),
    custom("delay", _process_delay, "<SECONDS>", "Sets fork_delay and terminate_delay."),
    flag("full_command", "full_command", "Match the full command line."),
))

VRRP_SYNC_GROUP = Block("vrrp_sync_group", "vrrp_sync_group <NAME>",
                        "Instances that change state together.", table(
    custom("group", _words_block("group"), "{ <INSTANCE> ... }", "Member instances.",
           block="list"),
    _track_list("track_interface", "Interfaces tracked by all members."),
    _track_list("track_script", "Scripts tracked by all members."),
    _track_list("track_file", "Files tracked by all members."),
    _track_list("track_process", "Processes tracked by all members."),
    command("notify_master", "notify_master", "Run when the group becomes MASTER."),
    command("notify_backup", "notify_backup", "Run when the group becomes BACKUP."),
    command("notify_fault", "notify_fault", "Run when the group faults."),
    command("notify_stop", "notify_stop", "Run when the group stops."),
    command("notify", "notify", "Run on every transition with GROUP NAME STATE 0."),
    flag("smtp_alert", "smtp_alert", "Send SMTP alerts on transitions."),
    flag("global_tracking", "global_tracking", "Deprecated: members share their trackers."),
    flag("sync_group_tracking_weight", "sync_group_tracking_weight",
         "Allow weighted trackers on members."),
    not_yet("track_bfd", "{ <NAME> ... }", block="list"),
    not_yet("notify_priority_changes", "[<BOOL>]"),
))

_CHECKER_COMMON = (
    string("connect_ip", "connect_ip", "Address to check (the real server's).", "<IPADDR>"),
    integer("connect_port", "connect_port", 1, 65535, "Port to check (the real server's)."),
    string("bindto", "bindto", "Source address of checks.", "<IPADDR>"),
    string("bind_if", "bind_if", "Interface of checks (for link-local bindto).", "<IFNAME>"),
    integer("bind_port", "bind_port", 1, 65535, "Source port of checks."),
    integer("fwmark", "fwmark", 0, 2**32 - 1, "fwmark of check packets."),
    flag("alpha", "alpha", "Start with the server down."),
    number("connect_timeout", "connect_timeout", 0.000001, 4294.967295,
           "Seconds per attempt (5).", invalid="connect_timeout {value} invalid - ignoring"),
    integer("retry", "retry", 0, 2**31 - 1, "Extra attempts before DOWN (1)."),
    alias("nb_get_retry", "retry", warn=True),
    number("delay_before_retry", "delay_before_retry", 0, 2**31 - 1,
           "Seconds between attempts (3 for HTTP/SSL, 1 otherwise)."),
    number("warmup", "warmup", 0, 2**31 - 1, "Random delay before the first check."),
    number("delay_loop", "delay_loop", 0.000001, 2**31 - 1, "Seconds between checks (60).",
           invalid="checker delay loop '{value}' invalid - ignoring"),
    flag("log_all_failures", "log_all_failures", "Log every failed check."),
)

URL = Block("url", "url", "A URL an HTTP_GET/SSL_GET checks.", table(
    string("path", "path", "The path to GET.", "<PATH>"),
    string("digest", "digest", "MD5 of the body (genhash).", "<HEX>"),
    custom("status_code", _status_code, "<CODE|LOW-HIGH> ...", "Wanted status (200-299)."),
    string("virtualhost", "virtualhost", "Host header.", "<HOST>"),
    string("regex", "regex", "The body must match this.", "<REGEX>"),
    flag("regex_no_match", "regex_no_match", "The body must not match regex."),
    not_yet("regex_options", "<OPTIONS>"),
    not_yet("regex_stack", "<START> <MAX>"),
    not_yet("regex_min_offset", "<OFFSET>"),
    not_yet("regex_max_offset", "<OFFSET>"),
))

_HTTP = (
    *_CHECKER_COMMON,
    custom("http_protocol", _http_protocol, "1.0|1.0C|1.1", "HTTP version (1.0)."),
    flag("fast_recovery", "fast_recovery", "Check all URLs at once on recovery."),
    string("virtualhost", "virtualhost", "Host header.", "<HOST>"),
    nested("url", "urls", "{ ... }", "A URL to check."),
)

HTTP_GET = Block("HTTP_GET", "HTTP_GET", "HTTP health check.", table(
    *_HTTP, not_yet("enable_sni", "", "Only meaningful for SSL_GET.")))
SSL_GET = Block("SSL_GET", "SSL_GET", "HTTPS health check.", table(
    *_HTTP, flag("enable_sni", "enable_sni", "Send SNI.")))
TCP_CHECK = Block("TCP_CHECK", "TCP_CHECK", "TCP connect check.", table(*_CHECKER_COMMON))
PING_CHECK = Block("PING_CHECK", "PING_CHECK", "ICMP echo check.", table(*_CHECKER_COMMON))
SMTP_CHECK = Block("SMTP_CHECK", "SMTP_CHECK", "SMTP greeting check.", table(
    *_CHECKER_COMMON,
    string("helo_name", "helo_name", "HELO name."),
    not_yet("host", "{ ... }", "Deprecated per-host block.", block="list"),
))
DNS_CHECK = Block("DNS_CHECK", "DNS_CHECK", "DNS query check.", table(
    *_CHECKER_COMMON,
    custom("type", _dns_type, "A|NS|CNAME|SOA|MX|TXT|AAAA", "Query type (SOA)."),
    string("name", "name", "Query name (.)."),
))
# MISC_CHECK and FILE_CHECK connect nowhere: keepalived knows no connection options there.
_CONNECTION_OPTIONS = frozenset({"connect_ip", "connect_port", "bindto", "bind_if", "bind_port",
                                 "fwmark", "connect_timeout"})
_CHECKER_TIMING = tuple(kw for kw in _CHECKER_COMMON if kw.name not in _CONNECTION_OPTIONS)

MISC_CHECK = Block("MISC_CHECK", "MISC_CHECK", "Script check.", table(
    *_CHECKER_TIMING,
    custom("misc_path", _misc_path, _SCRIPT_SYNTAX, "The script to run."),
    number("misc_timeout", "misc_timeout", 0, 2**31 - 1, "Seconds before the script fails."),
    flag("misc_dynamic", "misc_dynamic", "Exit codes 2-255 set the weight."),
    custom("user", _misc_user, "<USERNAME> [<GROUPNAME>]", "Run the script as this user."),
))
UDP_CHECK = Block("UDP_CHECK", "UDP_CHECK", "UDP datagram check.", table(
    *_CHECKER_COMMON,
    custom("payload", _payload, "<HEX>", "Datagram to send (random)."),
    custom("require_reply", _require_reply, "[<HEX>]", "A reply (matching HEX) is needed."),
    integer("min_reply_length", "min_reply_length", 0, 65535, "Shortest reply (0)."),
    integer("max_reply_length", "max_reply_length", 0, 65535, "Longest reply (255)."),
))
FILE_CHECK = Block("FILE_CHECK", "FILE_CHECK", "A track_file as a check.", table(
    string("track_file", "track_file", "The track_file's name.", "<NAME>"),
    custom("weight", _file_check_weight, "<INT> [reverse]", "Multiplier of the value read."),
))

_CHECKER_KINDS = ("HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK",
                  "PING_CHECK", "UDP_CHECK", "FILE_CHECK")

_SERVER_COMMON = (
    number("connect_timeout", "connect_timeout", 0.000001, 4294.967295,
           "Default connect_timeout of checkers (5).",
           invalid="connect_timeout {value} invalid - ignoring"),
    integer("retry", "retry", 0, 2**31 - 1, "Default retry of checkers."),
    alias("nb_get_retry", "retry", warn=True),
    number("delay_before_retry", "delay_before_retry", 0, 2**31 - 1,
           "Default delay_before_retry of checkers."),
    number("warmup", "warmup", 0, 2**31 - 1, "Default warmup of checkers."),
    number("delay_loop", "delay_loop", 0.000001, 2**31 - 1, "Seconds between checks (60).",
           invalid="virtual server delay loop '{value}' invalid - ignoring"),
    flag("smtp_alert", "smtp_alert", "Send SMTP alerts."),
    string("virtualhost", "virtualhost", "Default Host header of HTTP checks.", "<HOST>"),
    not_yet("snmp_name", "<STRING>"),
)

REAL_SERVER = Block("real_server", "real_server <IPADDR> [<PORT>]", "A backend server.", table(
    *_SERVER_COMMON,
    flag("inhibit_on_failure", "inhibit_on_failure", "Set weight 0 instead of removing."),
    flag("alpha", "alpha", "Start with the server down."),
    integer("weight", "weight", 0, 2**31 - 1, "IPVS weight (1)."),
    custom("lvs_method", _lvs_method("lvs_method"), "NAT|DR|TUN",
           "Forwarding method (the virtual server's)."),
    command("notify_up", "notify_up", "Run when the server comes up."),
    command("notify_down", "notify_down", "Run when the server goes down."),
    integer("uthreshold", "uthreshold", 0, 2**31 - 1, "Maximum connections."),
    integer("lthreshold", "lthreshold", 0, 2**31 - 1, "Minimum connections."),
    *(custom(kind, _checker(kind), "{ ... }", f"A {kind} health check.", block=kind)
      for kind in _CHECKER_KINDS),
    not_yet("BFD_CHECK", "{ name <NAME> }", block="list"),
))

VIRTUAL_SERVER = Block("virtual_server",
                       "virtual_server <IPADDR> [<PORT>] | fwmark <INT> | group <NAME>",
                       "An LVS service.", table(
    *_SERVER_COMMON,
    flag("inhibit_on_failure", "inhibit_on_failure", "Set weight 0 instead of removing.",
         boolean=False),
    flag("alpha", "alpha", "Start with servers down.", boolean=False),
    choice("lvs_sched", "lvs_sched", ("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo",
                                      "ovf", "lblcr", "sed", "nq", "twos"),
           "Scheduler (wlc)."),
    alias("lb_algo", "lvs_sched"),
    custom("lvs_method", _lvs_method("lvs_method"), "NAT|DR|TUN", "Forwarding method (NAT)."),
    alias("lb_kind", "lvs_method"),
    custom("persistence_timeout", _persistence_timeout, "[<SECONDS>]",
           "Persistence (360 s without a value)."),
    string("persistence_granularity", "persistence_granularity", "Persistence netmask.",
           "<NETMASK>"),
    string("persistence_engine", "persistence_engine", "Persistence engine (sip)."),
    custom("protocol", _protocol, "TCP|UDP|SCTP", "L4 protocol (TCP)."),
    flag("ha_suspend", "ha_suspend", "Suspend checks while the VIP is absent."),
    flag("omega", "omega", "Run quorum_down and notify_down on shutdown."),
    integer("quorum", "quorum", 1, 2**31 - 1, "Minimum live weight (1)."),
    integer("hysteresis", "hysteresis", 0, 2**31 - 1, "Quorum flap dampener (0)."),
    command("quorum_up", "quorum_up", "Run when the quorum is reached."),
    command("quorum_down", "quorum_down", "Run when the quorum is lost."),
    choice("ip_family", "family", ("inet", "inet6"), "Family of a fwmark service."),
    custom("sorry_server", _ip_port("sorry_server"), "<IPADDR> [<PORT>]",
           "Server used while the quorum is lost."),
    flag("sorry_server_inhibit", "sorry_server_inhibit", "inhibit_on_failure for it."),
    flag("ops", "ops", "One-packet scheduling (UDP)."),
    nested("real_server", "real_servers",
           "<IPADDR> [<PORT>] { ... }", "A real server.", arg_locations=True),
    not_yet("hashed", "", "Deprecated IPVS scheduler flag."),
    not_yet("weight", "<INT>", "Undocumented in keepalived.conf(5); keepalived accepts it."),
    not_yet("flag-1"), not_yet("flag-2"), not_yet("flag-3"), not_yet("sh-port"),
    not_yet("sh-fallback"), not_yet("mh-port"), not_yet("mh-fallback"),
    not_yet("sorry_server_lvs_method", "NAT|DR|TUN"),
))

VIRTUAL_SERVER_GROUP = Block(
    "virtual_server_group", "virtual_server_group <NAME>",
    "Lines `<IPADDR>[-<END>] [<PORT>]` or `fwmark <INT> [inet|inet6]`.", {})

SSL = Block("SSL", "SSL", "The client side of SSL_GET checks (all of them).", table(
    string("password", "password", "Password of the private key.", "<STRING>"),
    string("ca", "ca", "CA file; when given, servers must present a certificate it signed.",
           "<PATH>"),
    string("certificate", "certificate", "Client certificate file (PEM).", "<PATH>"),
    string("key", "key", "Client private key file (PEM).", "<PATH>"),
))

_NOT_YET_TOP = ("linkbeat_interfaces", "track_group", "bfd_instance", "garp_group",
                "interface_up_down_delays")

def lines_block_named(field: str) -> Handler:
    """A named block of plain lines (virtual_server_group NAME { ... })."""

    def handle(ctx: Context, st: Statement, out: Raw) -> None:
        lines: list[Statement] = []
        for line in st.block or []:
            if line.block is not None:
                ctx.diagnostics.warning(line.location, f"Unexpected '{{' in {st.keyword}")
            lines.append(line)
        out.setdefault(field, []).append(
            {"args": st.args, "@self": st.location, "@end": st.end_location, "lines": lines})

    return handle


TOP_BLOCK = Block("top", "top level", "The blocks of keepalived.conf.", table(
    nested("global_defs", "global_defs", "{ ... }", "Daemon-wide settings."),
    nested("vrrp_instance", "vrrp_instances", "<NAME> { ... }", "A VRRP instance."),
    nested("vrrp_sync_group", "vrrp_sync_groups", "<NAME> { ... }", "A sync group."),
    nested("vrrp_script", "vrrp_scripts", "<NAME> { ... }", "A tracking script."),
    nested("track_file", "track_files", "<NAME> { ... }", "A tracked file."),
    alias("vrrp_track_file", "track_file"),
    nested("vrrp_track_process", "track_processes", "<NAME> { ... }", "A tracked process."),
    nested("virtual_server", "virtual_servers",
           "<IPADDR> [<PORT>] | fwmark <INT> | group <NAME> { ... }", "An LVS service.",
           arg_locations=True),
    custom("virtual_server_group", lines_block_named("virtual_server_groups"),
           "<NAME> { ... }", "Addresses/fwmarks sharing one service definition.",
           block="virtual_server_group"),
    nested("SSL", "ssl", "{ ... }", "Client certificate, key and CA for SSL_GET."),
    line_list("static_ipaddress", _VIP_SYNTAX, "Addresses always present."),
    line_list("static_routes", "{ <ip route syntax> ... }", "Routes always present."),
    line_list("static_rules", "{ <ip rule syntax> ... }", "Rules always present."),
    *(not_yet(name, "{ ... }", block="list") for name in _NOT_YET_TOP),
    *(not_yet(name) for name in ("net_namespace", "net_namespace_ipvs", "namespace_with_ipsets",
                                 "instance", "use_pid_dir", "linkbeat_use_polling",
                                 "child_wait_time")),
))

#: Every block table by name; the order is the order of docs/config.md.
BLOCKS: dict[str, Block] = {
    b.name: b
    for b in (TOP_BLOCK, GLOBAL_DEFS, VRRP_SCRIPT, TRACK_FILE, TRACK_PROCESS, VRRP_SYNC_GROUP,
              VRRP_INSTANCE, AUTHENTICATION, VIRTUAL_SERVER_GROUP, VIRTUAL_SERVER, REAL_SERVER,
              HTTP_GET, SSL_GET, URL, TCP_CHECK, SMTP_CHECK, DNS_CHECK, MISC_CHECK, PING_CHECK,
              UDP_CHECK, FILE_CHECK, SSL)
}


__all__ = ["ALIAS", "BLOCKS", "NOT_YET", "SUPPORTED", "Block", "Keyword", "Location", "Raw",
           "read_block"]
