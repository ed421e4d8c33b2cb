"""Rules about GPUs and nodes: parallelism vs GPUs, instance fit, schedulability, pool limits, EFA.

They build on each other without repeating one another's findings: ``schedulable`` reports pods
that can use no pool; ``gpus-fit-instance`` only looks at pools a pod can use; ``pool-gpu-limits``
only at pools it can use and fit on.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from .rules_base import RuleInput, Violation, objects_of, ref
from .rules_hybrid import on_hybrid_nodes
from .rules_nodes import (
    NodePoolView,
    fits,
    launchable,
    nodepools,
    placement_problem,
    schedulable,
)
from .rules_pods import (
    GPU,
    PodView,
    all_pods,
    engine_containers,
    gpus_per_replica,
    kv_transfer_config,
    lws_size,
    max_replicas,
    parallelism,
    pods_of,
    role_path,
    workloads,
)

#: Hall's condition is checked over every subset of GPU workloads up to this many (then pairs only).
MAX_SUBSET_WORKLOADS = 10


def tp_pp_gpus(inp: RuleInput) -> list[Violation]:
    """``tp-pp-gpus``: vLLM shards one replica over TP x PP (x DP) GPUs, which must be exactly the
    GPUs of the replica: the pod's ``nvidia.com/gpu`` x LWS size. More ranks than GPUs fail at
    start; fewer leave GPUs idle (and paid for). Reported once per workload."""
    out = []
    for w in workloads(inp):
        if any(pod.spec.get("resourceClaims") for pod in pods_of(w)):
            continue  # GPUs claimed through DRA: rules_dra.dra_claims checks the ranks against the claimed devices
        total = gpus_per_replica(w)
        size = lws_size(w) if w.get("kind") == "LeaderWorkerSet" else 1
        for pod in pods_of(w):
            found = None
            for c in engine_containers(pod):
                par = parallelism(c)
                if par and par["tensor"] * par["pipeline"] * par["data"] != total:
                    found = par
                    break
            if found:
                ranks = found["tensor"] * found["pipeline"] * found["data"]
                out.append(Violation(
                    "tp-pp-gpus", ref(w),
                    f"vLLM runs tensor {found['tensor']} x pipeline {found['pipeline']} x data {found['data']} = {ranks} ranks, but a "
                    f"replica has {total} GPUs ({pod.gpus} nvidia.com/gpu per pod x {size} pod(s)); make TP x PP x DP equal the "
                    "replica's GPUs (serving.parallelism / gpusPerNode)", role_path(pod.role, "tensor")))
                break
    return out


def gpus_fit_instance(inp: RuleInput) -> list[Violation]:
    """``gpus-fit-instance``: Karpenter only launches instance types a pod fits on, so a pod asking
    for more GPUs than every type of every pool it may use has is Pending forever."""
    out = []
    pools = nodepools(inp)
    for pod in all_pods(inp):
        usable = schedulable(pod, pools)
        if pod.gpus <= 0 or not usable or any(fits(pod, np) for np in usable):
            continue
        biggest = max((t for np in usable for t in launchable(np) or ()), key=lambda t: (t.gpus, t.name), default=None)
        have = f"the largest is {biggest.name} with {biggest.gpus}" if biggest else "none of their types can launch under the pool limits"
        out.append(Violation(
            "gpus-fit-instance", pod.ref,
            f"{pod.position} pods request {pod.gpus} nvidia.com/gpu but no instance type NodePool {', '.join(np.name for np in usable)} "
            f"may launch has that many ({have}); allow larger types in the pool or use fewer GPUs per pod", usable[0].selection_path()))
    return out


def schedulable_rule(inp: RuleInput) -> list[Violation]:
    """``schedulable``: every pod must tolerate all hard taints of, and have its node selection
    satisfiable by, at least one NodePool; otherwise Karpenter never provisions a node for it."""
    out: list[Violation] = []
    pools = nodepools(inp)
    if not pools:
        return out
    for pod in all_pods(inp):
        if not pod.gpus:
            continue  # CPU pods (endpoint picker, fallback gateway) run on general capacity, not the GPU pools
        if on_hybrid_nodes(pod):
            continue  # on-premises servers no NodePool provisions: checked by hybrid-placement (rules_hybrid.py)
        if schedulable(pod, pools):
            continue
        why = "; ".join(f"{np.name}: {placement_problem(pod, np)}" for np in pools)
        out.append(Violation("schedulable", pod.ref,
                             f"{pod.position} pods fit no NodePool ({why}); add the matching tolerations or fix nodeSelector/affinity",
                             pools[0].path()))
    return out


def _usable(pod: PodView, pools: list[NodePoolView]) -> list[NodePoolView]:
    return [np for np in schedulable(pod, pools) if fits(pod, np)]


def pool_gpu_limits(inp: RuleInput) -> list[Violation]:
    """``pool-gpu-limits``: at full scale (maxReplicaCount, else replicas) the GPU workloads must fit
    under the ``nvidia.com/gpu`` limits of the pools they can use, else replicas stay Pending when
    they are needed most. Checked for every set of workloads sharing pools (Hall's condition):
    the demand of any set must fit in the union of its pools."""
    pools = nodepools(inp)
    demand: list[tuple[dict[str, Any], int, list[NodePoolView], dict[str, Any] | None]] = []
    for w in workloads(inp):
        per = gpus_per_replica(w)
        usable = {np.name: np for pod in pods_of(w) if pod.gpus for np in _usable(pod, pools)}
        if per <= 0 or not usable:
            continue  # no GPUs, or reported by schedulable / gpus-fit-instance
        reps, so = max_replicas(inp, w)
        demand.append((w, reps * per, sorted(usable.values(), key=lambda n: n.name), so))
    sizes = range(1, len(demand) + 1) if len(demand) <= MAX_SUBSET_WORKLOADS else (1, 2, len(demand))
    flagged: list[frozenset[int]] = []
    out = []
    for size in sizes:
        for combo in combinations(range(len(demand)), size):
            key = frozenset(combo)
            if any(f <= key for f in flagged):
                continue
            need = sum(demand[i][1] for i in combo)
            union = {np.name: np for i in combo for np in demand[i][2]}
            limits = [np.limit(GPU) for np in union.values()]
            if any(lim is None for lim in limits):
                continue  # an unlimited pool absorbs any demand
            cap = sum(int(lim) for lim in limits if lim is not None)
            if need <= cap:
                continue
            flagged.append(key)
            out.append(_limit_violation([demand[i] for i in combo], need, cap, sorted(union.values(), key=lambda n: n.name), inp))
    return out


def _limit_violation(items: list[tuple[dict[str, Any], int, list[NodePoolView], dict[str, Any] | None]], need: int, cap: int,
                     pools: list[NodePoolView], inp: RuleInput) -> Violation:
    parts = ", ".join(f"{ref(w)} {n} GPUs" + (f" (maxReplicaCount of {ref(so)})" if so else "") for w, n, _, so in items)
    pinned = [np for np in pools if np.pool is not None and np.pool.limit_gpus is not None]
    role = next((p.role for p in pods_of(items[0][0])), "")
    path = pinned[0].path("limits", "gpus") if pinned else role_path(role, "max")
    return Violation("pool-gpu-limits", ref(items[0][0]),
                     f"at maxReplicas the workloads need {need} GPUs ({parts}) but NodePool(s) {', '.join(np.name for np in pools)} allow "
                     f"{cap} nvidia.com/gpu in total; raise the pool GPU limits or lower maxReplicas", path)


def _efa_pool_problem(pod: PodView, np: NodePoolView) -> str | None:
    if np.pool is not None and not np.pool.efa:
        return f"pool {np.pool.name} is not marked efa in the profile"
    types = launchable(np)
    if types is not None and not any(t.efa >= pod.efa for t in types):
        best = max((t.efa for t in types), default=0)
        return f"none of its instance types has {pod.efa} EFA interfaces (at most {best})"
    return None


def efa_coherence(inp: RuleInput) -> list[Violation]:
    """``efa-coherence``: EFA pods only on EFA-capable pools; an LWS group's leader and workers ask
    for the same EFA interfaces (NCCL needs RDMA on every rank); NIXL on EFA uses LIBFABRIC,
    because UCX silently falls back to TCP there (~100 s TTFT, no error)."""
    out = []
    pools = nodepools(inp)
    efa_pools = [np for np in pools if np.pool is not None and np.pool.efa]
    efa_path = efa_pools[0].path("efa") if efa_pools else ("capacity", "pools")
    for pod in all_pods(inp):
        usable = schedulable(pod, pools)
        if pod.efa > 0:
            for np in usable:
                problem = _efa_pool_problem(pod, np)
                if problem:
                    out.append(Violation("efa-coherence", pod.ref, f"{pod.position} pods request {pod.efa} vpc.amazonaws.com/efa and can "
                                         f"schedule on NodePool {np.name}, but {problem}; keep EFA pods on EFA pools", np.path("efa")))
        on_efa = pod.efa > 0 or any(np.pool is not None and np.pool.efa for np in usable)
        for c in engine_containers(pod) if on_efa else ():
            cfg = kv_transfer_config(c)
            if not cfg or "nixl" not in str(cfg.get("kv_connector", "")).lower():
                continue
            backends = (cfg.get("kv_connector_extra_config") or {}).get("backends") or ["UCX"]  # NIXL's default
            if "LIBFABRIC" not in backends:
                out.append(Violation("efa-coherence", pod.ref, f"NixlConnector on EFA uses backends {backends}: UCX silently falls back "
                                     "to TCP on EFA; set serving.disaggregation.backend to LIBFABRIC",
                                     ("serving", "disaggregation", "backend")))
    for np in efa_pools:
        no_efa = sorted(t.name for t in launchable(np) or () if t.efa == 0)
        if no_efa:
            out.append(Violation("efa-coherence", np.ref, f"pool is marked efa but may launch {', '.join(no_efa)}, which have no EFA "
                                 "interface; list only EFA-capable instance types", np.selection_path()))
    reported: set[str] = set()
    for pod in all_pods(inp):
        for c in engine_containers(pod):
            cfg = kv_transfer_config(c) or {}
            backends = (cfg.get("kv_connector_extra_config") or {}).get("backends") or []
            on_efa = pod.efa > 0 or any(np.pool is not None and np.pool.efa for np in schedulable(pod, pools))
            if "LIBFABRIC" in backends and not on_efa and pod.ref not in reported:
                reported.add(pod.ref)
                out.append(Violation("efa-coherence", pod.ref, f"{pod.position} pods move KV over NIXL's LIBFABRIC backend but request no "
                                     "vpc.amazonaws.com/efa (no pool with efa: true on EFA instance types); enable EFA on the pool or use "
                                     "backend UCX", ("serving", "disaggregation", "backend")))
                break
    for w in objects_of(inp, "LeaderWorkerSet"):
        views = pods_of(w)
        if len(views) == 2 and views[0].efa != views[1].efa:
            out.append(Violation("efa-coherence", ref(w), f"leader requests {views[0].efa} vpc.amazonaws.com/efa but workers {views[1].efa}; "
                                 "every pod of a group needs the same EFA interfaces for RDMA", efa_path))
    return out
