"""Located diagnostics shared by every stage.

Every problem with user input becomes a :class:`Diagnostic` that names the file, line and column
it came from and the JSON path of the value (``$.capacity.pools[0].weight``). Stages collect all
diagnostics they find and raise one :class:`InputError`; the CLI prints them sorted and exits 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Source:
    """Where a value came from: ``file:line:col`` (1-based) plus the layer that set it."""

    file: str
    line: int = 0
    col: int = 0
    layer: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One located problem: ``file:line:col: $.json.path: message``."""

    source: Source | None
    path: str
    message: str

    def sort_key(self) -> tuple:
        s = self.source
        return (s.file, s.line, s.col, self.path, self.message) if s else ("~", 0, 0, self.path, self.message)

    def __str__(self) -> str:
        where = str(self.source) if self.source else "<input>:0:0"
        return f"{where}: {clip(self.path or '$', MAX_PATH)}: {clip(self.message, MAX_MESSAGE)}"


#: Hostile input (a 1 MiB key or value) must not turn one diagnostic into a megabyte of output.
MAX_PATH = 200
MAX_MESSAGE = 1000


def clip(text: str, limit: int) -> str:
    """``text`` shortened in the middle to at most ``limit`` characters (both ends stay readable)."""
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]}[...]{text[len(text) - keep:]}"


@dataclass
class InputError(Exception):
    """Raised with every diagnostic a stage found; never raised with an empty list."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def sorted(self) -> list[Diagnostic]:
        unique = {str(d): d for d in self.diagnostics}
        return sorted(unique.values(), key=Diagnostic.sort_key)

    def render(self) -> str:
        return "\n".join(str(d) for d in self.sorted())


def raise_if_any(diagnostics: Iterable[Diagnostic]) -> None:
    found = list(diagnostics)
    if found:
        raise InputError(found)


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_STEP = re.compile(r'\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def json_path(parts: Iterable[str | int]) -> str:
    """``("capacity", "pools", 0, "weight")`` -> ``$.capacity.pools[0].weight``."""
    return "$" + "".join(map(json_step, parts))


def json_step(part: str | int) -> str:
    """One step of :func:`json_path` (``.weight``, ``[0]``, ``["a b"]``): a path built step by
    step (a tree walk) is the concatenation of its steps."""
    if isinstance(part, int):
        return f"[{part}]"
    if _PLAIN.match(part):
        return f".{part}"
    return "[" + json.dumps(part) + "]"


def parse_json_path(path: str) -> list[str | int] | None:
    """The inverse of :func:`json_path` (``$.a[0]["b c"]`` -> ``["a", 0, "b c"]``); None if malformed."""
    if not path.startswith("$"):
        return None
    parts: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            return None
        name, index, quoted = m.groups()
        parts.append(name if name is not None else int(index) if index is not None else json.loads(quoted))
        pos = m.end()
    return parts


def with_sources(diagnostics: Iterable[Diagnostic], locate: Callable[[list[str | int]], Source | None]) -> list[Diagnostic]:
    """Locate diagnostics raised without a source (late stages know only the JSON path): each gets
    the source of the closest value at or above its path, e.g. from ``Merged.source``."""
    out = []
    for d in diagnostics:
        parts = parse_json_path(d.path) if d.source is None else None
        src = locate(parts) if parts is not None else None
        out.append(Diagnostic(src, d.path, d.message) if src else d)
    return out
