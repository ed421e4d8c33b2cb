"""The schema itself: complete, strict, and its override variant only relaxes requirements."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from compiler.resolve import schema


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(schema().doc)


def test_every_field_has_description_and_type() -> None:
    missing = [".".join(p) for p, node in schema().walk() if p[-1] != "[]" and ("description" not in node or "type" not in node)]
    assert missing == []


def test_every_object_rejects_unknown_keys() -> None:
    open_objects = [".".join(p) for p, node in schema().walk() if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False]
    assert open_objects == []


def test_leaf_fields_are_constrained() -> None:
    """Every string has an enum, a pattern or (free text such as extra args) a length bound;
    every number a range."""
    loose = []
    for path, node in schema().walk():
        t = node.get("type")
        if t == "string" and not ({"enum", "pattern", "const", "maxLength"} & set(node)):
            loose.append(".".join(path))
        if t in ("integer", "number") and not ({"enum", "minimum", "exclusiveMinimum"} & set(node) and {"enum", "maximum"} & set(node)):
            loose.append(".".join(path))
    assert loose == []


def test_layer_schema_relaxes_required_but_keeps_merge_keys() -> None:
    v = schema().layer_validator
    assert list(v.iter_errors({"serving": {"image": {"tag": "x"}}})) == []
    errs = list(v.iter_errors({"capacity": {"pools": [{"weight": 3}]}}))
    assert [e.message for e in errs] == ["'name' is a required property"]
    assert list(v.iter_errors({"serving": {"imag": {}}}))
