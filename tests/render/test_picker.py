"""The endpoint picker (compiler/render/picker.py), proved against the upstream llm-d router v0.10.0
chart: the real ``helm template`` of ../shared/upstream/charts/llm-d-router-gateway with values
equivalent to our profile, compared on the essentials (image, args, ports, RBAC rules, plugin
config, Service). Plugin names come from the upstream plugin READMEs and docs, not from us."""

from __future__ import annotations

import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.render import picker
from compiler.toolchain import run_tool
from compiler.verify.kube import KubeValidator
from tests.conftest import REPO
from tests.render.test_vllm import compiled, ctx_of, matches, objects, one
from tests.shipped import shipped_envs

UPSTREAM = REPO.parent / "shared" / "upstream"
CHART = UPSTREAM / "charts" / "llm-d-router-gateway"
ROUTER_DOCS = UPSTREAM / "llm-d" / "llm-d-router"


def ours(tier: str, *sets: str) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in picker.render(ctx_of(compiled(tier, *sets)))}


@cache
def upstream(tier: str, *sets: str) -> tuple[dict[str, Any], ...]:
    """helm template of the upstream chart with our pool, image, plugin config and flags."""
    c = compiled(tier, *sets)
    mine = ours(tier, *sets)
    img = c.profile.path.routing.picker_image
    registry, _, repository = img.repository.rpartition("/")
    pool_sel = objects(c, "InferencePool")[0]["spec"]["selector"]["matchLabels"]
    values = {
        "provider": {"name": "istio"},
        "router": {
            "modelServers": {"matchLabels": pool_sel, "type": c.profile.serving.engine},
            "epp": {"image": {"registry": registry, "repository": repository, "tag": img.tag, "pullPolicy": "IfNotPresent"},
                    "pluginsConfigFile": picker.CONFIG_FILE,
                    "pluginsCustomConfig": {picker.CONFIG_FILE: mine["ConfigMap"]["data"][picker.CONFIG_FILE]},
                    "flags": {"secure-serving": False}},
            "monitoring": {"prometheus": {"auth": {"enabled": False}}},
        },
    }
    vf = Path(tempfile.mkdtemp()) / "values.yaml"
    vf.write_text(yaml.safe_dump(values))
    r = run_tool("helm", ["template", c.profile.name, str(CHART), "-n", c.profile.namespace, "-f", str(vf)])
    assert r.returncode == 0, r.stderr
    return tuple(d for d in yaml.safe_load_all(r.stdout) if d)


def up(tier: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in upstream(tier) if d["kind"] == kind]


@pytest.mark.parametrize("tier", ["tier2", "tier3"])
def test_same_names_image_and_args_as_the_upstream_chart(tier: str) -> None:
    mine = ours(tier)
    (dep,) = up(tier, "Deployment")
    theirs = dep["spec"]["template"]["spec"]["containers"][0]
    cn = mine["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert mine["Deployment"]["metadata"]["name"] == dep["metadata"]["name"] == compiled(tier).profile.serving.endpoint_picker
    assert cn["image"] == theirs["image"] and cn["image"].endswith(":v0.10.0")
    # ours names the pod's namespace through the downward API; upstream prints the release's
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in cn["env"] if "valueFrom" in e}
    assert env["NAMESPACE"] == "metadata.namespace"
    ns = compiled(tier).profile.namespace
    assert [ns if a == "$(NAMESPACE)" else a for a in cn["args"]] == [str(a) for a in theirs["args"]]
    assert [(p["name"], p["containerPort"]) for p in cn["ports"]] == [(p["name"], p["containerPort"]) for p in theirs["ports"]]
    assert cn["livenessProbe"]["grpc"] == theirs["livenessProbe"]["grpc"] and cn["readinessProbe"]["grpc"] == theirs["readinessProbe"]["grpc"]
    assert [e["name"] for e in cn["env"]] == [e["name"] for e in theirs["env"]]
    assert dep["spec"]["replicas"] == mine["Deployment"]["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == mine["Deployment"]["spec"]["strategy"]


@pytest.mark.parametrize("tier", ["tier2", "tier3"])
def test_same_rbac_rules_and_service_ports_as_the_upstream_chart(tier: str) -> None:
    mine = ours(tier)

    def rules(rs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
        return {(g, r, v) for rule in rs for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}

    assert rules(mine["Role"]["rules"]) == rules([r for role in up(tier, "Role") for r in role["rules"]])
    (svc,) = up(tier, "Service")
    assert mine["Service"]["metadata"]["name"] == svc["metadata"]["name"]
    strip = [{k: p[k] for k in ("name", "port", "protocol", "appProtocol") if k in p} for p in svc["spec"]["ports"]]
    assert [{k: p[k] for k in ("name", "port", "protocol", "appProtocol") if k in p} for p in mine["Service"]["spec"]["ports"]] == strip


def test_plugin_config_without_disaggregation_is_the_upstream_default() -> None:
    """tier2 with the default weights: exactly the chart's default-plugins.yaml."""
    (cm,) = up("tier2", "ConfigMap")
    assert yaml.safe_load(ours("tier2")["ConfigMap"]["data"][picker.CONFIG_FILE]) == yaml.safe_load(cm["data"]["default-plugins.yaml"])


def test_plugin_config_for_sglang_is_the_upstream_default_of_an_sglang_pool() -> None:
    """tier2-sglang: exactly the chart's default-plugins.yaml for router.modelServers.type sglang
    (core-metrics-extractor with defaultEngine sglang), and the pods carry llm-d.ai/engine-type."""
    (cm,) = up("tier2-sglang", "ConfigMap")
    theirs = yaml.safe_load(cm["data"]["default-plugins.yaml"])
    assert {"type": "core-metrics-extractor", "parameters": {"defaultEngine": "sglang"}} in theirs["plugins"]
    assert yaml.safe_load(ours("tier2-sglang")["ConfigMap"]["data"][picker.CONFIG_FILE]) == theirs


def test_scorer_weights_come_from_the_profile() -> None:
    cfg = yaml.safe_load(ours("tier2", "routing.scorers.prefixCache=7", "routing.scorers.queueDepth=0")["ConfigMap"]["data"][picker.CONFIG_FILE])
    (profile,) = cfg["schedulingProfiles"]
    assert {p["pluginRef"]: p["weight"] for p in profile["plugins"]} == {"kv-cache-utilization-scorer": 2, "prefix-cache-scorer": 7}
    assert "queue-scorer" not in {p["type"] for p in cfg["plugins"]}


def documented_plugin_types() -> set[str]:
    text = "\n".join(p.read_text() for p in ROUTER_DOCS.rglob("*.md"))
    return set(re.findall(r"\*\*Type:\*\*\s*`([a-z0-9-]+)`", text)) | set(re.findall(r"- type: ([a-z0-9-]+)", text))


@pytest.mark.parametrize("sets", [(), ("routing.roleLabel=example.com/role",)])
def test_disaggregated_config_uses_documented_plugins_only(sets: tuple[str, ...]) -> None:
    cfg = yaml.safe_load(ours("tier3", *sets)["ConfigMap"]["data"][picker.CONFIG_FILE])
    known = documented_plugin_types()
    assert {"prefill-filter", "decode-filter", "disagg-profile-handler", "prefix-based-pd-decider"} <= known  # the docs were read
    declared = {p.get("name", p["type"]) for p in cfg["plugins"]}
    assert {p["type"] for p in cfg["plugins"]} <= known
    handler = next(p for p in cfg["plugins"] if p["type"] == "disagg-profile-handler")
    assert handler["parameters"]["deciders"]["prefill"] in declared
    assert sorted(p["name"] for p in cfg["schedulingProfiles"]) == ["decode", "prefill"]
    for prof in cfg["schedulingProfiles"]:
        refs = [p["pluginRef"] for p in prof["plugins"]]
        assert set(refs) <= declared and "prefix-cache-scorer" in refs  # required in both (disagg README)
    if sets:  # a configured key: the generic label filter on that key
        pre = next(p for p in cfg["plugins"] if p.get("name") == "prefill-pods")
        assert pre["type"] == "label-selector-filter"
        assert pre["parameters"]["matchExpressions"] == [{"key": "example.com/role", "operator": "In", "values": ["prefill"]}]


@pytest.mark.parametrize("tier", ["tier2", "tier3"])
def test_service_is_what_the_pool_points_at_and_selects_the_picker(tier: str, kube: KubeValidator) -> None:
    c = compiled(tier)
    (pool,) = objects(c, "InferencePool")
    ref = pool["spec"]["endpointPickerRef"]
    svc = one(c, "Service", ref["name"])
    assert ref["port"]["number"] in [p["port"] for p in svc["spec"]["ports"]]
    dep = one(c, "Deployment", ref["name"])
    assert matches(svc["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
    for obj in ours(tier).values():
        assert kube.validate(obj) == []


def test_hardened_non_root_pod_and_pinned_image() -> None:
    dep = ours("tier2")["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] >= 10000
    cn = pod["containers"][0]
    assert cn["securityContext"]["readOnlyRootFilesystem"] and cn["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert not cn["image"].endswith((":main", ":latest"))
    assert cn["resources"]["limits"]["cpu"] == cn["resources"]["requests"]["cpu"]


def test_nothing_without_kv_cache_aware_routing() -> None:
    assert ours("tier1") == {}
    assert ours("tier2", "serving.routing.kvCacheAware=false") == {}


@pytest.mark.parametrize(("stem", "env"), shipped_envs())
def test_the_config_text_is_what_the_pure_python_emitter_writes(stem: str, env: str) -> None:
    """The picker's config is written with libyaml's emitter: for every shipped profile and
    environment it is byte for byte what PyYAML's pure-Python emitter writes."""
    config = picker.plugin_config(ctx_of(compiled(stem, env=env)))
    assert picker.DUMPER is yaml.CSafeDumper  # the fast emitter is really the one in use
    assert picker.config_text(config) == picker.config_text(config, yaml.SafeDumper)
    assert picker.config_text(config) == picker.config_text(config, yaml.SafeDumper)  # (now from the cache)


def test_remembered_config_texts_keep_apart_what_the_dump_keeps_apart() -> None:
    """Texts are remembered per repr: configs that differ only in a value's type or in key order
    each get their own text (every one dumped twice: the second comes from the cache)."""
    configs = [{"a": 1}, {"a": True}, {"a": 1.0}, {"a": "1"}, {"a": [1]}, {"b": 1, "a": 2}, {"a": 2, "b": 1}, {"a": {"x": None}}]
    texts = {picker.config_text(c) for c in configs}
    assert len(texts) == len(configs)
    for c in configs:
        assert picker.config_text(c) == yaml.dump(c, Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=False)
    for odd in ({"a": (1,)}, {"a": {1: "x"}}, {"a": {"1": "x"}}):  # (a tuple, an int key: not read from [1]'s or "1"'s text)
        assert picker.config_text(odd) == yaml.dump(odd, Dumper=yaml.SafeDumper, sort_keys=False, default_flow_style=False)
