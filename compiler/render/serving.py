"""Single-pod replicas (tier1/tier2, and any non-disaggregated role that fits one node): a
Deployment, its Service and PodDisruptionBudget, plus the profile's ServiceAccount.

Multi-node and disaggregated roles are LeaderWorkerSets (:mod:`.lws`); this module renders
nothing for them, except the ServiceAccount, which every serving pod of the profile uses.
"""

from __future__ import annotations

from typing import Any

from ..plan.model import RolePlan
from . import meta
from .meta import Context
from .vllm import is_lws_role, pod_template, workload_annotations

#: Rollout headroom on top of the model-load budget: node provisioning and a ~10 GB image pull.
PROGRESS_MARGIN_SECONDS = 900


def render(ctx: Context) -> list[dict[str, Any]]:
    out = [service_account(ctx)]
    for rp in ctx.plan.roles:
        if is_lws_role(ctx, rp):
            continue
        out += [deployment(ctx, rp), service(ctx, rp), pod_disruption_budget(ctx, rp)]
    return out


def workload_name(ctx: Context, rp: RolePlan) -> str:
    """``<name>`` for the ``serve`` role (what autoscaling and monitoring target)."""
    return meta.object_name(ctx) if rp.role == "serve" else meta.object_name(ctx, rp.role)


def service_account(ctx: Context) -> dict[str, Any]:
    """EKS Pod Identity associates this ServiceAccount with the IAM role that reads the weights."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta.metadata(ctx, ctx.profile.serving.service_account, "serve"),
        "automountServiceAccountToken": False,
    }


def deployment(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if not ctx.profile.autoscaling.enabled:
        # With KEDA the ScaledObject owns the replica count: a replicas field here would reset it
        # on every sync and fight the autoscaler.
        spec["replicas"] = rp.min_replicas
    spec.update({
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": meta.selector(ctx, rp.role)},
        # GPUs are scarce but so is capacity: start the new pod first (one extra node during a
        # rollout) and never take a serving pod away before its replacement is ready.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        # The default 600 s would report a healthy rollout of a slow-loading model as failed.
        "progressDeadlineSeconds": rp.startup_budget_seconds + PROGRESS_MARGIN_SECONDS,
        "template": pod_template(ctx, rp, deployment=True),
    })
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta.metadata(ctx, workload_name(ctx, rp), rp.role, annotations=workload_annotations(ctx, rp)), "spec": spec}


def service(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    port = ctx.profile.serving.port
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(ctx, workload_name(ctx, rp), rp.role),
        "spec": {
            "type": "ClusterIP",
            "selector": meta.selector(ctx, rp.role),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pod_disruption_budget(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    """``maxUnavailable: 1`` drains nodes one serving pod at a time; unlike ``minAvailable: 1`` it
    still lets a single-replica deployment be drained (a node upgrade must not block forever).
    Unhealthy pods (e.g. still loading) may always be evicted: they serve nothing."""
    return disruption_budget(ctx, workload_name(ctx, rp), rp.role)


def disruption_budget(ctx: Context, name: str, component: str, max_unavailable: int = 1,
                      expressions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The PDB shared by Deployments and LeaderWorkerSets: the pods of ``component`` (narrowed by
    ``expressions``, e.g. LeaderWorkerSet group indices), ``max_unavailable`` at a time."""
    selector: dict[str, Any] = {"matchLabels": meta.selector(ctx, component)}
    if expressions:
        selector["matchExpressions"] = expressions
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.metadata(ctx, name, component),
        "spec": {
            "maxUnavailable": max_unavailable,
            "selector": selector,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
