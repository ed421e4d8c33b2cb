"""compiler.verify.crd_defaults: generated defaulting equals ``copy_json`` + ``apply_defaults``.

The generated function shares unchanged parts with its input instead of copying it: it must
give the same value (same keys in the same order, same defaults, defaults of defaults) and
never change its input. Compared on every shipped custom resource, on mutations of them
(fields removed, so defaults apply; wrong types, so the walk meets the unexpected) and on
small schemas, keyword by keyword.
"""

from __future__ import annotations

import copy
import datetime
import json
from typing import Any

import pytest

from compiler.verify.accept import Unsupported, compile_source, load_module
from compiler.verify.crd_defaults import defaults_source
from compiler.verify.crd_schema import apply_defaults, copy_json
from tests.verify.test_accept import _shipped_objects, mutants


def _defaulter(root: dict[str, Any]) -> Any:
    source = defaults_source(root)
    return None if source is None else load_module(compile_source(source))["defaults"]


def _reference(obj: Any, root: dict[str, Any]) -> Any:
    value = copy_json(obj)
    apply_defaults(value, root)
    return value


def _exact(value: Any) -> str:
    """JSON keeping key order and telling 1 from 1.0 and True."""
    return json.dumps(value, ensure_ascii=False)


def _agrees(defaults: Any, root: dict[str, Any], obj: Any) -> bool:
    before = copy.deepcopy(obj)
    expected = _reference(obj, root)
    got = obj if defaults is None else defaults(obj)
    assert _exact(got) == _exact(expected)
    assert _exact(obj) == _exact(before)  # the input is left alone
    return got is not obj


def test_shipped_and_mutated_custom_resources(registry):
    kinds, changed, compared = set(), 0, 0
    for index, (tier, obj) in enumerate(_shipped_objects()):
        if not registry.has(obj["apiVersion"], obj["kind"]):
            continue
        root = registry._compile(obj["apiVersion"], obj["kind"]).root
        defaults = _defaulter(root)
        kinds.add(obj["kind"])
        for value in [obj, *mutants(obj, f"defaults-{tier}-{index}")]:
            changed += _agrees(defaults, root, value)
            compared += 1
    assert {"NodePool", "EC2NodeClass", "ScaledObject"} <= kinds, kinds
    assert compared > 500 and changed > 50, (compared, changed)  # defaults were really applied


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "default": {"mode": "x"},  # a default whose own fields get defaults
            "properties": {
                "mode": {"type": "string", "default": "auto"},
                "replicas": {"type": "integer", "default": 1},
                "policy": {"type": "object", "properties": {"kind": {"type": "string", "default": "Delete"}}},
                "ports": {"type": "array", "items": {"type": "object", "properties": {"protocol": {"type": "string", "default": "TCP"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "object", "properties": {"v": {"default": [1, {"a": None}]}}}},
                "plain": {"type": "object", "properties": {"x": {"type": "string"}}},
            },
        },
    },
}


@pytest.mark.parametrize("obj", [
    {},
    {"spec": {}},
    {"spec": {"mode": "m", "replicas": 3}},
    {"spec": {"policy": {}}},
    {"spec": {"ports": [{}, {"protocol": "UDP"}, "not an object", {"name": "p"}]}},
    {"spec": {"labels": {"a": {}, "b": {"v": 2}, "c": 5}}},
    {"spec": {"plain": {"x": "y"}, "zz": 1, "replicas": None}},
    {"spec": "a string where an object belongs"},
    {"spec": [{"mode": 1}]},
    [],
    "scalar",
])
def test_keyword_by_keyword(obj):
    _agrees(_defaulter(SCHEMA), SCHEMA, obj)


def test_defaults_are_fresh_values_every_time():
    defaults = _defaulter(SCHEMA)
    first, second = defaults({"spec": {"labels": {"a": {}}}}), defaults({"spec": {"labels": {"a": {}}}})
    first["spec"]["labels"]["a"]["v"][1]["a"] = "changed"
    assert second["spec"]["labels"]["a"]["v"] == [1, {"a": None}]


def test_untouched_values_are_shared_and_a_schema_without_defaults_has_no_function():
    defaults = _defaulter(SCHEMA)
    obj = {"spec": {"mode": "m", "replicas": 2, "plain": {"x": "y"}, "policy": {"kind": "Retain"}}}
    assert defaults(obj) is obj  # every default already set: nothing copied
    obj["spec"]["ports"] = [{}]
    out = defaults(obj)
    assert out["spec"]["ports"] == [{"protocol": "TCP"}] and obj["spec"]["ports"] == [{}]
    assert out is not obj and out["spec"]["plain"] is obj["spec"]["plain"] and out["spec"]["policy"] is obj["spec"]["policy"]
    assert defaults_source({"type": "object", "properties": {"a": {"type": "string"}}}) is None


def test_a_default_that_is_not_plain_json_is_left_to_apply_defaults():
    with pytest.raises(Unsupported):
        defaults_source({"properties": {"at": {"default": datetime.date(2024, 1, 1)}}})
    with pytest.raises(Unsupported):
        defaults_source({"properties": {"x": {"default": float("nan")}}})
