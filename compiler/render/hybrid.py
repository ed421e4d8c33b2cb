"""The on-premises replicas on Amazon EKS Hybrid Nodes (``capacity.hybrid``): a Deployment
``<name>-onprem`` with its Service, PodDisruptionBudget and NetworkPolicy. No NodePool: the
servers are yours and already joined (``nodeadm``); Karpenter and Auto Mode provision EC2 only.

Placement (Amazon EKS user guide, awsdocs/amazon-eks-user-guide latest/ug/nodes/
hybrid-nodes-webhooks.adoc and hybrid-nodes-cni.adoc): hybrid nodes carry
``eks.amazonaws.com/compute-type: hybrid``; the pods select it plus the profile's
``capacity.hybrid.nodeLabels`` (labels you gave the nodes with nodeadm) and tolerate the declared
``taints``. The vLLM pod is the cloud pod (:func:`.vllm.pod_template`, same image, flags and
hardening) with ``--max-num-seqs`` from the on-premises plan, no Karpenter annotation or pool
affinity, and its own component label ``onprem`` so the cloud Service, InferencePool and KEDA never
select it.

Replicas are fixed (the servers exist; nothing scales them): ``rollingUpdate`` replaces one pod
at a time without a surge pod, because a surge pod would wait for GPUs that do not exist.

Traffic: Bifrost (in AWS) calls the Service ``<name>-onprem`` first in the cascade
(:mod:`.bifrost`); the request crosses to a pod IP on the on-premises pod network, which must be
routable from the VPC (``capacity.hybrid.remotePodNetworks``, "Considerations for mixed mode
clusters"). Ingress is denied except from Bifrost and the monitoring namespace; on hybrid nodes the
CNI is Cilium or Calico, which enforce NetworkPolicies there (the VPC CNI does not run on them).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..plan.path import hybrid_service
from . import bifrost, meta, network
from .meta import Context
from .serving import PROGRESS_MARGIN_SECONDS, disruption_budget
from .vllm import GPU, engine_args, extra_args, pod_template, workload_annotations

COMPONENT = "onprem"
#: Node label every EKS hybrid node carries (cloud add-ons use NotIn on it to stay off them).
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
COMPUTE_TYPE_HYBRID = "hybrid"


def node_selector(ctx: Context) -> dict[str, str]:
    h = ctx.profile.capacity.hybrid
    assert h is not None
    return {COMPUTE_TYPE_LABEL: COMPUTE_TYPE_HYBRID, **dict(h.node_labels)}


def tolerations(ctx: Context) -> list[dict[str, Any]]:
    h = ctx.profile.capacity.hybrid
    assert h is not None
    out: list[dict[str, Any]] = [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
    for t in h.taints:
        tol: dict[str, Any] = {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} if t.value is not None \
            else {"key": t.key, "operator": "Exists", "effect": t.effect}
        if tol not in out:
            out.append(tol)
    return out


def template(ctx: Context) -> dict[str, Any]:
    hp, rp = ctx.plan.hybrid, ctx.plan.roles[0]
    assert hp is not None
    args = engine_args(ctx, dataclasses.replace(rp, max_num_seqs=hp.max_num_seqs)) + extra_args(ctx)
    # "onprem" is no instance type: no EFA interfaces, whatever the cloud pools use.
    onprem = dataclasses.replace(rp, role=COMPONENT, max_num_seqs=hp.max_num_seqs, sizing_type=COMPONENT, gpu_memory_gb=hp.gpu_memory_gb)
    tpl = pod_template(ctx, onprem, args=args, deployment=True)
    tpl["metadata"].pop("annotations", None)  # karpenter.sh/do-not-disrupt: no Karpenter node under it
    spec = tpl["spec"]
    spec["nodeSelector"] = node_selector(ctx)
    spec["tolerations"] = tolerations(ctx)
    spec.pop("affinity", None)  # preferences for the cloud pools' labels
    return tpl


def deployment(ctx: Context) -> dict[str, Any]:
    hp, rp = ctx.plan.hybrid, ctx.plan.roles[0]
    assert hp is not None
    spec = {
        "replicas": hp.replicas,
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": meta.selector(ctx, COMPONENT)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
        "progressDeadlineSeconds": rp.startup_budget_seconds + PROGRESS_MARGIN_SECONDS,
        "template": template(ctx),
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta.metadata(ctx, hybrid_service(ctx.profile), COMPONENT, annotations=workload_annotations(ctx, rp)), "spec": spec}


def service(ctx: Context) -> dict[str, Any]:
    port = ctx.profile.serving.port
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta.metadata(ctx, hybrid_service(ctx.profile), COMPONENT),
            "spec": {"type": "ClusterIP", "selector": meta.selector(ctx, COMPONENT),
                     "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}}


def network_policy(ctx: Context) -> dict[str, Any]:
    """Only the fallback gateway (the cascade's hybrid step) and Prometheus reach the pods."""
    peers = [{"podSelector": {"matchLabels": bifrost.selector(ctx)}}, network.namespace_peer(ctx.profile.monitoring.namespace)]
    return network.policy(ctx, hybrid_service(ctx.profile), {"matchLabels": meta.selector(ctx, COMPONENT)},
                          [{"from": peers, "ports": [{"protocol": "TCP", "port": "http"}]}])


def render(ctx: Context) -> list[dict[str, Any]]:
    if ctx.profile.capacity.hybrid is None or ctx.plan.hybrid is None:
        return []
    out = [deployment(ctx), service(ctx), disruption_budget(ctx, hybrid_service(ctx.profile), COMPONENT)]
    if ctx.profile.network_policy:
        out.append(network_policy(ctx))
    return out
