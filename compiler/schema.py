"""The profile schema (``schemas/profile.schema.json``) and what the stages ask of it.

One JSON Schema (Draft 2020-12) is the single source of truth: the validator, the merge rules
(``x-merge-key``), the override-layer schema (the same schema with requirements relaxed), the
Markdown reference (``mcompile schema --markdown``) and the chart's ``values.schema.json`` all
derive from it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema is imported when a value fails the compiled check (see errors())
    from jsonschema import Draft202012Validator, ValidationError


_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE.parent / "schemas" / "profile.schema.json", _HERE / "_schemas" / "profile.schema.json")


def schema_path() -> Path:
    for p in _CANDIDATES:
        if p.is_file():
            return p
    raise FileNotFoundError("profile.schema.json not found next to the compiler package")


class Schema:
    """Navigation over the profile schema.

    ``key``: what ``doc`` and everything derived here depend on, when known (:meth:`load`: the
    schema file's bytes and this module's source): the compiled checks are then looked up in
    the user cache by it, so a run that finds them neither relaxes nor serialises the schema."""

    def __init__(self, doc: dict[str, Any], key: str | None = None) -> None:
        self.doc = doc
        self.key = key

    @classmethod
    def load(cls) -> Schema:
        raw = schema_path().read_bytes()
        return cls(json.loads(raw.decode("utf-8")), schema_key(raw))

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            ref = node["$ref"]
            target = self.doc
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def at(self, path: Sequence[str | int]) -> dict[str, Any] | None:
        """The sub-schema describing the value at ``path`` (None if the path is not in the schema)."""
        node = self.resolve(self.doc)
        for part in path:
            sub: Any
            if isinstance(part, int):
                sub = node.get("items")
            else:
                props = node.get("properties", {})
                sub = props.get(part) if part in props else node.get("additionalProperties")
            if not isinstance(sub, dict):
                return None
            node = self.resolve(sub)
        return node

    def merge_key(self, path: Sequence[str | int]) -> str | None:
        node = self.at(path)
        return node.get("x-merge-key") if node else None

    def keys_at(self, path: Sequence[str | int]) -> list[str]:
        node = self.at(path)
        return sorted(node.get("properties", {})) if node else []

    @cached_property
    def validator(self) -> Draft202012Validator:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.doc)

    @cached_property
    def layer_validator(self) -> Draft202012Validator:
        """Validates one override layer: same types, ranges and unknown-key rules, nothing required."""
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self._relaxed)

    @cached_property
    def _relaxed(self) -> dict[str, Any]:
        return relax(self.doc)

    def errors(self, value: Any) -> Iterator[ValidationError]:
        """``validator.iter_errors(value)``; a value the compiled check accepts has none."""
        if self._accepts is not None and self._accepts(value):
            return iter(())
        return self.validator.iter_errors(value)

    def layer_errors(self, value: Any) -> Iterator[ValidationError]:
        """``layer_validator.iter_errors(value)``, with the same fast path."""
        if self._layer_accepts is not None and self._layer_accepts(value):
            return iter(())
        return self.layer_validator.iter_errors(value)

    @cached_property
    def _accepts(self) -> Callable[[Any], bool] | None:
        return _compiled_check(lambda: self.doc, None if self.key is None else f"full:{self.key}")

    @cached_property
    def _layer_accepts(self) -> Callable[[Any], bool] | None:
        return _compiled_check(lambda: self._relaxed, None if self.key is None else f"layer:{self.key}")

    def walk(self) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
        """Every property path with its (resolved) schema, depth first, in document order."""

        def go(node: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
            node = self.resolve(node)
            if path:
                yield path, node
            for name, sub in node.get("properties", {}).items():
                yield from go(sub, path + (name,))
            items = node.get("items")
            if isinstance(items, dict):
                yield from go(items, path + ("[]",))

        yield from go(self.doc, ())


def schema_key(raw: bytes) -> str:
    """What a schema read from ``raw`` and the checks derived from it here depend on."""
    return hashlib.sha256(raw + b"\0" + Path(__file__).read_bytes()).hexdigest()


def _compiled_check(make: Callable[[], dict[str, Any]], key: str | None) -> Callable[[Any], bool] | None:
    """The schema ``make()`` returns compiled to an accept-only check (:mod:`compiler.verify.accept`:
    microseconds where jsonschema takes milliseconds per profile); None when it uses a keyword
    the compiler lacks. ``tests/test_schema.py`` compares both on the shipped profiles and
    mutations of them. With a ``key`` (see :class:`Schema`) the compiled code is cached under it
    and ``make`` runs only on a miss; else ``compile_check`` keys it by the schema's JSON."""
    from .verify.accept import Unsupported, check_source, compile_check, compile_source, load_check

    def resolver(doc: dict[str, Any]) -> Callable[[str], Any]:
        def resolve(ref: str) -> Any:
            target: Any = doc
            for part in ref.removeprefix("#/").split("/"):
                if not isinstance(target, dict) or part not in target:
                    raise Unsupported(f"$ref {ref}")
                target = target[part]
            return target

        return resolve

    if key is None:
        doc = make()
        try:
            return compile_check(doc, resolver(doc))
        except Unsupported:
            return None
    from .verify.schema_cache import cached

    def build() -> Any:
        doc = make()
        try:
            return compile_source(check_source(doc, resolver(doc)))
        except Unsupported:
            return None

    return cached(("profile-schema-check", key), build, lambda code: None if code is None else load_check(code))


def relax(doc: dict[str, Any]) -> dict[str, Any]:
    """The override-layer schema: drop ``required`` (except merge keys of named list items),
    requirement-only ``anyOf``/``oneOf``, and the cross-field ``allOf`` rules that need the whole
    profile. Types, enums, ranges and ``additionalProperties: false`` stay."""
    out = copy.deepcopy(doc)
    seen: set[int] = set()

    def go(node: Any, keep: str | None = None) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, list):
            for x in node:
                go(x)
            return
        if not isinstance(node, dict):
            return
        if "required" in node and isinstance(node["required"], list):
            node["required"] = [keep] if keep and keep in node["required"] else []
            if not node["required"]:
                del node["required"]
        for comb in ("anyOf", "oneOf"):
            branches = node.get(comb)
            if isinstance(branches, list) and all(_requirement_only(b) for b in branches):
                del node[comb]
        key = node.get("x-merge-key")
        for name, sub in node.items():
            if name == "items" and key:
                target = sub
                if "$ref" in sub:
                    target = out
                    for part in sub["$ref"].removeprefix("#/").split("/"):
                        target = target[part]
                go(target, key)
            elif name not in ("enum", "const", "not", "dependentSchemas"):
                go(sub)  # requirements under not/dependentSchemas are constraints, kept as is

    out.pop("allOf", None)
    go(out)
    return out


def _requirement_only(branch: Any) -> bool:
    return isinstance(branch, dict) and set(branch) <= {"required", "not"}
