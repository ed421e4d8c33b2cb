"""Cluster capacity: one Karpenter NodePool per profile pool, their node classes (see
:mod:`.nodeclass`), and the NVIDIA GPU Operator values that go with them.

The NodePool is ``karpenter.sh/v1`` on both provisioners; only the node class and the label domain
differ. EKS Auto Mode (tier1) uses ``eks.amazonaws.com/*`` requirement keys, self-managed Karpenter
(tier2/tier3) ``karpenter.k8s.aws/*`` keys, whose CRD only admits a fixed allow-list.

Choices that keep real clusters healthy (domain-facts.md):
- ``consolidationPolicy: WhenEmpty`` (``Never`` is not a policy); ``consolidateAfter`` comes from
  the pool and may be ``Never``. A node serving a model is never "underutilized" in a way worth a
  cold start of several minutes.
- Pools that can host multi-node replicas (EFA pools, or any LeaderWorkerSet role) get a budget of
  0 nodes for Drifted/Underutilized, so a group is never split under a running model.
- Every GPU pool is tainted ``nvidia.com/gpu``; burst pools add ``mcompile.io/burst`` so only pods
  that opt in land on spot capacity.
- ``limits`` come from the planner, which makes them hold at least one node of every allowed type.
"""

from __future__ import annotations

import math
from typing import Any

from ..catalog import types_of_family
from ..plan import min_gpus_per_pod, pool_types
from ..profile import Pool
from .meta import BURST_TAINT_KEY, POOL_LABEL, PROFILE_LABEL, WAVE_PLATFORM, Context, metadata, object_name
from .nodeclass import COMPONENT, is_bottlerocket, node_class_ref, pool_gpu, render_classes, reservation_requirements

NODEPOOL_API, NODEPOOL_KIND = "karpenter.sh/v1", "NodePool"

TYPE_KEY = "node.kubernetes.io/instance-type"
CAPACITY_TYPE_KEY = "karpenter.sh/capacity-type"
KARPENTER_FAMILY_KEY = "karpenter.k8s.aws/instance-family"
AUTO_FAMILY_KEY = "eks.amazonaws.com/instance-family"
AUTO_GPU_MANUFACTURER_KEY = "eks.amazonaws.com/instance-gpu-manufacturer"
KARPENTER_GPU_COUNT_KEY = "karpenter.k8s.aws/instance-gpu-count"
AUTO_GPU_COUNT_KEY = "eks.amazonaws.com/instance-gpu-count"

#: GPU Operator node label that keeps its device plugin off a node whose host already runs one.
DEVICE_PLUGIN_DEPLOY_LABEL = "nvidia.com/gpu.deploy.device-plugin"

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
BURST_TAINT = {"key": BURST_TAINT_KEY, "value": "true", "effect": "NoSchedule"}

KARPENTER_EXPIRE_AFTER = "720h"
#: Auto Mode caps node lifetime (21 days); 14 days matches its built-in pools.
AUTO_EXPIRE_AFTER = "336h"
#: Node terminationGracePeriod = longest pod grace + this margin, so Karpenter never cuts a vLLM
#: drain short (it deletes pods early when their grace would outlast the node's).
DRAIN_MARGIN_SECONDS = 600


def family_of(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def _req(key: str, values: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


def instance_requirements(pool: Pool, family_key: str) -> list[dict[str, Any]]:
    """Instance selection on exactly one key, meaning the union the planner sized the pool for.

    Karpenter ANDs requirements, so a pool with both ``instanceTypes`` and ``instanceFamilies`` must
    not render both keys: types [g6e.12xlarge] AND families [g5] match nothing (pods Pending
    forever). Types go under ``node.kubernetes.io/instance-type``, families under the family key;
    when both are given the union is written on one key: the families if they already cover every
    type, else the types plus the catalog sizes of the families, else (a family the catalog does
    not know) the families widened by the types' families.
    """
    types, fams = pool.instance_types, pool.instance_families
    if not fams:
        return [_req(TYPE_KEY, types)]
    if not types or all(family_of(t) in fams for t in types):
        return [_req(family_key, fams)]
    if all(types_of_family(f) for f in fams):
        expanded = set(types) | {t.name for f in fams for t in types_of_family(f)}
        return [_req(TYPE_KEY, sorted(expanded))]
    return [_req(family_key, sorted(set(fams) | {family_of(t) for t in types}))]


def gpu_count_requirement(ctx: Context, pool: Pool, auto: bool) -> list[dict[str, Any]]:
    """``instance-gpu-count > n - 1`` when the pool's types include sizes with fewer GPUs than the
    smallest serving pod needs (a family list such as [g6e, p5] includes 1-, 4- and 8-GPU sizes):
    Karpenter then never launches a size no serving pod fits, and the planner's limits and prices
    assume the same sizes. Both label domains publish the key for single-GPU-model types."""
    need = min_gpus_per_pod(ctx.plan.roles)
    known, _ = pool_types(pool)
    if need <= 1 or not any(t.gpus < need for t in known):
        return []
    key = (AUTO_GPU_COUNT_KEY if auto else KARPENTER_GPU_COUNT_KEY)
    return [{"key": key, "operator": "Gt", "values": [str(need - 1)]}]


def requirements(ctx: Context, pool: Pool) -> list[dict[str, Any]]:
    auto = ctx.profile.capacity.provisioner == "autoMode"
    out = [_req(CAPACITY_TYPE_KEY, pool.capacity_types)]
    out += reservation_requirements(ctx, pool)  # Capacity Block pools (compiler/render/nodeclass.py)
    out += instance_requirements(pool, AUTO_FAMILY_KEY if auto else KARPENTER_FAMILY_KEY)
    out += gpu_count_requirement(ctx, pool, auto)
    if auto and pool_gpu(pool):
        out.append(_req(AUTO_GPU_MANUFACTURER_KEY, ["nvidia"]))
    out += [_req("kubernetes.io/arch", ["amd64"]), _req("kubernetes.io/os", ["linux"])]
    return out


def taints(pool: Pool) -> list[dict[str, str]]:
    out = [dict(GPU_TAINT)] if pool_gpu(pool) else []
    if pool.role == "burst":
        out.append(dict(BURST_TAINT))
    return out


def tolerations(pool: Pool) -> list[dict[str, str]]:
    """Pod tolerations that let a workload run on ``pool`` (for the serving renderers)."""
    return [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in taints(pool)]


def multi_node(ctx: Context, pool: Pool) -> bool:
    """Can a multi-node replica (LeaderWorkerSet group) land on this pool?"""
    return pool.efa or any(r.multi_node for r in ctx.plan.roles)


def budgets(ctx: Context, pool: Pool) -> list[dict[str, Any]]:
    """Disruption budgets. Several active budgets: Karpenter applies the most restrictive one."""
    if multi_node(ctx, pool):
        # Never drift-replace or consolidate a node under a group; everything else one node at a
        # time, so two groups are never disrupted by Karpenter at once.
        return [{"nodes": "0", "reasons": ["Drifted", "Underutilized"]}, {"nodes": "1"}]
    if pool.role == "burst":
        # Spot burst capacity: empty nodes all go at once, other disruptions 10% at a time.
        return [{"nodes": "100%", "reasons": ["Empty"]}, {"nodes": "10%", "reasons": ["Drifted", "Underutilized"]}]
    return [{"nodes": "10%"}]


def termination_grace(ctx: Context) -> str:
    longest = max((r.termination_grace_seconds for r in ctx.plan.roles), default=0)
    return f"{math.ceil((longest + DRAIN_MARGIN_SECONDS) / 60)}m"


def limits(ctx: Context, pool: Pool) -> dict[str, str]:
    pp = ctx.plan.pool(pool.name)
    out = {"cpu": str(pp.limit_cpu), "memory": f"{pp.limit_memory_gi}Gi"}
    if pool_gpu(pool):
        out["nvidia.com/gpu"] = str(pp.limit_gpus)
    return out


def host_ships_device_plugin(ctx: Context) -> bool:
    """Auto Mode and Bottlerocket's NVIDIA variants run the NVIDIA device plugin on the host; a second
    one from the GPU Operator fights it for ``nvidia.com/gpu`` (on Auto Mode allocatable drops to 0).
    Managed node groups run the AL2023 NVIDIA AMI, which has none (compiler/render/nodegroups.py)."""
    if ctx.profile.capacity.provisioner == "managedNodeGroup":
        return False
    return ctx.profile.capacity.provisioner == "autoMode" or is_bottlerocket(ctx)


def node_labels(ctx: Context, pool: Pool) -> dict[str, str]:
    out = {POOL_LABEL: pool.name, PROFILE_LABEL: ctx.name}
    if pool_gpu(pool) and host_ships_device_plugin(ctx):  # whichever profile's GPU Operator runs on the cluster
        out[DEVICE_PLUGIN_DEPLOY_LABEL] = "false"
    return out


def node_pool(ctx: Context, pool: Pool) -> dict[str, Any]:
    auto = ctx.profile.capacity.provisioner == "autoMode"
    template_spec: dict[str, Any] = {
        "nodeClassRef": node_class_ref(ctx, pool),
        "requirements": requirements(ctx, pool),
        "expireAfter": AUTO_EXPIRE_AFTER if auto else KARPENTER_EXPIRE_AFTER,
        "terminationGracePeriod": termination_grace(ctx),
    }
    pool_taints = taints(pool)
    if pool_taints:
        template_spec["taints"] = pool_taints
    spec = {
        "template": {"metadata": {"labels": node_labels(ctx, pool)}, "spec": template_spec},
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": pool.consolidate_after, "budgets": budgets(ctx, pool)},
        "limits": limits(ctx, pool),
        "weight": pool.weight,
    }
    name = object_name(ctx, pool.name)
    return {"apiVersion": NODEPOOL_API, "kind": NODEPOOL_KIND, "metadata": metadata(ctx, name, COMPONENT, namespaced=False, wave=WAVE_PLATFORM), "spec": spec}


def gpu_operator_values(ctx: Context) -> dict[str, Any] | None:
    """Helm values for the NVIDIA gpu-operator chart, or None when the cluster needs no operator.

    Keys mirror the ClusterPolicy spec (driver, toolkit, devicePlugin, dcgmExporter, migManager,
    daemonsets). Bottlerocket and EKS AMIs ship the driver and toolkit; Auto Mode and Bottlerocket
    also ship the device plugin, so the operator is only needed there for DCGM metrics.
    """
    mon = ctx.profile.monitoring
    host_plugin = host_ships_device_plugin(ctx)
    if host_plugin and not mon.dcgm:
        return None
    dcgm: dict[str, Any] = {"enabled": mon.dcgm}
    if mon.dcgm and mon.enabled:
        dcgm["serviceMonitor"] = {"enabled": True, "interval": mon.interval, "honorLabels": False, "additionalLabels": dict(mon.selector_labels)}
    return {
        "driver": {"enabled": False},
        "toolkit": {"enabled": False},
        "devicePlugin": {"enabled": not host_plugin},
        "dcgmExporter": dcgm,
        "migManager": {"enabled": False},
        "daemonsets": {"tolerations": [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in (GPU_TAINT, BURST_TAINT)]},
    }


def render(ctx: Context) -> list[dict[str, Any]]:
    """Node classes first (NodePools reference them), then one NodePool per profile pool; managed
    node groups instead (compiler/render/nodegroups.py)."""
    if ctx.profile.capacity.provisioner == "managedNodeGroup":
        return []
    return render_classes(ctx) + [node_pool(ctx, pool) for pool in ctx.profile.capacity.pools]
