"""A JSON codec for the fleet inputs a cache entry carries (landings, hub objects, diagnostics).

Never ``pickle``: a cache directory can end up in a repository or a CI artifact, and loading a
pickle from it would run whatever code it names. Here a value decodes only into plain data
(tuples, frozensets, dicts, scalars) and dataclasses defined in ``compiler.*`` modules, built
by their own constructors. Dataclasses are encoded positionally: every key includes a digest of
the compiler's own source (``key.py``), so an entry is never read by code whose classes differ.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

__all__ = ["CodecError", "decode", "encode"]


class CodecError(ValueError):
    """The data does not describe a value this codec produces (a corrupt or foreign entry)."""


_FIELDS: dict[type, tuple[str, tuple[str, ...]]] = {}


def _layout(cls: type) -> tuple[str, tuple[str, ...]]:
    if cls not in _FIELDS:
        _FIELDS[cls] = (f"{cls.__module__}:{cls.__qualname__}", tuple(f.name for f in dataclasses.fields(cls)))
    return _FIELDS[cls]


def encode(value: Any) -> Any:
    """JSON-ready form of ``value``: lists mean tuples, ``{"d": [[k, v]...]}`` dicts,
    ``{"s": [...]}`` frozensets, ``{"c": "module:Class", "f": [...]}`` dataclasses."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    cls = type(value)
    if cls in _FIELDS or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        name, names = _layout(cls)
        return {"c": name, "f": [encode(getattr(value, n)) for n in names]}
    if isinstance(value, (set, frozenset)):
        return {"s": sorted((encode(v) for v in value), key=repr)}
    if isinstance(value, dict):
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    raise CodecError(f"cannot encode a {type(value).__name__}")


_CLASSES: dict[str, type] = {}


def _class(name: Any) -> type:
    if name in _CLASSES:
        return _CLASSES[name]
    if not isinstance(name, str) or ":" not in name:
        raise CodecError(f"bad class name {name!r}")
    module, _, qualname = name.partition(":")
    if not (module == "compiler" or module.startswith("compiler.")) or "." in qualname:
        raise CodecError(f"{name}: only dataclasses of the compiler package are decoded")
    try:
        cls = getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError) as exc:
        raise CodecError(f"{name}: {exc}") from None
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise CodecError(f"{name} is not a dataclass")
    _CLASSES[name] = cls
    return cls


def decode(data: Any) -> Any:
    """The value :func:`encode` turned into ``data``; :class:`CodecError` for anything else."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return tuple(decode(v) for v in data)
    if isinstance(data, dict):
        if "c" in data and "f" in data and len(data) == 2:
            cls = _class(data["c"])
            fields = data["f"]
            if not isinstance(fields, list):
                raise CodecError("dataclass fields must be a list")
            try:
                return cls(*(decode(v) for v in fields))
            except TypeError as exc:
                raise CodecError(f"{data['c']}: {exc}") from None
        if "d" in data and len(data) == 1 and isinstance(data["d"], list):
            return {decode(k): decode(v) for k, v in (_pair(p) for p in data["d"])}
        if "s" in data and len(data) == 1 and isinstance(data["s"], list):
            return frozenset(decode(v) for v in data["s"])
    raise CodecError(f"unexpected {type(data).__name__} in entry")


def _pair(p: Any) -> tuple[Any, Any]:
    if not (isinstance(p, list) and len(p) == 2):
        raise CodecError("dict items must be [key, value] pairs")
    return p[0], p[1]
