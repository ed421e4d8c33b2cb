"""``hybrid-placement``: pods placed on EKS Hybrid Nodes (node selector
``eks.amazonaws.com/compute-type: hybrid``) must fit the on-premises servers the profile declares,
since no NodePool stands behind them (the ``schedulable`` family skips such pods), and the cascade's
on-premises hop must reach them:

* the profile declares ``capacity.hybrid``; the pods select every ``nodeLabels`` entry and tolerate
  every declared ``NoSchedule``/``NoExecute`` taint (else they stay Pending on your own servers);
* GPUs per pod <= ``gpusPerNode``, CPU/memory requests fit one server, no ``vpc.amazonaws.com/efa``
  (EFA exists only on EC2), and replicas x GPUs <= nodes x ``gpusPerNode``;
* every Bifrost provider ``network_config.base_url`` names a Service that selects pods on hybrid
  nodes, and every workload on hybrid nodes is selected by such a Service (a hop that ends at cloud
  pods, or on-premises pods no hop reaches, is a broken cascade).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from .rules_base import RuleInput, Violation, namespace_of, objects_of, ref
from .rules_k8s import map_selector_matches, quantity, untolerated
from .rules_pods import PodView, all_pods

RULE = "hybrid-placement"
COMPUTE_TYPE_LABEL = "eks.amazonaws.com/compute-type"
HYBRID: tuple[str, ...] = ("capacity", "hybrid")


def on_hybrid_nodes(pod: PodView) -> bool:
    return str((pod.spec.get("nodeSelector") or {}).get(COMPUTE_TYPE_LABEL)) == "hybrid"


def _requests(pod: PodView, name: str) -> float:
    total = 0.0
    for c in pod.spec.get("containers") or ():
        res = c.get("resources") or {}
        q = quantity((res.get("requests") or {}).get(name, (res.get("limits") or {}).get(name)))
        total += q or 0.0
    return total


def _pod_problems(inp: RuleInput, pod: PodView) -> list[Violation]:
    h = inp.profile.capacity.hybrid
    if h is None:
        return [Violation(RULE, pod.ref, f"{pod.position} pods select hybrid nodes but the profile declares no capacity.hybrid", HYBRID)]
    out = []
    sel = pod.spec.get("nodeSelector") or {}
    missing = [f"{k}={v}" for k, v in h.node_labels if sel.get(k) != v]
    if missing:
        out.append(Violation(RULE, pod.ref, f"pods do not select the hybrid nodes' labels {', '.join(missing)}", HYBRID + ("nodeLabels",)))
    taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in h.taints if t.effect != "PreferNoSchedule"]
    for t in untolerated(pod.spec.get("tolerations") or (), taints):
        out.append(Violation(RULE, pod.ref, f"pods do not tolerate the hybrid nodes' taint {t['key']}:{t['effect']}", HYBRID + ("taints",)))
    if pod.gpus > h.gpus_per_node:
        out.append(Violation(RULE, pod.ref, f"pods request {pod.gpus} nvidia.com/gpu, an on-premises server has {h.gpus_per_node}", HYBRID + ("gpusPerNode",)))
    if pod.efa:
        out.append(Violation(RULE, pod.ref, "pods on hybrid nodes request vpc.amazonaws.com/efa, which exists only on EC2 instances", HYBRID))
    cpu, mem = _requests(pod, "cpu"), _requests(pod, "memory") / 2**30
    if cpu > h.cpu or mem > h.memory_gi:
        out.append(Violation(RULE, pod.ref, f"pods request {cpu:g} CPUs and {mem:g}Gi; a server has {h.cpu} CPUs and {h.memory_gi}Gi", HYBRID))
    replicas = int((pod.workload.get("spec") or {}).get("replicas", 1))
    if pod.gpus and replicas * pod.gpus > h.nodes * h.gpus_per_node:
        out.append(Violation(RULE, pod.ref, f"{replicas} replicas x {pod.gpus} GPUs exceed the {h.nodes} x {h.gpus_per_node} GPUs of the "
                             "on-premises servers", HYBRID + ("replicas",)))
    return out


def _hop_services(inp: RuleInput) -> set[tuple[str, str]]:
    """(namespace, name) of the Services the fallback gateway reaches through ``base_url``."""
    out = set()
    for cm in objects_of(inp, "ConfigMap"):
        text = (cm.get("data") or {}).get("config.json")
        if not text:
            continue
        for provider in (json.loads(text).get("providers") or {}).values():
            url = (provider.get("network_config") or {}).get("base_url")
            if url:
                host = (urlparse(url).hostname or "").split(".")
                out.add((host[1] if len(host) > 1 else namespace_of(cm), host[0]))
    return out


def hybrid_placement(inp: RuleInput) -> list[Violation]:
    """``hybrid-placement``: see the module docstring."""
    pods = all_pods(inp)
    hybrid_pods = [p for p in pods if on_hybrid_nodes(p)]
    out = [v for p in hybrid_pods for v in _pod_problems(inp, p)]
    services = {(namespace_of(s), str((s.get("metadata") or {}).get("name"))): s for s in objects_of(inp, "Service")}
    hops = _hop_services(inp)

    def selected(svc: dict[str, Any], pod: PodView) -> bool:
        sel = (svc.get("spec") or {}).get("selector") or {}
        return bool(sel) and pod.namespace == namespace_of(svc) and map_selector_matches(sel, pod.labels)

    for key in sorted(hops):
        svc = services.get(key)
        if svc is not None and not any(selected(svc, p) for p in hybrid_pods):
            out.append(Violation(RULE, ref(svc), "the fallback gateway's on-premises hop reaches this Service, but it selects no pod placed "
                                 "on hybrid nodes", ("fallback", "cascade")))
    for pod in hybrid_pods:
        if not any(selected(services[k], pod) for k in hops if k in services):
            out.append(Violation(RULE, pod.ref, "pods on hybrid nodes are behind no Service the fallback gateway calls: the on-premises "
                                 "replicas would never serve", ("fallback", "cascade")))
    return out
