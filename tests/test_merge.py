"""Merge rules and precedence, one row each (see the rules in compiler/merge.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from compiler.load import parse_text
from compiler.merge import merge_layers
from compiler.resolve import Request, resolve, schema

BASE = "serving:\n  image: {repository: r, tag: a}\n  extraArgs: [--x, --y]\n  env:\n    - {name: A, value: '1'}\n    - {name: B, value: '2'}\ncapacity:\n  pools:\n    - {name: baseline, role: baseline, weight: 100}\n    - {name: burst, role: burst, weight: 50}\n"

RULES = [
    ("maps deep-merge", "serving:\n  image: {tag: b}\n", ["serving", "image"], {"repository": "r", "tag": "b"}),
    ("lists replace", "serving:\n  extraArgs: [--z]\n", ["serving", "extraArgs"], ["--z"]),
    ("named list merges by key", "serving:\n  env:\n    - {name: B, value: '3'}\n", ["serving", "env"], [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]),
    ("named list appends new items", "serving:\n  env:\n    - {name: C, value: '4'}\n", ["serving", "env"], [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "4"}]),
    ("named list item deep-merges", "capacity:\n  pools:\n    - {name: burst, weight: 10}\n", ["capacity", "pools", 1], {"name": "burst", "role": "burst", "weight": 10}),
    ("null deletes a key", "serving:\n  image: {tag: null}\n", ["serving", "image"], {"repository": "r"}),
    ("null deletes a subtree", "serving:\n  env: null\n", ["serving"], {"image": {"repository": "r", "tag": "a"}, "extraArgs": ["--x", "--y"]}),
    ("null inside a new subtree is dropped", "monitoring: {enabled: true, namespace: null}\n", ["monitoring"], {"enabled": True}),
    ("scalar replaces a map", "serving:\n  image: plain\n", ["serving", "image"], "plain"),
    ("map replaces a scalar", "serving:\n  extraArgs: {a: 1}\n", ["serving", "extraArgs"], {"a": 1}),
]


def _get(v, path):
    for p in path:
        v = v[p]
    return v


@pytest.mark.parametrize("name,upper,path,expected", RULES, ids=[r[0] for r in RULES])
def test_merge_rule(name, upper, path, expected) -> None:
    lower = parse_text(BASE, "lower.yaml", "profile")
    top = parse_text(upper, "upper.yaml", "override")
    lower_before = copy.deepcopy(lower.data)
    top_before = copy.deepcopy(top.data)
    merged = merge_layers([lower, top], schema())
    assert _get(merged.values, path) == expected
    assert lower.data == lower_before and top.data == top_before  # inputs never mutated


def test_provenance_points_at_the_layer_that_set_each_leaf() -> None:
    lower = parse_text(BASE, "lower.yaml", "profile")
    top = parse_text("capacity:\n  pools:\n    - {name: burst, weight: 10}\n", "upper.yaml", "override")
    m = merge_layers([lower, top], schema())
    assert str(m.source(["capacity", "pools", 1, "weight"])) == "upper.yaml:3:21"
    assert str(m.source(["capacity", "pools", 1, "role"])) == "lower.yaml:10:21"
    assert m.source(["capacity", "pools", 1, "weight"]).layer == "override"


PROFILE = """\
apiVersion: mcompile.io/v1alpha1
kind: InferenceProfile
metadata: {name: demo, namespace: inference}
tier: tier2
model: {id: m/x, source: s3://bucket-a/x/, parametersB: 70, precision: fp8, maxContext: 8192}
workload: {inputTokens: 100, outputTokens: 100, targetRPS: 1, slo: {e2eSeconds: 10}, pattern: steady}
serving:
  image: {repository: vllm/vllm-openai, tag: from-profile}
  parallelism: {tensor: 4}
capacity:
  provisioner: karpenter
  clusterName: c
  nodeRole: r
  pools:
    - {name: baseline, role: baseline, capacityType: [on-demand], instanceTypes: [g6e.12xlarge]}
gitops:
  repoURL: https://git.example/r.git
  destinations: [{name: c-dev, server: "https://dev.example", environment: dev}, {name: c-prod, server: "https://prod.example", environment: prod}]
environments:
  prod:
    serving: {image: {tag: from-env}}
"""

LEVELS = [
    ("tier default", [], [], None, "v0.28.0", "compiler/defaults/common.yaml"),
    ("profile", [], [], "dev", "from-profile", "p.yaml"),
    ("environment", [], [], "prod", "from-env", "p.yaml"),
    ("override file", ["o1.yaml"], [], "prod", "from-o1", "o1.yaml"),
    ("later override file", ["o1.yaml", "o2.yaml"], [], "prod", "from-o2", "o2.yaml"),
    ("--set", ["o1.yaml", "o2.yaml"], ["serving.image.tag=from-set"], "prod", "from-set", "--set"),
    ("later --set", ["o1.yaml"], ["serving.image.tag=s1", "serving.image.tag=s2"], "prod", "s2", "--set"),
]


@pytest.mark.parametrize("name,overrides,sets,env,tag,origin", LEVELS, ids=[x[0] for x in LEVELS])
def test_precedence(tmp_path: Path, name, overrides, sets, env, tag, origin) -> None:
    text = PROFILE
    if name == "tier default":
        text = text.replace("  image: {repository: vllm/vllm-openai, tag: from-profile}\n", "").replace("    serving: {image: {tag: from-env}}\n", "    {}\n")
        env = "prod"
    if env == "dev":
        text = text.replace("environments:\n  prod:", "environments:\n  dev: {}\n  prod:")
    (tmp_path / "p.yaml").write_text(text)
    (tmp_path / "o1.yaml").write_text("serving: {image: {tag: from-o1}}\n")
    (tmp_path / "o2.yaml").write_text("serving: {image: {tag: from-o2}}\n")
    r = resolve(Request(tmp_path / "p.yaml", "p.yaml", env, tuple(tmp_path / o for o in overrides), tuple(sets)))
    assert r.values["serving"]["image"]["tag"] == tag
    src = r.merged.source(["serving", "image", "tag"])
    assert src.file.endswith(origin)


def test_set_selects_named_item() -> None:
    from compiler.setflags import parse_set

    layer = parse_set("capacity.pools[burst].weight=20", 1, schema())
    assert layer.data == {"capacity": {"pools": [{"weight": 20, "name": "burst"}]}}


# --- the fast merge against deepmerge (the reference) -------------------------------------------

def _reference_merge(layers, sch):
    """The merge as it ran on deepmerge (mutating fresh wrapped copies), kept as the reference for
    :func:`compiler.merge.merge_layers` (no mutation, shared subtrees, the tier defaults merged
    once per tier)."""
    from deepmerge import Merger

    from compiler.merge import LDict, Leaf, LList, _strip_nulls, _unwrap, wrap

    def is_null(v):
        return isinstance(v, Leaf) and v.value is None

    def item_key(item, key):
        return item[key].value if isinstance(item, LDict) and isinstance(item.get(key), Leaf) else None

    def dicts(merger, path, base, nxt):
        for key, value in nxt.items():
            if is_null(value):
                base.pop(key, None)
            elif key in base:
                base[key] = merger.value_strategy(path + [key], base[key], value)
            else:
                base[key] = _strip_nulls(value)
        base.sources.extend(nxt.sources)
        return base

    def lists(merger, path, base, nxt):
        key = sch.merge_key(path)
        if key is None:
            return _strip_nulls(nxt)
        index = {item_key(item, key): i for i, item in enumerate(base)}
        out = LList(base, source=nxt.source)
        for item in nxt:
            k = item_key(item, key)
            if k is not None and k in index:
                out[index[k]] = merger.value_strategy(path + [index[k]], out[index[k]], item)
            elif not is_null(item):
                index[k] = len(out)
                out.append(_strip_nulls(item))
        return out

    merger = Merger([(LDict, dicts), (LList, lists)], ["override"], ["override"])
    acc = LDict()
    for layer in layers:
        acc = merger.merge(acc, wrap(layer))
    return _unwrap(acc)


def _layers_of(path: Path, env: str | None, overrides=(), sets=()):
    """The layers resolve() merges for one environment (captured from the real resolve)."""
    import compiler.resolve as res

    seen = []
    real = res.merge_layers

    def spy(layers, sch, start=None):
        seen.append((list(layers), start))
        return real(layers, sch, start)

    res.merge_layers = spy
    try:
        r = resolve(Request(path, path.name, env, tuple(overrides), tuple(sets)))
    finally:
        res.merge_layers = real
    (layers, start), = seen
    tier = r.values["tier"]
    assert start is res._defaults_tree(tier)  # the shipped profiles take the cached defaults
    return [*res._defaults(tier), *layers], r


def _assert_same_merge(path: Path, env: str | None, overrides=(), sets=()) -> None:
    layers, r = _layers_of(path, env, overrides, sets)
    ref = _reference_merge(layers, schema())
    fast = merge_layers(layers, schema())
    assert fast.values == ref.values and fast.provenance == ref.provenance
    assert list(fast.provenance) == list(ref.provenance)  # (the same walk order, too)
    assert r.merged.provenance == ref.provenance  # what resolve() kept: over the cached defaults


def test_fast_merge_equals_deepmerge_on_every_shipped_profile() -> None:
    from tests.shipped import REPO, shipped_envs

    pairs = shipped_envs()
    assert len(pairs) >= 9
    for stem, env in pairs:
        _assert_same_merge(REPO / "profiles" / f"{stem}.yaml", env)


def test_fast_merge_equals_deepmerge_on_a_generated_fleet(tmp_path: Path) -> None:
    import yaml

    from bench.fleet import write_fleet

    for path in write_fleet(tmp_path / "profiles", 12):
        for env in sorted(yaml.safe_load(path.read_text())["environments"]):
            _assert_same_merge(path, env)


def test_fast_merge_equals_deepmerge_with_overrides_sets_nulls_and_type_conflicts(tmp_path: Path) -> None:
    """Every rule at once over the real tier defaults: a null deleting a default subtree, a map
    replacing a list and a scalar replacing a map (type conflicts: the upper node is taken as
    it is, nulls and all), keyed lists merged by name, and the layers after it merging into
    what a type conflict took."""
    (tmp_path / "p.yaml").write_text(PROFILE)
    layers, _ = _layers_of(tmp_path / "p.yaml", "prod")
    layers += [parse_text("serving:\n  image: {tag: o1, digest: null}\n  env:\n    - {name: X, value: '1'}\n"
                          "capacity:\n  pools:\n    - {name: baseline, weight: 7, limits: null}\n    - {name: new, role: burst, instanceTypes: [p5.48xlarge]}\n"
                          "monitoring: {dashboards: null}\n", "o1.yaml", "override"),
               parse_text("serving:\n  env:\n    - {name: X, value: '2'}\n    - null\n    - {name: Y, value: null}\n", "o2.yaml", "override")]
    c1, c2, c3 = (parse_text("serving:\n  image:\n    tag: {x: 1, y: null}\n", "c1.yaml", "override"),
                  parse_text("serving:\n  image: plain\n", "c2.yaml", "override"),
                  parse_text("serving:\n  image:\n    tag: {z: 2, x: null}\n", "c3.yaml", "override"))
    for tail in ([], [c1], [c1, c3], [c1, c2], [c1, c2, c3], [c2, c1, c3]):
        ref = _reference_merge([*layers, *tail], schema())
        fast = merge_layers([*layers, *tail], schema())
        assert fast.values == ref.values and fast.provenance == ref.provenance
        if tail == [c1]:  # a type conflict takes the upper map whole, its null too
            assert fast.values["serving"]["image"]["tag"] == {"x": 1, "y": None}
        if tail == [c1, c3]:  # ... and a later layer merges into it
            assert fast.values["serving"]["image"]["tag"] == {"y": None, "z": 2}
