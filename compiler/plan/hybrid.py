"""The on-premises replicas on Amazon EKS Hybrid Nodes (``capacity.hybrid``): fit and refusals.

Facts (Amazon EKS user guide, awsdocs/amazon-eks-user-guide latest/ug/nodes/):

* Hybrid nodes carry the node label ``eks.amazonaws.com/compute-type: hybrid`` (the VPC CNI is
  configured with anti-affinity on it; hybrid-nodes-cni.adoc, hybrid-nodes-webhooks.adoc). They
  are your machines: nothing provisions them, so no Karpenter NodePool applies (Karpenter and
  Auto Mode launch EC2 instances only).
* Remote pod networks (``RemoteNetworkConfig.remotePodNetworks``) are IPv4 CIDRs inside RFC 1918,
  /8 to /32 (API_RemotePodNetwork). Pods in AWS that talk to pods on hybrid nodes ("east-west",
  here Bifrost and Prometheus) need the on-premises pod CIDR routable on the on-premises network
  (hybrid-nodes-webhooks.adoc, "Considerations for mixed mode clusters").

mcompile places only single-server replicas there: multi-node groups (LeaderWorkerSets) and
prefill/decode disaggregation rely on EFA and the cloud pools, so they are refused. The replicas
are fixed (the servers exist and are paid for): nodes x pods per node, or ``replicas``; vLLM's
``--max-num-seqs`` is the cloud cap lowered to what the on-premises KV cache holds. Latency on
GPUs no catalog knows is not modelled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from ..profile import Profile
from . import memory
from .model import HybridPlan, RolePlan

Report = Callable[[Sequence[str | int], str], None]

HYBRID: list[str | int] = ["capacity", "hybrid"]
RFC1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def check_cascade(p: Profile, error: Report) -> None:
    """A hybrid step needs the pool; the pool needs a hybrid step (nothing else sends it requests)."""
    steps = [s for s in p.path.fallback.cascade if s.kind == "hybrid"] if p.path.fallback.enabled else []
    h = p.capacity.hybrid
    if steps and h is None:
        error(["fallback", "cascade", steps[0].index, "kind"], f"step {steps[0].name!r} sends requests to the on-premises replicas, but the profile "
              "declares no capacity.hybrid (the hybrid nodes' GPUs, CPUs and memory)")
    if h is not None and not steps:
        why = "add a fallback.cascade step {name: onprem, kind: hybrid} (usually first)" if p.path.fallback.enabled else "enable fallback"
        error(HYBRID, f"the on-premises replicas are reached through the fallback gateway's cascade, which has no step of kind hybrid: {why}")
    for n, cidr in enumerate(h.remote_pod_networks if h else ()):
        try:
            net = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as e:
            error(HYBRID + ["remotePodNetworks", n], f"{cidr} is not a network address: {e}")
            continue
        if not any(net.subnet_of(ipaddress.IPv4Network(r)) for r in RFC1918):
            error(HYBRID + ["remotePodNetworks", n], f"{cidr}: EKS remote pod networks must lie inside an RFC 1918 range (10/8, 172.16/12, "
                  "192.168/16), /8 to /32")


def plan_hybrid(p: Profile, roles: Sequence[RolePlan], error: Report) -> HybridPlan | None:
    h = p.capacity.hybrid
    if h is None:
        return None
    s = p.serving
    if s.disaggregated:
        error(HYBRID, "prefill/decode disaggregation is not placed on hybrid nodes (its KV transfer and groups run on the cloud pools); "
              "the on-premises replicas serve whole requests: drop capacity.hybrid or serving.disaggregation")
        return None
    rp = roles[0]
    if rp.multi_node:
        error(HYBRID, f"a replica spans {rp.pods_per_replica} nodes (LeaderWorkerSet); mcompile places only replicas that fit one on-premises "
              "server on hybrid nodes (multi-node groups need EFA on the cloud pools)")
        return None
    gpp = rp.gpus_per_pod
    if gpp > h.gpus_per_node:
        error(HYBRID + ["gpusPerNode"], f"a replica needs {gpp} GPUs (TP x PP x DP) but an on-premises server has {h.gpus_per_node}")
        return None
    shape, _ = memory.shape_of(p.model)
    f = memory.fit(p.model, shape, s.kv_cache_dtype, h.gpu_memory_gb, s.gpu_memory_utilization, rp.tensor, rp.pipeline, rp.data, rp.expert)
    if not f.fits or f.kv_tokens_per_rank < p.model.max_context:
        need = f.weights_per_gpu_gb + memory.OVERHEAD_GB
        error(HYBRID + ["gpu", "memoryGB"], f"{p.model.id} ({p.model.precision}) does not fit {gpp} x {h.gpu_name} {h.gpu_memory_gb:g} GB: "
              f"{need:.1f} GB/GPU of weights + overhead and a {p.model.max_context}-token context need more than "
              f"{h.gpu_memory_gb * s.gpu_memory_utilization:.1f} GB at gpu-memory-utilization {s.gpu_memory_utilization:g}")
        return None
    by_cpu, by_mem = (h.cpu - 1) // s.cpu, int(h.memory_gi * 0.9 // s.memory_gi)
    ppn = min(h.gpus_per_node // gpp, by_cpu, by_mem)
    if ppn < 1:
        field, have, want = ("cpu", h.cpu, f"{s.cpu} + 1") if by_cpu < 1 else ("memoryGi", h.memory_gi, f"{s.memory_gi}Gi / 0.9")
        error(HYBRID + [field], f"an on-premises server ({have}) cannot hold one serving pod (serving.resources: {want})")
        return None
    most = h.nodes * ppn
    if h.replicas is not None and h.replicas > most:
        error(HYBRID + ["replicas"], f"{h.replicas} replicas do not fit {h.nodes} servers x {ppn} pods per server = {most}")
        return None
    seqs = max(1, min(rp.max_num_seqs, f.kv_tokens_per_replica // (p.workload.input_tokens + p.workload.output_tokens)))
    return HybridPlan(h.nodes, h.gpus_per_node, h.gpu_name, h.gpu_memory_gb, gpp, ppn, h.replicas or most, round(f.weights_per_gpu_gb, 3),
                      round(f.kv_budget_gb, 3), f.kv_tokens_per_replica, seqs)

