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
from .yamlout import _LINES, INDENT, _other, _plan, _Slow, _value_lines

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


def leaf_namespace(node: str, ns: str, key: Any, parent: Any, depth: int, kind: str, rx: re.Pattern[str]) -> str | Namespace:
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
        self.rx = ns_pattern(namespace) if namespace else None
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


def template_lines(template: dict[str, Any], namespace: str | None) -> tuple[list[str], list[ValueRef | Namespace]] | None:
    """The template's lines with tokens, and the node of each token (in the order written);
    ``None`` when only the reference path can write it (other types, long keys, cycles)."""
    writer = _Writer(namespace, template.get("kind", ""))
    try:
        writer.mapping(template, 0, True, None, None, 0)
    except (_Slow, RecursionError):
        return None
    return writer.lines, writer.nodes
