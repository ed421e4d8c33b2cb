"""EKS managed node groups (``capacity.provisioner: managedNodeGroup``): one ACK ``Nodegroup``
(``eks.services.k8s.aws/v1alpha1``, eks-controller v1.20.0, CRD in
``../shared/upstream/crds/ack-eks/``) per profile pool, scaled by the Cluster Autoscaler the
cluster platform installs (:mod:`compiler.fleet.autoscaler`).

* ``scalingConfig`` from :mod:`compiler.plan.nodegroups` (min/max like Karpenter pool limits);
  the annotation ``eks.services.k8s.aws/desired-size-managed-by: external-autoscaler`` makes the
  ACK controller leave ``desiredSize`` to the Cluster Autoscaler after creation
  (aws-controllers-k8s/eks-controller PR #85), so the two never fight over the group's size;
* tags ``k8s.io/cluster-autoscaler/enabled`` and ``k8s.io/cluster-autoscaler/<cluster>``: the
  Cluster Autoscaler's AWS auto-discovery tags (its chart's ``autoDiscovery.tags`` default, and the
  eksctl autoscaling guide on docs.aws.amazon.com). The Cluster Autoscaler reads them on the node
  group's Auto Scaling group, which EKS tags itself ("Nodes launched as part of a managed node group
  are automatically tagged for auto-discovery by the Kubernetes Cluster Autoscaler", EKS user guide,
  managed-node-groups); the Nodegroup's own ``tags`` stay on the EKS node group resource (they "don't
  propagate", says the CRD) and state the same intent there;
* ``amiType: AL2023_x86_64_NVIDIA`` for GPU types: the NVIDIA driver and container toolkit are on
  the AMI, no device plugin, so the NVIDIA DRA driver (or the GPU Operator's device plugin) is the
  one that advertises the GPUs;
* node labels: the pool and profile labels the serving pods select, the capacity type the cost
  dashboard reads (``karpenter.sh/capacity-type``: on-demand / spot), and with DRA
  ``nvidia.com/gpu.deploy.device-plugin: "false"`` (the GPU Operator keeps its device plugin off
  these nodes, so the GPUs are not advertised twice) and ``nvidia.com/gpu.present: "true"`` (the DRA
  driver chart's kubelet-plugin node affinity); taint ``nvidia.com/gpu=true:NoSchedule`` (EKS spells
  the effect ``NO_SCHEDULE``), burst pools also ``mcompile.io/burst``.
"""

from __future__ import annotations

from typing import Any

from ..plan.nodegroups import size
from ..profile import Pool
from .meta import POOL_LABEL, PROFILE_LABEL, WAVE_PLATFORM, Context, metadata, object_name
from .nodeclass import pool_gpu
from .nodepools import BURST_TAINT, CAPACITY_TYPE_KEY, DEVICE_PLUGIN_DEPLOY_LABEL, GPU_TAINT

API, KIND = "eks.services.k8s.aws/v1alpha1", "Nodegroup"
COMPONENT = "nodegroup"
MANAGED = "managedNodeGroup"
#: ACK eks-controller: ``external-autoscaler`` leaves scalingConfig.desiredSize to the Cluster Autoscaler.
DESIRED_SIZE_ANNOTATION = "eks.services.k8s.aws/desired-size-managed-by"
EXTERNAL_AUTOSCALER = "external-autoscaler"
CA_ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"
CA_CLUSTER_TAG_PREFIX = "k8s.io/cluster-autoscaler/"
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
GPU_AMI_TYPE = "AL2023_x86_64_NVIDIA"
CPU_AMI_TYPE = "AL2023_x86_64_STANDARD"
CAPACITY_TYPES = {"on-demand": "ON_DEMAND", "spot": "SPOT"}
#: Kubernetes taint effect -> EKS managed node group taint effect.
EFFECTS = {"NoSchedule": "NO_SCHEDULE", "NoExecute": "NO_EXECUTE", "PreferNoSchedule": "PREFER_NO_SCHEDULE"}
#: Root volume when the profile does not set one: image + weights + the compile caches.
DISK_FLOOR_GI = 200


def is_managed(ctx: Context) -> bool:
    return ctx.profile.capacity.provisioner == MANAGED


def dra(ctx: Context) -> bool:
    return ctx.profile.serving.gpu_allocation == "dra"


#: Cluster Autoscaler FAQ ("What types of pods can prevent CA from removing a node?"): it never
#: removes a node to move a pod with this annotation, as Karpenter's do-not-disrupt does for its nodes.
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


def pod_annotations(ctx: Context) -> dict[str, str]:
    """Serving pods on managed node groups: the Cluster Autoscaler must not drain a node under a
    loaded model to consolidate (a scaled-down replica's pod is deleted, its empty node removed)."""
    return {SAFE_TO_EVICT: "false"} if is_managed(ctx) else {}


def node_labels(ctx: Context, pool: Pool) -> dict[str, str]:
    """Pool and profile (the serving pods select them), the capacity type under the key the cost
    dashboard reads from ``kube_node_labels`` (:data:`compiler.render.metrics.COST_NODE_LABELS`;
    Karpenter sets it on its nodes, EKS does not on managed ones), and the DRA labels."""
    out = {POOL_LABEL: pool.name, PROFILE_LABEL: ctx.name, CAPACITY_TYPE_KEY: pool.capacity_types[0]}
    if pool_gpu(pool) and dra(ctx):
        out[DEVICE_PLUGIN_DEPLOY_LABEL] = "false"
        out[GPU_PRESENT_LABEL] = "true"
    return out


def taints(pool: Pool) -> list[dict[str, str]]:
    out = [GPU_TAINT] if pool_gpu(pool) else []
    if pool.role == "burst":
        out.append(BURST_TAINT)
    return [{"key": t["key"], "value": t["value"], "effect": EFFECTS[t["effect"]]} for t in out]


def disk_gi(ctx: Context) -> int:
    cap = ctx.profile.capacity
    return cap.root_volume_gi or max(DISK_FLOOR_GI, 2 * int(ctx.profile.model.weight_gb) + 100)


def nodegroup(ctx: Context, pool: Pool) -> dict[str, Any]:
    cap = ctx.profile.capacity
    sz = size(pool, ctx.plan.roles, ctx.profile)
    name = object_name(ctx, pool.name)
    spec: dict[str, Any] = {
        "name": name,
        "clusterName": cap.cluster_name,
        "version": cap.kubernetes_version,
        "nodeRole": cap.node_role,
        "subnets": list(cap.subnets),
        "amiType": GPU_AMI_TYPE if pool_gpu(pool) else CPU_AMI_TYPE,
        "capacityType": CAPACITY_TYPES[pool.capacity_types[0]],
        "instanceTypes": list(pool.instance_types),
        "diskSize": disk_gi(ctx),
        "scalingConfig": {"minSize": sz.min_size, "desiredSize": sz.desired_size, "maxSize": sz.max_size},
        # One node at a time: a replaced node takes a model replica with it.
        "updateConfig": {"maxUnavailable": 1},
        "labels": node_labels(ctx, pool),
        "tags": {CA_ENABLED_TAG: "true", f"{CA_CLUSTER_TAG_PREFIX}{cap.cluster_name}": "owned"},
    }
    pool_taints = taints(pool)
    if pool_taints:
        spec["taints"] = pool_taints
    annotations = {DESIRED_SIZE_ANNOTATION: EXTERNAL_AUTOSCALER}
    return {"apiVersion": API, "kind": KIND, "metadata": metadata(ctx, name, COMPONENT, wave=WAVE_PLATFORM, annotations=annotations), "spec": spec}


def render(ctx: Context) -> list[dict[str, Any]]:
    if not is_managed(ctx):
        return []
    return [nodegroup(ctx, pool) for pool in ctx.profile.capacity.pools]
