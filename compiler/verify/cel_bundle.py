"""The CEL rules of one CRD kind that builds reached, kept together in the user cache.

A rule compiled on its own costs a read of its ``cel-py/`` entry (:mod:`.cel_meta`) and a
``compile()`` of its Python program (:mod:`.cel_py`), ~0.2 ms, and a build reaches dozens of
rules (tier3: 88). A :class:`CelBundle` is one ``marshal`` entry of :mod:`.schema_cache` per
(CRD file digest, group, kind, version) holding, for every rule of that kind compiled so far, its
facts and its program's code object: read once when the kind's checks are loaded, it primes
:data:`compiler.verify.crd_cel.PRIMED`, so ``crd_cel._compile_rule`` then neither reads a file
nor compiles source. Rules stay compiled lazily (when a value reaches them); a rule compiled
without the bundle is added to it and the entry rewritten (on a cold run only).

The key holds :func:`compiler.verify.cel_meta.code_key` (this compiler's CEL sources, the
installed cel-python and Lark: what a rule's facts depend on) besides the schema cache's own
code digest (Python version and bytecode magic: what a code object depends on); each record
holds its rule's :func:`~compiler.verify.crd_cel.rule_key`. An entry of the wrong shape is
ignored (and rewritten when a rule is compiled). ``tests/verify/test_cel_bundle.py`` compares
bundled rules with freshly compiled ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import CodeType
from typing import Any

from . import cel_meta, crd_cel, schema_cache
from .crd_schema import RuleNode

__all__ = ["CelBundle"]

Record = tuple[cel_meta.RuleMeta, "CodeType | None"]


class CelBundle:
    """The bundle of one kind: read at construction (priming ``crd_cel.PRIMED``), saved by :meth:`save`."""

    __slots__ = ("_seen", "parts", "records")

    def __init__(self, kind_parts: Sequence[str]) -> None:
        self.parts = ("cel-rules", cel_meta.code_key(), *kind_parts)
        self.records: dict[crd_cel.RuleKey, Record] = _records(schema_cache.read(self.parts))
        self._seen = -1  # len(crd_cel.COMPILED) at the last save
        for key, record in self.records.items():
            crd_cel.PRIMED.setdefault(key, record)

    def save(self, tree: RuleNode | None) -> None:
        """Add the rules of ``tree`` compiled without a bundle, and rewrite the entry if there are any."""
        if self._seen == len(crd_cel.COMPILED):  # nothing compiled since the last look
            return
        self._seen = len(crd_cel.COMPILED)
        new = [key for key in _compiled_keys(tree) if key not in self.records and key in crd_cel.COMPILED]
        if not new:
            return
        for key in new:
            meta = crd_cel.COMPILED[key]
            self.records[key] = (meta, _program(meta.source))
        schema_cache.write(self.parts, [[*key, *_meta_data(meta), code] for key, (meta, code) in sorted(self.records.items())])


def _compiled_keys(tree: RuleNode | None) -> Iterator[crd_cel.RuleKey]:
    if tree is None:
        return
    for entry in tree.rules:
        if isinstance(entry, crd_cel.DeferredRule) and entry.ready():
            yield crd_cel.rule_key(entry.spec)
    for child in (*tree.properties.values(), tree.items, tree.additional):
        yield from _compiled_keys(child)


def _program(source: str | None) -> CodeType | None:
    if source is None:
        return None
    try:
        from .cel_py import compile_program

        return compile_program(source)
    except (SyntaxError, ValueError):  # as crd_cel: not a program, the interpreter alone
        return None


def _meta_data(meta: cel_meta.RuleMeta) -> list[Any]:
    return [meta.status, meta.reason, None if meta.self_fields is None else list(meta.self_fields), meta.per_element, meta.source]


def _records(data: Any) -> dict[crd_cel.RuleKey, Record]:
    """The records of an entry's data ({} for none, or for data of the wrong shape)."""
    out: dict[crd_cel.RuleKey, Record] = {}
    if not isinstance(data, list):
        return out
    for item in data:
        if not (isinstance(item, list) and len(item) == 9):
            return {}
        text, message_expression, old_self, status, reason, fields, per_element, source, code = item
        meta = cel_meta.RuleMeta.from_json({"status": status, "reason": reason, "self_fields": fields,
                                            "per_element": per_element, "source": source})
        if (meta is None or not isinstance(text, str) or not isinstance(message_expression, str) or type(old_self) is not bool
                or not (code is None or (isinstance(code, CodeType) and source is not None))):
            return {}
        out[(text, message_expression, old_self)] = (meta, code)
    return out
