"""The DRA path in a cluster's platform: the Cluster Autoscaler for the profiles' managed node
groups, its EKS Pod Identity association, and the NVIDIA DRA driver for GPUs.

Only clusters whose profiles render ``Nodegroup`` objects get the Cluster Autoscaler, only those
whose profiles render ResourceClaimTemplates the DRA driver (read off the objects in
:func:`compiler.fleet.landing.needs_of`).

Order on the cluster: the ACK EKS controller (creates the node groups and the association) ->
the association of ``kube-system/cluster-autoscaler`` -> the Cluster Autoscaler (EKS Pod Identity
injects credentials only into pods created after their association exists). Argo CD: the
association is its own Application in the wave between them; Flux: two Kustomizations beside
``mcompile-platform`` (``mcompile-autoscaler-identity``, then ``mcompile-autoscaler``), because a
PodIdentityAssociation cannot be applied in the same Kustomization as the HelmRelease that installs
its CRD (the server-side dry run of the whole set fails).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic
from ..render.meta import CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY, MANAGED_BY_LABEL, PART_OF_LABEL, POOL_LABEL
from ..render.nodepools import BURST_TAINT, GPU_TAINT
from .charts import ACK_EKS, CLUSTER_AUTOSCALER, CLUSTER_AUTOSCALER_SERVICE_ACCOUNT

if TYPE_CHECKING:
    from .clusters import Cluster

IDENTITY_DIR = "autoscaler-identity"
AUTOSCALER_DIR = "autoscaler"
IDENTITY_KUSTOMIZATION = "mcompile-autoscaler-identity"
AUTOSCALER_KUSTOMIZATION = "mcompile-autoscaler"
#: Between the ACK EKS controller (order 1) and the Cluster Autoscaler (order 3).
IDENTITY_ORDER = 2
PIA_API = "eks.services.k8s.aws/v1alpha1"


def autoscaler_need(cluster_name: str, role_arn: str | None) -> str:
    """What a profile asks of the cluster's Cluster Autoscaler, canonical (landings must agree)."""
    return json.dumps({"clusterName": cluster_name, "roleArn": role_arn}, sort_keys=True)


def settings(cluster: Cluster) -> dict[str, Any] | None:
    for x in cluster.landings:
        if x.needs.autoscaler:
            return dict(json.loads(x.needs.autoscaler))
    return None


def priorities(cluster: Cluster) -> dict[int, list[str]]:
    """The priority expander's map: every node group of the cluster under its pool's weight (higher
    first, as Karpenter weighs pools). Managed node groups' Auto Scaling groups are named
    ``eks-<nodegroup>-<id>``, hence the regular expressions."""
    out: dict[int, set[str]] = {}
    for x in cluster.landings:
        for weight, name in x.needs.nodegroups:
            out.setdefault(weight, set()).add(f"^eks-{name}-.*")
    return {w: sorted(names) for w, names in sorted(out.items(), reverse=True)}


def autoscaler_values(cluster: Cluster) -> dict[str, Any]:
    """AWS auto-discovery of the cluster's tagged groups, the region it calls, its service account
    under a fixed name with no IRSA annotation (EKS Pod Identity), DRA-aware simulation when a
    profile claims devices, and node groups tried in pool-weight order, least waste among equals."""
    s = settings(cluster) or {}
    args: dict[str, Any] = {"logtostderr": True, "stderrthreshold": "info", "v": 4, "expander": "priority,least-waste"}
    if cluster.any("dra_driver"):
        args["enable-dynamic-resource-allocation"] = True
    return {
        "cloudProvider": "aws",
        "awsRegion": cluster.region,
        "autoDiscovery": {"clusterName": s.get("clusterName")},
        "rbac": {"serviceAccount": {"create": True, "name": CLUSTER_AUTOSCALER_SERVICE_ACCOUNT, "annotations": {}}},
        "extraArgs": args,
        "expanderPriorities": {str(w): names for w, names in priorities(cluster).items()},
    }


def dra_driver_values() -> dict[str, Any]:
    """Whole GPUs only (no ComputeDomains: no multi-node NVLink here); the driver is on the host
    (AL2023 NVIDIA AMI: ``nvidiaDriverRoot: /``, the chart's default stated); the GPU kubelet plugin
    must tolerate the GPU and burst taints of the node groups. ``gpuResourcesEnabledOverride``
    acknowledges the chart's guard on GPU allocation (its install guides set it with
    ``resources.gpus.enabled=true``)."""
    return {
        "nvidiaDriverRoot": "/",
        "gpuResourcesEnabledOverride": True,
        "resources": {"gpus": {"enabled": True}, "computeDomains": {"enabled": False}},
        "kubeletPlugin": {"tolerations": [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in (GPU_TAINT, BURST_TAINT)]},
    }


def dcgm_on_dra(values: dict[str, Any], dra: bool) -> dict[str, Any]:
    """GPU Operator values with the DCGM exporter attributing GPUs that DRA hands out to their pods
    (dcgm-exporter flag ``--kubernetes-enable-dra``, env ``KUBERNETES_ENABLE_DRA``, default false:
    "Capture metrics associated with GPUs managed by Kubernetes Dynamic Resource Allocation (DRA)
    API"); else the GPU memory alert and dashboards, which select DCGM series by the pod's
    namespace, would see no series of DRA pods. Set per cluster: device-plugin GPUs are still
    attributed as before."""
    if not dra or not values.get("dcgmExporter", {}).get("enabled"):
        return values
    out = dict(values)
    out["dcgmExporter"] = {**values["dcgmExporter"], "env": [{"name": "KUBERNETES_ENABLE_DRA", "value": "true"}]}
    return out


def identity(cluster: Cluster) -> dict[str, Any]:
    """The Pod Identity association of the Cluster Autoscaler's service account."""
    s = settings(cluster) or {}
    return {
        "apiVersion": PIA_API, "kind": "PodIdentityAssociation",
        "metadata": {"name": CLUSTER_AUTOSCALER.release, "namespace": CLUSTER_AUTOSCALER.namespace,
                     "labels": {MANAGED_BY_LABEL: MANAGED_BY, PART_OF_LABEL: "mcompile-platform", COMPONENT_LABEL: "cluster-autoscaler",
                                CLUSTER_LABEL: cluster.name}},
        "spec": {"clusterName": s.get("clusterName"), "namespace": CLUSTER_AUTOSCALER.namespace,
                 "serviceAccount": CLUSTER_AUTOSCALER_SERVICE_ACCOUNT, "roleARN": s.get("roleArn")},
    }


def conflicts(cluster: Cluster) -> list[Diagnostic]:
    """Profiles on one cluster share its Cluster Autoscaler: same EKS cluster name and role."""
    from .clusters import _who

    first = next((x for x in cluster.landings if x.needs.autoscaler), None)
    if first is None:
        return []
    return [Diagnostic(x.where, "$.capacity.clusterAutoscaler", f"cluster {cluster.name}: {_who(x)} and {_who(first)} give its Cluster Autoscaler "
                       f"different settings ({x.needs.autoscaler} vs {first.needs.autoscaler}); one runs per cluster: align capacity.clusterName "
                       "and capacity.clusterAutoscaler.roleArn")
            for x in cluster.landings if x.needs.autoscaler and x.needs.autoscaler != first.needs.autoscaler]


assert ACK_EKS.order < IDENTITY_ORDER < CLUSTER_AUTOSCALER.order


def needs_of(objects: list[dict[str, Any]], weights: dict[str, int], role_arn: str | None) -> dict[str, Any]:
    """The :class:`~compiler.fleet.landing.Needs` fields of the DRA path, read off a profile's
    objects: Nodegroups -> the Cluster Autoscaler (and the ACK EKS controller that creates them),
    ResourceClaimTemplates -> the DRA driver."""
    groups = [o["spec"] for o in objects if o.get("kind") == "Nodegroup"]
    return {
        "autoscaler": autoscaler_need(str(groups[0]["clusterName"]), role_arn) if groups else None,
        "nodegroups": tuple(sorted((weights.get(str(g.get("labels", {}).get(POOL_LABEL))) or 1, str(g["name"])) for g in groups)),
        "dra_driver": any(o.get("kind") == "ResourceClaimTemplate" for o in objects),
    }
