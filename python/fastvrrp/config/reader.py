"""The keepalived.conf reader: files, includes, conditionals, macros, generators, tokens, blocks.

The reader turns text into a tree of `Statement`s (a keyword, its arguments, an optional block),
each carrying file, line and column. It knows nothing about what keywords mean; that is the
keyword tables' job (`fastvrrp.config.keywords`).
"""

from __future__ import annotations

import glob
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fastvrrp.config.diagnostics import Diagnostics
from fastvrrp.config.model import Location

#: Past this many logical lines the config is refused (generators can multiply lines).
MAX_LINES = 5_000_000
#: Past this length a macro expansion is refused (a self-doubling macro would never end).
MAX_EXPANSION = 1_000_000
#: Includes and macro expansions nest at most this deep.
MAX_DEPTH = 64

INCLUDE_KEYWORDS = frozenset(
    {"include", "includer", "includem", "includew", "includeb", "includea"}
)

_DEFINITION = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.S)
_MACRO = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|\Z)")
_GENERATOR = re.compile(r"~(SEQx|SEQ|LST)\(([^)]*)\)\s*(.*)\Z", re.S)
_CONDITIONAL = re.compile(r"@(\^?)(\S*)\s*(.*)\Z", re.S)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# A word is a run of unquoted non-space non-brace characters and quoted strings; braces stand alone.
_TOKEN = re.compile(r"""(?:[^\s{}"']+|"(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?)+|[{}]""", re.S)
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]+|[0-7]{1,3}|c.|.)", re.S)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "e": "\x1b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t", "v": "\v"}


class Statement:
    """A keyword with its arguments and, for blocks, the statements inside.

    Argument columns are computed only when asked for (a diagnostic), from the source line.
    """

    __slots__ = ("_base", "_end", "_exact", "_index", "_text", "args", "block", "column",
                 "file", "keyword", "line")

    def __init__(self, keyword: str, file: str, line: int, column: int) -> None:
        self.keyword = keyword
        self.args: list[str] = []
        self.file = file
        self.line = line
        self.column = column
        self.block: list[Statement] | None = None
        self._end: tuple[str, int, int] | None = None
        self._text = ""
        self._base = column
        self._exact = False
        self._index = 0

    @property
    def location(self) -> Location:
        """Where the keyword is."""
        return Location(self.file, self.line, self.column)

    @property
    def position(self) -> tuple[str, int, int]:
        """(file, line, column) of the keyword, cheaper than a Location."""
        return (self.file, self.line, self.column)

    def arg_location(self, index: int) -> Location:
        """Where argument `index` is (the keyword's location past the last argument)."""
        if not 0 <= index < len(self.args) or not self._exact:
            return self.location
        starts = [m.start() for m in _TOKEN.finditer(self._text)]
        position = self._index + 1 + index
        if position >= len(starts):
            return self.location
        return Location(self.file, self.line, self._base + starts[position])

    @property
    def arg_columns(self) -> list[int]:
        """The column of every argument."""
        return [self.arg_location(i).column for i in range(len(self.args))]

    @property
    def end_position(self) -> tuple[str, int, int]:
        """(file, line, column) of the closing brace, or of the keyword without one."""
        return self._end or (self.file, self.line, self.column)

    @property
    def end(self) -> Location | None:
        """Where the block's closing brace was (None if it never closed)."""
        return None if self._end is None else Location(*self._end)

    @property
    def end_location(self) -> Location:
        """Where the block ends (the keyword's location for a plain statement)."""
        return self.end if self.end is not None else self.location

    def words(self) -> list[str]:
        """The keyword followed by the arguments, as in list blocks where every line is data."""
        return [self.keyword, *self.args]

    def __repr__(self) -> str:
        inner = "" if self.block is None else f" {{{len(self.block)}}}"
        return f"Statement({self.keyword!r} {self.args!r}{inner} @{self.line}:{self.column})"


def unescape(text: str) -> str:
    """Apply keepalived's shell-like escapes inside a quoted string."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        head = code[0]
        if head in _SIMPLE_ESCAPES and len(code) == 1:
            return _SIMPLE_ESCAPES[head]
        if head == "x" and len(code) > 1:
            return chr(int(code[1:][-2:], 16))
        if head in "01234567":
            return chr(int(code, 8) & 0xFF)
        if head == "c" and len(code) == 2:
            return chr(ord(code[1].upper()) ^ 0x40)
        return code

    return _ESCAPE.sub(one, text)


def _unquote(word: str) -> tuple[str, bool]:
    """Remove quotes from a word, joining quoted and unquoted parts, and apply escapes.

    Returns the text and whether every quote was closed.
    """
    closed = True
    out: list[str] = []
    i = 0
    n = len(word)
    while i < n:
        ch = word[i]
        if ch in "\"'":
            j = i + 1
            while j < n and word[j] != ch:
                j += 2 if word[j] == "\\" else 1
            if j >= n:
                closed = False
            out.append(unescape(word[i + 1 : min(j, n)]))
            i = j + 1
        else:
            j = i
            while j < n and word[j] not in "\"'":
                j += 1
            out.append(word[i:j])
            i = j
    return "".join(out), closed


def strip_comment(line: str) -> str:
    """Cut a line at the first `#` or `!` outside quotes."""
    if "#" not in line and "!" not in line:
        return line
    quote = ""
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "#!":
            return line[:i]
        i += 1
    return line


#: Brace expansion of an include stops after this many names.
MAX_EXPANDED_NAMES = 1024


def expand_braces(pattern: str) -> list[str]:
    """csh-style brace expansion: `a{b,c{d,e}}f` gives abf, acdf, acef (at most 1024)."""
    return _expand(pattern)[:MAX_EXPANDED_NAMES]


def _expand(pattern: str, depth_left: int = 32) -> list[str]:
    if depth_left <= 0:
        return [pattern]
    depth = 0
    start = -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                inner = pattern[start + 1 : i]
                parts: list[str] = []
                level = 0
                last = 0
                for j, c in enumerate(inner):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(inner[last:j])
                        last = j + 1
                parts.append(inner[last:])
                head, tail = pattern[:start], pattern[i + 1 :]
                out: list[str] = []
                if len(parts) == 1:
                    for p in _expand(parts[0], depth_left - 1):
                        out.extend(head + "{" + p + "}" + t
                                   for t in _expand(tail, depth_left - 1))
                        if len(out) >= MAX_EXPANDED_NAMES:
                            break
                    return out
                for p in parts:
                    out.extend(_expand(head + p + tail, depth_left - 1))
                    if len(out) >= MAX_EXPANDED_NAMES:
                        break
                return out
    return [pattern]


@dataclass
class Reader:
    """Reads a config file (and what it includes) into statements, reporting into `diagnostics`."""

    config_id: str
    diagnostics: Diagnostics
    macros: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    #: Called with each top-level statement once it is complete; None collects them.
    on_statement: Callable[[Statement], None] | None = None
    _stack: list[str] = field(default_factory=list)
    _blocks: list[tuple[list[Statement], Statement | None]] = field(default_factory=list)
    _top: list[Statement] = field(default_factory=list)
    _last_top: Statement | None = None
    _count: int = 0
    _pending: str | None = None
    _pending_parts: list[str] = field(default_factory=list)
    _file: str = ""
    _too_big: bool = False

    # --- files and includes --------------------------------------------------------------

    def read(self, path: str) -> list[Statement]:
        """Read `path`; return its top-level statements (or pass each to `on_statement`)."""
        self._blocks = [(self._top, None)]
        self._read_file(path, None)
        self._finish()
        return self._top

    def _read_file(self, path: str, included_at: Location | None) -> None:
        real = os.path.realpath(path)
        if real in self._stack:
            where = included_at or Location(path, 0, 0)
            self.diagnostics.error(where, f"include loop: '{path}' is already being read")
            return
        if len(self._stack) >= MAX_DEPTH:
            where = included_at or Location(path, 0, 0)
            self.diagnostics.error(where, f"includes nested too deep at '{path}'")
            return
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            where = included_at or Location(path, 0, 0)
            reason = exc.strerror or type(exc).__name__
            if included_at is None:
                self.diagnostics.fatal(where, f"cannot read config file '{path}': {reason}")
            else:
                self.diagnostics.error(where, f"cannot read included file '{path}': {reason}")
            return
        text = data.decode("utf-8", errors="replace")
        self.files.append(path)
        self._stack.append(real)
        saved_file = self._file
        self._file = path
        try:
            self._read_text(path, text)
        finally:
            self._file = saved_file
            self._stack.pop()

    def _read_text(self, path: str, text: str) -> None:
        lines = text.split("\n")
        process = self._process
        feed = self._feed
        for number, raw in enumerate(lines, 1):
            if self._too_big:
                return
            line = strip_comment(raw) if ("#" in raw or "!" in raw) else raw
            if self._pending is not None:
                self._continue_definition(line)
                continue
            stripped = line.strip()
            if not stripped:
                continue
            first = stripped[0]
            if first not in "@$~" and "$" not in stripped:
                head = stripped.split(None, 1)[0]
                if head in INCLUDE_KEYWORDS:
                    self._include(path, number, line, stripped)
                    continue
                # The common case: nothing to rewrite.
                feed(path, number, line, 1, True)
                continue
            if stripped.split(None, 1)[0] in INCLUDE_KEYWORDS:
                self._include(path, number, line, stripped)
                continue
            process(line, path, number, 1, True, 0)
        if self._pending is not None:
            self._finish_definition()

    def _refuse(self, path: str, number: int) -> None:
        self._too_big = True
        self.diagnostics.fatal(
            Location(path, number, 1), f"config expands to more than {MAX_LINES} lines"
        )

    def _include(self, path: str, number: int, line: str, stripped: str) -> None:
        parts = stripped.split(None, 1)
        keyword = parts[0]
        column = line.index(keyword) + 1
        where = Location(path, number, column)
        if len(parts) < 2:
            self.diagnostics.error(where, f"'{keyword}' needs a file name")
            return
        pattern = _unquote(parts[1].strip())[0]
        base = os.path.dirname(os.path.abspath(path))
        must_match = keyword in ("includem", "includea", "includew", "includeb")
        readable = keyword != "include"
        matched: list[str] = []
        for expanded in expand_braces(pattern):
            full = expanded if os.path.isabs(expanded) else os.path.join(base, expanded)
            found = sorted(glob.glob(full))
            if not found and not glob.has_magic(full) and os.path.exists(full):
                found = [full]
            if not found and keyword in ("includeb", "includea") and expanded != pattern:
                self.diagnostics.error(where, f"no file matches '{expanded}'")
            matched.extend(found)
        if not matched:
            message = f"config files missing '{pattern}'"
            if must_match:
                self.diagnostics.error(where, message)
                self.diagnostics.missing_include = True
            else:
                # keepalived only mentions it; a plain include of nothing is allowed.
                self.diagnostics.note(where, message)
            return
        for name in matched:
            if os.path.isdir(name):
                continue
            if readable and not os.access(name, os.R_OK):
                self.diagnostics.error(where, f"included file '{name}' is not readable")
                continue
            self._read_file(name, where)

    # --- macros, conditionals, generators ------------------------------------------------

    def _continue_definition(self, line: str) -> None:
        text = line.rstrip()
        if text.endswith("\\"):
            self._pending_parts.append(text[:-1])
        else:
            self._pending_parts.append(text)
            self._finish_definition()

    def _finish_definition(self) -> None:
        name = self._pending
        if name is not None:
            self.macros[name] = "\n".join(p for p in self._pending_parts if p.strip())
        self._pending = None
        self._pending_parts = []

    def _process(self, text: str, path: str, number: int, column: int, exact: bool,
                 depth: int) -> None:
        """Apply conditionals, definitions, generators and substitution to one line."""
        if depth > MAX_DEPTH:
            self.diagnostics.error(Location(path, number, column),
                                   "macros or generators nest too deep")
            return
        stripped = text.lstrip()
        if not stripped:
            return
        offset = len(text) - len(stripped)
        if stripped[0] == "@":
            match = _CONDITIONAL.match(stripped.rstrip())
            if match is None:
                return
            negate, ident, rest = match.groups()
            if (ident == self.config_id) == bool(negate):
                return
            rest_at = stripped.find(rest) if rest else len(stripped)
            self._process(rest, path, number, column + offset + max(rest_at, 0), exact, depth + 1)
            return
        if stripped[0] == "$":
            definition = _DEFINITION.match(stripped.rstrip())
            if definition is not None:
                name, value = definition.groups()
                value = value.strip()
                if value.endswith("\\"):
                    self._pending = name
                    first = value[:-1].strip()
                    self._pending_parts = [first] if first else []
                else:
                    self.macros[name] = value
                return
        if stripped[0] == "~":
            generator = _GENERATOR.match(stripped.rstrip())
            if generator is not None:
                self._generate(generator, path, number, column + offset, depth)
                return
        if "$" in stripped:
            where = Location(path, number, column + offset)
            result = self._substitute(stripped, where)
            if result is None:
                return
            if result != stripped:
                fixed = column + offset
                if "\n" in result:
                    for part in result.split("\n"):
                        self._process(part, path, number, fixed, False, depth + 1)
                else:
                    self._process(result, path, number, fixed, False, depth + 1)
                return
        head = stripped.split(None, 1)[0]
        if head in INCLUDE_KEYWORDS:
            self.diagnostics.error(
                Location(path, number, column + offset),
                f"'{head}' after a conditional or macro is not read (keepalived does not either)",
            )
            return
        if exact:
            self._feed(path, number, text, column, True)
        else:
            self._feed(path, number, stripped, column, False)

    def _macro_value(self, match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        args = (match.group(2) or "").strip()
        if name in self.macros and not args:
            return self.macros[name]
        if name == "_PWD" and not args:
            return os.path.dirname(os.path.abspath(self._file)) if self._file else os.getcwd()
        if name == "_INSTANCE" and not args:
            return self.config_id
        if name == "_HASH" and not args:
            return "#"
        if name == "_BANG" and not args:
            return "!"
        if name == "_RANDOM":
            bounds = args.split()
            try:
                low = int(bounds[0]) if bounds else 0
                high = int(bounds[1]) if len(bounds) > 1 else 32767
            except ValueError:
                return match.group(0)
            if low < 0 or high < low:
                return match.group(0)
            return str(self.rng.randint(low, high))
        return match.group(0)

    def _substitute(self, text: str, where: Location) -> str | None:
        """Substitute macros until nothing changes; None (reported) if that never happens."""
        for _ in range(MAX_DEPTH):
            new = _MACRO.sub(self._macro_value, text)
            if new == text or "\n" in new:
                return new
            if len(new) > MAX_EXPANSION:
                break
            text = new
        self.diagnostics.error(where, "macro expansion does not terminate - line ignored")
        return None

    def _generate(self, match: re.Match[str], path: str, number: int, column: int,
                  depth: int) -> None:
        kind, spec, rest = match.groups()
        where = Location(path, number, column)
        bindings = self._bindings(kind, spec, where)
        if bindings is None:
            return
        if len(bindings) > MAX_LINES:
            self.diagnostics.fatal(where, f"~{kind} generates more than {MAX_LINES} lines")
            self._too_big = True
            return
        for binding in bindings:
            if self._too_big:
                return
            self.macros.update(binding)
            self._process(rest, path, number, column, False, depth + 1)

    def _bindings(self, kind: str, spec: str, where: Location) -> list[dict[str, str]] | None:
        if kind == "LST":
            return self._list_bindings(spec, where)
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) < 2 or len(parts) > 4 or not _VARIABLE.match(parts[0]):
            self.diagnostics.error(where, f"~{kind}({spec}) needs (var, [start, [step,]] end)")
            return None
        try:
            numbers = [int(p, 0) for p in parts[1:]]
        except ValueError:
            self.diagnostics.error(where, f"~{kind}({spec}): start, step and end must be integers")
            return None
        if len(numbers) == 1:
            end = numbers[0]
            start, step = (1, 1) if end > 0 else (-1, -1)
        elif len(numbers) == 2:
            start, end = numbers
            step = 1 if end >= start else -1
        else:
            start, step, end = numbers
        if step == 0:
            self.diagnostics.error(where, f"~{kind}({spec}): step must not be 0")
            return None
        count = (end - start) // step + 1
        if count > MAX_LINES:
            self.diagnostics.fatal(where, f"~{kind}({spec}) generates more than {MAX_LINES} lines")
            self._too_big = True
            return None
        name = parts[0]
        fmt = "{:x}" if kind == "SEQx" else "{:d}"
        return [{name: fmt.format(v)} for v in range(start, end + (1 if step > 0 else -1), step)]

    def _list_bindings(self, spec: str, where: Location) -> list[dict[str, str]] | None:
        spec = spec.strip()
        if spec.startswith("{"):
            groups = re.findall(r"\{([^}]*)\}", spec)
            if len(groups) < 2:
                self.diagnostics.error(where, f"~LST({spec}) needs ({{vars}}, {{values}}, ...)")
                return None
            names = [n.strip() for n in groups[0].split(",")]
            rows = [[v.strip() for v in g.split(",")] for g in groups[1:]]
        else:
            items = [p.strip() for p in spec.split(",")]
            names, rows = items[:1], [[v] for v in items[1:]]
        if not rows or not all(_VARIABLE.match(n) for n in names):
            self.diagnostics.error(where, f"~LST({spec}) needs a variable name and values")
            return None
        out: list[dict[str, str]] = []
        for row in rows:
            if len(row) != len(names):
                self.diagnostics.error(
                    where, f"~LST: {len(row)} values for {len(names)} variables")
                return None
            out.append(dict(zip(names, row, strict=True)))
        return out

    # --- tokens and blocks -----------------------------------------------------------------

    def _feed(self, path: str, number: int, text: str, base: int, exact: bool) -> None:
        """Tokenize one logical line and add its statements to the open block."""
        self._count += 1
        if self._count > MAX_LINES:
            if not self._too_big:
                self._refuse(path, number)
            return
        blocks = self._blocks
        current = blocks[-1][0]
        if '"' not in text and "'" not in text:
            opens = "{" in text
            closes = "}" in text
            if not closes and (not opens or (text.count("{") == 1 and text.rstrip()[-1] == "{")):
                # Most lines: one statement of plain words, perhaps opening a block.
                words = text.split()
                if opens:
                    words.pop()
                if not words:
                    if opens:
                        self._open_brace(path, number, base + text.index("{") if exact
                                         else base, None)
                    return
                column = base + len(text) - len(text.lstrip()) if exact else base
                st = Statement(words[0], path, number, column)
                st.args = words[1:]
                st._text = text
                st._base = base
                st._exact = exact
                if len(blocks) == 1:
                    self._top_statement(st)
                current.append(st)
                if opens:
                    st.block = []
                    blocks.append((st.block, st))
                return
            if closes and not opens and text.strip() == "}":
                self._close_brace(path, number, base + text.index("}") if exact else base)
                return
        diag = self.diagnostics
        statement: Statement | None = None
        for index, match in enumerate(_TOKEN.finditer(text)):
            word = match.group(0)
            column = base + match.start() if exact else base
            if word == "{":
                current = self._open_brace(path, number, column, statement)
                statement = None
                continue
            if word == "}":
                current = self._close_brace(path, number, column)
                statement = None
                continue
            if "'" in word or '"' in word:
                word, closed = _unquote(word)
                if not closed:
                    diag.warning(Location(path, number, column), "unterminated quoted string")
            if statement is None:
                statement = Statement(word, path, number, column)
                statement._text = text
                statement._base = base
                statement._exact = exact
                statement._index = index
                if len(blocks) == 1:
                    self._top_statement(statement)
                current.append(statement)
            else:
                statement.args.append(word)

    def _open_brace(self, path: str, number: int, column: int,
                    statement: Statement | None) -> list[Statement]:
        """`{`: open the block of the statement before it; returns the open block."""
        blocks = self._blocks
        current = blocks[-1][0]
        last = current[-1] if current else None
        if last is not None and last.block is None and (statement is last or statement is None):
            last.block = []
            blocks.append((last.block, last))
            return last.block
        self.diagnostics.warning(Location(path, number, column), "Unexpected '{' - ignoring")
        dummy: list[Statement] = []
        blocks.append((dummy, None))
        return dummy

    def _close_brace(self, path: str, number: int, column: int) -> list[Statement]:
        """`}`: close the open block; returns the block that is open after it."""
        blocks = self._blocks
        if len(blocks) == 1:
            self.diagnostics.warning(Location(path, number, column), "Extra '}' found")
            return blocks[0][0]
        _, owner = blocks.pop()
        if owner is not None:
            owner._end = (path, number, column)
        if len(blocks) == 1:
            self._flush_top()
        return blocks[-1][0]

    def _top_statement(self, st: Statement) -> None:
        """A new top-level statement starts: the previous one is complete."""
        self._flush_top()
        self._last_top = st

    def _flush_top(self) -> None:
        last = self._last_top
        if last is None or self.on_statement is None:
            return
        self._last_top = None
        # Handing it over frees the tree once it has been read.
        if self._top and self._top[-1] is last:
            self._top.pop()
        self.on_statement(last)

    def _finish(self) -> None:
        for _, owner in self._blocks[1:]:
            if owner is not None:
                self.diagnostics.warning(
                    owner.location, f"missing '}}' for the block opened by '{owner.keyword}'")
        self._blocks = [(self._top, None)]
        self._flush_top()
