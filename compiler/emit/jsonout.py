"""Indented JSON (``values.schema.json``, ``plan.json``): exactly ``json.dumps(value, indent=2,
sort_keys=True)``, written by a direct recursion over plain data.

``json`` uses its C encoder only without ``indent``; with it, the pure-Python generator encoder
yields every token separately (a chart's values schema took ~1 ms). Here strings still go through
the C string encoder, and anything but plain ``dict``/``list``/``tuple``/``str``/``int``/
``float``/``bool``/``None`` with string keys (or a cycle) is left to ``json.dumps`` itself, so
the bytes and the errors are always ``json``'s.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring_ascii
from typing import Any

__all__ = ["dumps_indented"]


class _NotPlain(Exception):
    """Something only ``json.dumps`` writes (or refuses)."""


def dumps_indented(value: Any) -> str:
    """``json.dumps(value, indent=2, sort_keys=True)``."""
    out: list[str] = []
    try:
        _write(value, out, "\n")
    except (_NotPlain, RecursionError):
        return json.dumps(value, indent=2, sort_keys=True)
    return "".join(out)


def _write(value: Any, out: list[str], newline: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(encode_basestring_ascii(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        opener = "{" + inner
        for key in sorted(value) if all(type(k) is str for k in value) else _refuse():
            out.append(opener + encode_basestring_ascii(key) + ": ")
            opener = "," + inner
            _write(value[key], out, inner)
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        opener = "[" + inner
        for item in value:
            out.append(opener)
            opener = "," + inner
            _write(item, out, inner)
        out.append(newline + "]")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is bool:
        out.append("true" if value else "false")
    elif value is None:
        out.append("null")
    elif kind is float:
        out.append(_float(value))
    else:
        raise _NotPlain


def _float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _refuse() -> list[str]:
    raise _NotPlain
