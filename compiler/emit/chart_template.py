"""A chart template's YAML in one walk: the namespace found in its strings, its value and
namespace nodes turned into tokens, and every line written (``chart.template_text`` turns the
tokens into Helm actions).

The reference is ``chart.template_text``'s two-pass path (copy the template with each node
replaced by a token, numbered in document order, then dump the copy). This walk numbers the
tokens in the order it writes them (keys sorted) instead, which changes nothing once every token
is replaced by its node's action, as long as no profile text and no action spells the token
prefix; ``template_text`` checks exactly that and takes the reference path otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .variance import ValueRef
from .yamlout import _LINES, INDENT, _fast_mapping, _fast_sequence, _other, _plan, _Slow, _value_lines

TOKEN_PREFIX = "MCVALUE"
TOKEN = TOKEN_PREFIX + "{}X"


@dataclass(frozen=True)
class Namespace:
    """A node of the template that is (or embeds) the namespace: ``pieces`` alternate literal
    text and the namespace, starting with literal text."""

    pieces: tuple[str, ...]


def ns_pattern(ns: str) -> re.Pattern[str]:
    """Where a namespace is embedded in text we generate: PromQL matchers, Prometheus job names
    (``<namespace>/<name>``) and in-cluster DNS names (``<svc>.<namespace>.svc``), also inside
    JSON text (dashboards), where the quotes are escaped."""
    n = re.escape(ns)
    # The namespace first, then what is around it (lookbehinds that include it): the same matches
    # as "(?<=namespace=")ns(?=")|...", but the regex engine scans for the literal (100x faster
    # on a dashboard's JSON).
    return re.compile(rf'{n}(?:(?<=namespace="{n})(?=")|(?<=namespace=\\"{n})(?=\\")|(?<=job="{n})(?=/)|(?<=job=\\"{n})(?=/)'
                      rf'|(?<=\.{n})(?=\.svc\b))')


class NsSplitter:
    """``ns_pattern(ns).split`` without the regex: compiling that pattern (lookbehinds around the
    namespace) costs ~0.4 ms, once per profile since every profile has its own namespace, more
    than all the splits of its templates. Each occurrence of the namespace, left to right, is a
    match when the text around it is one the pattern names; after a match the scan resumes past
    it, after a miss one character on (as the regex engine does)."""

    def __init__(self, ns: str) -> None:
        assert ns, "an empty namespace is never a separator"
        self.ns = ns

    def _match(self, text: str, start: int, end: int) -> bool:
        if text.startswith('"', end):
            return text.endswith('namespace="', 0, start)
        if text.startswith("\\", end):
            return text.startswith('\\"', end) and text.endswith('namespace=\\"', 0, start)
        if text.startswith("/", end):
            return text.endswith(('job="', 'job=\\"'), 0, start)
        if text.startswith(".svc", end) and start and text[start - 1] == ".":
            after = end + 4  # \b: the text ends there, or a non-word character follows
            return after == len(text) or not (text[after].isalnum() or text[after] == "_")
        return False

    def split(self, text: str) -> list[str]:
        ns, n = self.ns, len(self.ns)
        pieces, last = [], 0
        at = text.find(ns)
        while at >= 0:
            if self._match(text, at, at + n):
                pieces.append(text[last:at])
                last = at + n
                at = text.find(ns, last)
            else:
                at = text.find(ns, at + 1)
        pieces.append(text[last:])
        return pieces


def leaf_namespace(node: str, ns: str, key: Any, parent: Any, depth: int, kind: str, rx: re.Pattern[str] | NsSplitter) -> str | Namespace:
    """A string of the template at a path ending ``parent, key`` (``depth`` segments long): itself,
    or the namespace node it is (the whole string) or embeds."""
    if ns not in node:  # every way of being or embedding the namespace spells it
        return node
    whole = node == ns and (
        key in ("namespace", "kubernetes.io/metadata.name")
        or (depth >= 2 and parent == "matchNames")
        or (kind == "Namespace" and depth == 2 and parent == "metadata" and key == "name"))
    if whole:
        return Namespace(("", ""))
    parts = rx.split(node)
    return Namespace(tuple(parts)) if len(parts) > 1 else node


class _Writer:
    """One template: ``lines`` written so far, ``nodes`` the value/namespace node of each token."""

    def __init__(self, namespace: str | None, kind: str) -> None:
        self.lines: list[str] = []
        self.nodes: list[ValueRef | Namespace] = []
        self.ns = namespace or ""
        self.rx = NsSplitter(namespace) if namespace else None
        self.kind = kind

    def token(self, node: ValueRef | Namespace) -> str:
        self.nodes.append(node)
        return TOKEN.format(len(self.nodes) - 1)

    def mapping(self, mapping: dict[str, Any], indent: int, root: bool, parent_key: str | None, key: Any, depth: int) -> None:
        plan = _plan(tuple(mapping), root, parent_key, indent)
        if plan is None:
            raise _Slow
        out = self.lines
        inner = indent + INDENT
        ns, plain = self.ns, self.rx is None
        lines_of = _LINES.get
        for k, head, head_sp in plan:
            value = mapping[k]
            kind = type(value)
            if kind is str and (plain or ns not in value) and (line := lines_of(value)) is not None:
                out.append(head_sp + line)  # what leaf() writes for it, without the call
            elif kind is dict:
                if value:
                    out.append(head)
                    self.mapping(value, inner, False, k, k, depth + 1)
                else:
                    out.append(head_sp + "{}")
            elif kind is list:
                if value:
                    out.append(head)
                    self.sequence(value, inner, k, depth + 1)
                else:
                    out.append(head_sp + "[]")
            else:
                self.leaf(head_sp, value, inner, k, key, depth + 1)

    def sequence(self, items: list[Any], indent: int, key: Any, depth: int) -> None:
        out = self.lines
        dash = " " * indent + "- "
        inner = indent + INDENT
        ns, plain = self.ns, self.rx is None
        lines_of = _LINES.get
        for i, item in enumerate(items):
            kind = type(item)
            if kind is str and (plain or ns not in item) and (line := lines_of(item)) is not None:
                out.append(dash + line)  # what leaf() writes for it, without the call
            elif kind is dict and item:
                start = len(out)
                self.mapping(item, inner, False, None, i, depth + 1)
                out[start] = dash + out[start][inner:]
            elif kind is list and item:
                start = len(out)
                self.sequence(item, inner, i, depth + 1)
                out[start] = dash + out[start][inner:]
            elif kind is dict or kind is list:
                out.append(dash + ("{}" if kind is dict else "[]"))
            else:
                self.leaf(dash, item, inner, i, key, depth + 1)

    def leaf(self, prefix: str, value: Any, indent: int, key: Any, parent: Any, depth: int) -> None:
        """A scalar (or a value node) after ``prefix`` (``key: `` or ``- ``), at path ``parent, key``."""
        kind = type(value)
        if kind is str:
            if self.rx is not None and self.ns in value:
                found = leaf_namespace(value, self.ns, key, parent, depth, self.kind, self.rx)
                if isinstance(found, Namespace):
                    self.lines.append(prefix + self.token(found))
                    return
            line = _LINES.get(value)
            if line is None:
                lines = _value_lines(value, indent)
                self.lines.append(prefix + lines[0])
                self.lines.extend(lines[1:])
            else:
                self.lines.append(prefix + line)
        elif kind is ValueRef:
            self.lines.append(prefix + self.token(value))
        else:
            self.lines.append(prefix + _other(value, kind))


class _PairWriter(_Writer):
    """A template and the object it was made from (the kustomize base: the base environment's
    object) written in one walk: where both hold the same text (a string equal in both without
    the namespace, a mapping with the same keys, a list of the same length) it is written once
    for both; everything else is written on each side as :class:`_Writer` and
    ``yamlout._fast_mapping`` write it."""

    def __init__(self, namespace: str | None, kind: str) -> None:
        super().__init__(namespace, kind)
        self.base: list[str] = []

    def pair_mapping(self, mapping: dict[str, Any], base: dict[str, Any], indent: int, root: bool, parent_key: str | None, key: Any, depth: int) -> None:
        plan = _plan(tuple(mapping), root, parent_key, indent)  # (same keys: the same plan as base's)
        if plan is None:
            raise _Slow
        out, bout = self.lines, self.base
        inner = indent + INDENT
        ns, plain = self.ns, self.rx is None
        lines_of = _LINES.get
        for k, head, head_sp in plan:
            value, b = mapping[k], base[k]
            kind = type(value)
            if kind is str and value == b and type(b) is str and (plain or ns not in value) and (line := lines_of(value)) is not None:
                both = head_sp + line
                out.append(both)
                bout.append(both)
            elif kind in _OTHER and type(b) is kind:  # (each its own text: equal or not)
                out.append(head_sp + _other(value, kind))
                bout.append(head_sp + _other(b, kind))
            elif kind is ValueRef or kind is str:  # (what mapping() does with it)
                self.leaf(head_sp, value, inner, k, key, depth + 1)
                _base_value(bout, b, indent, head_sp, k)
            elif kind is dict and type(b) is dict and value and value.keys() == b.keys():
                out.append(head)
                bout.append(head)
                self.pair_mapping(value, b, inner, False, k, k, depth + 1)
            elif kind is list and type(b) is list and value and len(value) == len(b):
                out.append(head)
                bout.append(head)
                self.pair_sequence(value, b, inner, k, depth + 1)
            else:  # each side on its own: the key alone is written as within the mapping
                self.mapping({k: value}, indent, False, parent_key, key, depth)
                _fast_mapping(bout, {k: b}, indent, False, parent_key)

    def pair_sequence(self, items: list[Any], base: list[Any], indent: int, key: Any, depth: int) -> None:
        out, bout = self.lines, self.base
        dash = " " * indent + "- "
        inner = indent + INDENT
        ns, plain = self.ns, self.rx is None
        lines_of = _LINES.get
        for i, item in enumerate(items):
            b = base[i]
            kind = type(item)
            if kind is str and type(b) is str and item == b and (plain or ns not in item) and (line := lines_of(item)) is not None:
                out.append(dash + line)
                bout.append(dash + line)
            elif kind in _OTHER and type(b) is kind:
                out.append(dash + _other(item, kind))
                bout.append(dash + _other(b, kind))
            elif kind is dict and type(b) is dict and item and item.keys() == b.keys():
                start, bstart = len(out), len(bout)
                self.pair_mapping(item, b, inner, False, None, i, depth + 1)
                out[start] = dash + out[start][inner:]
                bout[bstart] = dash + bout[bstart][inner:]
            elif kind is list and type(b) is list and item and len(item) == len(b):
                start, bstart = len(out), len(bout)
                self.pair_sequence(item, b, inner, i, depth + 1)
                out[start] = dash + out[start][inner:]
                bout[bstart] = dash + bout[bstart][inner:]
            else:  # each side on its own: the item alone is written as within the list (the
                # namespace rules see an item's index only as "not a key name")
                self.sequence([item], indent, key, depth)
                _fast_sequence(bout, [b], indent)


#: Scalar types ``yamlout._other`` writes.
_OTHER = frozenset({int, bool, float, type(None)})


def _base_value(out: list[str], value: Any, indent: int, head_sp: str, key: str) -> None:
    """The lines of ``key: value`` in a mapping at ``indent`` as ``yamlout._fast_mapping``
    writes them (``head_sp``: ``<pad><key>: ``)."""
    kind = type(value)
    if kind is str:
        lines = _value_lines(value, indent + INDENT)
        out.append(head_sp + lines[0])
        out.extend(lines[1:])
    elif kind in _OTHER:
        out.append(head_sp + _other(value, kind))
    else:
        _fast_mapping(out, {key: value}, indent, False, None)


def pair_lines(template: dict[str, Any], base: dict[str, Any], namespace: str | None) -> tuple[list[str], list[ValueRef | Namespace], list[str]] | None:
    """:func:`template_lines` of ``template`` and ``yamlout.document_lines`` of ``base`` (the
    object the template was made from) in one walk; ``None`` when either may need another path."""
    if type(base) is not dict or not base or template.keys() != base.keys():
        return None
    writer = _PairWriter(namespace, template.get("kind", ""))
    try:
        writer.pair_mapping(template, base, 0, True, None, None, 0)
    except (_Slow, RecursionError):
        return None
    return writer.lines, writer.nodes, writer.base


def template_lines(template: dict[str, Any], namespace: str | None) -> tuple[list[str], list[ValueRef | Namespace]] | None:
    """The template's lines with tokens, and the node of each token (in the order written);
    ``None`` when only the reference path can write it (other types, long keys, cycles)."""
    writer = _Writer(namespace, template.get("kind", ""))
    try:
        writer.mapping(template, 0, True, None, None, 0)
    except (_Slow, RecursionError):
        return None
    return writer.lines, writer.nodes
