"""The destination clusters of an invocation and what each one's platform must provide.

Every landing (profile x environment x destination) names a cluster by ``name`` and ``server``.
Landings on one cluster must agree on what is installed once per cluster: the GitOps engine and
where its controller runs, the Prometheus (installed or brought), the GPU Operator values and (with
the installed Prometheus) one dashboard label for its Grafana sidecar.
Disagreement is a located error naming both profiles; the rest is the union of their needs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic
from . import sharing
from .autoscaler import conflicts as autoscaler_conflicts
from .charts import GRAFANA_DASHBOARD_LABEL
from .landing import Landing


@dataclass
class Cluster:
    """A cluster of the fleet and the profile environments that land on it."""

    name: str
    server: str
    landings: list[Landing] = field(default_factory=list)

    @property
    def first(self) -> Landing:
        return self.landings[0]

    @property
    def engine(self) -> str:
        return self.first.gitops.engine

    def any(self, need: str) -> bool:
        return any(getattr(landing.needs, need) for landing in self.landings)

    @property
    def region(self) -> str | None:
        return next((x.region for x in self.landings if x.region), None)

    def dashboard_label(self) -> tuple[str, str]:
        """The label (key, value) the Grafana sidecar selects dashboards by: one that every profile's
        dashboard ConfigMaps carry (``monitoring.dashboards.labels``), the chart's default when it
        is one of them or no profile renders dashboards. None in common is an error of
        :func:`clusters_of`; the first profile's then stands."""
        ((key, value),) = GRAFANA_DASHBOARD_LABEL.items()
        sets = [set(x.needs.dashboard_labels) for x in self.landings if x.needs.dashboard_labels]
        if not sets:
            return key, value
        common = set.intersection(*sets) or sets[0]
        return (key, value) if (key, value) in common else min(common)

    def gpu_sharing(self) -> tuple[str, ...]:
        """The union of what the profiles on the cluster need for shared GPUs (compiler.fleet.sharing)."""
        return tuple(sorted({n for x in self.landings for n in x.needs.gpu_sharing}))

    def gpu_operator_values(self) -> dict[str, Any] | None:
        """The values every landing asked for (they agree: see :func:`clusters_of`)."""
        for landing in self.landings:
            if landing.needs.gpu_operator is not None:
                return dict(json.loads(landing.needs.gpu_operator))
        return None


def _who(landing: Landing) -> str:
    return f"{landing.profile} ({landing.source}, environment {landing.env})"


def _agree(cluster: Cluster, landing: Landing, fields: Sequence[str], what: str) -> list[Diagnostic]:
    """Each field of ``landing.gitops`` must equal the first landing's on this cluster."""
    first = cluster.first
    bad = [f for f in fields if getattr(first.gitops, f) != getattr(landing.gitops, f)]
    if not bad:
        return []
    detail = ", ".join(f"{f} {getattr(landing.gitops, f)!r} vs {getattr(first.gitops, f)!r}" for f in bad)
    return [Diagnostic(landing.gitops_where, "$.gitops", f"cluster {cluster.name}: {_who(landing)} and {_who(first)} disagree on {what} ({detail}); "
                       "a cluster has one GitOps controller and one platform")]


def clusters_of(landings: Sequence[Landing]) -> tuple[dict[str, Cluster], list[Diagnostic]]:
    clusters: dict[str, Cluster] = {}
    by_server: dict[str, Landing] = {}
    errors: list[Diagnostic] = []
    for landing in sorted(landings, key=lambda x: (x.cluster, x.profile, x.env)):
        other = by_server.setdefault(landing.server, landing)
        if other.cluster != landing.cluster:
            errors.append(Diagnostic(landing.where, "$.gitops.destinations", f"server {landing.server} is cluster {other.cluster!r} in {_who(other)} "
                                     f"but {landing.cluster!r} here: one server, one cluster name"))
            continue
        cluster = clusters.setdefault(landing.cluster, Cluster(landing.cluster, landing.server))
        if cluster.server != landing.server:
            errors.append(Diagnostic(landing.where, "$.gitops.destinations", f"cluster {landing.cluster!r} has server {cluster.server} in {_who(cluster.first)} "
                                     f"but {landing.server} here: one cluster name, one server"))
            continue
        if cluster.landings:
            errors += _consistent(cluster, landing)
        cluster.landings.append(landing)
    for cluster in clusters.values():
        errors += _region(cluster) + _dashboards(cluster) + autoscaler_conflicts(cluster)
    return clusters, errors


def _region(cluster: Cluster) -> list[Diagnostic]:
    """One region per cluster; required where an AWS controller runs (it signs its API calls)."""
    regions = {x.region for x in cluster.landings if x.region}
    if len(regions) > 1:
        return [Diagnostic(cluster.first.where, "$.gitops.destinations", f"cluster {cluster.name} is given the regions {', '.join(sorted(regions))}: one cluster, one region")]
    if cluster.any("ack_eks") and not regions:
        needing = next(x for x in cluster.landings if x.needs.ack_eks)
        return [Diagnostic(needing.where, "$.gitops.destinations", f"required: set region on the destination {cluster.name} "
                           f"({_who(needing)} renders PodIdentityAssociation objects: the platform installs the ACK EKS controller, which calls the EKS API of that region)")]
    return []


def _dashboards(cluster: Cluster) -> list[Diagnostic]:
    """The installed Grafana has one sidecar selector: every profile's dashboards must carry it."""
    boards = [x for x in cluster.landings if x.needs.dashboard_labels]
    if not boards or not cluster.first.prometheus.install or set.intersection(*(set(x.needs.dashboard_labels) for x in boards)):
        return []
    first = boards[0]
    return [Diagnostic(x.dashboards_where or x.where, "$.monitoring.dashboards.labels",
                       f"cluster {cluster.name}: the dashboards of {_who(x)} and {_who(first)} share no label; the Grafana sidecar of the "
                       "platform's kube-prometheus-stack selects one label: give them a common one")
            for x in boards[1:] if not set(x.needs.dashboard_labels) & set(first.needs.dashboard_labels)] or [
        Diagnostic(boards[-1].dashboards_where or boards[-1].where, "$.monitoring.dashboards.labels",
                   f"cluster {cluster.name}: no label is common to the dashboards of all its profiles ({', '.join(_who(x) for x in boards)}); "
                   "the Grafana sidecar of the platform's kube-prometheus-stack selects one label: give them a common one")]


def _consistent(cluster: Cluster, landing: Landing) -> list[Diagnostic]:
    first = cluster.first
    if landing.gitops.engine != first.gitops.engine:
        return [Diagnostic(landing.gitops_where, "$.gitops.engine", f"cluster {cluster.name}: {_who(landing)} deploys with {landing.gitops.engine} "
                           f"but {_who(first)} with {first.gitops.engine}: one GitOps engine per cluster (it installs the platform once)")]
    fields = ("controller_namespace", "project") if first.gitops.engine == "argocd" else ("repo_url", "revision", "path", "controller_namespace")
    errors = _agree(cluster, landing, fields, "the GitOps settings of the platform")
    if landing.prometheus != first.prometheus:
        errors.append(Diagnostic(landing.prometheus_where, "$.platform.prometheus", f"cluster {cluster.name}: {_who(landing)} and {_who(first)} declare "
                                 "different Prometheus (install, serverAddress, namespace, selectorLabels): a cluster has one"))
    mine, theirs = landing.needs.gpu_operator, next((x.needs.gpu_operator for x in cluster.landings if x.needs.gpu_operator), None)
    if mine is not None and theirs is not None and mine != theirs:
        owner = next(x for x in cluster.landings if x.needs.gpu_operator == theirs)
        errors.append(Diagnostic(landing.gpu_where, "$.capacity.amiAlias", f"cluster {cluster.name}: {_who(landing)} and {_who(owner)} need different "
                                 f"NVIDIA GPU Operator values ({_difference(json.loads(mine), json.loads(theirs))}); one operator runs per cluster: "
                                 "align the AMI family (capacity.amiAlias) and monitoring settings of the profiles on it"))
    mig = sharing.strategies(landing.needs.gpu_sharing)
    other = next((x for x in cluster.landings if sharing.strategies(x.needs.gpu_sharing) - mig and mig), None)
    if other is not None:
        errors.append(Diagnostic(landing.sharing_where or landing.where, "$.serving.gpuSharing.migStrategy", f"cluster {cluster.name}: {_who(landing)} "
                                 f"uses the MIG strategy {', '.join(sorted(mig))} but {_who(other)} "
                                 f"{', '.join(sorted(sharing.strategies(other.needs.gpu_sharing)))}: the GPU Operator has one mig.strategy per cluster"))
    return errors


def _difference(a: Any, b: Any, path: str = "") -> str:
    """The first leaf where two values differ, as ``path: a vs b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    return f"{path}: {json.dumps(a)} vs {json.dumps(b)}"
