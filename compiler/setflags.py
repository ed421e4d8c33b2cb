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
from .load import Layer, parse_text
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
    parts: list[str | tuple[str, str]] = []
    col = 1
    for seg in path_text.split("."):
        m = _SEGMENT.fullmatch(seg)
        if not m:
            raise fail(col, f"invalid path segment {seg!r}")
        parts.append(m.group(1))
        if m.group(2) is not None:
            parts.append(("item", m.group(2)))
        col += len(seg) + 1
    vcol = len(path_text) + 2
    try:
        value_layer = parse_text(value_text, origin, "--set")
        value = value_layer.data
    except InputError as e:
        d = e.diagnostics[0]
        raise fail(vcol + max(d.source.col - 1, 0) if d.source else vcol, d.message) from None
    # Build the nested layer, checking [key] selectors against the schema's merge keys.
    data: object = value
    schema_path: list[str | int] = []
    for p in parts:
        schema_path.append(0 if isinstance(p, tuple) else p)
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
        else:
            data = {p: data}
    return Layer("--set", origin, data, _positions(data, index, vcol))


def _positions(data: object, line: int, col: int) -> dict:
    out: dict = {}

    def go(v: object, path: tuple) -> None:
        out[path] = (line, col)
        if isinstance(v, dict):
            for k, x in v.items():
                go(x, path + (k,))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                go(x, path + (i,))

    go(data, ())
    return out
