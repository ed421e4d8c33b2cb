"""compiler.verify.accept: the compiled fast check says "valid" exactly when jsonschema finds nothing.

The fast check decides whether jsonschema runs at all: if it accepted a value jsonschema
refuses, a finding would silently vanish. So it is compared with jsonschema itself (the very
validators the verifier builds) on every shipped object, on thousands of mutations of them
(wrong types, out-of-range numbers, unknown and missing fields, duplicates...) and keyword by
keyword on the edge cases where Python and JSON Schema disagree (``True == 1``, ``1.0``).
"""

from __future__ import annotations

import copy
import random
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from compiler.verify.accept import Unsupported, compile_check
from compiler.verify.crd_schema import apply_defaults, copy_json
from tests.shipped import compile_tier

TIERS = ("tier1", "tier2", "tier3")
ENVS = {"tier1": ("staging", "prod"), "tier2": ("dev", "prod"), "tier3": ("prod",)}
#: Values swapped in at a path: every JSON type, empty, huge, negative, integral float.
REPLACEMENTS: tuple[Any, ...] = ("x", "", "A" * 300, 0, -1, 7, 1.5, 2.0, 1e12, True, False, None, [], {}, ["x"], {"k": "v"})
MUTANTS_PER_OBJECT = 24


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def mutants(obj: dict[str, Any], seed: str) -> list[dict[str, Any]]:
    """Deterministic mutations of ``obj``: replace, delete, add an unknown key, duplicate."""
    rng = random.Random(seed)
    paths = [p for p in _paths(obj) if p]
    out = []
    for _ in range(MUTANTS_PER_OBJECT):
        path = rng.choice(paths)
        new = copy.deepcopy(obj)
        parent, last = _get(new, path[:-1]), path[-1]
        action = rng.randrange(5)
        if action == 0 and isinstance(parent, dict):
            del parent[last]
        elif action == 1 and isinstance(parent[last], dict):
            parent[last]["zzUnknownField"] = "x"
        elif action == 2 and isinstance(parent[last], list) and parent[last]:
            parent[last].append(copy.deepcopy(parent[last][0]))
        else:
            parent[last] = copy.deepcopy(rng.choice(REPLACEMENTS))
        out.append(new)
    return out


def _shipped_objects() -> list[tuple[str, dict[str, Any]]]:
    return [(tier, obj) for tier in TIERS for env in ENVS[tier] for obj in compile_tier(tier, (), env).objects]


def _checker(kube: Any, registry: Any, obj: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """(fast check, jsonschema validator, prepare value) as the verifier uses them for ``obj``."""
    if kube.is_builtin(obj):
        entry = kube._entry(obj["apiVersion"], obj["kind"])
        return entry.accepts, entry.validator, lambda v: v
    if registry.has(obj["apiVersion"], obj["kind"]):
        compiled = registry._compile(obj["apiVersion"], obj["kind"])

        def prepare(v: Any) -> Any:
            value = copy_json(v)
            if isinstance(value, dict):
                apply_defaults(value, compiled.root)
            return value

        return compiled.accepts, compiled.validator, prepare
    return None


@pytest.mark.parametrize("tier", TIERS)
def test_fast_check_agrees_with_jsonschema_on_shipped_and_mutated_objects(tier, kube, registry):
    verdicts = {True: 0, False: 0}
    checked_kinds = set()
    for index, (t, obj) in enumerate(_shipped_objects()):
        if t != tier:
            continue
        found = _checker(kube, registry, obj)
        if found is None:
            continue
        accepts, validator, prepare = found
        assert accepts is not None, f"{obj['apiVersion']} {obj['kind']}: no compiled check"
        checked_kinds.add(obj["kind"])
        assert accepts(prepare(obj)) and not list(validator.iter_errors(prepare(obj))), obj["kind"]
        for n, mutant in enumerate(mutants(obj, f"{tier}-{index}")):
            value = prepare(mutant)
            valid = not any(True for _ in validator.iter_errors(value))
            assert accepts(value) == valid, (obj["kind"], obj["metadata"].get("name"), n, valid)
            verdicts[valid] += 1
    # the mutations reach both outcomes, built-in kinds and custom resources
    assert verdicts[True] > 50 and verdicts[False] > 300, verdicts
    assert {"Deployment", "NodePool"} <= checked_kinds or {"LeaderWorkerSet", "NodePool"} <= checked_kinds, checked_kinds


def _same(schema: dict[str, Any], value: Any) -> bool:
    """The fast check's verdict, asserted equal to jsonschema's."""
    expected = jsonschema.Draft202012Validator(schema).is_valid(value)
    assert compile_check(schema)(value) == expected, (schema, value, expected)
    return expected


@pytest.mark.parametrize(("schema", "value", "valid"), [
    ({"enum": [1, "a"]}, True, False),  # bool is not 1
    ({"enum": [True]}, 1, False),
    ({"enum": [1]}, 1.0, True),
    ({"const": False}, 0, False),
    ({"const": {"a": [1]}}, {"a": [True]}, False),
    ({"type": "integer"}, 2.0, True),
    ({"type": "integer"}, 2.5, False),
    ({"type": "integer"}, True, False),
    ({"type": "number"}, False, False),
    ({"type": "number"}, Decimal("1.5"), True),
    ({"minimum": 2}, Decimal("1.5"), False),  # any numbers.Number is compared
    ({"exclusiveMaximum": 3}, 3, False),
    ({"maximum": 3}, "999", True),  # bounds apply to numbers only
    ({"uniqueItems": True}, [1, True], True),
    ({"uniqueItems": True}, [{"a": 1, "b": 2}, {"b": 2, "a": 1}], False),
    ({"uniqueItems": True}, [1, 1.0], False),
    ({"minLength": 2}, "é", False),
    ({"maxLength": 1}, "é", True),
    ({"pattern": "^a$"}, "a\n", True),  # re.search: $ matches before a final newline
    ({"pattern": "b"}, "abc", True),  # not anchored
    ({"pattern": "^(?i)(abort|warn)?$"}, 5, True),  # Go syntax: non-strings still pass
    ({"required": ["a"]}, [], True),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"a": "x", "b": 1}, False),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}, {"a": "x", "b": 1}, True),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}, {"b": "x"}, False),
    ({"propertyNames": {"pattern": "^[a-z]+$"}}, {"A": 1}, False),
    ({"items": {"type": "string"}, "maxItems": 2}, ["a", "b", "c"], False),
    ({"minProperties": 1}, {}, False),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1, False),  # both match
    ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, "s", True),
    ({"anyOf": [{"required": ["name"]}, {"required": ["generateName"]}]}, {"x": 1}, False),
    ({"not": {"type": "null"}}, None, False),
    ({"allOf": [{"maxLength": 3}, {"minLength": 2}]}, "abcd", False),
    ({"type": ["string", "null"], "description": "ignored", "x-kubernetes-anything": 1, "format": "int32"}, None, True),
    ({"format": "date-time"}, "not a date", True),  # format is an annotation here, as in jsonschema
    ({"additionalProperties": False}, {"any": 1}, False),
    ({"properties": {"a": False}}, {"a": 1}, False),
    ({"if": {"properties": {"t": {"const": 1}}}, "then": {"required": ["x"]}}, {"t": 1}, False),
    ({"if": {"properties": {"t": {"const": 1}}}, "then": {"required": ["x"]}}, {"t": 2}, True),
    ({"if": {"properties": {"t": {"const": 1}}}, "then": {"required": ["x"]}, "else": {"required": ["y"]}}, {"t": 2}, False),
    ({"if": {"properties": {"t": {"const": 1}}}, "else": {"required": ["y"]}}, {"t": 1}, True),
    ({"then": {"required": ["x"]}}, {}, True),  # then/else without if: no effect
    ({"dependentSchemas": {"id": {"not": {"required": ["tags"]}}}}, {"id": 1, "tags": []}, False),
    ({"dependentSchemas": {"id": {"not": {"required": ["tags"]}}}}, {"tags": []}, True),
    ({"dependentSchemas": {"id": {"required": ["x"]}}}, ["id"], True),  # objects only
])
def test_keyword_semantics_match_jsonschema(schema, value, valid):
    assert _same(schema, value) is valid


def test_go_regex_is_left_to_jsonschema():
    """A pattern Python cannot compile rejects every string, so jsonschema (which raises on it) decides."""
    check = compile_check({"properties": {"s": {"pattern": "^(?i)(abort|warn)?$"}}})
    assert check({"s": 1}) is True
    assert check({"s": "abort"}) is False


def test_ref_is_resolved_lazily_and_may_recurse():
    defs = {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}, "n": {"type": "integer"}}}}
    check = compile_check({"$ref": "#/$defs/node"}, lambda ref: defs[ref.rsplit("/", 1)[1]])
    assert check({"child": {"child": {"n": 1}}})
    assert not check({"child": {"child": {"n": "1"}}})
    with pytest.raises(Unsupported):
        compile_check({"$ref": "#/$defs/node"})


@pytest.mark.parametrize("schema", [
    {"not": {"pattern": "^(?i)x$"}},
    {"if": {"pattern": "^(?i)x$"}, "then": {"maxLength": 1}},
    {"oneOf": [{"pattern": "^(?i)x$"}, {"minLength": 1}]},
    {"properties": {"a": {"pattern": "^(?i)x$"}}, "not": {"required": ["b"]}},
])
def test_a_pattern_python_cannot_compile_is_never_negated_or_counted(schema):
    """Such a pattern rejects every string (an inexact "no"): under not/if/oneOf that "no" would
    turn into a wrong "yes", so the schema is left to jsonschema."""
    with pytest.raises(Unsupported):
        compile_check(schema)


@pytest.mark.parametrize("keyword", ["patternProperties", "contains", "unevaluatedProperties", "multipleOf", "prefixItems"])
def test_unimplemented_keywords_leave_the_schema_to_jsonschema(keyword):
    with pytest.raises(Unsupported):
        compile_check({"properties": {"a": {keyword: {}}}})
    with pytest.raises(Unsupported):
        compile_check({"items": [{"type": "string"}]})


#: A CRD structural schema with every construct the CRD translation (crd_schema.to_json_schema)
#: produces: int-or-string, nullable (incl. a nullable enum), preserve-unknown-fields, OpenAPI
#: v3.0 boolean exclusive bounds, list-type set, an embedded resource, Go regex flags, formats.
STRUCTURAL: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[a-z]+$"},
        "mode": {"type": "string", "enum": ["Abort", "Warn"], "nullable": True},
        "policy": {"type": "string", "pattern": "^(?i)(abort|warn)?$"},
        "size": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1, "exclusiveMaximum": True},
        "count": {"type": "integer", "format": "int32", "minimum": 1},
        "when": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "maxItems": 3},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "opt": {"type": "object", "nullable": True, "properties": {"a": {"type": "boolean"}}},
        "embedded": {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True},
    },
}
STRUCTURAL_VALUES: tuple[Any, ...] = (
    {"name": "abc"}, {}, {"name": ""}, {"name": "toolongname"}, {"name": "ABC"}, {"name": 5}, {"name": None},
    {"name": "a", "mode": "Warn"}, {"name": "a", "mode": None}, {"name": "a", "mode": "warn"},
    {"name": "a", "policy": "ABORT"}, {"name": "a", "policy": ""}, {"name": "a", "policy": "stop"},
    {"name": "a", "size": 3}, {"name": "a", "size": "3Gi"}, {"name": "a", "size": 1.5}, {"name": "a", "size": True},
    {"name": "a", "ratio": 0}, {"name": "a", "ratio": 0.99}, {"name": "a", "ratio": 1}, {"name": "a", "ratio": -0.1},
    {"name": "a", "count": 1}, {"name": "a", "count": 0}, {"name": "a", "count": 2.0}, {"name": "a", "count": "1"},
    {"name": "a", "when": "not a date"}, {"name": "a", "when": 1},
    {"name": "a", "tags": ["x", "y"]}, {"name": "a", "tags": ["x", "x"]}, {"name": "a", "tags": ["a", "b", "c", "d"]},
    {"name": "a", "extra": {"anything": [1, {"goes": None}]}}, {"name": "a", "extra": []},
    {"name": "a", "labels": {"k": "v"}}, {"name": "a", "labels": {"k": 1}},
    {"name": "a", "opt": None}, {"name": "a", "opt": {"a": True}}, {"name": "a", "opt": {"b": True}},
    {"name": "a", "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}},
    {"name": "a", "embedded": {"kind": 1}}, {"name": "a", "embedded": {"metadata": {"bogus": 1}}},
    {"name": "a", "unknown": 1}, [], "x",
)


@pytest.mark.parametrize("value", STRUCTURAL_VALUES)
def test_structural_schema_translation_is_checked_like_jsonschema(value):
    """Each construct of a translated CRD schema, valid and invalid, decided as jsonschema does."""
    from compiler.verify.crd_schema import to_json_schema

    _same(to_json_schema(STRUCTURAL), value)


def test_structural_values_reach_both_verdicts():
    from compiler.verify.crd_schema import to_json_schema

    validator = jsonschema.Draft202012Validator(to_json_schema(STRUCTURAL))
    verdicts = [validator.is_valid(v) for v in STRUCTURAL_VALUES]
    assert verdicts.count(True) >= 15 and verdicts.count(False) >= 20
    assert validator.is_valid({"name": "a", "policy": "ABORT"})  # the Go flag pattern, translated, is exact
