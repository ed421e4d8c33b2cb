"""The general path of :mod:`compiler.emit.yamlout`: any ``Mapping``/``Sequence`` and scalar
subclass, keys too long for the implicit form, cycles and every refusal (non-string keys,
unsupported values), written exactly as the fast path writes plain data.

This is the emitter ``yamlout`` had before its fast path (unchanged): ``yamlout`` hands a
document here whenever it meets anything outside plain ``dict``/``list``/``str``/``int``/
``float``/``bool``/``None`` or a key longer than the implicit-key limit, so the bytes and the
errors of such documents are this module's; the tests compare both paths on the same data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .yamlout import _MAX_SIMPLE_KEY, INDENT, _key_text, _order, _scalar

__all__ = ["emit_general"]


def emit_general(doc: Any) -> list[str]:
    """The lines of one document (no header, no separator)."""
    emitter = _Emitter()
    emitter.node(doc, 0, root=True)
    return emitter.lines


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
