"""Pool limits and cost.

Limits: enough GPUs for every role at maxReplicas, and at least one node of every type the pool
may launch (Karpenter never launches a type larger than the remaining limit). CPU and memory
limits follow the largest per-GPU ratio among the pool's types, so any mix up to the GPU limit fits.
Cost: nodes at the target load on the highest-weight pool, on-demand (or reserved) list price,
spot at SPOT_PRICE_FACTOR of it; a month is 30 days (720 h).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..catalog import InstanceType
from ..profile import Pool
from .model import PoolPlan, RolePlan

SPOT_PRICE_FACTOR = 0.45
HOURS_PER_MONTH = 720


def pods_per_node(t: InstanceType, role: RolePlan, cpu: int, memory_gi: int) -> int:
    by_gpu = t.gpus // role.gpus_per_pod
    by_cpu = int((t.vcpu - 1) // cpu)
    by_mem = int((t.memory_gi * 0.9) // memory_gi)
    return max(0, min(by_gpu, by_cpu, by_mem))


def nodes_for(replicas: int, role: RolePlan, t: InstanceType, cpu: int, memory_gi: int) -> int:
    if replicas <= 0:
        return 0
    if role.multi_node:
        return replicas * role.pods_per_replica
    return math.ceil(replicas / max(1, pods_per_node(t, role, cpu, memory_gi)))


def pool_plan(pool: Pool, types: Sequence[InstanceType], roles: Sequence[RolePlan], sizing: dict[str, InstanceType], cpu: int, memory_gi: int,
              carries_target: bool, prices: dict[str, float] | None = None, spot_factor: float | None = None) -> PoolPlan:
    need_gpus = sum(r.max_replicas * r.gpus_per_replica for r in roles)
    biggest = max((t.gpus for t in types), default=0)
    gpus = pool.limit_gpus or max(need_gpus, biggest)
    cpu_ratio = max((t.vcpu / t.gpus for t in types), default=cpu)
    mem_ratio = max((t.memory_gi / t.gpus for t in types), default=memory_gi)
    limit_cpu = pool.limit_cpu or max(math.ceil(cpu_ratio * gpus), max((t.vcpu for t in types), default=0))
    limit_mem = pool.limit_memory_gi or max(math.ceil(mem_ratio * gpus), max((t.memory_gi for t in types), default=0))
    factor = (spot_factor or SPOT_PRICE_FACTOR) if set(pool.capacity_types) == {"spot"} else 1.0
    prices = prices or {}
    price = 0.0
    nodes = 0
    cost_max = 0.0
    for r in roles:
        t = sizing[r.role]
        in_pool = t if t in types else (min(types, key=lambda x: (x.gpus < r.gpus_per_pod, x.price)) if types else t)
        node_price = prices.get(in_pool.name, in_pool.price) * factor
        price = max(price, node_price)
        if carries_target:
            nodes += nodes_for(max(r.replicas, r.min_replicas), r, in_pool, cpu, memory_gi)
        cost_max += nodes_for(r.max_replicas, r, in_pool, cpu, memory_gi) * node_price
    cost = nodes * price
    return PoolPlan(pool.name, gpus, limit_cpu, limit_mem, nodes, round(price, 4), round(cost, 4), round(cost_max, 4))
