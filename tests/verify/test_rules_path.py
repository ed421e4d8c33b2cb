"""``path-references`` (compiler/verify/rules_path.py): silent on every shipped profile and
environment; each kind of dangling reference on the request path, reproduced on the real rendered
objects, fires it, blaming a profile field that the merge can locate (file:line:col)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from compiler.verify.crds import CrdRegistry
from compiler.verify.kube import KubeValidator
from compiler.verify.rules import RULES, check_rules
from compiler.verify.rules_base import RuleInput
from compiler.verify.rules_path import path_references
from tests.conftest import find_crd_dirs
from tests.verify.test_rules import CASES, compiled, find, objects

RULE = "path-references"


@pytest.fixture(scope="module")
def registry() -> CrdRegistry:
    return CrdRegistry.load(find_crd_dirs())


@pytest.mark.parametrize("tier,env", CASES)
def test_shipped_profiles_resolve_every_path_reference(tier: str, env: str) -> None:
    c = compiled(tier, env)
    assert path_references.__doc__ and path_references in RULES
    assert [v for v in check_rules(c.objects, c.profile, c.plan) if v.rule == RULE] == []


def _route(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == "HTTPRoute")


def _bifrost_config(objs: list[dict[str, Any]], change: Callable[[dict[str, Any]], None]) -> None:
    cm = next(o for o in objs if o["kind"] == "ConfigMap" and "config.json" in o.get("data", {}))
    cfg = json.loads(cm["data"]["config.json"])
    change(cfg)
    cm["data"]["config.json"] = json.dumps(cfg)


def _policy(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return find(objs, "NetworkPolicy", name)


def _sidecar(objs: list[dict[str, Any]]) -> dict[str, Any]:
    lws = find(objs, "LeaderWorkerSet", "glm-5-decode")
    return lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["initContainers"][0]


#: (id, tier, mutation, object blamed, text in the message)
FIXTURES: list[tuple[str, str, Callable[[list[dict[str, Any]]], None], str, str]] = [
    ("route-parent-gateway", "tier2", lambda o: _route(o)["spec"]["parentRefs"][0].update(name="other-gateway"), "HTTPRoute/llama-70b", "names no Gateway"),
    ("route-parent-listener", "tier2", lambda o: _route(o)["spec"]["parentRefs"][0].update(sectionName="https"), "HTTPRoute/llama-70b", "no listener"),
    ("route-backend-pool", "tier2", lambda o: _route(o)["spec"]["rules"][0]["backendRefs"][0].update(name="gone"), "HTTPRoute/llama-70b", "InferencePool 'gone'"),
    ("route-backend-service-port", "tier1", lambda o: _route(o)["spec"]["rules"][0]["backendRefs"][0].update(port=8080), "HTTPRoute/qwen3-32b", "port 8080"),
    ("picker-ref-name", "tier2", lambda o: find(o, "InferencePool", "llama-70b")["spec"]["endpointPickerRef"].update(name="llama-70b-picker"),
     "InferencePool/llama-70b", "'llama-70b-picker', which is not rendered"),
    ("picker-ref-port", "tier2", lambda o: find(o, "InferencePool", "llama-70b")["spec"]["endpointPickerRef"]["port"].update(number=9003),
     "InferencePool/llama-70b", "port 9003"),
    ("bifrost-provider-url", "tier3", lambda o: _bifrost_config(o, lambda c: c["providers"]["vllm"]["keys"][0]["vllm_key_config"].update(
        url="http://glm-5-gateway.inference-glm.svc.cluster.local:80")), "ConfigMap/glm-5-bifrost", "provider URL"),
    ("bifrost-provider-port", "tier1", lambda o: _bifrost_config(o, lambda c: c["providers"]["vllm"]["keys"][0]["vllm_key_config"].update(
        url="http://qwen3-32b-gateway-istio.inference-qwen3.svc.cluster.local:8080")), "ConfigMap/qwen3-32b-bifrost", "provider URL"),
    ("policy-peer-pods", "tier3", lambda o: _policy(o, "glm-5-prefill-from-decode")["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"].update(
        {"app.kubernetes.io/component": "decoder"}), "NetworkPolicy/glm-5-prefill-from-decode", "matches no pod"),
    ("policy-peer-gateway", "tier2", lambda o: _policy(o, "llama-70b-allow-http")["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"].update(
        {"gateway.networking.k8s.io/gateway-name": "shared-gateway"}), "NetworkPolicy/llama-70b-allow-http", "Gateway 'shared-gateway'"),
    ("policy-gateway-port", "tier1", lambda o: _policy(o, "qwen3-32b-gateway")["spec"]["ingress"][0]["ports"][0].update(port=443),
     "NetworkPolicy/qwen3-32b-gateway", "allows port 443"),
    ("sidecar-target-port", "tier3", lambda o: _sidecar(o)["args"].__setitem__(1, "--vllm-port=8000"), "LeaderWorkerSet/glm-5-decode", "--vllm-port=8000"),
    ("identity-service-account", "tier2", lambda o: find(o, "PodIdentityAssociation", "llama-70b-model")["spec"].update(serviceAccount="llama-70b"),
     "PodIdentityAssociation/llama-70b-model", "serviceAccount 'llama-70b'"),
    ("rbac-role-ref", "tier2", lambda o: find(o, "RoleBinding", "llama-70b-epp")["roleRef"].update(name="llama-70b-router"),
     "RoleBinding/llama-70b-epp", "Role 'llama-70b-router'"),
]


@pytest.mark.parametrize("case", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_each_dangling_reference_is_refused(case: tuple[str, str, Callable[[list[dict[str, Any]]], None], str, str],
                                            registry: CrdRegistry, kube: KubeValidator) -> None:
    _, tier, mutate, blamed, text = case
    c = compiled(tier, "prod")
    objs = objects(tier)
    mutate(objs)
    found = path_references(RuleInput(tuple(objs), c.profile, c.plan))
    assert found, "path-references did not fire"
    assert {v.obj for v in found} == {blamed}, found
    assert any(text in v.message for v in found), found
    for v in found:  # located: the blamed field (or its nearest ancestor) has a file:line:col
        src = c.resolved.merged.source(v.profile_path)
        assert src is not None and src.line >= 1, v.profile_path
    # the schemas cannot see it: every mutated object is still valid on its own
    for o in objs:
        if o["metadata"]["name"] in blamed.split("/", 1)[1] and o["kind"] == blamed.split("/", 1)[0]:
            findings = kube.validate(o) if kube.is_builtin(o) else registry.validate(o)
            assert findings == [], findings


def test_every_kind_of_reference_has_a_fixture() -> None:
    """The module docstring's list, one fixture each (Service selectors: ports-selectors)."""
    kinds = {f[0].rsplit("-", 1)[0] if f[0].count("-") > 1 else f[0] for f in FIXTURES}
    assert {"route-parent", "route-backend", "picker-ref", "bifrost-provider", "policy-peer", "policy-gateway", "sidecar-target",
            "identity-service", "rbac-role"} <= kinds


@pytest.mark.parametrize(("tier", "service", "also"), [
    ("tier1", "qwen3-32b-bifrost", []),
    ("tier2", "llama-70b-epp", [("path-references", "InferencePool/llama-70b")]),  # the pool's picker has no pod
])
def test_a_path_service_selecting_nothing_is_refused_by_ports_selectors(tier: str, service: str, also: list[tuple[str, str]]) -> None:
    """Service selectors on the path are ports-selectors' job (every Service): the Bifrost and picker
    Services too."""
    c = compiled(tier, "prod")
    objs = objects(tier)
    find(objs, "Service", service)["spec"]["selector"]["app.kubernetes.io/component"] = "nobody"
    found = check_rules(objs, c.profile, c.plan)
    assert [(v.rule, v.obj) for v in found] == [("ports-selectors", f"Service/{service}"), *also]
