"""Stage 2 — merge: layer on layer, with the provenance of every leaf.

Precedence (lowest first): tier defaults < profile < ``environments.<env>`` < ``-f`` override files
(in order) < ``--set`` values (in order). Rules, one per row of ``tests/test_merge.py``:

* maps deep-merge key by key;
* lists replace the lower layer's list;
* lists whose schema declares ``x-merge-key`` (pools, env, destinations) merge item by item on
  that key: matching items deep-merge, new items are appended in the order they appear;
* an explicit ``null`` deletes the key (and everything below it) from the lower layers;
* a scalar replaces whatever was there, of any type.

Leaves are wrapped as :class:`Leaf` so each carries the :class:`~compiler.errors.Source` of the
layer that set it. The merge never mutates a tree: a merged mapping or list is a new container
that shares the subtrees the upper layer does not touch, so the merged tier defaults can be
computed once per tier and merged under every profile and environment (``resolve.py``). The rules
are deepmerge's (type strategies for mappings and lists, "override" for everything else) with our
strategies; ``tests/test_merge.py`` keeps that deepmerge implementation as the reference and
compares the two on every shipped profile and a generated fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .errors import Source, json_path, json_step
from .load import Layer
from .schema import Schema


@dataclass(frozen=True)
class Leaf:
    """A merged scalar value and the layer (file, line, column) it came from."""

    value: Any
    source: Source


class LDict(dict):
    """A mapping that remembers every layer that defined it."""

    def __init__(self, *a: Any, sources: list[Source] | None = None) -> None:
        super().__init__(*a)
        self.sources: list[Source] = list(sources or [])


class LList(list):
    def __init__(self, *a: Any, source: Source) -> None:
        super().__init__(*a)
        self.source = source


@dataclass(frozen=True)
class Merged:
    """The merged values and, for every node (``$.a.b[0]``), the source that set it."""

    values: dict[str, Any]
    provenance: dict[str, Source]

    def source(self, path: Sequence[str | int]) -> Source | None:
        parts = list(path)
        while True:
            found = self.provenance.get(json_path(parts))
            if found or not parts:
                return found
            parts.pop()


def wrap(layer: Layer) -> LDict:
    """Wrap a layer's data so every node knows where it came from."""

    positions, origin, name = layer.positions, layer.origin, layer.name

    def go(value: Any, path: tuple, above: Source) -> Any:
        # ``layer.source(path)``: the closest recorded position at or above ``path``
        at = positions.get(path)
        src = above if at is None else Source(origin, at[0], at[1], name)
        if isinstance(value, dict):
            return LDict({k: go(v, (*path, k), src) for k, v in value.items()}, sources=[src])
        if isinstance(value, list):
            return LList([go(v, (*path, i), src) for i, v in enumerate(value)], source=src)
        return Leaf(value, src)

    data = layer.data if isinstance(layer.data, dict) else {}
    return go(data, (), layer.source(()))


def _is_null(v: Any) -> bool:
    return isinstance(v, Leaf) and v.value is None


def _strip_nulls(v: Any) -> Any:
    """A new subtree has nothing below it to delete: drop its null leaves."""
    if isinstance(v, LDict):
        return LDict({k: _strip_nulls(x) for k, x in v.items() if not _is_null(x)}, sources=v.sources)
    if isinstance(v, LList):
        return LList([_strip_nulls(x) for x in v if not _is_null(x)], source=v.source)
    return v


class _Merge:
    """deepmerge's ``Merger([(LDict, dicts), (LList, lists)], ["override"], ["override"])`` without
    mutation: ``value`` returns the merged node, a new container wherever something changed."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def value(self, path: list, base: Any, nxt: Any) -> Any:
        kind = type(base)
        if kind is type(nxt):  # (no subclasses: the isinstance pairs deepmerge checks)
            if kind is LDict:
                return self.dicts(path, base, nxt)
            if kind is LList:
                return self.lists(path, base, nxt)
        return nxt  # "override", for leaves and for a type conflict alike

    def dicts(self, path: list, base: LDict, nxt: LDict) -> LDict:
        out = LDict(base, sources=[*base.sources, *nxt.sources])
        for key, value in nxt.items():
            if type(value) is Leaf and value.value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = self.value(path + [key], out[key], value)
            else:
                out[key] = _strip_nulls(value)
        return out

    def lists(self, path: list, base: LList, nxt: LList) -> LList:
        key = self.schema.merge_key(path)
        if key is None:
            return _strip_nulls(nxt)
        index = {_item_key(item, key): i for i, item in enumerate(base)}
        out = LList(base, source=nxt.source)
        for item in nxt:
            k = _item_key(item, key)
            if k is not None and k in index:
                i = index[k]
                out[i] = self.value(path + [i], out[i], item)
            elif not _is_null(item):
                index[k] = len(out)
                out.append(_strip_nulls(item))
        return out


def _item_key(item: Any, key: str) -> Any:
    if isinstance(item, LDict) and isinstance(item.get(key), Leaf):
        return item[key].value
    return None


def merge_tree(layers: Sequence[Layer], schema: Schema, start: LDict | None = None) -> LDict:
    """The wrapped merge of ``layers`` (lowest precedence first) over ``start`` (a tree this
    function returned before, e.g. the merged tier defaults); neither is mutated."""
    merge = _Merge(schema)
    acc = start if start is not None else LDict()
    for layer in layers:
        acc = merge.value([], acc, wrap(layer))
    return acc


def merge_layers(layers: Sequence[Layer], schema: Schema, start: LDict | None = None) -> Merged:
    """Merge ``layers`` lowest precedence first (over ``start``, see :func:`merge_tree`); inputs
    are never mutated."""
    return _unwrap(merge_tree(layers, schema, start))


def _container_source(sources: list[Source]) -> Source | None:
    """A map's source: the profile file if it defines it, else the last layer that touched it."""
    for s in sources:
        if s.layer == "profile":
            return s
    return sources[-1] if sources else None


def _unwrap(tree: Any) -> Merged:
    prov: dict[str, Source] = {}

    def go(v: Any, path: str) -> Any:  # path: the JSON path so far (``json_path`` of the parts)
        if isinstance(v, LDict):
            src = _container_source(v.sources)
            if src:
                prov[path] = src
            return {k: go(x, path + _step(k)) for k, x in v.items()}
        if isinstance(v, LList):
            prov[path] = v.source
            return [go(x, f"{path}[{i}]") for i, x in enumerate(v)]
        prov[path] = v.source
        return v.value

    values = go(tree, "$")
    return Merged(values, prov)


#: :func:`json_step` of a key (keys repeat in every profile: each is spelled once; typed: 1 and True differ).
_step = lru_cache(maxsize=1 << 12, typed=True)(json_step)
