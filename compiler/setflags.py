"""``--set path=value`` flags as override layers.

Syntax: dotted keys, ``[key]`` to address an item of a named list by its merge key, and a YAML
value (typed: ``8`` is an integer, ``[a, b]`` a list, ``null`` deletes)::

    --set serving.image.tag=v0.28.1
    --set capacity.pools[burst].weight=20
    --set serving.extraArgs='[--enforce-eager]'

Errors are located as ``--set:N:COL`` where N is the flag's position (1-based) among the
``--set`` flags and COL the column inside ``path=value``.
"""

from __future__ import annotations

import re

from .errors import Diagnostic, InputError, Source
from .load import Layer, parse_text, walk
from .schema import Schema

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]\[]+)\])?")


def parse_set(expr: str, index: int, schema: Schema) -> Layer:
    """One ``--set`` flag -> a :class:`Layer` holding just that value."""
    origin = "--set"

    def fail(col: int, msg: str) -> InputError:
        return InputError([Diagnostic(Source(origin, index, col, "--set"), "$", f"{msg} in --set {expr!r}")])

    if "=" not in expr:
        raise fail(1, "expected path=value")
    path_text, value_text = expr.split("=", 1)
    if not path_text:
        raise fail(1, "empty path")
    vcol = len(path_text) + 2
    if not value_text.strip():
        raise fail(vcol, "empty value (write path=null to delete the key, path=\"\" for an empty string)")
    parts: list[str | tuple[str, str]] = []
    cols: list[int] = []
    col = 1
    for seg in path_text.split("."):
        m = _SEGMENT.fullmatch(seg)
        if not m:
            raise fail(col, f"invalid path segment {seg!r}")
        parts.append(m.group(1))
        cols.append(col)
        if m.group(2) is not None:
            parts.append(("item", m.group(2)))
            cols.append(col + len(m.group(1)))
        col += len(seg) + 1
    try:
        value_layer = parse_text(value_text, origin, "--set")
        value = value_layer.data
    except InputError as e:
        d = e.diagnostics[0]
        raise fail(vcol + max(d.source.col - 1, 0) if d.source else vcol, d.message) from None
    # Build the nested layer, checking [key] selectors against the schema's merge keys.
    data: object = value
    selectors: list[tuple[tuple, str, str, int, bool]] = []
    for i in range(len(parts) - 1, -1, -1):
        p = parts[i]
        if isinstance(p, tuple):
            list_path = [x if not isinstance(x, tuple) else 0 for x in parts[:i]]
            key = schema.merge_key(list_path)
            if key is None:
                raise fail(1, f"{'.'.join(str(x) for x in list_path)} is not a list of named items; [..] selects items by name")
            item = dict(data) if isinstance(data, dict) else None
            if item is None:
                raise fail(vcol, f"an item selector needs a key below it, e.g. {path_text}.weight=...")
            item[key] = p[1]
            data = [item]
            selectors.append((tuple(x for x in parts[:i] if isinstance(x, str)), key, p[1], cols[i], i < len(parts) - 1))
        else:
            data = {p: data}
    return Layer("--set", origin, data, _positions(data, index, vcol), tuple(reversed(selectors)))


def new_items(layer: Layer, lower: list[Layer]) -> list[tuple[tuple, str, int, list[str]]]:
    """Selectors of a ``--set`` layer that name an item no lower layer defines, when the flag sets
    a field below it (``capacity.pools[0].weight=3``): that adds a new, partial item, which is
    almost always a typo or a position used where a name is expected.
    Returns (list path, name, column, names the lower layers define)."""
    out = []
    for list_path, key, name, col, below in layer.selectors:
        if not below:
            continue
        names = [str(x.get(key)) for low in lower for x in _at(low.data, list_path) or () if isinstance(x, dict) and key in x]
        if name not in names:
            out.append((list_path, name, col, sorted(set(names))))
    return out


def _at(data: object, path: tuple) -> list | None:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, list) else None


def _positions(data: object, line: int, col: int) -> dict:
    return {path: (line, col) for path, _ in walk(data)}
