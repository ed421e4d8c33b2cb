"""compiler.verify.schema_cache: compiled checks kept across runs, and never trusted blindly.

A cached check that no longer matches its schema would accept what jsonschema refuses, so: a new
registry or validator (a new process, the next run) reads its checks from the cache and they
give the same verdicts; a changed CRD file, kube schema or generator is a new key; a damaged
entry is ignored and rewritten; ``MCOMPILE_NO_CACHE`` writes nothing.
"""

from __future__ import annotations

import hashlib
import marshal
import shutil
from pathlib import Path

import pytest

from compiler.verify import accept, schema_cache
from compiler.verify.crds import CrdRegistry
from compiler.verify.kube import KubeValidator
from tests.verify.test_crds import leaderworkerset, messages, nodepool


def _generated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts the schemas compiled from scratch (cache misses)."""
    calls: list[str] = []
    real = accept.check_source

    def counting(schema, resolve=None):
        calls.append("x")
        return real(schema, resolve)

    monkeypatch.setattr(accept, "check_source", counting)
    monkeypatch.setattr("compiler.verify.crd_compiled.check_source", counting)
    monkeypatch.setattr("compiler.verify.kube.check_source", counting)
    return calls


def _crd_file(crd_dir: Path, name: str) -> Path:
    return next(crd_dir.rglob(name))


def test_a_new_registry_reads_its_checks_from_the_cache(crd_dir, user_cache, monkeypatch):
    calls = _generated(monkeypatch)
    lws = _crd_file(crd_dir, "leaderworkerset.x-k8s.io_leaderworkersets.yaml")
    bad = leaderworkerset()
    bad["spec"]["replicas"] = "three"
    first = CrdRegistry.load([lws])
    assert first.validate(leaderworkerset()) == [] and messages(first.validate(bad))
    assert len(calls) == 1 and len(list(user_cache.glob("*.bin"))) == 2  # the file's CRD index and the kind's check
    second = CrdRegistry.load([lws])  # as in the next run
    assert second.validate(leaderworkerset()) == []
    compiled = second._compile("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
    assert not isinstance(compiled, str) and compiled.accepts is not None and compiled.rules is not None
    assert compiled._schema is None  # the JSON Schema is translated for jsonschema only when it is needed
    assert compiled._root is None  # and the CRD file is not even parsed while every value passes
    assert messages(second.validate(bad)) == messages(first.validate(bad)) and compiled._schema is not None
    assert len(calls) == 1  # nothing generated again


def test_a_changed_crd_file_is_a_new_key(crd_dir, user_cache, monkeypatch, tmp_path):
    calls = _generated(monkeypatch)
    copy = tmp_path / "crds" / "nodepools.yaml"
    copy.parent.mkdir()
    shutil.copy(_crd_file(crd_dir, "karpenter.sh_nodepools.yaml"), copy)
    assert CrdRegistry.load([copy]).validate(nodepool()) == []
    text = copy.read_text()
    assert "maxLength: 63" in text
    copy.write_text(text.replace("maxLength: 63", "maxLength: 2"))  # e.g. a CRD upgrade tightens a field
    refused = CrdRegistry.load([copy]).validate(nodepool())
    assert len(calls) == 2 and len(list(user_cache.glob("*.bin"))) == 6  # index, check and CEL bundle of each text
    assert any("too long" in m for m in messages(refused)), messages(refused)


def test_a_damaged_entry_is_ignored_and_rewritten(crd_dir, user_cache, monkeypatch):
    calls = _generated(monkeypatch)
    path = _crd_file(crd_dir, "karpenter.sh_nodepools.yaml")
    CrdRegistry.load([path]).validate(nodepool())
    entries = sorted(user_cache.glob("*.bin"))
    assert len(entries) == 3  # the file's CRD index, the kind's check, its CEL rules (cel_bundle)
    for entry in entries:
        good = entry.read_bytes()
        for damaged in (good[:-10], good[:40] + bytes([good[40] ^ 1]) + good[41:], b"", good[:32] + b"junk"):
            entry.write_bytes(damaged)
            registry = CrdRegistry.load([path])
            obj = nodepool()
            assert registry.validate(obj) == []
            obj["spec"]["weight"] = 1000
            assert messages(registry.validate(obj)) == ["1000 is greater than the maximum of 100"]
            raw = entry.read_bytes()  # rewritten whole
            assert len(raw) > 32 and hashlib.sha256(raw[32:]).digest() == raw[:32]
    assert len(calls) == 5  # the check generated once, and again for each damaged check entry
    assert CrdRegistry.load([path]).validate(nodepool()) == [] and len(calls) == 5  # the rewritten entries are read


def test_an_entry_that_does_not_load_counts_as_damaged(user_cache, monkeypatch):

    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}}
    assert accept.compile_check(schema)({"n": 3})
    [entry] = user_cache.glob("*.bin")
    body = marshal.dumps("not code")  # intact checksum, wrong content
    entry.write_bytes(hashlib.sha256(body).digest() + body)
    check = accept.compile_check(schema)
    assert check({"n": 3}) and not check({"n": 2})


def test_kube_checks_are_cached_and_keyed_by_schema_and_generator(user_cache, monkeypatch):
    calls = _generated(monkeypatch)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
                  "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    KubeValidator._cache.clear()
    try:
        assert KubeValidator().validate(deployment) == []
        KubeValidator._cache.clear()  # a new process
        assert KubeValidator().validate(deployment) == []
        assert len(calls) == 1
        paths = {schema_cache.entry_path(["kube", "x"])}
        schema_cache.code_digest.cache_clear()
        monkeypatch.setattr(schema_cache, "_FORMAT", "schema-checks/other")  # a changed generator
        paths.add(schema_cache.entry_path(["kube", "x"]))
        assert len(paths) == 2
        KubeValidator._cache.clear()
        deployment["spec"]["replicas"] = "2"
        assert KubeValidator().validate(deployment)[0].path == "spec.replicas"
        assert len(calls) == 2
    finally:
        schema_cache.code_digest.cache_clear()
        KubeValidator._cache.clear()


def test_schemas_are_keyed_by_content_and_resolver(user_cache):
    one = {"properties": {"a": {"enum": [1]}}}
    accept.compile_check(one)
    accept.compile_check({"properties": {"a": {"enum": [1.0]}}})  # equal in Python, not the same JSON
    accept.compile_check({"properties": {"a": {"enum": [True]}}})
    assert len(list(user_cache.glob("*.bin"))) == 3
    assert accept.compile_check(one)({"a": 1}) and not accept.compile_check({"properties": {"a": {"enum": [True]}}})({"a": 1})

    def resolver(defs):
        return lambda ref: defs[ref]

    integer, string = {"n": {"type": "integer"}}, {"n": {"type": "string"}}
    assert accept._cache_key(one, resolver(integer)) == accept._cache_key(one, resolver(dict(integer)))
    assert accept._cache_key(one, resolver(integer)) != accept._cache_key(one, resolver(string))  # what it closes over
    assert accept._cache_key(one, lambda ref, d=integer: d[ref]) is None  # defaults are not in the key: not cached
    assert accept._cache_key(one, resolver(object())) is None  # nor what JSON cannot write


def test_nothing_is_written_when_the_cache_is_off(crd_dir, user_cache, monkeypatch):
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    calls = _generated(monkeypatch)
    path = _crd_file(crd_dir, "karpenter.sh_nodepools.yaml")
    for _ in range(2):
        assert CrdRegistry.load([path]).validate(nodepool()) == []
    assert len(calls) == 2 and not user_cache.exists()


def test_the_cached_crd_index_answers_like_the_files(crd_dir, user_cache, monkeypatch):
    """Kinds, served versions and refusals from a registry whose file index comes from the cache."""
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    plain = CrdRegistry.load([crd_dir])
    expected = plain.kinds()
    monkeypatch.delenv("MCOMPILE_NO_CACHE")
    CrdRegistry.load([crd_dir]).kinds()  # writes the index of every file
    cached = CrdRegistry.load([crd_dir])
    assert cached.kinds() == expected and len(expected) > 20
    assert cached.parsed_files == plain.parsed_files
    bad = nodepool()
    bad["apiVersion"] = "karpenter.sh/v0"
    assert messages(cached.validate(bad)) == messages(plain.validate(bad))
    assert messages(cached.validate(bad))[0].startswith("NodePool version v0 is not served by the CRD (served: v1")


def test_the_code_keys_cover_every_compiler_module_their_sources_import() -> None:
    """The user-cache keys hash hand-listed source files (schema_cache._GENERATORS for compiled
    checks, cel_meta._SOURCES for CEL programs). A module one of them imports shapes what is
    cached too: it must be listed, else an edit to it would leave stale entries in every user's
    cache. (usercache only locates the directory.)"""
    import ast
    from pathlib import Path

    from compiler.verify import cel_meta

    here = Path(schema_cache.__file__).parent
    listed = {*schema_cache._GENERATORS, *cel_meta._SOURCES}
    missing = []
    for name in sorted(listed):
        for node in ast.walk(ast.parse((here / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                targets = [node.module] if node.module else [a.name for a in node.names]
                missing += [f"{name} imports {t}" for t in targets if f"{t.split('.')[0]}.py" not in listed]
            elif isinstance(node, ast.ImportFrom) and node.level == 2:
                targets = [node.module] if node.module else [a.name for a in node.names]
                missing += [f"{name} imports compiler.{t}" for t in targets if t != "usercache"]
    assert missing == []
