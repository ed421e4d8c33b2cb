"""The capacity classes of issue 12: pools that may launch sizes no serving pod fits (pool-gpu-sizes),
EFA pools with non-EFA types and NIXL/LIBFABRIC without EFA (efa-coherence), Karpenter label keys
on Auto Mode objects, free-form labels included (label-prefix), and the planner's refusals
(startup budget below the modelled load, no replicas without autoscaling, groups on spot)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from compiler.errors import InputError
from compiler.verify.rules import check_rules
from tests.shipped import compile_tier


def mutated(tier: str, *sets: str) -> tuple[list[dict[str, Any]], Any]:
    c = compile_tier(tier, tuple(sets))
    return copy.deepcopy(list(c.objects)), c


def fired(objs: list[dict[str, Any]], c: Any, rule: str) -> list:
    return [v for v in check_rules(objs, c.profile, c.plan) if v.rule == rule]


def drop_gpu_count(objs: list[dict[str, Any]]) -> None:
    for o in objs:
        if o["kind"] == "NodePool":
            reqs = o["spec"]["template"]["spec"]["requirements"]
            reqs[:] = [r for r in reqs if not r["key"].endswith("instance-gpu-count")]


# --- pool-gpu-sizes ---------------------------------------------------------------------------

def test_the_shipped_tier2_burst_pool_gets_a_gpu_count_requirement() -> None:
    objs, c = mutated("tier2")
    burst = next(o for o in objs if o["kind"] == "NodePool" and o["metadata"]["name"] == "llama-70b-burst")
    assert {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["3"]} in burst["spec"]["template"]["spec"]["requirements"]
    assert not fired(objs, c, "pool-gpu-sizes")


@pytest.mark.parametrize("tier,sets,pool,small", [
    ("tier2", (), "llama-70b-burst", "g6e.xlarge"),  # the shipped shape without the requirement
    ("tier2", ("capacity.pools[burst].instanceFamilies=[g6e, g5]",), "llama-70b-burst", "g5.2xlarge"),
    ("tier3", ("capacity.pools[baseline].instanceTypes=null", "capacity.pools[baseline].instanceFamilies=[p5en, g6e]"), "glm-5-baseline", "g6e.12xlarge"),
])
def test_pools_that_may_launch_sizes_too_small_for_every_pod(tier: str, sets: tuple[str, ...], pool: str, small: str) -> None:
    objs, c = mutated(tier, *sets)
    drop_gpu_count(objs)
    found = [v for v in fired(objs, c, "pool-gpu-sizes") if v.obj == f"NodePool/{pool}"]
    assert found and small in found[0].message and found[0].profile_path[:2] == ("capacity", "pools")


def test_the_planner_limits_follow_the_launchable_sizes() -> None:
    burst = compile_tier("tier2").plan.pool("burst")
    # 4 x g6e.12xlarge-class pods at max: CPU per GPU of the 4/8-GPU sizes (<= 24), not g6e.16xlarge's 64
    assert burst.limit_cpu <= 24 * burst.limit_gpus


# --- efa-coherence ---------------------------------------------------------------------------

def test_efa_pool_that_may_launch_types_without_efa() -> None:
    objs, c = mutated("tier3", "capacity.pools[baseline].instanceTypes=[p5en.48xlarge, g6e.2xlarge]")
    drop_gpu_count(objs)
    found = [v for v in fired(objs, c, "efa-coherence") if "no EFA interface" in v.message]
    assert found and "g6e.2xlarge" in found[0].message and found[0].profile_path == ("capacity", "pools", 0, "instanceTypes")


@pytest.mark.parametrize("sets", [("capacity.pools[baseline].efa=false",),
                                  ("capacity.pools[baseline].efa=false", "capacity.pools[baseline].capacityType=[on-demand]")])
def test_nixl_over_libfabric_without_efa_is_refused(sets: tuple[str, ...]) -> None:
    with pytest.raises(InputError) as e:
        compile_tier("tier3", sets)
    assert "$.serving.disaggregation.backend: NIXL's LIBFABRIC backend needs EFA" in str(e.value)


def test_the_rule_sees_libfabric_pods_without_efa() -> None:
    objs, c = mutated("tier3")
    for o in objs:
        if o["kind"] == "NodePool":
            o["metadata"]["name"] += "-x"  # no longer the profile's (EFA) pool
            o["spec"]["template"]["metadata"]["labels"]["mcompile.io/pool"] = "other"
        if o["kind"] == "LeaderWorkerSet":
            for k in ("leaderTemplate", "workerTemplate"):
                for cn in o["spec"]["leaderWorkerTemplate"][k]["spec"]["containers"]:
                    for part in ("requests", "limits"):
                        cn["resources"][part].pop("vpc.amazonaws.com/efa", None)
    found = [v for v in fired(objs, c, "efa-coherence") if "LIBFABRIC" in v.message]
    assert {v.obj for v in found} == {"LeaderWorkerSet/glm-5-prefill", "LeaderWorkerSet/glm-5-decode"}
    assert all(v.profile_path == ("serving", "disaggregation", "backend") for v in found)


def test_ucx_without_efa_is_not_a_libfabric_finding() -> None:
    objs, c = mutated("tier3", "capacity.pools[baseline].efa=false", "serving.disaggregation.backend=UCX")
    assert not [v for v in fired(objs, c, "efa-coherence") if "LIBFABRIC" in v.message]


# --- label-prefix, free-form labels ------------------------------------------------------------

def test_karpenter_label_in_profile_labels_on_auto_mode(tmp_path) -> None:
    from compiler.pipeline import compile_env
    from compiler.resolve import Request
    from tests.shipped import REPO

    extra = tmp_path / "labels.yaml"
    extra.write_text("metadata:\n  labels:\n    karpenter.k8s.aws/team: ml\n")
    with pytest.raises(InputError) as e:  # the planner refuses it, located in the override file
        compile_env(Request(REPO / "profiles" / "tier1.yaml", "profiles/tier1.yaml", "prod", (extra,), ()))
    assert 'labels.yaml:3:5: $.metadata.labels["karpenter.k8s.aws/team"]' in str(e.value) and "eks.amazonaws.com/team" in str(e.value)


def test_the_rule_sees_karpenter_profile_labels_on_auto_mode_objects() -> None:
    objs, c = mutated("tier1")
    for o in objs:
        o["metadata"]["labels"]["karpenter.k8s.aws/team"] = "ml"
    profile = c.profile.__class__(**{**c.profile.__dict__, "labels": (*c.profile.labels, ("karpenter.k8s.aws/team", "ml"))})
    [v] = [v for v in check_rules(objs, profile, c.plan) if v.rule == "label-prefix"]  # once, not once per object
    assert v.profile_path == ("metadata", "labels", "karpenter.k8s.aws/team") and "eks.amazonaws.com/team" in v.message


def test_karpenter_key_in_a_pod_node_selector_on_auto_mode() -> None:
    objs, c = mutated("tier1")
    dep = next(o for o in objs if o["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["nodeSelector"]["karpenter.k8s.aws/instance-family"] = "g6e"
    found = [v for v in fired(objs, c, "label-prefix") if v.obj == f"Deployment/{dep['metadata']['name']}"]
    assert found and "nodeSelector" in found[0].message and found[0].profile_path == ("capacity", "provisioner")


def test_karpenter_profiles_may_use_karpenter_keys() -> None:
    objs, c = mutated("tier2")
    assert not fired(objs, c, "label-prefix")


# --- the planner's refusals -------------------------------------------------------------------

@pytest.mark.parametrize("tier,sets,where,why", [
    ("tier3", ("serving.probes.startupBudgetSeconds=300",), "serving.probes.startupBudgetSeconds", "below the modelled model load of 366 s"),
    ("tier3", ("serving.probes.startupBudgetSeconds=1200", "model.source=hf://zai-org/GLM-5-FP8"), "serving.probes.startupBudgetSeconds",
     "from hf:// at 0.25 GB/s"),  # the same budget is fine from S3, not from the hub
    ("tier2", ("serving.probes.startupBudgetSeconds=120",), "serving.probes.startupBudgetSeconds", "below the modelled model load"),
    ("tier1", ("autoscaling.enabled=false", "autoscaling.minReplicas=0"), "autoscaling.minReplicas", "nothing would ever serve"),
    ("tier3", ("autoscaling.enabled=false", "serving.disaggregation.decode.minReplicas=0"), "serving.disaggregation.decode.minReplicas",
     "nothing would ever serve"),
    ("tier3", ("capacity.pools[baseline].capacityType=[spot]",), "capacity.pools[0].capacityType", "every pool is spot"),
])
def test_planner_refusals(tier: str, sets: tuple[str, ...], where: str, why: str) -> None:
    with pytest.raises(InputError) as e:
        compile_tier(tier, sets)
    assert f"$.{where}:" in str(e.value) and why in str(e.value)


def test_a_spot_pool_beside_on_demand_warns_for_multi_node_groups() -> None:
    pools = ("capacity.pools=[{name: baseline, role: baseline, capacityType: [on-demand], instanceTypes: [p5en.48xlarge], efa: true},"
             " {name: burst, role: burst, capacityType: [spot], instanceTypes: [p5en.48xlarge], efa: true}]")
    c = compile_tier("tier3", (pools,))
    assert any("spot-only pool burst" in str(w) for w in c.plan.warnings)


def test_the_same_budget_from_s3_is_fine() -> None:
    assert compile_tier("tier3", ("serving.probes.startupBudgetSeconds=1200",)).plan.role("decode").startup_budget_seconds == 1200
