"""Tests for :mod:`compiler.emit.variance`: ``_Walker.walk_mapping`` takes agreeing scalars and
same-keyed sub-mappings without a ``walk`` call; the analysis must equal (templates with their
key order, values, origins) the one made by the definition (every field through ``walk``), on
every shipped profile and on adversarial objects (knobs that agree, knobs that are mappings,
special keys with mapping values, mappings whose keys or types differ between environments)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from compiler.build import target_for
from compiler.emit import variance
from compiler.emit.layout import deployed_objects
from compiler.emit.variance import _path_child, _Walker, analyse
from compiler.pipeline import compile_resolved
from compiler.render.meta import ENV_LABEL, VERSION_LABEL
from compiler.resolve import resolve_all

REPO = Path(__file__).resolve().parents[2]


def _definition(self: _Walker, nodes: list[dict[str, Any]], path: list, text: str) -> dict[str, Any]:
    """walk_mapping as the module docstring defines it: every field through walk()."""
    return {k: self.walk([n[k] for n in nodes], path + [k], _path_child(text, k)) for k in nodes[0]}


def _fingerprint(objects_by_env: dict[str, list[dict[str, Any]]], name: str) -> str:
    a = analyse(objects_by_env, name)
    return repr(([(v.key, v.stem, v.alias, v.optional, v.template) for v in a.variants], a.values, sorted(a.origins.items())))


def _both(objects_by_env: dict[str, list[dict[str, Any]]], name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    fast = _fingerprint(objects_by_env, name)
    with monkeypatch.context() as m:
        m.setattr(variance._Walker, "walk_mapping", _definition)
        reference = _fingerprint(objects_by_env, name)
    return fast, reference


def test_every_shipped_profile_analysis_equals_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = sorted((REPO / "profiles").glob("*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        compiled = [compile_resolved(r) for r in resolve_all(target_for(path, REPO / "out", (), ()).request)]
        _, objects = deployed_objects(compiled)
        fast, reference = _both(objects, compiled[0].profile.name, monkeypatch)
        assert fast == reference, path.name


def _obj(kind: str, name: str, spec: Any, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "x/v1", "kind": kind, "metadata": {"name": name, "namespace": "ns", **meta}, "spec": spec}


def _envs() -> dict[str, list[dict[str, Any]]]:
    def env(e: str, n: int) -> list[dict[str, Any]]:
        return [
            _obj("Deployment", "p-d", {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "c", "image": "r.io/a/b:1.0", "imagePullPolicy": "IfNotPresent", "resources": {"limits": {"cpu": "1"}}}]}}},
                 labels={ENV_LABEL: e, VERSION_LABEL: "1.0", "same": "v"}),
            _obj("NodePool", "p-pool", {"limits": {"cpu": 100, "memory": "1Ti"}, "weight": [10], "template": {"spec": {"k": "v"}}}),
            _obj("ScaledObject", "p-so", {"advanced": {"scalingModifiers": {"target": "5", "formula": "a"}}, "minReplicaCount": 1,
                                          "cooldownPeriod": n, "triggers": [{"type": "prometheus", "metadata": {"q": "x"}}]}),
            _obj("Thing", "p-t", {
                "image": {"repository": "r.io/a"},  # special keys with mapping values
                ENV_LABEL: {"k": e}, VERSION_LABEL: {"v": 1},
                "same": {"a": {"b": [1, 2], "c": None, "d": 1.5}},
                "differs": {"a": {"b": n}},
                "keys": {"a": 1} if n == 1 else {"a": 1, "b": 2},  # same key, different keys below
                "typed": {"a": 1} if n == 1 else ["a"],  # a mapping in one environment only
                "ordered": OrderedDict(a=1) if n == 1 else {"a": 1},  # a dict subclass in one
                "truthy": {"t": True} if n == 1 else {"t": 1},  # equal values of different types
                "nan": {"f": float("nan")},
                "empty": {},
                "lists": {"same": [1, {"a": 1}, [2]], "differs": [n], "named": [{"name": "a", "v": n}], "empty": [],
                          "nan": [float("nan")], "typed": [1] if n == 1 else "1", "short": [{"name": "a"}] * n},
                "spec": {"replicas": 3},  # spec.spec.replicas: not a knob path
            }),
        ]
    return {"dev": env("dev", 1), "prod": env("prod", 2)}


def test_adversarial_analysis_equals_the_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = _envs()
    fast, reference = _both(objects, "p", monkeypatch)
    assert fast == reference
    # and with one environment (every field agrees)
    fast, reference = _both({"prod": objects["prod"]}, "p", monkeypatch)
    assert fast == reference


def test_agreeing_knobs_are_still_values() -> None:
    """Knobs are values even where the environments agree (also a mapping knob: NodePool limits)."""
    a = analyse(_envs(), "p")
    templates = {v.key[1]: v.template for v in a.variants}
    assert isinstance(templates["Deployment"]["spec"]["replicas"], variance.ValueRef)
    assert isinstance(templates["NodePool"]["spec"]["limits"], variance.ValueRef)
    assert isinstance(templates["NodePool"]["spec"]["weight"], variance.ValueRef)
    assert isinstance(templates["Thing"]["spec"]["lists"]["differs"], variance.ValueRef)
    assert templates["Thing"]["spec"]["lists"]["same"] == [1, {"a": 1}, [2]]
    assert isinstance(templates["ScaledObject"]["spec"]["advanced"]["scalingModifiers"]["target"], variance.ValueRef)
    assert templates["ScaledObject"]["spec"]["advanced"]["scalingModifiers"]["formula"] == "a"
    assert templates["Thing"]["spec"]["same"] == {"a": {"b": [1, 2], "c": None, "d": 1.5}}
    assert isinstance(templates["Thing"]["spec"]["differs"]["a"]["b"], variance.ValueRef)
