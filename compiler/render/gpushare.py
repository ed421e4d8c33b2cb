"""GPU sharing (``serving.gpuSharing``) on the profile's side of the cluster: what each serving pod
requests, the node labels that select the slice layout, and what Karpenter must be told so it
launches nodes for sliced pods. The cluster side (MIG strategy, MIG manager layouts, device-plugin
time-slicing configs) is the GPU Operator's, merged per cluster in :mod:`compiler.fleet.sharing`.

- **Resource name** (GPU Operator "GPU Operator with MIG"): with the ``mixed`` MIG strategy a slice
  is the extended resource ``nvidia.com/mig-<profile>``; with ``single`` and with time-slicing each
  slice is one ``nvidia.com/gpu``.
- **Node labels** on the NodePool template, so every node Karpenter launches comes up configured:
  ``nvidia.com/mig.config: all-<profile>`` (the MIG manager applies that mig-parted layout) or
  ``nvidia.com/device-plugin.config: ts-<N>`` (the device plugin loads that config key).
- **NodeOverlay** (``karpenter.sh/v1alpha1``, Karpenter's NodeOverlay feature gate): Karpenter
  simulates nodes from EC2 instance-type data, which knows ``nvidia.com/gpu`` but no MIG resource,
  so without an overlay a pod requesting ``nvidia.com/mig-2g.20gb`` is Pending forever. One
  overlay per (pool, instance type) adds GPUs x slices-per-GPU of that resource to the
  simulation. An overlay only *adds* extended resources (its CRD), so ``nvidia.com/gpu`` slices
  (single strategy, time-slicing) get none: Karpenter then plans one pod per physical GPU and may
  launch more nodes than needed for a burst; the spare ones are empty and consolidated.
"""

from __future__ import annotations

from typing import Any

from ..plan import pool_types
from ..plan.sharing import GPU_RESOURCE, MIG_RESOURCE_PREFIX
from ..profile import Pool
from .meta import WAVE_PLATFORM, Context, metadata, object_name
from .nodeclass import COMPONENT, pool_gpu

OVERLAY_API, OVERLAY_KIND = "karpenter.sh/v1alpha1", "NodeOverlay"
NODEPOOL_KEY = "karpenter.sh/nodepool"
TYPE_KEY = "node.kubernetes.io/instance-type"


def resource_name(ctx: Context) -> str:
    """The extended resource each serving pod requests (one per slice or per whole GPU)."""
    sh = ctx.plan.sharing
    return sh.resource if sh else GPU_RESOURCE


def memory_utilization(ctx: Context) -> float:
    """vLLM's --gpu-memory-utilization: split N ways on a time-sliced GPU (every engine sees the
    whole GPU and takes its fraction of the whole), unchanged on a MIG slice or a whole GPU."""
    sh = ctx.plan.sharing
    return sh.gpu_memory_utilization if sh else ctx.profile.serving.gpu_memory_utilization


def node_labels(ctx: Context, pool: Pool) -> dict[str, str]:
    """Labels that make the GPU Operator configure the pool's nodes for the slices."""
    sh = ctx.plan.sharing
    return sh.node_labels if sh and pool_gpu(pool) else {}


def _overlay(ctx: Context, pool: Pool, instance_type: str, gpus: int, resource: str, per_gpu: int) -> dict[str, Any]:
    nodepool = object_name(ctx, pool.name)
    return {
        "apiVersion": OVERLAY_API,
        "kind": OVERLAY_KIND,
        "metadata": metadata(ctx, object_name(ctx, pool.name, instance_type.replace(".", "-")), COMPONENT, namespaced=False, wave=WAVE_PLATFORM),
        "spec": {
            "requirements": [{"key": NODEPOOL_KEY, "operator": "In", "values": [nodepool]},
                             {"key": TYPE_KEY, "operator": "In", "values": [instance_type]}],
            "capacity": {resource: str(gpus * per_gpu)},
        },
    }


def render(ctx: Context) -> list[dict[str, Any]]:
    """One NodeOverlay per pool and instance type when pods request a MIG resource Karpenter
    cannot know from EC2 (mixed strategy); nothing otherwise."""
    sh = ctx.plan.sharing
    if sh is None or not sh.resource.startswith(MIG_RESOURCE_PREFIX):
        return []
    out = []
    for pool in ctx.profile.capacity.pools:
        known, _ = pool_types(pool)
        out += [_overlay(ctx, pool, t.name, t.gpus, sh.resource, sh.slices_per_gpu) for t in known if t.gpu.name == sh.gpu]
    return out
