"""compiler.verify.cel_bundle: a kind's CEL rules kept in one user-cache entry. A rule from a
bundle must be the rule compiled from scratch (same facts, same verdict and message on the shipped
values and mutations of them); a warm registry reads no per-rule entry and compiles no source;
the key follows the CEL compiler's code key; a damaged entry is ignored and rewritten."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from compiler.verify import cel_bundle, cel_meta, cel_py, crd_cel, schema_cache
from compiler.verify.crds import CrdRegistry, _walk_rule_tree
from tests.verify.conftest import new_process as _new_process
from tests.verify.test_crd_cel import _fresh, _variants
from tests.verify.test_crds import messages, nodepool

KIND = ("karpenter.sh/v1", "NodePool")


def _bundle_entry(registry: CrdRegistry) -> Path:
    compiled = registry._compile(*KIND)
    assert not isinstance(compiled, str) and isinstance(compiled.cel, cel_bundle.CelBundle)
    path = schema_cache.entry_path(compiled.cel.parts)
    assert path is not None
    return path


def _reached(registry: CrdRegistry) -> list[crd_cel.CelRule]:
    compiled = registry._compile(*KIND)
    assert not isinstance(compiled, str)
    return [entry.get() for _, node in _walk_rule_tree(compiled.rules, []) for entry in node.rules if entry.ready()]


def _nodepools() -> list[dict[str, Any]]:
    bad = nodepool()
    bad["spec"]["template"]["metadata"]["labels"]["kubernetes.io/hostname"] = "n1"
    odd = nodepool()
    odd["spec"]["disruption"] = {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never", "budgets": [{"nodes": "10%"}]}
    return [nodepool(), bad, odd]


def test_a_warm_registry_takes_its_rules_from_the_bundle(crd_dir, user_cache, monkeypatch) -> None:
    path = next(crd_dir.rglob("karpenter.sh_nodepools.yaml"))
    first = CrdRegistry.load([path])
    verdicts = [messages(first.validate(o)) for o in _nodepools()]
    assert verdicts[0] == [] and verdicts[1] == ['label "kubernetes.io/hostname" is restricted']
    assert _bundle_entry(first).exists()
    rules = {r.rule: r for r in _reached(first)}
    assert len(rules) >= 10
    _new_process()

    def no_compiling(*_: Any) -> Any:
        raise AssertionError("read or compiled again")

    monkeypatch.setattr(cel_meta, "load", no_compiling)
    monkeypatch.setattr(cel_py, "compile_program", no_compiling)
    warm = CrdRegistry.load([path])
    assert [messages(warm.validate(o)) for o in _nodepools()] == verdicts
    again = {r.rule: r for r in _reached(warm)}
    assert again.keys() == rules.keys() and crd_cel.COMPILED == {}
    monkeypatch.undo()
    for text, rule in again.items():  # the bundled rule is the rule compiled from scratch
        fresh = _fresh(rule)
        assert (rule.status, rule.reason, rule.self_fields, rule.per_element, rule.message) == \
            (fresh.status, fresh.reason, fresh.self_fields, fresh.per_element, fresh.message), text
        assert (rule.fast is None) == (fresh.fast is None), text


def test_bundled_programs_give_the_reference_verdicts(crd_dir, user_cache) -> None:
    """Every rule the shipped NodePools reach, from the bundle, on their values and mutations:
    the fast path never passes what cel-python's interpreter (the reference) fails."""
    from compiler.verify.crd_schema import iter_rule_nodes

    path = next(crd_dir.rglob("karpenter.sh_nodepools.yaml"))
    CrdRegistry.load([path]).validate(nodepool())
    _new_process()
    warm = CrdRegistry.load([path])
    warm.validate(nodepool())
    compiled = warm._compile(*KIND)
    assert not isinstance(compiled, str)
    checked = 0
    for _, value, node in iter_rule_nodes(compiled.rules, compiled.prepare(nodepool()), []):
        for entry in node.rules:
            if not entry.ready():
                continue
            rule = entry.get()
            assert crd_cel.rule_key(entry.spec) in crd_cel.PRIMED
            if rule.status != crd_cel.EVALUATED:  # transition rules never run on create
                assert (rule.status, rule.reason) == (_fresh(rule).status, _fresh(rule).reason)
                continue
            for variant in _variants(value):
                fast = crd_cel.evaluate(rule, variant)
                reference = crd_cel.interpret(_fresh(rule), variant)
                assert fast == reference or (fast.passed is None and reference.passed is None), (rule.rule, variant)
                checked += 1
    assert checked > 30


def test_the_key_follows_the_cel_code_key(crd_dir, user_cache, monkeypatch) -> None:
    path = next(crd_dir.rglob("karpenter.sh_nodepools.yaml"))
    first = CrdRegistry.load([path])
    first.validate(nodepool())
    entry = _bundle_entry(first)
    _new_process()
    monkeypatch.setattr(cel_meta, "code_key", lambda: "another cel-python")
    other = CrdRegistry.load([path])
    other.validate(nodepool())
    assert _bundle_entry(other) != entry and crd_cel.PRIMED == {} and crd_cel.COMPILED  # compiled, not bundled


@pytest.mark.parametrize("damage", ["garbage", "wrong shape", "code without source"])
def test_a_damaged_bundle_is_ignored_and_rewritten(crd_dir, user_cache, damage) -> None:
    path = next(crd_dir.rglob("karpenter.sh_nodepools.yaml"))
    first = CrdRegistry.load([path])
    first.validate(nodepool())
    entry = _bundle_entry(first)
    records = schema_cache.read(first._compile(*KIND).cel.parts)  # type: ignore[union-attr]
    if damage == "garbage":
        entry.write_bytes(b"\0" * 40)
    else:
        if damage == "wrong shape":
            records[0] = records[0][:5]
        else:
            records[0][7] = None  # a program whose source is gone
            records[0][8] = compile("def rule(v_self):\n    return True\n", "<cel>", "exec")
        import marshal

        body = marshal.dumps(records)
        entry.write_bytes(hashlib.sha256(body).digest() + body)
    _new_process()
    again = CrdRegistry.load([path])
    bad = nodepool()
    bad["spec"]["template"]["metadata"]["labels"]["kubernetes.io/hostname"] = "n1"
    assert messages(again.validate(bad)) == ['label "kubernetes.io/hostname" is restricted']
    assert crd_cel.PRIMED == {} and crd_cel.COMPILED  # nothing taken from the damaged entry
    rewritten = schema_cache.read(again._compile(*KIND).cel.parts)  # type: ignore[union-attr]
    assert cel_bundle._records(rewritten) and len(rewritten) >= len(crd_cel.COMPILED)


def test_no_bundle_without_the_cache(crd_dir, user_cache, monkeypatch) -> None:
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    path = next(crd_dir.rglob("karpenter.sh_nodepools.yaml"))
    reg = CrdRegistry.load([path])
    assert reg.validate(nodepool()) == []
    assert not user_cache.exists()
