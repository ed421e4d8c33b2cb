"""The YAML node graph of a profile from libyaml's C parser: the fast path of :mod:`compiler.load`.

ruamel.yaml's pure-Python round-trip reader is most of the cost of loading a profile (~70 % of
resolve in a fleet). libyaml (through PyYAML's ``CParser``) turns the text into parse events
~10x faster; this module composes those events into the same ruamel nodes ruamel's composer
would build, with every scalar tag resolved by *ruamel's own* YAML 1.2 resolver (libyaml only
parses; PyYAML's YAML 1.1 tag rules are never used: ``on`` stays a string, ``010`` is 10).
Positions are libyaml's marks (0-based line and column, in characters, as ruamel's).

The fast path declines (:class:`Declined`, and :func:`compiler.load.parse_text` then composes
with ruamel as before) whenever the two readers could disagree or an error must be reported:
any libyaml error (so every syntax error keeps ruamel's message and position); text with
characters YAML 1.1 and 1.2 treat differently (NEL, LS, PS are line breaks in 1.1 only), a
byte-order mark, a tab, a carriage return or a ``%`` directive; more than one document;
anchors defined twice or an alias to an unfinished node. ``tests/test_compose.py`` compares both
paths on every YAML file of the repository and on generated documents.
"""

from __future__ import annotations

from typing import Any

#: Characters after which the fast path declines (see the module docstring).
_DECLINE = ("\x85", "\u2028", "\u2029", "\ufeff", "\t", "\r")


class Declined(Exception):
    """libyaml's reading might differ from ruamel's here: compose with ruamel."""


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
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
    from ruamel.yaml.resolver import VersionedResolver

    resolver = VersionedResolver()
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
                        tag = resolver.resolve(ScalarNode, event.value, event.implicit)
                        if len(_TAGS) < _TAGS_MAX:
                            _TAGS[memo] = tag
                scalar = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                anchor(event.anchor, scalar)
                add(scalar)
            elif kind in ("SequenceStartEvent", "MappingStartEvent"):
                cls = SequenceNode if kind == "SequenceStartEvent" else MappingNode
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolver.resolve(cls, None, event.implicit)
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


_NO_KEY = object()
#: Resolved tags of plain and quoted scalars by (text, implicit): ruamel's YAML 1.2 resolver is a
#: pure function of those two (the version is fixed), and keys and values repeat in every profile.
_TAGS: dict[tuple[str, Any], str] = {}
_TAGS_MAX = 50_000
