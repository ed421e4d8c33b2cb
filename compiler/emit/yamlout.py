"""Canonical YAML serialisation: the same data always gives the same bytes.

A small block-style emitter written here (rather than a configured ruamel dumper) so that every
byte is decided by this module and no library upgrade can change reviewed output. The style:

* block style, 2-space indentation, sequences indented under their key (``key:\\n  - a``),
  sequence items that are mappings or sequences use the compact form (``- name: x``, ``- - a``);
  empty collections are written ``{}`` and ``[]``;
* key order: a *Kubernetes object* (a document root mapping with ``apiVersion`` and ``kind``, or
  any mapping with ``apiVersion``, ``kind`` and ``metadata``) puts ``apiVersion, kind, metadata,
  spec, data`` first; the mapping under a ``metadata`` key puts ``name, namespace, labels,
  annotations`` first; every other mapping puts ``name`` first; the remaining keys are sorted by
  code point;
* strings are plain unless a YAML 1.1 or 1.2 reader (PyYAML, ruamel, go-yaml) could read them as
  anything but that string, in which case they are double-quoted with JSON-like escapes;
  multi-line strings are literal blocks (``|``, ``|-``, ``|+``, with an indentation indicator when
  the text starts with a space or newline) unless a line has trailing whitespace or the text
  holds characters a block cannot carry, in which case they are double-quoted on one line;
* ``null``, ``true``, ``false``, ints in decimal, floats always with a ``.`` and a signed exponent
  (``1.0e+16``) so YAML 1.1 readers see a float, ``.inf``, ``-.inf``, ``.nan``;
* no anchors or aliases (shared objects are written out in full; cycles raise ``ValueError``),
  no line wrapping, ``\\n`` line endings and a final newline; documents are separated by ``---``.

Template-looking text (``{{ }}``, ``{% %}``, ``${}``) is ordinary string data here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML

__all__ = ["dump_document", "dump_documents", "load_documents", "needs_quotes", "order_keys"]

INDENT = 2
_MAX_SIMPLE_KEY = 1000  # YAML readers refuse implicit keys longer than 1024 characters
_OBJECT_FIRST = ("apiVersion", "kind", "metadata", "spec", "data")
_METADATA_FIRST = ("name", "namespace", "labels", "annotations")

# Words some YAML 1.1/1.2 reader resolves to bool, null, merge or value (compared casefolded).
_SPECIAL_WORDS = frozenset(
    ["y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "", "<<", "="]
)
# Anything int-, float-, sexagesimal- or timestamp-like in any of the YAML dialects (deliberately
# broader than each reader, so only the first-character gate keeps ordinary words plain).
_NUMBERISH = re.compile(
    r"""[-+]?0b[01_]+
      | [-+]?0o?[0-7_]+
      | [-+]?0x[0-9a-f_]+
      | [-+]?[0-9_]+
      | [-+]?[0-9][0-9_]*(?::[0-9_]+)+(?:\.[0-9_]*)?
      | [-+]?[0-9_]*\.[0-9_]*(?:e[-+]?[0-9]+)?
      | [-+]?[0-9][0-9_]*e[-+]?[0-9]+
      | [-+]?\.(?:inf|nan)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[t\s].*)?""",
    re.VERBOSE | re.IGNORECASE | re.DOTALL,
)
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _printable(ch: str) -> bool:
    """True for characters YAML allows unescaped (minus the line separators readers disagree on)."""
    o = ord(ch)
    if o < 0x7F:
        return o >= 0x20
    if ch in "\x85\u2028\u2029\ufeff":
        return False
    return 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF


#: A character :func:`_printable` rejects (the same set, as one regex: a C-speed scan).
_UNPRINTABLE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]")
#: The same, but allowing tab and newline (what a literal block may carry).
_UNPRINTABLE_IN_BLOCK = re.compile("[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]")
#: A character a double-quoted scalar writes escaped (:data:`_ESCAPES` or not printable).
_NEEDS_ESCAPE = re.compile('[\\\\"]|' + _UNPRINTABLE.pattern)
#: A line ending in a space or tab.
_TRAILING_BLANK = re.compile("[ \t](?:\n|\\Z)")


#: Strings up to this length are cached (names, labels, keys, flags: they repeat across objects,
#: files and profiles). Longer ones (dashboards, configs, scripts) are unique per profile: caching
#: them kept every profile's large texts alive in every worker for the whole build and saved
#: nothing (200 generated profiles in one process: peak RSS 161 MB with, 143 MB without).
CACHED_LENGTH = 256


def needs_quotes(text: str) -> bool:
    """True when ``text`` written as a plain one-line scalar would not read back as itself."""
    return _needs_quotes_cached(text) if len(text) <= CACHED_LENGTH else _needs_quotes(text)


def _needs_quotes(text: str) -> bool:
    if text.casefold() in _SPECIAL_WORDS or text != text.strip() or text[0] in _INDICATORS:
        return True
    if text.startswith("...") or ": " in text or " #" in text or text.endswith(":"):
        return True
    if text[0] in "-+.0123456789" and _NUMBERISH.fullmatch(text):
        return True
    return _UNPRINTABLE.search(text) is not None


_needs_quotes_cached = lru_cache(maxsize=1 << 16)(_needs_quotes)


def _double_quoted(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:
        return '"' + text + '"'
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _printable(ch):
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _literal_ok(text: str) -> bool:
    """True when ``text`` can be a literal block scalar that reads back exactly."""
    if "\n" not in text or not text.strip("\n"):
        return False
    if _TRAILING_BLANK.search(text) is not None:
        return False
    return _UNPRINTABLE_IN_BLOCK.search(text) is None


def _literal(text: str, indent: int, with_indicator: bool) -> list[str]:
    """Header and body lines of a literal block whose content sits at ``indent``."""
    stripped = text.rstrip("\n")
    trailing = len(text) - len(stripped)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    hint = str(INDENT) if with_indicator else ""
    pad = " " * indent
    body = [pad + line if line else "" for line in stripped.split("\n")]
    body.extend([""] * max(0, trailing - 1))
    return ["|" + hint + chomp, *body]


def _scalar(value: Any, indent: int, *, key: bool = False, root: bool = False) -> list[str]:
    """Render a scalar as one or more lines; the first is written after ``key: `` or ``- ``."""
    if value is None:
        return ["null"]
    if value is True or value is False:
        return ["true" if value else "false"]
    if isinstance(value, int):
        return [int.__repr__(value)]
    if isinstance(value, float):
        return [_float(value)]
    if not isinstance(value, str):
        raise TypeError(f"cannot serialise {type(value).__name__} value {value!r} as YAML")
    return _string(str.__str__(value), indent, key, root)


def _string(text: str, indent: int, key: bool, root: bool) -> list[str]:
    """A string's lines (callers never mutate the list: short strings come from a cache)."""
    if len(text) <= CACHED_LENGTH:
        return _string_cached(text, indent, key, root)
    return _string_lines(text, indent, key, root)


def _string_lines(text: str, indent: int, key: bool, root: bool) -> list[str]:
    if not key and _literal_ok(text):
        lead = text[0] in " \n"
        if not (root and lead):
            return _literal(text, indent, lead)
    return [_double_quoted(text) if needs_quotes(text) else text]


_string_cached = lru_cache(maxsize=1 << 16)(_string_lines)


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = float.__repr__(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
    return mantissa + ("e" + exponent if exponent else "")


def order_keys(mapping: Mapping[str, Any], *, root: bool = False, parent_key: str | None = None) -> list[str]:
    """The canonical key order of ``mapping`` (see the module docstring)."""
    return list(_order(tuple(mapping), root, parent_key))


@lru_cache(maxsize=1 << 14)
def _order(keys: tuple[str, ...], root: bool, parent_key: str | None) -> tuple[str, ...]:
    """:func:`order_keys` per key tuple (mappings of one kind share their keys; a non-string
    key raises, and exceptions are not cached)."""
    for k in keys:
        if not isinstance(k, str):
            raise TypeError(f"mapping keys must be strings, got {type(k).__name__} {k!r}")
    present = set(keys)
    if {"apiVersion", "kind"} <= present and (root or "metadata" in present):
        first: tuple[str, ...] = _OBJECT_FIRST
    elif parent_key == "metadata":
        first = _METADATA_FIRST
    else:
        first = ("name",)
    head = [k for k in first if k in present]
    return (*head, *sorted(present.difference(head)))


class _Emitter:
    """Accumulates the lines of one document; tracks the containers being written to spot cycles."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._active: set[int] = set()

    def node(self, value: Any, indent: int, *, root: bool = False, parent_key: str | None = None) -> None:
        """Write a collection at ``indent``, or a scalar as the whole document (``root``)."""
        if _is_mapping(value) and value:
            self._enter(value)
            self._mapping(value, indent, root=root, parent_key=parent_key)
            self._active.discard(id(value))
        elif _is_sequence(value) and value:
            self._enter(value)
            self._sequence(value, indent)
            self._active.discard(id(value))
        else:
            self.lines.extend(_inline(value, indent + INDENT, root=True))

    def _enter(self, value: Any) -> None:
        if id(value) in self._active:
            raise ValueError("cannot serialise a self-referencing structure as YAML")
        self._active.add(id(value))

    def _mapping(self, mapping: Mapping[str, Any], indent: int, *, root: bool, parent_key: str | None) -> None:
        pad = " " * indent
        for key in _order(tuple(mapping), root, parent_key):
            rendered = _key_text(key)
            if len(rendered) > _MAX_SIMPLE_KEY:
                self.lines.append(f"{pad}? {rendered}")
                self._value(pad + ":", mapping[key], indent, key)
            else:
                self._value(f"{pad}{rendered}:", mapping[key], indent, key)

    def _value(self, prefix: str, value: Any, indent: int, key: str) -> None:
        if (_is_mapping(value) or _is_sequence(value)) and value:
            self.lines.append(prefix)
            self.node(value, indent + INDENT, parent_key=key)
        else:
            first, *rest = _inline(value, indent + INDENT)
            self.lines.append(f"{prefix} {first}")
            self.lines.extend(rest)

    def _sequence(self, items: Sequence[Any], indent: int) -> None:
        pad = " " * indent
        for item in items:
            if (_is_mapping(item) or _is_sequence(item)) and item:
                start = len(self.lines)
                self.node(item, indent + INDENT)
                self.lines[start] = pad + "- " + self.lines[start][indent + INDENT :]
            else:
                first, *rest = _inline(item, indent + INDENT)
                self.lines.append(f"{pad}- {first}")
                self.lines.extend(rest)


def _inline(value: Any, indent: int, *, root: bool = False) -> list[str]:
    """A scalar or an empty collection, as written after ``key: `` / ``- `` (or alone at root)."""
    if _is_mapping(value):
        return ["{}"]
    if _is_sequence(value):
        return ["[]"]
    return _scalar(value, indent, root=root)


# Exact-type fast paths: ABC isinstance checks dominate serialisation time otherwise.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _is_mapping(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return True
    return False if kind in _SCALARS or kind is list else isinstance(value, Mapping)


def _is_sequence(value: Any) -> bool:
    kind = type(value)
    if kind is list or kind is tuple:
        return True
    if kind in _SCALARS or kind is dict:
        return False
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


@lru_cache(maxsize=1 << 14)
def _key_text(key: str) -> str:
    """A mapping key as written (keys repeat across every object: rendered once)."""
    return _scalar(key, 0, key=True)[0]


def _header_lines(header: str) -> list[str]:
    return [("# " + line).rstrip() for line in header.splitlines()] or ["#"]


def dump_documents(docs: Sequence[Any], header: str | None = None) -> str:
    """Serialise ``docs`` as a multi-document YAML stream (see the module docstring for the style).

    ``header`` becomes ``# ...`` comment lines before the first document. An empty ``docs`` gives
    just the header (or ``""``).
    """
    if isinstance(docs, (str, bytes, Mapping)) or not isinstance(docs, Sequence):
        raise TypeError("dump_documents() takes a sequence of documents; use dump_document() for one")
    lines = _header_lines(header) if header is not None else []
    for i, doc in enumerate(docs):
        if i:
            lines.append("---")
        emitter = _Emitter()
        emitter.node(doc, 0, root=True)
        lines.extend(emitter.lines)
    return "".join(line + "\n" for line in lines)


def dump_document(doc: Any, header: str | None = None) -> str:
    """Serialise a single document; same style as :func:`dump_documents`."""
    return dump_documents([doc], header=header)


def load_documents(text: str) -> list[Any]:
    """Safe-load every document of a YAML stream (YAML 1.2 rules) into plain Python data."""
    yaml = YAML(typ="safe", pure=True)
    return list(yaml.load_all(text))
