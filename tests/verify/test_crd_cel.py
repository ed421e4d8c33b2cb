"""compiler.verify.crd_cel: a CEL rule compiled once (per process, or loaded from the parse-tree
cache of an earlier process) gives exactly the outcome of a freshly compiled one, on every value."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.verify import crd_cel
from compiler.verify.crd_schema import apply_defaults, copy_json, iter_rule_nodes
from tests.shipped import compile_tier


def _fresh(rule: crd_cel.CelRule) -> crd_cel.CelRule:
    """The rule compiled from scratch (no in-process memo, no parse-tree cache), evaluated by
    cel-python's interpreter alone (no transpiled fast path): the reference."""
    env = crd_cel._env()
    saved = crd_cel.cache_dir
    try:
        crd_cel.cache_dir = lambda: None  # type: ignore[assignment]
        fresh = crd_cel._compile_rule.__wrapped__(rule.rule, rule.message, rule.field_path, "", False)
        fresh.fast.extend([crd_cel.TRANSPILE_AFTER, None])
        return fresh
    finally:
        crd_cel.cache_dir = saved  # type: ignore[assignment]
        assert env is crd_cel._env()


def _variants(value: Any) -> list[Any]:
    """The value and a few mutations of it (what another object of a fleet could hold)."""
    out = [value]
    if isinstance(value, dict) and value:
        first = next(iter(value))
        out.append({k: v for k, v in value.items() if k != first})
        out.append({**value, first: None})
        out.append({**value, first: "x"})
    if isinstance(value, list) and value:
        out += [value[::-1], value[:1], [], value + value[:1]]
    return out


def _rule_values(registry) -> list[tuple[crd_cel.CelRule, Any]]:
    pairs = []
    for tier in ("tier1", "tier2", "tier3"):
        for obj in compile_tier(tier).objects:
            if not registry.has(obj["apiVersion"], obj["kind"]):
                continue
            compiled = registry._compile(obj["apiVersion"], obj["kind"])
            value = copy_json(obj)
            apply_defaults(value, compiled.root)
            for _, node_value, node in iter_rule_nodes(compiled.rules, value, []):
                for rule in node.rules:
                    if rule.status == crd_cel.EVALUATED:
                        pairs += [(rule, v) for v in _variants(node_value)]
    return pairs


def test_a_reused_program_gives_the_fresh_programs_outcome_on_every_value(registry):
    pairs = _rule_values(registry)
    assert len({id(r) for r, _ in pairs}) >= 10 and len(pairs) >= 100, len(pairs)
    fresh: dict[int, crd_cel.CelRule] = {}
    outcomes = {True: 0, False: 0}
    for rule, value in pairs + pairs[::-1]:  # the same program, values in both orders
        other = fresh.setdefault(id(rule), _fresh(rule))
        got, want = crd_cel.evaluate(rule, value), crd_cel.evaluate(other, value)
        assert got == want, (rule.rule, value)
        if got.passed is not None:
            outcomes[got.passed] += 1
    assert outcomes[True] and outcomes[False], outcomes  # the mutations make rules fail too


def test_the_transpiled_program_never_passes_what_the_interpreter_fails(registry):
    """Only a pass is taken from the transpiled program: it must never pass a value the
    interpreter fails (it may fail more: the interpreter then decides)."""
    pairs = _rule_values(registry)
    passes = 0
    for rule, value in pairs:
        program = crd_cel._fast_program(rule, now=True)
        if program is None:
            continue
        activation = {"self": crd_cel.celpy.json_to_cel(value)}
        if crd_cel._fast_passes(program, activation):
            passes += 1
            assert crd_cel.evaluate(_fresh(rule), value).passed is True, (rule.rule, value)
    assert passes >= 100, passes  # the fast path is really taken


def test_compile_rule_returns_one_object_per_entry():
    spec = {"rule": "self.size() > 0", "message": "must not be empty"}
    assert crd_cel.compile_rule(dict(spec)) is crd_cel.compile_rule({**spec, "reason": "FieldValueInvalid"})
    assert crd_cel.compile_rule(spec) is not crd_cel.compile_rule({**spec, "message": "other"})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    crd_cel._compile_rule.cache_clear()
    yield tmp_path / "mcompile" / "cel-ast"
    crd_cel._compile_rule.cache_clear()


RULE = {"rule": "self.all(k, k.startsWith('a')) && size(self) <= 3", "message": "keys start with a"}


def test_another_process_reuses_the_parse_tree(cache, monkeypatch):
    first = crd_cel.compile_rule(RULE)
    assert first.status == crd_cel.EVALUATED
    assert len(list(cache.glob("*.pickle"))) == 1
    crd_cel._compile_rule.cache_clear()  # as in a new process

    def no_parsing(text: str) -> Any:
        raise AssertionError("parsed again")

    monkeypatch.setattr(crd_cel._env(), "compile", no_parsing)
    again = crd_cel.compile_rule(RULE)
    for value in ({"ab": 1}, {"b": 1}, {"a": 1, "aa": 2, "ab": 3, "ac": 4}, {}):
        assert crd_cel.evaluate(again, value) == crd_cel.evaluate(first, value)
    assert not crd_cel.evaluate(again, {"b": 1}).passed


@pytest.mark.parametrize("damage", [b"", b"garbage", b"\0" * 32 + b"x", "valid digest, not a tree"])
def test_a_damaged_cache_file_is_ignored_and_rewritten(cache, damage):
    import hashlib
    import pickle

    crd_cel.compile_rule(RULE)
    (path,) = cache.glob("*.pickle")
    if isinstance(damage, str):
        body = pickle.dumps(damage)
        damage = hashlib.sha256(body).digest() + body
    path.write_bytes(damage)
    crd_cel._compile_rule.cache_clear()
    rule = crd_cel.compile_rule(RULE)
    assert rule.status == crd_cel.EVALUATED
    assert crd_cel.evaluate(rule, {"b": 1}).passed is False
    assert crd_cel.evaluate(rule, {"a": 1}).passed is True
    data = path.read_bytes()
    assert hashlib.sha256(data[32:]).digest() == data[:32] and data != damage
