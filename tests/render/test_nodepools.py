"""NodePools, node classes and GPU Operator values: CRD-valid, and the seed mistakes impossible."""

from __future__ import annotations

import copy
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler.catalog import instance_types
from compiler.pipeline import Compiled, compile_env
from compiler.plan import pool_types
from compiler.render import nodepools
from compiler.render.meta import Context
from compiler.render.nodeclass import data_volume_gi
from compiler.resolve import Request
from compiler.verify.crds import CrdRegistry

ROOT = Path(__file__).resolve().parents[2]
CASES = [("tier1", "staging"), ("tier1", "prod"), ("tier2", "dev"), ("tier2", "prod"), ("tier3", "prod")]
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
WELL_KNOWN = {"karpenter.sh/capacity-type", "node.kubernetes.io/instance-type", "kubernetes.io/arch", "kubernetes.io/os"}
FAMILY_KEYS = {"karpenter.k8s.aws/instance-family", "eks.amazonaws.com/instance-family"}
AUTO_NODECLASS_FIELDS = {"role", "subnetSelectorTerms", "securityGroupSelectorTerms", "ephemeralStorage", "capacityReservationSelectorTerms",
                         "networkPolicy", "networkPolicyEventLogs"}  # AWS docs "auto-net-pol"


@cache
def compiled(tier: str, env: str, sets: tuple[str, ...] = ()) -> Compiled:
    path = ROOT / "profiles" / f"{tier}.yaml"
    return compile_env(Request(path, f"profiles/{tier}.yaml", env, (), sets))


def ctx_of(tier: str, env: str, sets: tuple[str, ...] = ()) -> Context:
    c = compiled(tier, env, sets)
    return Context(c.profile, c.plan)


def render(tier: str, env: str, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return nodepools.render(ctx_of(tier, env, sets))


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def pool_obj(objs: list[dict[str, Any]], ctx: Context, pool: str) -> dict[str, Any]:
    return next(o for o in of_kind(objs, "NodePool") if o["metadata"]["name"] == f"{ctx.name}-{pool}")


def req(nodepool: dict[str, Any], key: str) -> list[str] | None:
    for r in nodepool["spec"]["template"]["spec"]["requirements"]:
        if r["key"] == key:
            return r["values"]
    return None


def referenced_class(objs: list[dict[str, Any]], nodepool: dict[str, Any]) -> dict[str, Any]:
    ref = nodepool["spec"]["template"]["spec"]["nodeClassRef"]
    return next(o for o in objs if o["kind"] == ref["kind"] and o["apiVersion"].startswith(ref["group"] + "/") and o["metadata"]["name"] == ref["name"])


def quantity_gi(q: str) -> int:
    assert q.endswith("Gi"), q
    return int(q[:-2])


def test_cases_cover_every_environment() -> None:
    for tier in ("tier1", "tier2", "tier3"):
        envs = compiled(tier, next(e for t, e in CASES if t == tier)).profile.environments
        assert sorted(envs) == sorted(e for t, e in CASES if t == tier)


@pytest.mark.parametrize("tier,env", CASES)
def test_every_crd_object_validates(registry: CrdRegistry, tier: str, env: str) -> None:
    objs = render(tier, env)
    assert of_kind(objs, "NodePool")
    for obj in objs:
        if obj["kind"] == "NodeClass":  # EKS Auto Mode: no public CRD, checked field by field below
            assert not registry.has(obj["apiVersion"], obj["kind"])
            continue
        assert registry.validate(obj) == [], obj["metadata"]["name"]


@pytest.mark.parametrize("tier,env", CASES)
def test_rendered_by_the_pipeline_and_deterministic(tier: str, env: str) -> None:
    objs = render(tier, env)
    assert objs == render(tier, env)
    pipeline = [o for o in compiled(tier, env).objects if o["kind"] in ("NodePool", "EC2NodeClass", "NodeClass")]
    assert pipeline == objs
    for o in objs:
        assert DNS1123.match(o["metadata"]["name"]) and len(o["metadata"]["name"]) <= 63
        assert "namespace" not in o["metadata"]  # cluster-scoped
        assert o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-10"


@pytest.mark.parametrize("tier,env", CASES)
def test_disruption_is_valid_and_never_a_never_policy(tier: str, env: str) -> None:
    ctx = ctx_of(tier, env)
    objs = render(tier, env)
    for pool in ctx.profile.capacity.pools:
        d = pool_obj(objs, ctx, pool.name)["spec"]["disruption"]
        assert d["consolidationPolicy"] == "WhenEmpty"
        assert d["consolidateAfter"] == pool.consolidate_after
        assert d["budgets"]


@pytest.mark.parametrize("tier,env", CASES)
def test_instance_types_never_under_instance_family(tier: str, env: str) -> None:
    ctx = ctx_of(tier, env)
    objs = render(tier, env)
    for pool in ctx.profile.capacity.pools:
        np = pool_obj(objs, ctx, pool.name)
        keys = [r["key"] for r in np["spec"]["template"]["spec"]["requirements"]]
        assert len([k for k in keys if k in FAMILY_KEYS or k == "node.kubernetes.io/instance-type"]) == 1, keys
        for key in FAMILY_KEYS:
            assert all("." not in v for v in req(np, key) or []), (key, req(np, key))
        assert all("." in v for v in req(np, "node.kubernetes.io/instance-type") or [])
        assert req(np, "karpenter.sh/capacity-type") == list(pool.capacity_types)
        assert req(np, "kubernetes.io/arch") == ["amd64"] and req(np, "kubernetes.io/os") == ["linux"]


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_tier1_auto_mode_uses_only_eks_keys(env: str) -> None:
    ctx = ctx_of("tier1", env)
    objs = render("tier1", env)
    assert not of_kind(objs, "EC2NodeClass")
    for np in of_kind(objs, "NodePool"):
        keys = [r["key"] for r in np["spec"]["template"]["spec"]["requirements"]]
        assert not [k for k in keys if k.startswith("karpenter.k8s.aws/")]
        assert all(k in WELL_KNOWN or k.startswith("eks.amazonaws.com/") for k in keys), keys
        assert req(np, "eks.amazonaws.com/instance-family") == ["g6e"]
        assert req(np, "eks.amazonaws.com/instance-gpu-manufacturer") == ["nvidia"]
        ref = np["spec"]["template"]["spec"]["nodeClassRef"]
        assert ref["group"] == "eks.amazonaws.com" and ref["kind"] == "NodeClass"
        nc = referenced_class(objs, np)
        assert nc["apiVersion"] == "eks.amazonaws.com/v1"
    # dcgm is on by default: the operator runs for the DCGM exporter only, its device plugin kept off our nodes.
    assert nodepools.gpu_operator_values(ctx)["devicePlugin"] == {"enabled": False}
    assert pool_obj(objs, ctx, "gpu")["spec"]["template"]["metadata"]["labels"]["nvidia.com/gpu.deploy.device-plugin"] == "false"


def test_auto_mode_node_class_fields() -> None:
    ctx = ctx_of("tier1", "prod")
    (nc,) = of_kind(render("tier1", "prod"), "NodeClass")
    spec = nc["spec"]
    assert set(spec) <= AUTO_NODECLASS_FIELDS
    assert spec["role"] == ctx.profile.capacity.node_role
    discovery = [{"tags": {"karpenter.sh/discovery": ctx.profile.capacity.cluster_name}}]
    assert spec["subnetSelectorTerms"] == discovery and spec["securityGroupSelectorTerms"] == discovery
    es = spec["ephemeralStorage"]
    assert set(es) == {"size", "iops", "throughput"}
    # Qwen3-32B FP8: 100 + 2 x 32.8 = 165.6 -> 200 Gi.
    assert es["size"] == "200Gi" == f"{data_volume_gi(ctx)}Gi"
    assert 3000 <= es["iops"] <= 16000 and 125 <= es["throughput"] <= 1000 and es["throughput"] <= es["iops"] / 4
    assert "capacityReservationSelectorTerms" not in spec
    # network.policy is on: Auto Mode enforces NetworkPolicies only when the NodeClass says so.
    assert spec["networkPolicy"] == "DefaultAllow" and spec["networkPolicyEventLogs"] == "Disabled"
    (off,) = of_kind(render("tier1", "prod", ("network.policy=false",)), "NodeClass")
    assert "networkPolicy" not in off["spec"]


def test_root_volume_override_and_derivation() -> None:
    sets = ("capacity.rootVolumeGi=300",)
    (nc,) = of_kind(render("tier1", "prod", sets), "NodeClass")
    assert nc["spec"]["ephemeralStorage"]["size"] == "300Gi"
    (ec2,) = of_kind(render("tier2", "prod"), "EC2NodeClass")
    xvda, xvdb = ec2["spec"]["blockDeviceMappings"]
    assert xvda["deviceName"] == "/dev/xvda" and xvda["ebs"]["volumeSize"] == "4Gi"
    # Llama-3.3-70B FP8: 100 + 2 x 70.6 = 241.2 -> 250 Gi.
    assert xvdb["deviceName"] == "/dev/xvdb" and xvdb["ebs"]["volumeSize"] == "250Gi"
    for bdm in (xvda, xvdb):
        assert bdm["ebs"]["volumeType"] == "gp3" and bdm["ebs"]["encrypted"] is True
    assert xvdb["ebs"]["iops"] >= 3000 and xvdb["ebs"]["throughput"] <= xvdb["ebs"]["iops"] / 4
    (pinned,) = of_kind(render("tier2", "prod", ("capacity.rootVolumeGi=500",)), "EC2NodeClass")
    assert pinned["spec"]["blockDeviceMappings"][1]["ebs"]["volumeSize"] == "500Gi"


@pytest.mark.parametrize("tier,env", [c for c in CASES if c[0] != "tier1"])
def test_ec2_node_class_basics(tier: str, env: str) -> None:
    ctx = ctx_of(tier, env)
    objs = render(tier, env)
    for ec2 in of_kind(objs, "EC2NodeClass"):
        spec = ec2["spec"]
        assert spec["amiSelectorTerms"] == [{"alias": ctx.profile.capacity.ami_alias}]
        assert spec["amiSelectorTerms"][0]["alias"].split("@")[1] != "latest"
        assert spec["role"] == ctx.profile.capacity.node_role
        tags = {"karpenter.sh/discovery": ctx.profile.capacity.cluster_name}
        assert spec["subnetSelectorTerms"] == [{"tags": tags}] == spec["securityGroupSelectorTerms"]
        assert spec["metadataOptions"]["httpTokens"] == "required"
        assert spec["metadataOptions"]["httpPutResponseHopLimit"] == 1
    for np in of_kind(objs, "NodePool"):
        ref = np["spec"]["template"]["spec"]["nodeClassRef"]
        assert ref["group"] == "karpenter.k8s.aws" and ref["kind"] == "EC2NodeClass"
        assert referenced_class(objs, np)["kind"] == "EC2NodeClass"


@pytest.mark.parametrize("tier,env", CASES)
def test_limits_hold_one_node_of_every_allowed_type(tier: str, env: str) -> None:
    ctx = ctx_of(tier, env)
    objs = render(tier, env)
    for pool in ctx.profile.capacity.pools:
        lim = pool_obj(objs, ctx, pool.name)["spec"]["limits"]
        known, _ = pool_types(pool)
        assert known
        for t in known:
            assert int(lim["nvidia.com/gpu"]) >= t.gpus, (pool.name, t.name)
            assert int(lim["cpu"]) >= t.vcpu, (pool.name, t.name)
            assert quantity_gi(lim["memory"]) >= t.memory_gi, (pool.name, t.name)
        pp = ctx.plan.pool(pool.name)
        assert lim == {"cpu": str(pp.limit_cpu), "memory": f"{pp.limit_memory_gi}Gi", "nvidia.com/gpu": str(pp.limit_gpus)}


def test_set_instance_families_moves_to_the_family_key(registry: CrdRegistry) -> None:
    sets = ("capacity.pools[burst].instanceFamilies=[g5]", "capacity.pools[burst].instanceTypes=[]")
    ctx = ctx_of("tier2", "prod", sets)
    objs = render("tier2", "prod", sets)
    burst = pool_obj(objs, ctx, "burst")
    assert req(burst, "karpenter.k8s.aws/instance-family") == ["g5"]
    assert req(burst, "node.kubernetes.io/instance-type") is None
    assert registry.validate(burst) == []
    # Baseline untouched: its exact type stays under instance-type.
    assert req(pool_obj(objs, ctx, "baseline"), "node.kubernetes.io/instance-type") == ["g6e.12xlarge"]


def test_types_and_families_together_never_intersect_to_nothing(registry: CrdRegistry) -> None:
    # A pool with instanceTypes [g6e.12xlarge, g6e.24xlarge] and a family g5 next to them must widen
    # the pool (the planner's union), not AND to an empty set.
    sets = ("capacity.pools[burst].instanceTypes=[g6e.12xlarge, g6e.24xlarge]", "capacity.pools[burst].instanceFamilies=[g5]")
    ctx = ctx_of("tier2", "prod", sets)
    burst = pool_obj(render("tier2", "prod", sets), ctx, "burst")
    assert req(burst, "karpenter.k8s.aws/instance-family") is None
    allowed = set(req(burst, "node.kubernetes.io/instance-type") or [])
    assert {"g6e.12xlarge", "g6e.24xlarge"} <= allowed
    assert {t.name for t in instance_types().values() if t.family == "g5"} <= allowed
    assert registry.validate(burst) == []
    # The shipped profile: families [g6e, p5] and no types -> the family key alone.
    burst = pool_obj(render("tier2", "prod"), ctx_of("tier2", "prod"), "burst")
    assert req(burst, "karpenter.k8s.aws/instance-family") == ["g6e", "p5"]


def test_reserved_capacity_gets_reservation_selector_terms(registry: CrdRegistry) -> None:
    ctx = ctx_of("tier3", "prod")
    objs = render("tier3", "prod")
    np = pool_obj(objs, ctx, "baseline")
    assert "reserved" in req(np, "karpenter.sh/capacity-type")
    assert referenced_class(objs, np)["spec"]["capacityReservationSelectorTerms"] == [{"id": "cr-0a1b2c3d4e5f67890"}]
    assert all("capacityReservationSelectorTerms" not in o["spec"] for o in of_kind(render("tier2", "prod"), "EC2NodeClass"))
    sets = ("capacity.pools[baseline].capacityType=[reserved, on-demand]",
            'capacity.pools[baseline].reservations=[{tags: {team: ml}, ownerID: "123456789012"}]')
    ctx2 = ctx_of("tier2", "prod", sets)
    objs2 = render("tier2", "prod", sets)
    ec2 = referenced_class(objs2, pool_obj(objs2, ctx2, "baseline"))
    assert ec2["spec"]["capacityReservationSelectorTerms"] == [{"tags": {"team": "ml"}, "ownerID": "123456789012"}]
    assert registry.validate(ec2) == []
    # Auto Mode spells the account field "owner".
    auto_sets = ("capacity.pools[gpu].capacityType=[reserved]", 'capacity.pools[gpu].reservations=[{tags: {team: ml}, ownerID: "123456789012"}]')
    ctx1 = ctx_of("tier1", "prod", auto_sets)
    (nc,) = of_kind(nodepools.render(ctx1), "NodeClass")
    assert nc["spec"]["capacityReservationSelectorTerms"] == [{"tags": {"team": "ml"}, "owner": "123456789012"}]


def test_tier3_pool_is_efa_ready_and_never_consolidated_under_a_group() -> None:
    ctx = ctx_of("tier3", "prod")
    objs = render("tier3", "prod")
    np = pool_obj(objs, ctx, "baseline")
    ec2 = referenced_class(objs, np)
    nics = ec2["spec"]["networkInterfaces"]
    assert {"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"} in nics
    efa = [n for n in nics if n["interfaceType"] == "efa-only"]
    assert len(efa) == instance_types()["p5en.48xlarge"].efa == 16
    assert len({n["networkCardIndex"] for n in efa}) == len(efa)  # at most one EFA device per card
    d = np["spec"]["disruption"]
    assert d["consolidationPolicy"] == "WhenEmpty" and d["consolidateAfter"] == "Never"
    zero = [b for b in d["budgets"] if b["nodes"] == "0"]
    assert zero and {"Drifted", "Underutilized"} <= set(zero[0]["reasons"])
    # Even if someone turns consolidation on, the 0-node budget still protects the group.
    d2 = pool_obj(render("tier3", "prod", ("capacity.pools[baseline].consolidateAfter=10m",)), ctx, "baseline")["spec"]["disruption"]
    assert d2["consolidateAfter"] == "10m" and any(b["nodes"] == "0" and "Underutilized" in b["reasons"] for b in d2["budgets"])


def test_efa_pool_with_mixed_counts_falls_back_to_pod_driven_efa(registry: CrdRegistry) -> None:
    # p5e (32 EFA) + p5en (16 EFA): no single static layout fits; Karpenter then attaches EFA for
    # pods requesting vpc.amazonaws.com/efa.
    sets = ("capacity.pools[baseline].instanceTypes=[p5e.48xlarge, p5en.48xlarge]",)
    ctx = ctx_of("tier3", "prod", sets)
    objs = render("tier3", "prod", sets)
    ec2 = referenced_class(objs, pool_obj(objs, ctx, "baseline"))
    assert "networkInterfaces" not in ec2["spec"]
    assert all(registry.validate(o) == [] for o in objs)


@pytest.mark.parametrize("tier", ["tier2", "tier3"])
def test_soci_user_data_parses_and_sets_parallel_pull(tier: str) -> None:
    env = "prod"
    for ec2 in of_kind(render(tier, env), "EC2NodeClass"):
        doc = tomllib.loads(ec2["spec"]["userData"])
        settings = doc["settings"]
        assert settings["container-runtime"] == {"snapshotter": "soci"}
        soci = settings["container-runtime-plugins"]["soci-snapshotter"]
        assert soci["pull-mode"] == "parallel-pull-unpack"
        assert soci["parallel-pull-unpack"] == {"max-concurrent-downloads-per-image": 20, "concurrent-download-chunk-size": "16mb",
                                                "max-concurrent-unpacks-per-image": 12, "discard-unpacked-layers": True}
        assert "kubernetes" not in settings  # Karpenter owns [settings.kubernetes]
    for ec2 in of_kind(render(tier, env, ("capacity.soci=false",)), "EC2NodeClass"):
        assert "userData" not in ec2["spec"]


@pytest.mark.parametrize("tier,env", CASES)
def test_taints_labels_weight_and_lifetimes(tier: str, env: str) -> None:
    ctx = ctx_of(tier, env)
    objs = render(tier, env)
    longest = max(r.termination_grace_seconds for r in ctx.plan.roles)
    for pool in ctx.profile.capacity.pools:
        np = pool_obj(objs, ctx, pool.name)
        tmpl = np["spec"]["template"]
        taints = tmpl["spec"]["taints"]
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"} in taints
        assert any(t["key"] == "mcompile.io/burst" for t in taints) == (pool.role == "burst")
        assert tmpl["metadata"]["labels"]["mcompile.io/pool"] == pool.name
        assert tmpl["metadata"]["labels"]["mcompile.io/profile"] == ctx.name
        assert np["spec"]["weight"] == pool.weight
        grace = tmpl["spec"]["terminationGracePeriod"]
        assert grace.endswith("m") and int(grace[:-1]) * 60 >= longest + 300
        assert tmpl["spec"]["expireAfter"] in ("720h", "336h")
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in nodepools.tolerations(pool)


def test_budgets_follow_the_pool_role() -> None:
    ctx = ctx_of("tier2", "prod")
    objs = render("tier2", "prod")
    assert pool_obj(objs, ctx, "baseline")["spec"]["disruption"]["budgets"] == [{"nodes": "10%"}]
    burst = pool_obj(objs, ctx, "burst")["spec"]["disruption"]["budgets"]
    assert {"nodes": "100%", "reasons": ["Empty"]} in burst
    assert pool_obj(objs, ctx, "baseline")["spec"]["weight"] > pool_obj(objs, ctx, "burst")["spec"]["weight"]


def _cluster_policy(values: dict[str, Any]) -> dict[str, Any]:
    """The chart values' ClusterPolicy sections as a ClusterPolicy, to check key names against the CRD."""
    spec: dict[str, Any] = {k: {} for k in ("daemonsets", "dcgm", "dcgmExporter", "devicePlugin", "driver", "gfd", "nodeStatusExporter", "operator", "toolkit")}
    spec.update(copy.deepcopy(values))
    return {"apiVersion": "nvidia.com/v1", "kind": "ClusterPolicy", "metadata": {"name": "cluster-policy"}, "spec": spec}


@pytest.mark.parametrize("tier", ["tier2", "tier3"])
def test_gpu_operator_values_karpenter(registry: CrdRegistry, tier: str) -> None:
    ctx = ctx_of(tier, "prod")
    values = nodepools.gpu_operator_values(ctx)
    assert values is not None
    assert values["driver"] == {"enabled": False} and values["toolkit"] == {"enabled": False}
    assert values["dcgmExporter"]["enabled"] is True
    sm = values["dcgmExporter"]["serviceMonitor"]
    assert sm["enabled"] is True and sm["additionalLabels"] == {"release": "kube-prometheus-stack"}
    tolerations = values["daemonsets"]["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    assert {"key": "mcompile.io/burst", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    # Bottlerocket's NVIDIA variants run the device plugin on the host: exactly one per node.
    assert values["devicePlugin"] == {"enabled": False}
    for np in of_kind(render(tier, "prod"), "NodePool"):
        assert np["spec"]["template"]["metadata"]["labels"]["nvidia.com/gpu.deploy.device-plugin"] == "false"
    assert registry.validate(_cluster_policy(values)) == []
    # An AMI without a host device plugin (AL2023) gets the operator's.
    al2023 = nodepools.gpu_operator_values(ctx_of(tier, "prod", ("capacity.amiAlias=al2023@v20260101",)))
    assert al2023 is not None and al2023["devicePlugin"] == {"enabled": True}


def test_gpu_operator_values_auto_mode_with_dcgm(registry: CrdRegistry) -> None:
    sets = ("monitoring.dcgm=true",)
    ctx = ctx_of("tier1", "prod", sets)
    values = nodepools.gpu_operator_values(ctx)
    assert values is not None and values["devicePlugin"] == {"enabled": False}
    assert values["dcgmExporter"]["enabled"] is True
    np = pool_obj(render("tier1", "prod", sets), ctx, "gpu")
    assert np["spec"]["template"]["metadata"]["labels"]["nvidia.com/gpu.deploy.device-plugin"] == "false"
    assert registry.validate(np) == []
    assert registry.validate(_cluster_policy(values)) == []
    assert nodepools.gpu_operator_values(ctx_of("tier2", "prod", ("monitoring.dcgm=false",))) is None


def test_validators_bite_on_wrong_objects(registry: CrdRegistry) -> None:
    ctx = ctx_of("tier2", "prod")
    objs = render("tier2", "prod")
    good = pool_obj(objs, ctx, "burst")
    never = copy.deepcopy(good)
    never["spec"]["disruption"]["consolidationPolicy"] = "Never"
    assert registry.validate(never) != []
    no_after = copy.deepcopy(good)
    del no_after["spec"]["disruption"]["consolidateAfter"]
    assert registry.validate(no_after) != []
    bad_key = copy.deepcopy(good)
    bad_key["spec"]["template"]["spec"]["requirements"].append({"key": "karpenter.k8s.aws/instance-gpu-vendor", "operator": "In", "values": ["nvidia"]})
    assert registry.validate(bad_key) != []
    bad_budget = copy.deepcopy(good)
    bad_budget["spec"]["disruption"]["budgets"] = [{"nodes": "0", "reasons": ["Consolidation"]}]
    assert registry.validate(bad_budget) != []
    (ec2,) = of_kind(objs, "EC2NodeClass")
    both = copy.deepcopy(ec2)
    both["spec"]["capacityReservationSelectorTerms"] = [{"id": "cr-0123456789abcdef0", "ownerID": "123456789012"}]
    assert registry.validate(both) != []
    no_primary = copy.deepcopy(ec2)
    no_primary["spec"]["networkInterfaces"] = [{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "efa-only"}]
    assert registry.validate(no_primary) != []
    assert registry.validate(_cluster_policy({"dcgm_exporter": {"enabled": True}})) != []
