"""What one environment of one profile brings to each cluster it lands on (picklable: worker
processes compute it next to the profile's own files and send it back).

A :class:`Landing` is one (profile, environment, destination cluster): where the destination is
declared, how the cluster is synced, which objects the profile applies there (for the collision
check) and what it needs from the cluster's platform, read off the rendered objects themselves
(a LeaderWorkerSet needs the LWS controller, a ScaledObject KEDA, an ``vpc.amazonaws.com/efa``
request the EFA device plugin, a StorageClass of the EFS CSI provisioner the EFS CSI driver, the
labels of dashboard ConfigMaps the Grafana sidecar's selector, ...), so a new resource family needs no change here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Source
from ..profile import Prometheus
from ..render.cache import EFS_PROVISIONER
from ..render.dashboards import COMPONENT as DASHBOARDS
from ..render.meta import COMPONENT_LABEL, Context
from ..render.nodepools import gpu_operator_values
from ..types import Compiled, ObjectKey
from . import sharing
from .autoscaler import needs_of as dra_needs

EFA_RESOURCE = "vpc.amazonaws.com/efa"
GATEWAY_KINDS = frozenset({"InferencePool", "HTTPRoute", "GRPCRoute", "Gateway"})
PROMETHEUS_KINDS = frozenset({"PodMonitor", "ServiceMonitor", "PrometheusRule"})


@dataclass(frozen=True)
class Needs:
    """What a cluster's platform must provide for one environment of one profile."""

    gpu_operator: str | None  # canonical JSON of the GPU Operator values it needs, None: no operator
    efa: bool
    lws: bool
    keda: bool
    prometheus: bool  # monitors, rules or a Prometheus-triggered autoscaler
    gateway: bool  # Gateway API + Inference Extension CRDs and a Gateway controller
    auto_mode_network_policy: bool  # Auto Mode with NetworkPolicies: the VPC CNI policy controller
    ack_eks: bool = False  # PodIdentityAssociation objects: the ACK EKS controller creates them in AWS
    efs_csi: bool = False  # a StorageClass of provisioner efs.csi.aws.com (or a PVC of one): the EFS CSI driver
    dashboard_labels: tuple[tuple[str, str], ...] = ()  # labels every dashboard ConfigMap carries (sidecar selector)
    gpu_sharing: tuple[str, ...] = ()  # MIG layouts / time-slicing the GPU Operator must provide (compiler.fleet.sharing)
    autoscaler: str | None = None  # Nodegroups: canonical JSON of the Cluster Autoscaler settings (compiler/fleet/autoscaler.py)
    nodegroups: tuple[tuple[int, str], ...] = ()  # (pool weight, node group name): the priority expander's order
    dra_driver: bool = False  # ResourceClaimTemplates: the NVIDIA DRA driver for GPUs


@dataclass(frozen=True)
class GitOpsTarget:
    """Where a GitOps engine reads an environment's output from."""

    engine: str
    repo_url: str
    revision: str
    path: str
    project: str
    controller_namespace: str


@dataclass(frozen=True)
class Landing:
    """One profile environment landing on one cluster, with what its platform needs."""

    profile: str
    source: str  # the profile's display path
    env: str
    cluster: str
    server: str
    region: str | None
    where: Source  # the gitops.destinations entry
    gitops: GitOpsTarget
    gitops_where: Source
    needs: Needs
    gpu_where: Source  # what to blame for GPU Operator values (the AMI family, else the tier)
    prometheus: Prometheus
    prometheus_where: Source
    objects: tuple[tuple[ObjectKey, Source], ...]  # applied to the cluster (workloads, Flux objects)
    dashboards_where: Source | None = None  # monitoring.dashboards.labels
    sharing_where: Source | None = None  # serving.gpuSharing


def _has_key(value: Any, key: str) -> bool:
    """True when a mapping anywhere in ``value`` has ``key`` (one loop over a stack: nested
    generators cost a frame per level for every node)."""
    stack = [value] if isinstance(value, (dict, list)) else []
    while stack:  # (only containers are pushed: most nodes are strings, each one test less)
        node = stack.pop()
        if isinstance(node, dict):
            if key in node:
                return True
            stack.extend([v for v in node.values() if isinstance(v, _CONTAINERS)])
        else:
            stack.extend([v for v in node if isinstance(v, _CONTAINERS)])
    return False


_CONTAINERS = (dict, list)


def _efs_csi(objects: Sequence[dict[str, Any]]) -> bool:
    """A StorageClass the EFS CSI driver provisions, or a PVC of such a class."""
    classes = {o["metadata"]["name"] for o in objects if o.get("kind") == "StorageClass" and o.get("provisioner") == EFS_PROVISIONER}
    claims = [o for o in objects if o.get("kind") == "PersistentVolumeClaim"]
    return bool(classes) or any(o.get("spec", {}).get("storageClassName") in classes for o in claims)


def _dashboard_labels(c: Compiled) -> tuple[tuple[str, str], ...]:
    """The profile's ``monitoring.dashboards.labels`` that every rendered dashboard ConfigMap
    carries (empty: no dashboards)."""
    boards = [o["metadata"].get("labels", {}) for o in c.objects
              if o.get("kind") == "ConfigMap" and o["metadata"].get("labels", {}).get(COMPONENT_LABEL) == DASHBOARDS]
    return tuple(sorted((k, v) for k, v in c.profile.monitoring.dashboard_labels if boards and all(b.get(k) == v for b in boards)))


def needs_of(c: Compiled) -> Needs:
    objects = c.objects
    kinds = {o.get("kind") for o in objects}
    efa = any(_has_key(o.get("spec"), EFA_RESOURCE) for o in objects)
    prom_trigger = any(t.get("type") == "prometheus" for o in objects if o.get("kind") == "ScaledObject" for t in o["spec"].get("triggers", []))
    values = gpu_operator_values(Context(c.profile, c.plan))
    return Needs(
        gpu_operator=json.dumps(values, sort_keys=True) if values is not None else None,
        efa=efa,
        lws="LeaderWorkerSet" in kinds,
        keda="ScaledObject" in kinds,
        prometheus=bool(kinds & PROMETHEUS_KINDS) or prom_trigger or bool(values and values.get("dcgmExporter", {}).get("serviceMonitor")),
        gateway=bool(kinds & GATEWAY_KINDS),
        auto_mode_network_policy=c.profile.capacity.provisioner == "autoMode" and "NetworkPolicy" in kinds,
        ack_eks=bool(kinds & {"PodIdentityAssociation", "Nodegroup"}),
        efs_csi=_efs_csi(objects),
        dashboard_labels=_dashboard_labels(c),
        gpu_sharing=sharing.needs_of(c.plan),
        **dra_needs(list(objects), {p.name: p.weight for p in c.profile.capacity.pools}, c.profile.capacity.autoscaler_role_arn),
    )


def _src(c: Compiled, path: Sequence[str | int]) -> Source:
    """Where ``path`` was set; a value from the tier defaults is blamed on the profile's ``tier``
    line (the user never wrote the defaults file)."""
    merged = c.resolved.merged
    found = merged.source(list(path))
    if found is None or found.layer == "tier default":
        found = merged.source(["tier"])
    return found or Source(c.profile.source, 1, 1, "profile")


def object_sources(c: Compiled, objects: Sequence[dict[str, Any]]) -> tuple[tuple[ObjectKey, Source], ...]:
    out = []
    where = {"namespace": _src(c, ["metadata", "namespace"]), "name": _src(c, ["metadata", "name"])}  # (the same two for every object)
    for obj in objects:
        m = obj.get("metadata", {})
        key = (obj["apiVersion"], obj["kind"], m.get("namespace", ""), m["name"])
        out.append((key, where["namespace" if key[2] else "name"]))
    return tuple(out)


def landings_of(c: Compiled, cluster_objects: Sequence[dict[str, Any]] = ()) -> list[Landing]:
    """One landing per destination of ``c``'s environment; ``cluster_objects`` are the GitOps
    objects the profile applies on each of those clusters (Flux), beside its workloads."""
    p, g = c.profile, c.profile.gitops
    target = GitOpsTarget(g.engine, g.repo_url, g.revision, g.path, g.project, g.controller_namespace)
    needs = needs_of(c)
    owned = object_sources(c, list(c.objects) + list(cluster_objects))
    out = []
    for i, d in enumerate(g.destinations):
        if d.environment != p.env:
            continue
        out.append(Landing(p.name, p.source, p.env, d.name, d.server, d.region, _src(c, ["gitops", "destinations", i]), target, _src(c, ["gitops"]),
                           needs, _src(c, ["capacity", "amiAlias"]), p.prometheus, _src(c, ["platform", "prometheus"]), owned,
                           _src(c, ["monitoring", "dashboards", "labels"]), _src(c, ["serving", "gpuSharing"])))
    return out
