"""Stage 1 — load: YAML text to plain data with a position for every node.

Safe by construction: we compose the YAML node graph (libyaml's events into :mod:`.compose`'s
nodes, else ruamel.yaml's composer, imported only then) and build plain Python values ourselves, so only the YAML 1.2 core tags exist (no object construction), duplicate keys
are all reported, and alias expansion is bounded (a "billion laughs" document is refused after
``MAX_NODES`` nodes instead of exhausting memory).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compose import compose
from .errors import Diagnostic, InputError, Source, json_path

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_DIGITS = 100  # Python refuses int() of more than 4300 digits; no profile value needs 100

Path_ = tuple[str | int, ...]
#: A node of either composer (compose.Node or ruamel's: the same attributes, ``id`` its kind).
Node = Any


@dataclass
class Layer:
    """One input document: its data, the position of every node, and what layer it is."""

    name: str  # "tier default", "profile", "environment prod", "override", "--set"
    origin: str  # display name of the file ("profiles/tier2.yaml", "--set")
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    #: ``--set`` only: the ``[name]`` selectors used, as
    #: (list path, merge key, name, column, whether the flag sets a field below the item)
    selectors: tuple[tuple[Path_, str, str, int, bool], ...] = ()

    def source(self, path: Path_) -> Source:
        """The closest recorded position at or above ``path``."""
        p = tuple(path)
        while p and p not in self.positions:
            p = p[:-1]
        line, col = self.positions.get(p, (1, 1))
        return Source(self.origin, line, col, self.name)

    def sub(self, prefix: Path_, name: str) -> Layer:
        """The layer rooted at ``prefix`` (e.g. ``environments.prod``), positions re-keyed."""
        n = len(prefix)
        data = self.data
        for k in prefix:
            data = data[k]
        pos = {p[n:]: v for p, v in self.positions.items() if p[:n] == tuple(prefix)}
        return Layer(name, self.origin, data, pos)


def walk(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every node of a plain-data tree with its path, parents before children."""
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, path + (i,))


_INT = re.compile(r"^[-+]?[0-9][0-9_]*$")  # YAML 1.2 core: 0755 is decimal 755
_OCT = re.compile(r"^0o[0-7_]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F_]+$")
_CORE = "tag:yaml.org,2002:"
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Builder:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.count = 0
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.errors: list[Diagnostic] = []

    def err(self, node: Node, path: Path_, msg: str) -> None:
        m = node.start_mark
        self.errors.append(Diagnostic(Source(self.origin, m.line + 1, m.column + 1), json_path(path), msg))

    def build(self, node: Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(f"document expands to more than {MAX_NODES} nodes (alias bomb?)", node)
        if depth > MAX_DEPTH:
            raise _TooBig(f"document nests deeper than {MAX_DEPTH} levels", node)
        m = node.start_mark
        self.positions.setdefault(path, (m.line + 1, m.column + 1))
        kind = node.id
        if kind == "mapping":
            return self._mapping(node, path, depth)
        if kind == "sequence":
            if node.tag not in (_CORE + "seq",):
                self.err(node, path, f"tag {node.tag!r} is not allowed")
            return [self.build(v, path + (i,), depth + 1) for i, v in enumerate(node.value)]
        assert kind == "scalar"  # the composers make only mapping, sequence and scalar nodes
        return self._scalar(node, path)

    def _mapping(self, node: Node, path: Path_, depth: int) -> dict:
        if node.tag != _CORE + "map":
            self.err(node, path, f"tag {node.tag!r} is not allowed")
        out: dict[str, Any] = {}
        for knode, vnode in node.value:
            if knode.id != "scalar" or knode.tag == _CORE + "merge" or knode.value == "<<":
                self.err(knode, path, "only plain scalar keys are allowed (no merge keys or complex keys)")
                continue
            key = str(knode.value)
            kpath = path + (key,)
            self._no_surrogates(knode, kpath, key)
            if key in out:
                first = self.positions.get(kpath, (0, 0))
                self.err(knode, kpath, f"duplicate key {key!r} (first defined at line {first[0]})")
                continue
            km = knode.start_mark
            self.positions[kpath] = (km.line + 1, km.column + 1)
            out[key] = self.build(vnode, kpath, depth + 1)
        return out

    def _no_surrogates(self, node: Node, path: Path_, text: str) -> None:
        """A ``\\uD800``-``\\uDFFF`` escape in a double-quoted scalar reads as a UTF-16 surrogate, which
        is not a character: Go's YAML reader (helm, kustomize, Argo CD, Flux) refuses the file we
        would write it into, so it is refused here, where it was written."""
        if text.isascii():
            return
        m = _SURROGATE.search(text)
        if m is None:
            return
        hi, lo = m.group(), text[m.end():m.end() + 1]
        if "\ud800" <= hi <= "\udbff" and "\udc00" <= lo <= "\udfff":
            cp = 0x10000 + ((ord(hi) - 0xD800) << 10) + (ord(lo) - 0xDC00)
            hint = f"write the character itself or \\U{cp:08X} (the pair \\u{ord(hi):04X}\\u{ord(lo):04X} is JSON's spelling, not YAML's)"
        else:
            hint = "it is half of a UTF-16 surrogate pair; write the character itself or a \\U00XXXXXX escape"
        self.err(node, path, f"\\u{ord(hi):04X} is not a Unicode character: {hint}")

    def _scalar(self, node: Node, path: Path_) -> Any:
        tag, v = node.tag, node.value
        if node.style == ">" and isinstance(v, str):
            # ruamel's round-trip reader marks each fold of a folded block scalar with a BEL
            # (to write it back folded); the value YAML defines has none (block scalars cannot
            # hold a BEL: it is not printable)
            v = v.replace("\a", "")
        if tag == _CORE + "str" or tag == _CORE + "timestamp":
            self._no_surrogates(node, path, v)
            return str(v)
        if tag == _CORE + "null":
            return None
        if tag == _CORE + "bool":
            return v.lower() == "true"
        if tag == _CORE + "int":
            s = v.replace("_", "")
            if len(s) > MAX_DIGITS:
                self.err(node, path, f"integer with more than {MAX_DIGITS} digits")
                return None
            if _OCT.match(v):
                return int(s, 8)
            if _HEX.match(v):
                return int(s, 16)
            if _INT.match(v):
                return int(s)
            self.err(node, path, f"cannot read {v!r} as an integer")
            return None
        if tag == _CORE + "float":
            low = v.lower()
            if low in (".inf", "+.inf"):
                return math.inf
            if low == "-.inf":
                return -math.inf
            if low == ".nan":
                return math.nan
            try:
                return float(v.replace("_", ""))
            except ValueError:
                self.err(node, path, f"cannot read {v!r} as a number")
                return None
        self.err(node, path, f"tag {tag!r} is not allowed")
        return None


class _TooBig(Exception):
    def __init__(self, msg: str, node: Node) -> None:
        super().__init__(msg)
        self.node = node


def _flow_too_deep(text: str) -> tuple[int, int] | None:
    """Where flow collections (``[``/``{``) first nest deeper than ``MAX_DEPTH``, found by one linear
    scan *before* parsing: ruamel's parser slows down quadratically with flow depth (seconds for
    ``[[[[…`` a thousand deep). Conservative: quoted scalars and comments are skipped, a bracket
    opens only where a flow collection can start, and every closing bracket counts, so a valid
    profile is never refused here (the node builder enforces the exact limit)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # depth never exceeds the brackets opened
        return None
    depth, line, col, prev, quote = 0, 1, 0, "\n", ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
        if quote:
            if quote == '"' and ch == "\\":
                i += 1
                col += 1
            elif ch == quote and not (quote == "'" and text[i + 1 : i + 2] == "'"):
                quote, prev = "", ch
            elif ch == quote:  # '' inside a single-quoted scalar
                i += 1
                col += 1
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n"):
            end = text.find("\n", i)
            i, col = (n, col) if end < 0 else (end - 1, col)
        elif ch in "\"'" and prev in "[{,:-?\n":
            quote = ch
        elif ch in "[{" and prev in "[{,:-?\n":
            depth += 1
            if depth > MAX_DEPTH:
                return line, col
        elif ch in "]}":
            depth = max(depth - 1, 0)
        if ch == "\n":
            prev = "\n"
        elif ch not in " \t" and not quote:
            prev = "x" if ch in "[{" and prev not in "[{,:-?\n" else ch  # x: inside a plain scalar
        i += 1
    return None


def _compose_ruamel(text: str, origin: str, name: str) -> Any:
    """ruamel's node graph of ``text`` (the reference reader), or every problem as an InputError."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return YAML(typ="rt", pure=True).compose(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (e.problem or e.context or "invalid YAML").strip()
        if "expected a single document" in str(e):
            problem = "expected a single YAML document, found more than one"
        raise InputError([Diagnostic(Source(origin, line, col, name), "$", f"YAML syntax error: {problem}")]) from None
    except RecursionError:  # the composer recurses per nesting level, long before MAX_DEPTH is checked
        raise InputError([Diagnostic(Source(origin, 1, 1, name), "$", f"document nests deeper than {MAX_DEPTH} levels")]) from None
    except YAMLError as e:
        raise InputError([Diagnostic(Source(origin, 1, 1, name), "$", f"YAML error: {e}".splitlines()[0])]) from None
    except Exception as e:  # noqa: BLE001 - a parser bug on hostile text is still an input problem
        raise InputError([Diagnostic(Source(origin, 1, 1, name), "$", f"cannot parse YAML ({type(e).__name__}: {e})".splitlines()[0])]) from None


def parse_text(text: str, origin: str, name: str, *, path_prefix: Path_ = ()) -> Layer:
    """Parse one YAML document. Raises :class:`InputError` with every problem found."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InputError([Diagnostic(Source(origin, 1, 1, name), "$", f"file is larger than {MAX_BYTES} bytes")])
    if deep := _flow_too_deep(text):
        raise InputError([Diagnostic(Source(origin, *deep, name), "$", f"document nests deeper than {MAX_DEPTH} levels")])
    try:
        node = compose(text)  # libyaml's events, ruamel's nodes and tags; declines where ruamel must decide
    except Exception:  # noqa: BLE001 - Declined, or anything libyaml raised: ruamel decides (and words every error)
        node = _compose_ruamel(text, origin, name)
    builder = _Builder(origin)
    data: Any = None
    if node is not None:
        try:
            data = builder.build(node, path_prefix, 0)
        except _TooBig as e:
            m = e.node.start_mark
            raise InputError([Diagnostic(Source(origin, m.line + 1, m.column + 1, name), "$", str(e))]) from None
    if builder.errors:
        raise InputError(builder.errors)
    return Layer(name, origin, data, builder.positions)


def load_file(path: Path, display: str, name: str) -> Layer:
    """Read and parse a YAML file; missing, unreadable or non-UTF-8 files are located errors."""
    src = Source(display, 1, 1, name)
    try:
        with path.open("rb") as fh:  # bounded read: /dev/zero or a 10 GB file must not be slurped
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError([Diagnostic(src, "$", "file not found")]) from None
    except IsADirectoryError:
        raise InputError([Diagnostic(src, "$", "is a directory, expected a YAML file")]) from None
    except OSError as e:
        raise InputError([Diagnostic(src, "$", f"cannot read file: {e.strerror or e}")]) from None
    if len(raw) > MAX_BYTES:
        raise InputError([Diagnostic(src, "$", f"file is larger than {MAX_BYTES} bytes")])
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError([Diagnostic(src, "$", "file is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError([Diagnostic(Source(display, line, col, name), "$", "file is not valid UTF-8")]) from None
    if "\x00" in text:
        raise InputError([Diagnostic(src, "$", "file contains a NUL byte")])
    return parse_text(text, display, name)
