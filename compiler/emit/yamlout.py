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
from functools import cache, lru_cache
from typing import Any

__all__ = ["document_lines", "dump_document", "dump_documents", "join_document", "load_documents", "needs_quotes", "order_keys"]

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
_UNPRINTABLE_RX = "[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
#: The same, but allowing tab and newline (what a literal block may carry).
_UNPRINTABLE_IN_BLOCK_RX = "[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029\ufeff]"
#: A character a double-quoted scalar writes escaped (:data:`_ESCAPES` or not printable).
_NEEDS_ESCAPE_RX = '[\\\\"]|' + _UNPRINTABLE_RX


@cache
def _rx(pattern: str) -> re.Pattern[str]:
    """``re.compile(pattern)``, on first use: these Unicode ranges take ~1.5 ms each to compile,
    and only non-ASCII text (rare) needs them, so a process that meets none never pays for them."""
    return re.compile(pattern)


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
    return not _all_printable(text)


def _all_printable(text: str) -> bool:
    """``_rx(_UNPRINTABLE_RX).search(text) is None``; for ASCII text (nearly all) the C ``isprintable``,
    which accepts exactly the ASCII part of that set (a regex scan of a 10 kB text is 100x slower)."""
    return text.isprintable() if text.isascii() else _rx(_UNPRINTABLE_RX).search(text) is None


_needs_quotes_cached = lru_cache(maxsize=1 << 16)(_needs_quotes)


def _double_quoted(text: str) -> str:
    # (= _rx(_NEEDS_ESCAPE_RX).search(text) is None; for ASCII text without the regex, as in _all_printable)
    if (text.isprintable() and '"' not in text and "\\" not in text) if text.isascii() else _rx(_NEEDS_ESCAPE_RX).search(text) is None:
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
    # = a line ending in a space or tab (the regex [ \t](?:\n|\Z), kept in the test), as substring tests
    if " \n" in text or "\t\n" in text or text.endswith((" ", "\t")):
        return False
    if text.isascii():  # = _rx(_UNPRINTABLE_IN_BLOCK_RX).search(text) is None (see _all_printable)
        return text.replace("\n", "").replace("\t", "").isprintable()
    return _rx(_UNPRINTABLE_IN_BLOCK_RX).search(text) is None


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


class _Slow(Exception):
    """The fast path met something only the general path writes (or refuses)."""


#: Short string values -> their one-line form (the strings that are not literal blocks): one dict
#: lookup per string instead of the classifier. Cleared when full (bounded like the lru caches).
_LINES: dict[str, str] = {}
_MAX_LINES = 1 << 16


@lru_cache(maxsize=1 << 14)
def _plan(keys: tuple[str, ...], root: bool, parent_key: str | None, indent: int) -> tuple[tuple[str, str, str], ...] | None:
    """Per key of a mapping at ``indent``, in canonical order: (key, ``<pad><key>:``,
    ``<pad><key>: ``); ``None`` when only the general path can write it (a non-string key, a key
    too long for the implicit form)."""
    try:
        order = _order(keys, root, parent_key)
    except TypeError:
        return None
    pad = " " * indent
    plan = []
    for key in order:
        text = _key_text(key)
        if len(text) > _MAX_SIMPLE_KEY:
            return None
        plan.append((key, f"{pad}{text}:", f"{pad}{text}: "))
    return tuple(plan)


def _value_lines(text: str, indent: int) -> list[str]:
    """A string value's lines at ``indent`` (the one-line form is remembered in :data:`_LINES`)."""
    if len(text) > CACHED_LENGTH:
        return _string_lines(text, indent, False, False)
    lines = _string_cached(text, indent, False, False)
    if len(lines) == 1:
        if len(_LINES) >= _MAX_LINES:
            _LINES.clear()
        _LINES[text] = lines[0]
    return lines


def _other(value: Any, kind: type) -> str:
    """A non-string scalar of an exact built-in type as written (anything else: the general path)."""
    if kind is int:
        return int.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is float:
        return _float(value)
    raise _Slow


def _fast_mapping(out: list[str], mapping: dict[str, Any], indent: int, root: bool, parent_key: str | None) -> None:
    plan = _plan(tuple(mapping), root, parent_key, indent)
    if plan is None:
        raise _Slow
    inner = indent + INDENT
    lines_of = _LINES.get
    for key, head, head_sp in plan:
        value = mapping[key]
        kind = type(value)
        if kind is str:
            line = lines_of(value)
            if line is None:
                lines = _value_lines(value, inner)
                out.append(head_sp + lines[0])
                out.extend(lines[1:])
            else:
                out.append(head_sp + line)
        elif kind is dict:
            if value:
                out.append(head)
                _fast_mapping(out, value, inner, False, key)
            else:
                out.append(head_sp + "{}")
        elif kind is list or kind is tuple:
            if value:
                out.append(head)
                _fast_sequence(out, value, inner)
            else:
                out.append(head_sp + "[]")
        else:
            out.append(head_sp + _other(value, kind))


def _fast_sequence(out: list[str], items: list[Any] | tuple[Any, ...], indent: int) -> None:
    dash = " " * indent + "- "
    inner = indent + INDENT
    lines_of = _LINES.get
    for item in items:
        kind = type(item)
        if kind is str:
            line = lines_of(item)
            if line is None:
                lines = _value_lines(item, inner)
                out.append(dash + lines[0])
                out.extend(lines[1:])
            else:
                out.append(dash + line)
        elif kind is dict:
            if item:
                start = len(out)
                _fast_mapping(out, item, inner, False, None)
                out[start] = dash + out[start][inner:]
            else:
                out.append(dash + "{}")
        elif kind is list or kind is tuple:
            if item:
                start = len(out)
                _fast_sequence(out, item, inner)
                out[start] = dash + out[start][inner:]
            else:
                out.append(dash + "[]")
        else:
            out.append(dash + _other(item, kind))


def _document(doc: Any) -> list[str]:
    """The lines of one document: plain data through the fast path, anything else (other
    container or scalar types, long keys, cycles, refusals) through the general one."""
    kind = type(doc)
    if doc and (kind is dict or kind is list):
        out: list[str] = []
        try:
            if kind is dict:
                _fast_mapping(out, doc, 0, True, None)
            else:
                _fast_sequence(out, doc, 0)
            return out
        except (_Slow, RecursionError):
            pass
    from .yamlout_general import emit_general  # here: that module imports this one

    return emit_general(doc)


@lru_cache(maxsize=1 << 14)
def _key_text(key: str) -> str:
    """A mapping key as written (keys repeat across every object: rendered once)."""
    return _scalar(key, 0, key=True)[0]


@lru_cache(maxsize=256)
def _header_lines(header: str) -> tuple[str, ...]:
    """(Headers repeat for every file of a profile: split once.)"""
    return tuple(("# " + line).rstrip() for line in header.splitlines()) or ("#",)


def join_document(lines: list[str], header: str | None = None) -> str:
    """``dump_document`` of the document whose :func:`document_lines` are ``lines``."""
    if header is not None:
        lines = [*_header_lines(header), *lines]
    return "\n".join(lines) + "\n" if lines else ""


def dump_documents(docs: Sequence[Any], header: str | None = None) -> str:
    """Serialise ``docs`` as a multi-document YAML stream (see the module docstring for the style).

    ``header`` becomes ``# ...`` comment lines before the first document. An empty ``docs`` gives
    just the header (or ``""``).
    """
    if type(docs) is not list and (isinstance(docs, (str, bytes, Mapping)) or not isinstance(docs, Sequence)):
        raise TypeError("dump_documents() takes a sequence of documents; use dump_document() for one")
    lines = list(_header_lines(header)) if header is not None else []
    for i, doc in enumerate(docs):
        if i:
            lines.append("---")
        lines.extend(_document(doc))
    return "\n".join(lines) + "\n" if lines else ""


def dump_document(doc: Any, header: str | None = None) -> str:
    """Serialise a single document; same style as :func:`dump_documents`."""
    return dump_documents([doc], header=header)


def document_lines(doc: Any) -> list[str]:
    """The lines of ``dump_document(doc)`` without their newlines (no header)."""
    return list(_document(doc))


def load_documents(text: str) -> list[Any]:
    """Safe-load every document of a YAML stream (YAML 1.2 rules) into plain Python data."""
    from ruamel.yaml import YAML  # (here: emitting needs no YAML library)

    yaml = YAML(typ="safe", pure=True)
    return list(yaml.load_all(text))
