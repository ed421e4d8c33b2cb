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


def _mutations(value, limit: int = 120):
    """``value`` and single-point changes of it: a node replaced by a value of another type or an
    out-of-range number, an unknown key added, a key removed (deterministic, about ``limit``)."""
    import copy

    from compiler.load import walk

    odd = [None, "x", -1, 0, 10**9, 1.5, True, [], {}, [1], {"unknownKey": 1}, "", "UPPER case!"]
    specs = []
    for n, (path, node) in enumerate(walk(value)):
        if path:
            specs += [(path, "set", odd[(n + k) % len(odd)]) for k in range(3)]
        if isinstance(node, dict):
            specs.append((path, "add", None))
            if node:
                specs.append((path, "drop", next(iter(node))))
    out = [value]
    for path, op, arg in specs[:: max(1, len(specs) // limit)]:
        v = copy.deepcopy(value)
        target = v
        for part in path[:-1] if op == "set" else path:
            target = target[part]
        if op == "set":
            target[path[-1]] = arg
        elif op == "add":
            target["notAField"] = 1
        else:
            target.pop(arg)
        out.append(v)
    return out


def test_compiled_checks_agree_with_jsonschema_on_profiles_and_mutations() -> None:
    """The compiled accept-only checks (Schema.errors / layer_errors) never accept what
    jsonschema refuses, and accept the shipped profiles (else the fast path would be useless)."""
    from compiler.resolve import Request, resolve_all
    from compiler.validate import drop_nulls
    from tests.shipped import REPO

    s = schema()
    assert s._accepts is not None and s._layer_accepts is not None
    checked = {"full": [0, 0], "layer": [0, 0]}  # [accepted, refused]
    for tier in ("tier1", "tier2", "tier3"):
        path = REPO / "profiles" / f"{tier}.yaml"
        for r in resolve_all(Request(path, path.name, None, (), ())):
            values = {k: v for k, v in r.values.items() if k != "environments"}
            assert s._accepts(values), tier
            for kind, check, validator, base in (("full", s._accepts, s.validator, values), ("layer", s._layer_accepts, s.layer_validator, drop_nulls(values))):
                for v in _mutations(base):
                    ok = check(v)
                    assert not ok or not list(validator.iter_errors(v)), (kind, v)
                    errors = list(s.errors(v) if kind == "full" else s.layer_errors(v))
                    assert [(e.message, list(e.absolute_path)) for e in errors] == [(e.message, list(e.absolute_path)) for e in validator.iter_errors(v)]
                    checked[kind][0 if ok else 1] += 1
    assert all(a >= 10 and r >= 100 for a, r in checked.values()), checked


def test_the_shipped_schemas_checks_are_found_by_its_file_digest(tmp_path, monkeypatch) -> None:
    """Schema.load() keys its compiled checks by the schema file's bytes and schema.py: the next
    run (a new Schema) takes both from the user cache without relaxing or serialising the schema,
    and they give the verdicts of the checks compiled from the schema itself (Schema(doc), keyed
    by its JSON) on the shipped profiles and mutations of them."""
    from compiler import schema as schema_module
    from compiler.resolve import Request, resolve_all
    from compiler.schema import Schema, schema_key, schema_path
    from compiler.validate import drop_nulls
    from tests.shipped import REPO

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    first = Schema.load()
    assert first.key == schema_key(schema_path().read_bytes()) and first._accepts is not None and first._layer_accepts is not None

    def not_again(*args, **kwargs):
        raise AssertionError("built again, not read from the user cache")

    monkeypatch.setattr(schema_module, "relax", not_again)
    monkeypatch.setattr("compiler.verify.accept.check_source", not_again)
    cached = Schema.load()
    assert cached._accepts is not None and cached._layer_accepts is not None
    monkeypatch.undo()
    reference = Schema(cached.doc)  # no key: compiled from the schema (or its JSON's cache entry)
    compared = 0
    for tier in ("tier1", "tier2", "tier3"):
        path = REPO / "profiles" / f"{tier}.yaml"
        for r in resolve_all(Request(path, path.name, None, (), ())):
            values = {k: v for k, v in r.values.items() if k != "environments"}
            for v in [values, *_mutations(values, 60)]:
                assert cached._accepts(v) == reference._accepts(v), v
                compared += 1
            for v in [drop_nulls(values), *_mutations(drop_nulls(values), 60)]:
                assert cached._layer_accepts(v) == reference._layer_accepts(v), v
    assert compared > 100
    raw = schema_path().read_bytes()
    assert schema_key(raw.replace(b'"description"', b'"description" ', 1)) != schema_key(raw)  # any byte of the file is in the key
