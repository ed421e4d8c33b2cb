"""Deployment, Service, ServiceAccount and PodDisruptionBudget (compiler/render/serving.py)."""

from __future__ import annotations

import pytest

from compiler.render import serving
from compiler.verify.kube import KubeValidator
from tests.render.test_vllm import as_pod, compiled, ctx_of, main_container, matches, objects, one

KINDS = ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget")


@pytest.fixture(scope="module")
def kube() -> KubeValidator:
    return KubeValidator()


@pytest.mark.parametrize("tier", ("tier1", "tier2", "tier3"))
def test_every_object_is_valid(tier: str, kube: KubeValidator) -> None:
    out = serving.render(ctx_of(compiled(tier)))
    assert out
    for obj in out:
        assert obj["kind"] in KINDS
        assert kube.validate(obj) == []
        assert len(obj["metadata"]["name"]) <= 63
    for d in (o for o in out if o["kind"] == "Deployment"):
        assert kube.validate(as_pod(d["spec"]["template"])) == []


@pytest.mark.parametrize("tier,name", [("tier1", "qwen3-32b"), ("tier2", "llama-70b")])
def test_single_node_tiers_render_a_deployment_stack(tier: str, name: str) -> None:
    c = compiled(tier)
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in serving.render(ctx_of(c)))
    assert kinds == sorted([("Deployment", name), ("Service", name), ("PodDisruptionBudget", name),
                            ("ServiceAccount", c.profile.serving.service_account)])


def test_tier3_renders_only_the_service_account() -> None:
    c = compiled("tier3")
    out = serving.render(ctx_of(c))
    assert [(o["kind"], o["metadata"]["name"]) for o in out] == [("ServiceAccount", "glm-5")]


def test_multi_node_serve_role_belongs_to_lws() -> None:
    c = compiled("tier3", "serving.disaggregation.enabled=false")
    assert c.plan.role("serve").multi_node
    assert [o["kind"] for o in serving.render(ctx_of(c))] == ["ServiceAccount"]


@pytest.mark.parametrize("tier", ("tier1", "tier2"))
def test_no_replicas_when_keda_scales(tier: str) -> None:
    c = compiled(tier)
    assert c.profile.autoscaling.enabled
    assert "replicas" not in objects(c, "Deployment")[0]["spec"]


def test_replicas_from_plan_without_autoscaling() -> None:
    c = compiled("tier2", "autoscaling.enabled=false")
    assert objects(c, "Deployment")[0]["spec"]["replicas"] == c.plan.role("serve").min_replicas


@pytest.mark.parametrize("tier", ("tier1", "tier2"))
def test_selectors_match_the_pods(tier: str) -> None:
    c = compiled(tier)
    d = objects(c, "Deployment")[0]
    pod_labels = d["spec"]["template"]["metadata"]["labels"]
    name = d["metadata"]["name"]
    assert matches(d["spec"]["selector"]["matchLabels"], pod_labels)
    svc = one(c, "Service", name)
    assert matches(svc["spec"]["selector"], pod_labels)
    assert matches(one(c, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"], pod_labels)
    ports = {p["name"]: p["containerPort"] for p in main_container(d["spec"]["template"])["ports"]}
    (sp,) = svc["spec"]["ports"]
    assert sp["targetPort"] in ports and ports[sp["targetPort"]] == c.profile.serving.port
    assert svc["spec"]["type"] == "ClusterIP"


def test_rollout_keeps_capacity_and_survives_slow_loads() -> None:
    c = compiled("tier2")
    spec = objects(c, "Deployment")[0]["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert spec["progressDeadlineSeconds"] > c.plan.role("serve").startup_budget_seconds
    assert spec["revisionHistoryLimit"] >= 1


def test_pdb_allows_draining_one_pod() -> None:
    pdb = objects(compiled("tier1"), "PodDisruptionBudget")[0]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]


def test_service_account_is_the_pods_and_mounts_no_token() -> None:
    c = compiled("tier2")
    sa = one(c, "ServiceAccount", "llama-70b-vllm")
    assert sa["automountServiceAccountToken"] is False
    assert objects(c, "Deployment")[0]["spec"]["template"]["spec"]["serviceAccountName"] == "llama-70b-vllm"
