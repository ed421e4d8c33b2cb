"""Capacity Blocks for ML in the plan: checks, what happens when a block ends, and its price.

Facts (Karpenter docs, "Utilizing On-Demand Capacity Reservations and Capacity Blocks",
aws/karpenter-provider-aws website/content/en/docs/tasks/odcrs.md; EKS user guide auto-odcr):

* Capacity Blocks are modelled by EC2 as capacity reservations: the EC2NodeClass (or Auto Mode
  NodeClass) selects them in ``capacityReservationSelectorTerms`` like an ODCR, and a NodePool uses
  them only when it allows ``karpenter.sh/capacity-type: reserved``. Auto Mode supports them too
  ("Capacity Blocks for ML always require capacityReservationSelectorTerms").
* Karpenter labels reserved nodes ``karpenter.k8s.aws/capacity-reservation-type`` =
  ``default`` | ``capacity-block`` (usable as a NodePool requirement).
* A block has an end time. EC2 begins terminating its instances 30 minutes before the end (60 for
  UltraServers); Karpenter begins draining them 10 minutes before that. They never become plain
  on-demand capacity. Karpenter prices reserved capacity as free (prepaid) and prefers it.

What mcompile does about the end: the rendered objects do not change with time (no clock is read;
the output is the same before, during and after the window). The pool's other capacity types, then
lower-weight pools, take the replicas Karpenter drains; a profile where nothing can take them is
warned about (only the fallback cascade answers after the end), and so is a termination grace
longer than the 10-minute drain window (EC2 cuts the drain short).

Price: the block is paid for its whole window, used or not: instances x GPUs x USD per GPU-hour
(``pricePerGpuHour``, set at purchase: no catalog knows it). The pool's $/h is the block's plus
on-demand nodes beyond the block's instances when the pool also allows on-demand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta

from ..catalog import InstanceType, instance_types
from ..profile import Pool, Profile
from ..profile_hybrid import CapacityBlock, parse_time
from .model import BlockPlan, PoolPlan, RolePlan

Report = Callable[[Sequence[str | int], str], None]

#: EC2 starts terminating a block's instances this long before its end (instance types; Karpenter docs quoting the EC2 guide).
EC2_TERMINATION_LEAD = timedelta(minutes=30)
#: Karpenter starts draining block nodes this long before EC2 terminates them.
KARPENTER_DRAIN_LEAD = timedelta(minutes=10)


def blocks(pool: Pool) -> list[tuple[int, str, CapacityBlock]]:
    """(index in reservations, id, block) of the pool's Capacity Blocks."""
    return [(j, r.id or "", r.block) for j, r in enumerate(pool.reservations) if r.block is not None]


def block_only(pool: Pool) -> bool:
    """Reserved-only pool whose every reservation is a Capacity Block: it launches nothing after the end."""
    return set(pool.capacity_types) == {"reserved"} and bool(pool.reservations) and all(r.block for r in pool.reservations)


def drain_start(block: CapacityBlock) -> str:
    t = parse_time(block.end) - EC2_TERMINATION_LEAD - KARPENTER_DRAIN_LEAD
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def check(p: Profile, launch: Mapping[str, Sequence[InstanceType]], roles: Sequence[RolePlan], error: Report, warn: Report) -> None:
    """Refusals and end-of-block warnings, each at the profile field that causes it."""
    cat = instance_types()
    with_blocks = [pool for pool in p.capacity.pools if blocks(pool)]
    for pool in with_blocks:
        where: list[str | int] = ["capacity", "pools", pool.index]
        if "reserved" not in pool.capacity_types:
            error(where + ["capacityType"], f"pool {pool.name} selects a Capacity Block but does not allow capacity type reserved: "
                  "Karpenter launches into capacity reservations only for NodePools that allow karpenter.sh/capacity-type reserved")
        if "spot" in pool.capacity_types:
            error(where + ["capacityType"], f"pool {pool.name} holds a Capacity Block and also allows spot: when the block ends (or is "
                  "full) the baseline it backs would move to interruptible capacity; keep spot in a burst pool")
        launchable = {t.name for t in launch.get(pool.name, ())}
        for j, rid, b in blocks(pool):
            at: list[str | int] = where + ["reservations", j, "capacityBlock"]
            if parse_time(b.end) <= parse_time(b.start):
                error(at + ["end"], f"Capacity Block {rid} ends ({b.end}) before it starts ({b.start})")
            if b.instance_type not in cat:
                error(at + ["instanceType"], f"{b.instance_type} is not in the planner's catalog (compiler/catalog/instances.yaml): "
                      "its GPUs, and so the block's price, are unknown")
            elif b.instance_type not in launchable:
                error(at + ["instanceType"], f"Capacity Block {rid} holds {b.instance_type}, which pool {pool.name} never launches "
                      f"(it may launch {', '.join(sorted(launchable)) or 'nothing'} for the serving pods): the block would sit unused")
    if not with_blocks:
        return
    need = sum(r.max_replicas * r.gpus_per_replica for r in roles)
    for pool in with_blocks:
        held = sum(cat[b.instance_type].gpus * b.instance_count for _, _, b in blocks(pool) if b.instance_type in cat)
        if held > need:
            warn(["capacity", "pools", pool.index, "reservations"], f"pool {pool.name}'s Capacity Blocks hold {held} GPUs but every role at "
                 f"maxReplicas needs {need}: {held - need} prepaid GPUs stay idle (raise maxReplicas or buy a smaller block)")
    grace = max((r.termination_grace_seconds for r in roles), default=0)
    drain = int(KARPENTER_DRAIN_LEAD.total_seconds())
    if grace > drain:
        warn(["capacity", "pools", with_blocks[0].index, "reservations"], f"pods on Capacity Block nodes get {grace} s to drain, but Karpenter "
             f"drains a block {drain // 60} minutes before EC2 terminates its instances: requests still running then are cut "
             "(the fallback cascade retries them); lower serving.terminationGracePeriodSeconds or accept it")
    others = [pool for pool in p.capacity.pools if not block_only(pool)]
    if not others:
        ends = sorted({b.end for pool in with_blocks for _, _, b in blocks(pool)})
        cascade = "only the fallback cascade answers" if p.path.fallback.enabled else "nothing answers (fallback is off)"
        warn(["capacity", "pools", with_blocks[0].index, "capacityType"], f"every pool launches only into Capacity Blocks (ending {', '.join(ends)}): "
             f"after Karpenter drains them (40 minutes before each end) no pool can launch serving nodes and {cascade}; "
             "allow on-demand in the pool or add a pool that takes over")


def price_pools(p: Profile, pools: Sequence[PoolPlan]) -> tuple[tuple[PoolPlan, ...], tuple[BlockPlan, ...]]:
    """Pools with their Capacity Blocks priced (prepaid for the window), and one BlockPlan per block."""
    cat = instance_types()
    out, plans = [], []
    for pp, pool in zip(pools, p.capacity.pools, strict=True):
        found = blocks(pool)
        if not found:
            out.append(pp)
            continue
        block_hour, block_nodes = 0.0, 0
        for _, rid, b in found:
            gpus = cat[b.instance_type].gpus
            per_hour = b.instance_count * gpus * b.price_per_gpu_hour
            block_hour += per_hour
            block_nodes += b.instance_count
            plans.append(BlockPlan(pool.name, rid, b.instance_type, b.instance_count, gpus, b.start, b.end, round(b.hours, 2),
                                   b.price_per_gpu_hour, round(per_hour, 4), round(per_hour * b.hours, 2), drain_start(b)))
        extra = pp.price_per_hour if "on-demand" in pool.capacity_types else 0.0

        def cost(nodes: int, block_hour: float = block_hour, block_nodes: int = block_nodes, extra: float = extra) -> float:
            return round(block_hour + max(0, nodes - block_nodes) * extra, 4)

        max_nodes = round(pp.cost_per_hour_max / pp.price_per_hour) if pp.price_per_hour else 0
        # The block is prepaid: the pool's limits hold all of it (unless the profile pins them).
        inst = [cat[b.instance_type] for _, _, b in found]
        gpus = sum(t.gpus * b.instance_count for t, (_, _, b) in zip(inst, found, strict=True))
        cpu = sum(t.vcpu * b.instance_count for t, (_, _, b) in zip(inst, found, strict=True))
        mem = sum(t.memory_gi * b.instance_count for t, (_, _, b) in zip(inst, found, strict=True))
        out.append(dataclasses.replace(pp, cost_per_hour=cost(pp.nodes_at_target), cost_per_hour_max=cost(max_nodes),
                                       limit_gpus=pool.limit_gpus or max(pp.limit_gpus, gpus),
                                       limit_cpu=pool.limit_cpu or max(pp.limit_cpu, cpu),
                                       limit_memory_gi=pool.limit_memory_gi or max(pp.limit_memory_gi, mem)))
    return tuple(out), tuple(plans)
