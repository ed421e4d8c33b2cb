"""The YAML node graph of a profile from libyaml's C parser: the fast path of :mod:`compiler.load`.

ruamel.yaml's pure-Python round-trip reader is most of the cost of loading a profile (~70 % of
resolve in a fleet). libyaml (through PyYAML's ``CParser``) turns the text into parse events
~10x faster; this module composes those events into the same ruamel nodes ruamel's composer
would build, with every scalar tag resolved by ruamel's YAML 1.2 rules (libyaml only parses;
PyYAML's YAML 1.1 tag rules are never used: ``on`` stays a string, ``010`` is 10). Positions are
libyaml's marks (0-based line and column, in characters, as ruamel's).

The nodes are this module's (:class:`ScalarNode`, :class:`SequenceNode`, :class:`MappingNode`:
the attributes :mod:`compiler.load` reads, with ruamel's ``id``) and the tags come from
:func:`resolve`, a copy of ruamel's YAML 1.2 implicit resolvers (the same expressions, tried in
the same order): reading a valid profile imports no ruamel. ``tests/test_compose.py`` holds
:func:`resolve` to ruamel's ``VersionedResolver`` and the nodes to ruamel's composer.

The fast path declines (:class:`Declined`, and :func:`compiler.load.parse_text` then composes
with ruamel as before) whenever the two readers could disagree or an error must be reported:
any libyaml error (so every syntax error keeps ruamel's message and position); text with
characters YAML 1.1 and 1.2 treat differently (NEL, LS, PS are line breaks in 1.1 only), a
byte-order mark, a tab, a carriage return or a ``%`` directive; more than one document;
anchors defined twice or an alias to an unfinished node. ``tests/test_compose.py`` compares both
paths on every YAML file of the repository and on generated documents.
"""

from __future__ import annotations

import re
from typing import Any

#: Characters after which the fast path declines (see the module docstring).
_DECLINE = ("\x85", "\u2028", "\u2029", "\ufeff", "\t", "\r")


class Declined(Exception):
    """libyaml's reading might differ from ruamel's here: compose with ruamel."""


class Node:
    """A node as :mod:`compiler.load` reads it (ruamel's nodes have the same attributes)."""

    __slots__ = ("end_mark", "start_mark", "tag", "value")
    id = ""

    def __init__(self, tag: str, value: Any, start_mark: Any, end_mark: Any) -> None:
        self.tag, self.value, self.start_mark, self.end_mark = tag, value, start_mark, end_mark


class ScalarNode(Node):
    __slots__ = ("style",)
    id = "scalar"

    def __init__(self, tag: str, value: Any, start_mark: Any, end_mark: Any, style: str | None = None) -> None:
        super().__init__(tag, value, start_mark, end_mark)
        self.style = style


class CollectionNode(Node):
    __slots__ = ("flow_style",)

    def __init__(self, tag: str, value: Any, start_mark: Any, end_mark: Any, flow_style: bool | None = None) -> None:
        super().__init__(tag, value, start_mark, end_mark)
        self.flow_style = flow_style


class SequenceNode(CollectionNode):
    __slots__ = ()
    id = "sequence"


class MappingNode(CollectionNode):
    __slots__ = ()
    id = "mapping"


_CORE = "tag:yaml.org,2002:"
#: ruamel.yaml's implicit resolvers for YAML 1.2 (``ruamel/yaml/resolver.py``, the entries whose
#: versions include (1, 2)), in its order: (tag, expression, the first characters it applies to).
_IMPLICIT_1_2 = (
    ("bool", r"""^(?:true|True|TRUE|false|False|FALSE)$""", re.VERBOSE, "tTfF"),
    ("float", r"""^(?:
         [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""", re.VERBOSE, "-+0123456789."),
    ("int", r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""", re.VERBOSE, "-+0123456789"),
    ("merge", r"^(?:<<)$", 0, "<"),
    ("null", r"""^(?: ~
        |null|Null|NULL
        | )$""", re.VERBOSE, ("~", "n", "N", "")),
    ("timestamp", r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", re.VERBOSE, "0123456789"),
    ("value", r"^(?:=)$", 0, "="),
    ("yaml", r"^(?:!|&|\*)$", 0, "!&*"),
)
#: First character -> indices into _IMPLICIT_1_2; compiled expressions by index (on first use).
_BY_FIRST: dict[str, list[int]] = {}
for _i, _entry in enumerate(_IMPLICIT_1_2):
    for _ch in _entry[3]:
        _BY_FIRST.setdefault(_ch, []).append(_i)
_COMPILED: dict[int, re.Pattern[str]] = {}


def resolve(value: str, plain: bool) -> str:
    """The tag ruamel's YAML 1.2 resolver gives a scalar without an explicit tag (``plain``: the
    event's first ``implicit`` flag)."""
    if plain:
        for i in _BY_FIRST.get(value[:1], ()):
            pattern = _COMPILED.get(i)
            if pattern is None:
                _, expr, flags, _ = _IMPLICIT_1_2[i]
                pattern = _COMPILED[i] = re.compile(expr, flags)
            if pattern.match(value):
                return _CORE + _IMPLICIT_1_2[i][0]
    return _CORE + "str"


def _libyaml() -> Any:
    try:
        import yaml

        return yaml if getattr(yaml, "__with_libyaml__", False) else None
    except ImportError:  # pragma: no cover - PyYAML is a dependency
        return None


def compose(text: str) -> Any:
    """The root node of the single document in ``text`` (None for an empty stream), as ruamel's
    composer builds it. Raises :class:`Declined` where ruamel must decide."""
    yaml = _libyaml()
    if yaml is None or any(c in text for c in _DECLINE) or text.lstrip(" \n").startswith("%") or "\n%" in text:
        raise Declined
    anchors: dict[str, Any] = {}
    stack: list[tuple[Any, str | None]] = []  # (node being filled, its anchor)
    pending_key: list[Any] = []  # per open mapping: the key waiting for its value (or a marker)
    root: Any = None
    documents = 0
    events = yaml.parse(text, Loader=yaml.CSafeLoader)

    def add(node: Any) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        parent = stack[-1][0]
        if isinstance(parent, SequenceNode):
            parent.value.append(node)
        elif pending_key[-1] is _NO_KEY:
            pending_key[-1] = node
        else:
            parent.value.append((pending_key[-1], node))
            pending_key[-1] = _NO_KEY

    def anchor(name: str | None, node: Any) -> None:
        if name is not None:
            if name in anchors:
                raise Declined  # ruamel warns and rebinds: let it
            anchors[name] = node

    try:
        for event in events:
            kind = type(event).__name__
            if kind == "ScalarEvent":
                tag = event.tag
                if tag is None or tag == "!":
                    memo = (event.value, event.implicit)
                    tag = _TAGS.get(memo)
                    if tag is None:
                        tag = resolve(event.value, event.implicit[0])
                        if len(_TAGS) < _TAGS_MAX:
                            _TAGS[memo] = tag
                elif "%" in tag:
                    tag = _uri_decoded(tag)
                scalar = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                anchor(event.anchor, scalar)
                add(scalar)
            elif kind in ("SequenceStartEvent", "MappingStartEvent"):
                cls = SequenceNode if kind == "SequenceStartEvent" else MappingNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = _CORE + ("seq" if cls is SequenceNode else "map")
                elif "%" in tag:
                    tag = _uri_decoded(tag)
                node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
                stack.append((node, event.anchor))
                if cls is MappingNode:
                    pending_key.append(_NO_KEY)
            elif kind in ("SequenceEndEvent", "MappingEndEvent"):
                node, name = stack.pop()
                node.end_mark = event.end_mark
                if isinstance(node, MappingNode):
                    pending_key.pop()
                anchor(name, node)
                add(node)
            elif kind == "AliasEvent":
                if event.anchor not in anchors:
                    raise Declined  # undefined, or an alias inside its own anchored node
                add(anchors[event.anchor])
            elif kind == "DocumentStartEvent":
                documents += 1
                if documents > 1:
                    raise Declined  # ruamel reports "expected a single document"
    except yaml.YAMLError:
        raise Declined from None
    return root


def _uri_decoded(tag: str) -> str:
    """An explicit tag as ruamel's node gives it: libyaml decoded its URI escapes, and ruamel's
    ``Tag.uri_decoded_suffix`` decodes what is left once more (``%25`` reads as ``%``, then
    ``%21`` as ``!``); where that would fail, ruamel decides."""
    out, i = "", 0
    while i < len(tag):
        ch = tag[i]
        i += 1
        if ch != "%":
            out += ch
            continue
        try:
            out += chr(int(tag[i:i + 2], 16))
        except ValueError:
            raise Declined from None
        i += 2
    return out


_NO_KEY = object()
#: Resolved tags of plain and quoted scalars by (text, implicit): the YAML 1.2 resolver is a pure
#: function of those two, and keys and values repeat in every profile.
_TAGS: dict[tuple[str, Any], str] = {}
_TAGS_MAX = 50_000
