"""compiler.verify.crd_cel: a CEL rule compiled once (per process, or loaded from the caches of an
earlier process) gives exactly the outcome of a freshly compiled one evaluated by cel-python's
interpreter alone, on every value the shipped profiles (and mutations of them) bind it to."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from compiler.verify import cel_meta, crd_cel
from compiler.verify.crd_schema import apply_defaults, copy_json, iter_rule_nodes
from compiler.verify.crds import CrdRegistry
from tests.conftest import find_crd_dirs
from tests.shipped import REPO, compile_tier, shipped_profiles


def _fresh(rule: crd_cel.CelRule) -> crd_cel.CelRule:
    """The rule compiled from scratch (no in-process memo, no user cache): with
    :func:`crd_cel.interpret`, the reference."""
    saved, primed = crd_cel.cache_dir, dict(crd_cel.PRIMED)  # nor a kind's bundle (cel_bundle)
    try:
        crd_cel.cache_dir = lambda: None  # type: ignore[assignment]
        crd_cel.PRIMED.clear()
        return crd_cel._compile_rule.__wrapped__(rule.rule, rule.message, rule.field_path, rule.message_expression, False)
    finally:
        crd_cel.cache_dir = saved  # type: ignore[assignment]
        crd_cel.PRIMED.update(primed)


def _variants(value: Any) -> list[Any]:
    """The value and a few mutations of it (what another object of a fleet could hold)."""
    out = [value]
    if isinstance(value, dict) and value:
        first = next(iter(value))
        out.append({k: v for k, v in value.items() if k != first})
        out.append({**value, first: None})
        out.append({**value, first: "x"})
        out.append({**value, first: 1})
        out.append({**value, first: True})
    if isinstance(value, list) and value:
        out += [value[::-1], value[:1], [], value + value[:1], [*value, None]]
        if isinstance(value[0], dict) and value[0]:
            out.append([_variants(value[0])[1], *value[1:]])
    return out


@pytest.fixture(scope="module")
def pairs() -> list[tuple[crd_cel.CelRule, Any]]:
    """(rule, value) for every evaluated rule each shipped profile's objects reach, with mutations."""
    from compiler.pipeline import compile_env
    from compiler.resolve import Request

    registry = CrdRegistry.load(find_crd_dirs())
    out: list[tuple[crd_cel.CelRule, Any]] = []
    for stem in shipped_profiles():
        compiled = compile_tier(stem) if stem.startswith("tier") else compile_env(
            Request(REPO / "profiles" / f"{stem}.yaml", f"profiles/{stem}.yaml", "prod", (), ()))
        for obj in compiled.objects:
            if not registry.has(obj["apiVersion"], obj["kind"]):
                continue
            schema = registry._compile(obj["apiVersion"], obj["kind"])
            value = copy_json(obj)
            apply_defaults(value, schema.root)
            for _, node_value, node in iter_rule_nodes(schema.rules, value, []):
                for entry in node.rules:
                    rule = crd_cel.compiled(entry)
                    if rule.status == crd_cel.EVALUATED:
                        out += [(rule, v) for v in _variants(node_value)]
                        shipped.add((id(rule), id(out[-len(_variants(node_value))][1])))
    return out


#: (rule, value) ids of the unmutated values in ``pairs``.
shipped: set[tuple[int, int]] = set()


def test_a_reused_rule_gives_the_interpreters_outcome_on_every_value(pairs):
    assert len({id(r) for r, _ in pairs}) >= 30 and len(pairs) >= 500, len(pairs)
    fresh: dict[int, crd_cel.CelRule] = {}
    outcomes = {True: 0, False: 0}
    for rule, value in pairs + pairs[::-1]:  # the same program, values in both orders
        other = fresh.setdefault(id(rule), _fresh(rule))
        got = crd_cel.evaluate(rule, value)
        assert got == crd_cel.interpret(other, value), (rule.rule, value)
        if got.passed is not None:
            outcomes[got.passed] += 1
    assert outcomes[True] and outcomes[False], outcomes  # the mutations make rules fail too


def test_the_python_program_never_passes_what_the_interpreter_fails(pairs):
    """Only a ``true`` is taken from the compiled program: it must never pass a value the
    interpreter fails (it may refuse more: the interpreter then decides)."""
    passes = refused = 0
    for rule, value in pairs:
        if rule.fast is None:
            continue
        try:
            result = rule.fast(value)
        except Exception:  # noqa: BLE001 - a refusal
            result = None
        if result is True:
            passes += 1
            assert crd_cel.interpret(_fresh(rule), value).passed is True, (rule.rule, value)
        elif (id(rule), id(value)) in shipped and crd_cel.interpret(rule, value).passed:
            refused += 1  # (mutated values of the wrong type are refused more often)
    assert passes >= 300, passes  # the fast path is really taken...
    assert refused == 0, refused  # ...for every shipped value the interpreter passes


def test_every_evaluated_rule_of_the_shipped_profiles_has_a_python_program(pairs):
    rules = {r.rule: r for r, _ in pairs}
    assert sorted(t for t, r in rules.items() if r.fast is None) == []
    assert len(rules) >= 30, len(rules)


def test_compile_rule_returns_one_object_per_entry():
    spec = {"rule": "self.size() > 0", "message": "must not be empty"}
    assert crd_cel.compile_rule(dict(spec)) is crd_cel.compile_rule({**spec, "reason": "FieldValueInvalid"})
    assert crd_cel.compile_rule(spec) is not crd_cel.compile_rule({**spec, "message": "other"})


# --- caches across processes ---------------------------------------------------------------

@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    crd_cel._compile_rule.cache_clear()
    crd_cel.PRIMED.clear()  # nothing from a kind's bundle (cel_bundle) loaded by an earlier test
    yield tmp_path / "mcompile"
    crd_cel._compile_rule.cache_clear()


RULE = {"rule": "self.all(k, k.startsWith('a')) && size(self) <= 3", "message": "keys start with a"}


def test_another_process_reuses_the_rule_without_parsing(cache, monkeypatch):
    first = crd_cel.compile_rule(RULE)
    assert first.status == crd_cel.EVALUATED and first.fast is not None
    assert len(list((cache / "cel-py").glob("*.json"))) == 1
    crd_cel._compile_rule.cache_clear()  # as in a new process

    def no_parsing(*_: Any) -> Any:
        raise AssertionError("parsed again")

    monkeypatch.setattr(crd_cel, "_derive", no_parsing)
    again = crd_cel.compile_rule(RULE)
    assert again.fast is not None and again.self_fields == first.self_fields
    assert crd_cel.evaluate(again, {"ab": 1}) == crd_cel.CelOutcome(True, "")
    monkeypatch.undo()
    for value in ({"ab": 1}, {"b": 1}, {"a": 1, "aa": 2, "ab": 3, "ac": 4}, {}):
        assert crd_cel.evaluate(again, value) == crd_cel.evaluate(first, value)
    assert crd_cel.evaluate(again, {"b": 1}) == crd_cel.CelOutcome(False, "keys start with a")


def test_a_warm_process_does_not_import_cel_python(cache):
    crd_cel.compile_rule(RULE)  # warms the cache
    code = ("import sys; from compiler.verify import crd_cel; r = crd_cel.compile_rule(" + repr(RULE) + ");"
            "assert crd_cel.evaluate(r, {'ab': 1}).passed is True;"
            "print(sorted(m for m in ('celpy', 'lark', 'pendulum') if m in sys.modules))")
    env = {"XDG_CACHE_HOME": str(cache.parent), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out
    failing = code.replace("{'ab': 1}).passed is True", "{'b': 1}).passed is False")
    out = subprocess.run([sys.executable, "-c", failing], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert "celpy" in out.stdout  # a failure is decided by the interpreter, imported then


@pytest.mark.parametrize("damage", [b"", b"garbage", b"\0" * 32 + b"x", "valid digest, not an entry"])
def test_a_damaged_cache_entry_is_ignored_and_rewritten(cache, damage):
    import hashlib

    crd_cel.compile_rule(RULE)
    (path,) = (cache / "cel-py").glob("*.json")
    if isinstance(damage, str):
        body = b'{"status": "evaluated", "source": "def rule(v_self):\\n    return True\\n"}'
        damage = hashlib.sha256(body).digest() + body
    path.write_bytes(damage)
    crd_cel._compile_rule.cache_clear()
    rule = crd_cel.compile_rule(RULE)
    assert rule.status == crd_cel.EVALUATED
    assert crd_cel.evaluate(rule, {"b": 1}).passed is False
    assert crd_cel.evaluate(rule, {"a": 1}).passed is True
    data = path.read_bytes()
    assert hashlib.sha256(data[32:]).digest() == data[:32] and data != damage


def test_the_cache_key_changes_with_the_compilers_source(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    here = Path(cel_meta.__file__).parent
    for name in cel_meta._SOURCES:
        shutil.copy(here / name, tmp_path / name)
    monkeypatch.setattr(cel_meta, "__file__", str(tmp_path / "cel_meta.py"))
    cel_meta.code_key.cache_clear()
    try:
        before = cel_meta.entry_path(tmp_path, "self > 0", "", False)
        assert before == cel_meta.entry_path(tmp_path, "self > 0", "", False)
        assert before != cel_meta.entry_path(tmp_path, "self >= 0", "", False)
        assert before != cel_meta.entry_path(tmp_path, "self > 0", "'m'", False)
        with (tmp_path / "cel_rt.py").open("a") as f:
            f.write("# changed\n")
        cel_meta.code_key.cache_clear()
        assert cel_meta.entry_path(tmp_path, "self > 0", "", False) != before
    finally:
        cel_meta.code_key.cache_clear()


def test_no_cache_writes_nothing(cache, monkeypatch):
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    rule = crd_cel.compile_rule(RULE)
    assert crd_cel.evaluate(rule, {"a": 1}).passed is True
    assert not cache.exists() or not list(cache.rglob("*.json"))
