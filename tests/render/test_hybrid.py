"""The on-premises replicas on EKS Hybrid Nodes (compiler/render/hybrid.py) and the cascade
on-premises -> cloud -> Bedrock in Bifrost (compiler/render/bifrost.py), on the shipped
``profiles/tier2-hybrid.yaml``: placement on hybrid nodes only, no NodePool for them, a Service
that selects only them, Bifrost's config valid against Bifrost's own schema with the on-premises
hop first, and budgets that fit the SLO."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft201909Validator

from compiler.plan.path import hybrid_service, slo_seconds, step_timeouts
from compiler.verify.kube import KubeValidator
from tests.render.test_bifrost import SCHEMA
from tests.render.test_vllm import as_pod, compiled, matches, objects, one

PROFILE = "tier2-hybrid"
NAME = "llama-70b-hybrid-onprem"


def config(*sets: str) -> dict[str, Any]:
    (cm,) = [o for o in objects(compiled(PROFILE, *sets), "ConfigMap") if "config.json" in o.get("data", {})]
    return json.loads(cm["data"]["config.json"])


def test_onprem_deployment_lands_only_on_hybrid_nodes() -> None:
    c = compiled(PROFILE)
    d = one(c, "Deployment", NAME)
    spec = d["spec"]["template"]["spec"]
    # the label EKS gives every hybrid node, plus the label the profile says nodeadm set
    assert spec["nodeSelector"] == {"eks.amazonaws.com/compute-type": "hybrid", "topology.kubernetes.io/zone": "onprem-fra1"}
    assert "affinity" not in spec and "annotations" not in d["spec"]["template"]["metadata"]
    assert d["spec"]["replicas"] == 4  # 2 servers x (8 GPUs / TP 4), CPU and memory allow it
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}  # no spare GPU for a surge pod
    res = spec["containers"][0]["resources"]["limits"]
    assert res["nvidia.com/gpu"] == "4" and "vpc.amazonaws.com/efa" not in res
    KubeValidator().validate(as_pod(d["spec"]["template"]))


def test_no_nodepool_targets_hybrid_nodes_and_cloud_pods_stay_in_aws() -> None:
    c = compiled(PROFILE)
    for np in objects(c, "NodePool"):
        keys = {r["key"] for r in np["spec"]["template"]["spec"]["requirements"]}
        assert "eks.amazonaws.com/compute-type" not in keys
    cloud = one(c, "Deployment", "llama-70b-hybrid")["spec"]["template"]["spec"]
    assert "eks.amazonaws.com/compute-type" not in cloud["nodeSelector"]


def test_services_select_disjoint_pods() -> None:
    c = compiled(PROFILE)
    onprem = one(c, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"]
    cloud = one(c, "Deployment", "llama-70b-hybrid")["spec"]["template"]["metadata"]["labels"]
    assert matches(one(c, "Service", NAME)["spec"]["selector"], onprem)
    assert not matches(one(c, "Service", NAME)["spec"]["selector"], cloud)
    assert not matches(one(c, "Service", "llama-70b-hybrid")["spec"]["selector"], onprem)  # cloud Service, KEDA, pool never pick it
    assert not [o for o in objects(c, "ScaledObject") if o["spec"]["scaleTargetRef"]["name"] == NAME]


def test_tolerates_declared_taints() -> None:
    c = compiled(PROFILE, "capacity.hybrid.taints=[{key: site/onprem, effect: NoSchedule}, {key: gpu-vendor, value: nvidia, effect: NoExecute}]")
    tol = one(c, "Deployment", NAME)["spec"]["template"]["spec"]["tolerations"]
    assert {"key": "site/onprem", "operator": "Exists", "effect": "NoSchedule"} in tol
    assert {"key": "gpu-vendor", "operator": "Equal", "value": "nvidia", "effect": "NoExecute"} in tol


def test_network_policy_admits_only_bifrost_and_monitoring() -> None:
    c = compiled(PROFILE)
    np = one(c, "NetworkPolicy", NAME)
    assert np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "onprem"
    (rule,) = np["spec"]["ingress"]
    bifrost = one(c, "Deployment", "llama-70b-hybrid-bifrost")["spec"]["template"]["metadata"]["labels"]
    assert matches(rule["from"][0]["podSelector"]["matchLabels"], bifrost)
    assert rule["from"][1] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}


def test_cascade_onprem_then_cloud_then_bedrock_validates_against_bifrost_schema() -> None:
    cfg = config()
    assert sorted(e.message for e in Draft201909Validator(SCHEMA).iter_errors(cfg)) == []
    (rule,) = cfg["governance"]["routing_rules"]
    assert (rule["provider"], rule["model"]) == ("openai", "llama-3.3-70b")
    assert rule["fallbacks"] == ["vllm/llama-3.3-70b", "bedrock/us.meta.llama3-3-70b-instruct-v1:0"]
    openai = cfg["providers"]["openai"]
    assert openai["network_config"]["base_url"] == "http://llama-70b-hybrid-onprem.inference-llama-hybrid.svc.cluster.local:8000"
    assert openai["keys"][0]["value"] == "dummy"  # Bifrost's self-hosted vLLM placeholder: vLLM runs without --api-key
    (cloud,) = [o for o in objects(compiled(PROFILE), "Deployment") if o["metadata"]["name"] == NAME]
    assert "--api-key" not in cloud["spec"]["template"]["spec"]["containers"][0]["args"]


def test_hybrid_step_goes_first_wherever_it_is_listed() -> None:
    """Tier defaults list cluster, bedrock; a merged cascade appends new steps after them."""
    c = compiled(PROFILE)
    assert [s.kind for s in c.profile.path.fallback.cascade] == ["hybrid", "gateway", "bedrock"]
    assert [s.name for s in c.profile.path.fallback.cascade] == ["onprem", "cluster", "bedrock"]


def test_budgets_fit_the_slo_and_reach_bifrost() -> None:
    c = compiled(PROFILE)
    budgets = step_timeouts(c.profile)
    assert budgets == {"onprem": 12, "cluster": 12, "bedrock": 6}
    assert sum(budgets.values()) <= slo_seconds(c.profile) == 30
    cfg = config()
    assert cfg["providers"]["openai"]["network_config"]["default_request_timeout_in_seconds"] == 12
    assert hybrid_service(c.profile) == NAME


def test_unset_hybrid_timeout_shares_what_the_slo_leaves() -> None:
    c = compiled(PROFILE, "fallback.cascade[onprem].timeoutSeconds=null")
    assert step_timeouts(c.profile)["onprem"] == 30 - 12 - 6
