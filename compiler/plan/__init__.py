"""Stage 4 — plan: from the workload model to GPUs, replicas, concurrency caps, limits and cost.

``plan(profile)`` is pure: same profile, same plan. Values the profile pins win and are checked
against the plan (a pinned value that breaks the SLO or the memory fit is a warning or an error).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from .. import engine as engine_table
from ..catalog import InstanceType, instance_types, types_of_family
from ..errors import Diagnostic, InputError, Source, json_path
from ..merge import Merged
from ..profile import Pool, Profile, Role
from . import hybrid, latency, memory, path, reservations, sharing, topology
from .checks import profile_findings
from .cost import HOURS_PER_MONTH, pool_plan
from .model import Plan, PoolPlan, RolePlan

HEADROOM = 0.8  # KEDA target = floor(concurrency cap x HEADROOM); seed: 32 -> 25
LOAD_GBS = {"s3": 2.0, "hf": 0.25, "pvc": 0.5}  # weight load bandwidth per node (runai streamer / hub / EFS)
STARTUP_FIXED_S = 180  # CUDA graph capture, torch.compile, server start
PRESTOP_S = 15


class _Ctx:
    def __init__(self, profile: Profile, merged: Merged | None) -> None:
        self.p = profile
        self.merged = merged
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []

    def where(self, path: Sequence[str | int]) -> Source:
        src = self.merged.source(path) if self.merged else None
        return src or Source(self.p.source, 1, 1, "profile")

    def error(self, path: Sequence[str | int], msg: str) -> None:
        self.errors.append(Diagnostic(self.where(path), json_path(path), msg))

    def warn(self, path: Sequence[str | int], msg: str) -> None:
        self.warnings.append(Diagnostic(self.where(path), json_path(path), "warning: " + msg))


def pool_types(pool: Pool) -> tuple[list[InstanceType], list[str]]:
    """Catalog types a pool may launch, and the names the catalog does not know."""
    cat = instance_types()
    known = [cat[n] for n in pool.instance_types if n in cat]
    unknown = [n for n in pool.instance_types if n not in cat]
    for fam in pool.instance_families:
        found = types_of_family(fam)
        known += [t for t in found if t not in known]
        if not found:
            unknown.append(fam)
    return sorted(known, key=lambda t: t.name), unknown


def min_gpus_per_pod(roles: Sequence[RolePlan]) -> int:
    """The fewest GPUs any serving pod asks for: smaller instance sizes can host no serving pod."""
    return min((r.gpus_per_pod for r in roles), default=1)


def plan(profile: Profile, merged: Merged | None = None) -> Plan:
    ctx = _Ctx(profile, merged)
    types_by_pool = {}
    for pool in profile.capacity.pools:
        known, unknown = pool_types(pool)
        types_by_pool[pool.name] = known
        if unknown:
            ctx.warn(["capacity", "pools", pool.index], f"not in the planner's catalog, not used for sizing: {', '.join(unknown)}")
        if not known:
            ctx.error(["capacity", "pools", pool.index], "no instance type of this pool is in the planner's catalog (compiler/catalog/instances.yaml)")
    if merged is not None:
        path.check(profile, merged.values, ctx.error)  # the request path's cascade, timeouts, identity
    hybrid.check_cascade(profile, ctx.error)  # on-premises step <-> capacity.hybrid
    shared = sharing.check(profile, types_by_pool, ctx.error) if not ctx.errors else None
    if ctx.errors:
        raise InputError(ctx.errors)
    physical = types_by_pool
    if shared:  # size on slices: each MIG slice / time-sliced share counts as one GPU (compiler/plan/sharing.py)
        types_by_pool = sharing.sized_types(types_by_pool, profile.serving.gpu_sharing)
    baseline = max((p for p in profile.capacity.pools if p.role == "baseline"), key=lambda p: p.weight)
    roles, sizing = [], {}
    for role in profile.serving.roles:
        rp, t = _role(ctx, role, types_by_pool[baseline.name], [t for ts in types_by_pool.values() for t in ts])
        if rp:
            roles.append(rp)
            sizing[rp.role] = t
    if ctx.errors:
        raise InputError(ctx.errors)
    s = profile.serving
    cap = profile.capacity
    # Pools launch only sizes with enough GPUs for the smallest serving pod (the NodePools carry an
    # instance-gpu-count requirement, compiler/render/nodepools.py): limits and cost follow those.
    need = min_gpus_per_pod(roles)
    launch = {name: [t for t in ts if t.gpus >= need] or ts for name, ts in types_by_pool.items()}
    for where, msg in profile_findings(profile, launch):
        ctx.error(where, msg)
    reservations.check(profile, launch, roles, ctx.error, ctx.warn)  # Capacity Blocks
    onprem = hybrid.plan_hybrid(profile, roles, ctx.error)
    if ctx.errors:
        raise InputError(ctx.errors)
    per_gpu = shared.slices_per_gpu if shared else 1
    sized_pools = [dataclasses.replace(p, limit_gpus=p.limit_gpus * per_gpu) if shared and p.limit_gpus else p for p in cap.pools]  # pinned: physical
    pools = tuple(pool_plan(sp, launch[p.name], roles, sizing, s.cpu, s.memory_gi, p is baseline, dict(cap.prices), cap.spot_price_factor)
                  for sp, p in zip(sized_pools, cap.pools, strict=True))
    if shared:  # sized in slices; NodePool limits count physical GPUs (nvidia.com/gpu of the instance types), whole nodes
        pools = tuple(sharing.whole_node_limits(pp, p, per_gpu, physical[p.name]) for pp, p in zip(pools, cap.pools, strict=True))
    for pp, pool in zip(pools, profile.capacity.pools, strict=True):
        _check_limits(ctx, pool, pp, roles, physical[pool.name] if shared else launch[pool.name], per_gpu)
    from .nodegroups import with_floors  # late: it imports this package

    pools = with_floors(profile, roles, pools)  # managed node groups keep minSize nodes, paid for
    if ctx.errors:
        raise InputError(ctx.errors)
    pools, blocks = reservations.price_pools(profile, pools)
    per_hour = sum(p.cost_per_hour for p in pools)
    capacity = min(r.replicas * r.rps_per_replica for r in roles)
    tokens_per_hour = profile.workload.target_rps * profile.workload.output_tokens * 3600
    return Plan(tuple(roles), pools, round(per_hour, 4), round(per_hour * HOURS_PER_MONTH, 2),
                round(per_hour / tokens_per_hour * 1e6, 4), round(capacity, 3), tuple(ctx.warnings), blocks, onprem, sharing=shared)


def _role_path(role: Role, key: str) -> list[str | int]:
    if role.name == "serve":
        if key in ("pipeline", "data", "expert"):
            out: list[str | int] = ["serving", "parallelism", key]
            return out
        paths: dict[str, list[str | int]] = {"tensor": ["serving", "parallelism", "tensor"], "min": ["autoscaling", "minReplicas"], "max": ["autoscaling", "maxReplicas"], "seqs": ["serving", "maxNumSeqs"]}
        return paths[key]
    sub = {"tensor": "tensor", "min": "minReplicas", "max": "maxReplicas", "seqs": "maxNumSeqs"}.get(key, key)
    return ["serving", "disaggregation", role.name, sub]


def _engine(p: Profile) -> engine_table.EngineVersion | None:
    return engine_table.of_profile(p.serving).engine


def _check_topology(ctx: _Ctx, role: Role, gpus_replica: int, gpus_per_node: int) -> bool:
    """Errors for a layout the pinned engine cannot run, each with the layout the planner proposes."""
    eng = _engine(ctx.p)
    if eng is None:
        return True  # an image outside the table is reported by the engine-image rule
    found = topology.problems(role, ctx.p.model, eng, ctx.p.serving.disaggregated)
    if found:
        alt = topology.choose(ctx.p.model, gpus_replica, gpus_per_node)
        for field, msg in found:
            ctx.error(_role_path(role, field), f"{role.name}: {msg}; the planner would run the same {gpus_replica} GPUs as {alt.describe()} "
                      f"(set tensor: {alt.tensor}, pipeline: {alt.pipeline}, data: {alt.data}" + (", expert: true" if alt.expert else "") + ")")
    return not found


def _role(ctx: _Ctx, role: Role, base_types: list[InstanceType], all_types: list[InstanceType]) -> tuple[RolePlan | None, InstanceType]:
    p, s, wl = ctx.p, ctx.p.serving, ctx.p.workload
    gpus_replica = role.tensor * role.pipeline * role.data
    biggest = max(t.gpus for t in base_types)
    gpp = s.gpus_per_node if (s.gpus_per_node and s.gpus_per_node < gpus_replica) else (min(gpus_replica, biggest))
    if gpus_replica % gpp:
        ctx.error(_role_path(role, "tensor"), f"{gpus_replica} GPUs per replica do not split evenly into pods of {gpp} GPUs")
        return None, base_types[0]
    pods = gpus_replica // gpp
    if not _check_topology(ctx, role, gpus_replica, max(t.gpus for t in base_types)):
        return None, base_types[0]
    fitting = [t for t in base_types if t.gpus >= gpp and t.vcpu > s.cpu and t.memory_gi * 0.9 >= s.memory_gi]
    if pods > 1:
        fitting = [t for t in fitting if t.gpus == gpp]
    if not fitting:
        ctx.error(_role_path(role, "tensor"), f"no instance type in the baseline pool fits a pod of {gpp} GPUs, {s.cpu} CPUs, {s.memory_gi}Gi")
        return None, base_types[0]
    t = min(fitting, key=lambda x: (x.gpus, x.price, x.name))
    shape, known = memory.shape_of(p.model)
    if not known:
        ctx.warn(["model", "id"], f"model shape unknown to the catalog; KV sizing assumes Llama-3-70B's ({shape.layers} layers x {shape.kv_heads} KV heads x {shape.head_dim}); set model.architecture")
    f = memory.fit(p.model, shape, s.kv_cache_dtype, t.gpu.memory_gb, s.gpu_memory_utilization, role.tensor, role.pipeline, role.data, role.expert)
    if not f.fits:
        need = f.weights_per_gpu_gb + memory.OVERHEAD_GB
        have = t.gpu.memory_gb * s.gpu_memory_utilization
        hints = memory.suggestions(p.model, shape, s.kv_cache_dtype, s.gpu_memory_utilization, role.tensor, role.pipeline, base_types, list(instance_types().values()))
        ctx.error(_role_path(role, "tensor"), f"{p.model.id} ({p.model.precision}) does not fit {role.tensor * role.pipeline} x {t.gpu.name} {t.gpu.memory_gb:g} GB ({t.name}): "
                  f"needs {need:.1f} GB/GPU for weights + overhead, has {have:.1f} GB at gpu-memory-utilization {s.gpu_memory_utilization:g} "
                  f"(short by {need - have:.1f} GB/GPU)" + (f"; would fit with: {', '.join(hints)}" if hints else ""))
        return None, t
    if f.kv_tokens_per_rank < p.model.max_context:
        ctx.error(["model", "maxContext"], f"maxContext {p.model.max_context} exceeds the KV cache of one replica ({f.kv_tokens_per_rank} tokens on {t.name}); vLLM refuses to start")
        return None, t
    kv_seqs = max(1, f.kv_tokens_per_replica // (wl.input_tokens + wl.output_tokens))
    use_measured = bool(wl.measured) and role.name in ("serve", "decode")
    op = latency.from_measured(wl) if use_measured else latency.estimate(role.name, p.model, wl, t, role.tensor, role.pipeline, role.data, f.kv_bytes_per_token_per_gpu, kv_seqs)
    if not op.meets_slo:
        ctx.warn(["workload", "slo"], f"{role.name}: the SLO is not met even at concurrency {op.concurrency} ({op.e2e_seconds:.2f} s {'measured' if op.measured else 'estimated'})")
    if role.name == "prefill":  # prompts that can queue on one replica and still meet the TTFT SLO
        slo = wl.ttft_seconds or wl.e2e_seconds
        cap = max(2, min(kv_seqs, math.floor(slo / op.ttft_seconds) * role.data))
    else:
        cap = op.concurrency if use_measured else min(op.concurrency, kv_seqs)
    seqs = role.max_num_seqs or max(1, min(cap, kv_seqs))
    if role.max_num_seqs:
        if role.max_num_seqs > kv_seqs:
            ctx.warn(_role_path(role, "seqs"), f"maxNumSeqs {role.max_num_seqs} exceeds the {kv_seqs} sequences the KV cache holds at {wl.input_tokens + wl.output_tokens} tokens (preemption)")
        if role.max_num_seqs > cap and not use_measured:
            ctx.warn(_role_path(role, "seqs"), f"maxNumSeqs {role.max_num_seqs} is above the {cap} concurrent requests that meet the SLO")
    needed = max(1, math.ceil(wl.target_rps / op.rps_per_replica - 1e-9))
    lo = role.min_replicas if role.min_replicas is not None else needed
    floor_ = max(needed, lo)
    hi = role.max_replicas if role.max_replicas is not None else (floor_ * 2 if wl.pattern == "spiky" else floor_ + max(1, math.ceil(floor_ / 4)))
    if hi < needed:
        ctx.warn(_role_path(role, "max"), f"{role.name}: maxReplicas {hi} cannot serve {wl.target_rps:g} RPS (needs {needed} at {op.rps_per_replica:.2f} RPS per replica)")
    target = int(p.autoscaling.target) if p.autoscaling.target else max(1, math.floor(cap * HEADROOM))
    per_node_gb = p.model.weight_gb / pods
    load_s = per_node_gb / LOAD_GBS[p.model.scheme] + STARTUP_FIXED_S  # where the weights come from sets the bandwidth
    budget = s.startup_budget_seconds or int(min(10800, max(600, 60 * math.ceil(load_s * 1.5 / 60))))
    if s.startup_budget_seconds and s.startup_budget_seconds < load_s:
        ctx.error(["serving", "probes", "startupBudgetSeconds"], f"{role.name}: startup budget {s.startup_budget_seconds} s is below the modelled "
                  f"model load of {load_s:.0f} s ({per_node_gb:.0f} GB per node from {p.model.scheme}:// at {LOAD_GBS[p.model.scheme]:g} GB/s + "
                  f"{STARTUP_FIXED_S} s start-up): the startup probe would kill the pod before it serves, forever; raise it or omit it")
    if not p.autoscaling.enabled and lo == 0:
        ctx.error(_role_path(role, "min"), f"{role.name}: autoscaling is disabled and minReplicas is 0: nothing would ever serve; set minReplicas >= 1 "
                  "or enable autoscaling")
    if pods > 1:
        _check_spot_groups(ctx, role, pods)
    drain = op.e2e_seconds if role.name != "prefill" else op.ttft_seconds * max(1, cap)
    grace = s.termination_grace_seconds or int(min(3600, max(30, 5 * math.ceil((PRESTOP_S + drain + 15) / 5))))
    rp = RolePlan(role.name, role.tensor, role.pipeline, role.data, gpp, pods, t.name, t.gpu.memory_gb, round(f.weights_per_gpu_gb, 3), memory.OVERHEAD_GB,
                  round(f.kv_budget_gb, 3), round(f.kv_bytes_per_token_per_gpu, 1), f.kv_tokens_per_replica, seqs, cap, round(op.e2e_seconds, 3),
                  round(op.ttft_seconds, 3), round(op.rps_per_replica, 4), needed, lo, hi, target, budget, grace, op.measured, role.expert,
                  topology.explain(role, p.model, gpp, pods, _engine(p), s.disaggregated))
    return rp, t


def _check_spot_groups(ctx: _Ctx, role: Role, pods: int) -> None:
    """A multi-node group dies whole when any of its nodes is reclaimed: spot-only capacity for it is
    an error when no other pool exists, a warning when a spot-only pool may host groups."""
    pools = ctx.p.capacity.pools
    spot = [p for p in pools if set(p.capacity_types) == {"spot"}]
    if spot and len(spot) == len(pools):
        ctx.error(["capacity", "pools", spot[0].index, "capacityType"], f"{role.name}: groups of {pods} nodes on spot-only capacity: one "
                  "interruption takes the whole group down, and every pool is spot; add an on-demand or reserved pool")
    elif spot:
        ctx.warn(["capacity", "pools", spot[0].index, "capacityType"], f"{role.name}: groups of {pods} nodes may land on spot-only pool "
                 f"{spot[0].name}: one interruption takes a whole group down")


def _check_limits(ctx: _Ctx, pool: Pool, pp: PoolPlan, roles: list[RolePlan], types: list[InstanceType], per_gpu: int = 1) -> None:
    path: list[str | int] = ["capacity", "pools", pool.index, "limits"]
    biggest = max(types, key=lambda t: t.gpus)
    if pool.limit_gpus is not None and pool.limit_gpus < biggest.gpus:
        ctx.error(path + ["gpus"], f"limit of {pool.limit_gpus} GPUs is below one {biggest.name} ({biggest.gpus} GPUs): Karpenter would never launch it")
    need = math.ceil(sum(r.max_replicas * r.gpus_per_replica for r in roles) / per_gpu)  # shared GPUs: slices per GPU
    if pool.limit_gpus is not None and pool.limit_gpus < need and pool.role == "baseline":
        ctx.warn(path + ["gpus"], f"limit of {pool.limit_gpus} GPUs is below maxReplicas x GPUs per replica ({need})")
    if pool.limit_memory_gi is not None and pool.limit_memory_gi < biggest.memory_gi:
        ctx.error(path + ["memoryGi"], f"memory limit {pool.limit_memory_gi}Gi is below one {biggest.name} ({biggest.memory_gi}Gi): it would never launch")
