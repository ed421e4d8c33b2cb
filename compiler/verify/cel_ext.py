"""The Kubernetes CEL extension functions CRD rules call (strings: ``split``, ``lowerAscii``,
``substring``...; regex: ``find``, ``findAll``; lists: ``isSorted``, ``sum``...), which cel-python's
standard library lacks, and the set of names a rule may call and still be evaluated
(:func:`known_functions`). Used by :mod:`compiler.verify.crd_cel`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celpy import celtypes
else:  # imported when a rule is compiled or interpreted (a warm build runs neither)
    celtypes = None

_MACROS = frozenset({"has", "all", "exists", "exists_one", "map", "filter"})


def _s(value: Any) -> Any:
    return celtypes.StringType(value)


def _find(text: str, pattern: str) -> Any:
    match = re.search(str(pattern), str(text))
    return _s(match.group(0) if match else "")


def _find_all(text: str, pattern: str, limit: int = -1) -> Any:
    found = [m.group(0) for m in re.finditer(str(pattern), str(text))]
    if limit >= 0:
        found = found[: int(limit)]
    return celtypes.ListType([_s(f) for f in found])


def _split(text: str, sep: str, limit: int = -1) -> Any:
    return celtypes.ListType([_s(p) for p in split_parts(str(text), str(sep), int(limit))])


def split_parts(text: str, sep: str, limit: int) -> list[str]:
    """Kubernetes' ``split``, on plain strings (also used by :mod:`.cel_rt`)."""
    if limit == 0:
        parts: list[str] = []
    elif sep == "":
        parts = list(text)
        if limit > 0 and len(parts) > limit:
            parts = parts[: limit - 1] + ["".join(parts[limit - 1:])]
    else:
        parts = text.split(sep, limit - 1 if limit > 0 else -1)
    return parts


def _replace(text: str, old: str, new: str, count: int = -1) -> Any:
    return _s(str(text).replace(str(old), str(new), int(count)))


def _substring(text: str, start: int, end: int | None = None) -> Any:
    text = str(text)
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        raise ValueError(f"substring({start}, {end}) out of range")
    return _s(text[int(start):stop])


def _index_of(target: Any, item: Any, start: int = 0) -> Any:
    if isinstance(target, str):
        return celtypes.IntType(str(target).find(str(item), int(start)))
    for i, value in enumerate(target):
        if value == item:
            return celtypes.IntType(i)
    return celtypes.IntType(-1)


def _last_index_of(target: Any, item: Any) -> Any:
    if isinstance(target, str):
        return celtypes.IntType(str(target).rfind(str(item)))
    for i in range(len(target) - 1, -1, -1):
        if target[i] == item:
            return celtypes.IntType(i)
    return celtypes.IntType(-1)


def _char_at(text: str, index: int) -> Any:
    text = str(text)
    if int(index) == len(text):
        return _s("")
    return _s(text[int(index)])


def _join(items: Any, sep: str = "") -> Any:
    return _s(str(sep).join(str(i) for i in items))


def _is_sorted(items: Any) -> Any:
    return celtypes.BoolType(all(a <= b for a, b in zip(items, list(items)[1:], strict=False)))


def _sum(items: Any) -> Any:
    items = list(items)
    total = items[0] if items else celtypes.IntType(0)
    for value in items[1:]:
        total = total + value
    return total


def _extensions() -> dict[str, Any]:
    global celtypes
    from celpy import celtypes

    return {
        "find": _find,
        "findAll": _find_all,
        "split": _split,
        "lowerAscii": lambda s: _s(str(s).lower()),
        "upperAscii": lambda s: _s(str(s).upper()),
        "trim": lambda s: _s(str(s).strip()),
        "replace": _replace,
        "substring": _substring,
        "indexOf": _index_of,
        "lastIndexOf": _last_index_of,
        "charAt": _char_at,
        "join": _join,
        "isSorted": _is_sorted,
        "sum": _sum,
        "dyn": lambda v: v,
    }


def known_functions() -> frozenset[str]:
    """Every function/method name a rule may call and still be evaluated."""
    try:
        import celpy
    except ImportError:  # pragma: no cover - exercised only without cel-python
        return frozenset()
    return frozenset(celpy.evaluation.base_functions) | frozenset(_extensions()) | _MACROS
