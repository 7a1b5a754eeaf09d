"""Generate docs/config.md from the keyword tables.

    python -m fastvrrp.config.reference --write     # rewrite docs/config.md
    python -m fastvrrp.config.reference             # print it

A test fails when docs/config.md differs from what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fastvrrp.config.keywords import ALIAS, BLOCKS, NOT_YET, SUPPORTED, Block, Keyword

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "config.md"

_INTRO = """\
# keepalived.conf reference (fastvrrp)

fastvrrp reads an unmodified keepalived.conf. This page is generated from the keyword tables
the reader uses (`python/fastvrrp/config/keywords.py`) by
`python -m fastvrrp.config.reference --write`; a test fails when it is stale.

Check a config with `fastvrrp check -f FILE [-i CONFIG_ID] [--dump]`. Diagnostics are printed
as `FILE:LINE:COL: severity: message`, with keepalived's wording where keepalived complains
too. The exit code follows `keepalived -t`:

{exit_codes}

Severities: `fatal`, `error` (a value or block is dropped or replaced by its default),
`warning` (keepalived warns too), `note` (fastvrrp-only, does not change the exit code: a
keyword keepalived knows that fastvrrp does not implement yet, a plain `include` matching
nothing). No keyword is ignored silently.

`--dump` prints the resolved model (every default applied) as JSON.

Known differences from `keepalived -t` 2.2.7 (tested in
`tests/interop/test_check_vs_keepalived.py`): a keyword missing its value makes keepalived
stop reading and exit 2, fastvrrp reports it and goes on (5); an unexpected `{` and a block
keyword without its `{` are recovered from locally rather than by re-reading the following
lines. The LVS dataplane's limits (nftables when the host has no IPVS) are notes when the
backend is auto-detected and errors/warnings with `lvs_backend nftables`.

## The language

- `#` and `!` start a comment anywhere outside quotes.
- Words are separated by blanks. `"..."` and `'...'` quote, also in the middle of a word
  (`ab"c d"e` is one word `abc de`), with the escapes
  `\\a \\b \\E \\f \\n \\r \\t \\v \\nnn \\xXX \\cC` and `\\C` for any other character.
- `{` may sit on the keyword's line or on the next line; `{ ... }` may sit on one line.
- `include FILE` reads FILE (globs and csh braces, relative to the including file); a
  plain `include` that matches nothing is a note. `includer` (readable), `includem`,
  `includew`, `includeb` (must match) and `includea` (all checks) make a miss an error.
  Include loops are errors. An include after a conditional or macro is not read
  (keepalived detects includes first, too).
- `@ID line` is read only when the config id (`-i`, default: the short host name) is `ID`;
  `@^ID line` only when it is not.
- `$NAME=VALUE` defines a macro; a trailing `\\` continues the value on the next lines
  (each line becomes a line of the expansion). `$NAME` (followed by a blank) and `${NAME}` are
  replaced recursively at use; an undefined name stays as written. Predefined: `${_PWD}` (the
  directory of the current file), `${_INSTANCE}` (the config id), `${_RANDOM [MIN [MAX]]}`
  (0..32767), `${_HASH}` (`#`), `${_BANG}` (`!`). A macro that never stops expanding is an error.
- `~SEQ(var, [start, [step,]] end) rest` reads `rest` once per value (`~SEQx` in hex);
  `~LST(var, v1, v2, ...)` and `~LST({a, b}, {1, 2}, {3, 4}) rest` once per listed value.
  Generators nest.
- Keywords are case-sensitive. An unknown keyword is a warning, `Unknown keyword 'X'`, and its
  block is skipped.

## Statuses

- **supported**: read into the typed model (`fastvrrp.config.model`) that the daemon runs.
- **not supported yet**: keepalived knows it; fastvrrp reads past it with a note.
- **deprecated alias**: another spelling of a supported keyword; `nb_get_retry` warns, the
  others (`lb_algo`, `lb_kind`, `vrrp_track_file`) are silent, as in keepalived.
"""

_LIST_BLOCKS = (
    ("`virtual_ipaddress`, `virtual_ipaddress_excluded`, `static_ipaddress`",
     "`<IPADDR>[/<MASK>] [brd <IPADDR>] [dev <IFNAME>] "
     "[scope site|link|host|nowhere|global] [label <LABEL>] [peer <IPADDR>] "
     "[preferred_lft <N>|forever] [home] [-nodad] [mngtmpaddr] [noprefixroute] [autojoin] "
     "[use_vmac] [no_track]` (default mask /32, /128)"),
    ("`virtual_routes`, `static_routes`",
     "`ip route add` syntax: `[TYPE] [src <IP>] [to] <PREFIX> [via <IP>] [dev <IFNAME>] "
     "[table <T>] [metric <N>] [scope <S>] [protocol <P>] [nexthop ...] [no_track]` and the "
     "other `ip route` options; `gw` and `or` are deprecated (warning)"),
    ("`virtual_rules`, `static_rules`",
     "`ip rule add` syntax: `[from <PREFIX>] [to <PREFIX>] [table <T>] [preference <N>] "
     "[iif <IF>] [oif <IF>] [fwmark <M>[/<MASK>]] [no_track]` and the other `ip rule` "
     "options; a rule without preference gets 16384, 16383, ... with keepalived's warning"),
    ("`unicast_peer`", "`<IPADDR> [min_ttl <0..255>] [max_ttl <0..255>]`"),
    ("`track_interface`, `track_script`, `track_file`, `track_process`",
     "`<NAME> [weight <N> [reverse|noreverse]]`"),
    ("`notification_email`, `group` (of a sync group)", "one word per entry"),
    ("`virtual_server_group <NAME>`",
     "`<IPADDR>[-<LAST>] [<PORT>]`, `<PREFIX>/<LEN> [<PORT>]`, or `fwmark <INT> [inet|inet6]`"),
)

_EXIT_CODES = (
    ("0", "clean (notes allowed)"),
    ("4", "fatal: the config cannot be used (e.g. the file does not exist, which keepalived "
          "ignores)"),
    ("5", "errors or warnings, but the config runs (values dropped or defaulted, unknown "
          "keywords, missing interfaces, v2 interval rounding, ...)"),
    ("6", "scripts would run as root without `enable_script_security` (keepalived's "
          "\"SECURITY VIOLATION\"), or an `includem`/`includew`/`includeb`/`includea` file is "
          "missing (as keepalived 2.2.7)"),
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else ""


def _status(kw: Keyword) -> str:
    if kw.status == ALIAS:
        warn = ", warns" if kw.warn else ""
        return f"deprecated alias of `{kw.alias_of}`{warn}"
    return kw.status


def _block(block: Block) -> str:
    lines = [f"## `{block.title}`", "", block.doc, ""]
    if not block.keywords:
        return "\n".join(lines) + "\n"
    supported = sum(1 for k in block.keywords.values() if k.status == SUPPORTED)
    missing = sum(1 for k in block.keywords.values() if k.status == NOT_YET)
    lines += [f"{supported} supported, {missing} not supported yet.", "",
              "| keyword | arguments | status | meaning |", "|---|---|---|---|"]
    ordered = sorted(block.keywords.values(),
                     key=lambda k: ({SUPPORTED: 0, ALIAS: 1, NOT_YET: 2}[k.status], k.name))
    for kw in ordered:
        syntax = f"`{_cell(kw.syntax)}`" if kw.syntax else ""
        lines.append(f"| `{kw.name}` | {syntax} | {_status(kw)} | {_cell(kw.doc)} |")
    return "\n".join(lines) + "\n"


def _table(header: tuple[str, str], rows: tuple[tuple[str, str], ...]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {a} | {_cell(b) if '`' in b else b} |" for a, b in rows]
    return "\n".join(lines)


def render_reference() -> str:
    """docs/config.md, from the keyword tables."""
    parts = [_INTRO.replace("{exit_codes}", _table(("code", "meaning"), _EXIT_CODES))]
    parts += [_block(block) for block in BLOCKS.values()]
    parts.append("## Blocks of plain lines\n\nThese blocks hold one entry per line rather than "
                 "keywords:\n\n" + _table(("block", "a line"), _LIST_BLOCKS) + "\n")
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    """Print the reference, or write it to docs/config.md with --write."""
    text = render_reference()
    if "--write" in argv:
        DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOC_PATH.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
