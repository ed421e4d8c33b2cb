"""rules_dra.py: each rule passes on the shipped DRA profile and fails on a broken copy of its objects."""

from __future__ import annotations

import copy
from typing import Any

from compiler.verify.rules import RULES, check_rules
from compiler.verify.rules_base import RuleInput
from compiler.verify.rules_dra import dra_claims, dra_placement, nodegroup_scaling

from ..shipped import compile_tier


def objs() -> list[dict[str, Any]]:
    return copy.deepcopy(list(compile_tier("tier2-dra").objects))


def run(rule, objects: list[dict[str, Any]]) -> list[str]:
    c = compile_tier("tier2-dra")
    return [v.message for v in rule(RuleInput(tuple(objects), c.profile, c.plan))]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "Deployment", "llama-70b-dra")["spec"]["template"]["spec"]


def test_registered_and_clean_on_the_shipped_profile() -> None:
    assert {dra_claims, nodegroup_scaling, dra_placement} <= set(RULES)
    c = compile_tier("tier2-dra")
    assert check_rules(c.objects, c.profile, c.plan) == []
    for env in ("dev",):
        d = compile_tier("tier2-dra", (), env)
        assert check_rules(d.objects, d.profile, d.plan) == []


def test_claim_naming_a_missing_template() -> None:
    o = objs()
    o = [x for x in o if x["kind"] != "ResourceClaimTemplate"]
    msgs = run(dra_claims, o)
    assert any("names ResourceClaimTemplate 'llama-70b-dra-gpus', which is not rendered in namespace inference-llama-dra" in m for m in msgs)


def test_container_claim_not_in_the_pod() -> None:
    o = objs()
    pod_spec(o)["containers"][0]["resources"]["claims"] = [{"name": "gpu"}]
    assert any("claims 'gpu', which is not in the pod's resourceClaims" in m for m in run(dra_claims, o))


def test_device_class_the_driver_does_not_install() -> None:
    o = objs()
    find(o, "ResourceClaimTemplate", "llama-70b-dra-gpus")["spec"]["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] = "gpu.example.com"
    assert any("requests DeviceClass 'gpu.example.com', which the platform's DRA driver does not install" in m for m in run(dra_claims, o))


def test_claimed_gpus_must_equal_the_ranks() -> None:
    o = objs()
    find(o, "ResourceClaimTemplate", "llama-70b-dra-gpus")["spec"]["spec"]["devices"]["requests"][0]["exactly"]["count"] = 2
    assert any("vLLM runs tensor 4 x pipeline 1 x data 1 ranks but a replica claims 2 GPUs" in m for m in run(dra_claims, o))


def test_claim_and_device_plugin_request_together() -> None:
    o = objs()
    res = pod_spec(o)["containers"][0]["resources"]
    res["limits"]["nvidia.com/gpu"] = res["requests"]["nvidia.com/gpu"] = "4"
    assert any("claims GPUs through DRA and also requests nvidia.com/gpu" in m for m in run(dra_claims, o))


def test_scaling_config_order() -> None:
    o = objs()
    find(o, "Nodegroup", "llama-70b-dra-baseline")["spec"]["scalingConfig"] = {"minSize": 3, "desiredSize": 2, "maxSize": 4}
    assert any("minSize <= desiredSize <= maxSize" in m and "3 / 2 / 4" in m for m in run(nodegroup_scaling, o))


def test_dra_group_may_not_be_empty() -> None:
    o = objs()
    find(o, "Nodegroup", "llama-70b-dra-burst")["spec"]["scalingConfig"] = {"minSize": 0, "desiredSize": 0, "maxSize": 4}
    msgs = run(nodegroup_scaling, o)
    assert any("minSize 0 on a node group for DRA pods" in m for m in msgs)


def test_max_sizes_must_hold_the_peak() -> None:
    o = objs()
    for name in ("llama-70b-dra-baseline", "llama-70b-dra-burst"):
        find(o, "Nodegroup", name)["spec"]["scalingConfig"] = {"minSize": 1, "desiredSize": 1, "maxSize": 1}
    # prod: maxReplicaCount 4 x 4 GPUs = 16 needed; two groups of one 4-GPU node hold 8
    assert any("maxSize holds 8 GPUs" in m and "need 16" in m for m in run(nodegroup_scaling, o))


def test_dra_pods_never_on_a_karpenter_nodepool() -> None:
    o = objs()
    o.append({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "gpu"},
              "spec": {"template": {"metadata": {"labels": {"mcompile.io/profile": "llama-70b-dra"}}, "spec": {}}}})
    assert any("may land on NodePool NodePool/gpu: Karpenter and EKS Auto Mode skip DRA pods" in m for m in run(dra_placement, o))


def test_dra_pods_must_fit_a_node_group() -> None:
    o = objs()
    pod_spec(o)["tolerations"] = []  # the groups are tainted nvidia.com/gpu
    assert any("fit no managed node group" in m for m in run(dra_placement, o))


def test_device_plugin_pods_on_node_groups_must_fit_one_too() -> None:
    c = compile_tier("tier2-dra", ("serving.gpuAllocation=devicePlugin",))
    o = copy.deepcopy(list(c.objects))
    assert [v.message for v in dra_placement(RuleInput(tuple(o), c.profile, c.plan))] == []
    pod_spec(o)["nodeSelector"] = {"mcompile.io/profile": "someone-else"}
    msgs = [v.message for v in dra_placement(RuleInput(tuple(o), c.profile, c.plan))]
    assert any("pods request nvidia.com/gpu but fit no managed node group" in m for m in msgs), msgs
