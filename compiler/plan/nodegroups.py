"""Sizes of the EKS managed node groups (``capacity.provisioner: managedNodeGroup``), derived from
the plan the way Karpenter pool limits are: the Cluster Autoscaler scales each group between
``minSize`` and ``maxSize``, so those carry what NodePool ``limits`` carry on Karpenter.

* ``maxSize``: the nodes every role needs at ``maxReplicas``, counted on the pool's instance type
  with the fewest serving pods per node (whichever type the Auto Scaling group launches, the peak
  fits), or the pool's pinned ``limits.gpus`` in nodes of that type;
* the highest-weight baseline pool carries the target load: ``minSize`` the nodes of
  ``minReplicas``, ``desiredSize`` those of the replicas the target RPS needs (the initial size;
  afterwards the Cluster Autoscaler owns it);
* other pools start at ``minSize`` 0, or 1 when pods claim GPUs through DRA: the Cluster
  Autoscaler builds an empty group's template node from the cloud provider, and the AWS provider's
  template carries no DRA ResourceSlices, so it never scales an empty group up for a pod with a
  ResourceClaim; once the group has a node, that node's slices are copied (kubernetes/autoscaler
  #10277, #10199). DRA groups therefore keep one node.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ..catalog import InstanceType
from ..profile import Pool, Profile
from . import min_gpus_per_pod, pool_types
from .cost import nodes_for, pods_per_node
from .model import PoolPlan, RolePlan


@dataclass(frozen=True)
class NodeGroupSize:
    """Managed node group sizes (DRA path) and the instance type they assume."""

    min_size: int
    desired_size: int
    max_size: int
    sizing_type: str  # the instance type the counts assume
    gpus_per_node: int


def sizing_type(pool: Pool, roles: Sequence[RolePlan], profile: Profile) -> InstanceType | None:
    """The pool's type that fits the fewest serving pods (ties: fewer GPUs, then name)."""
    need = min_gpus_per_pod(roles)
    known, _ = pool_types(pool)
    fitting = [t for t in known if t.gpus >= need] or known
    s = profile.serving
    return min(fitting, key=lambda t: (min((pods_per_node(t, r, s.cpu, s.memory_gi) for r in roles), default=0), t.gpus, t.name), default=None)


def carries_target(pool: Pool, profile: Profile) -> bool:
    baselines = [p for p in profile.capacity.pools if p.role == "baseline"]
    return bool(baselines) and pool is max(baselines, key=lambda p: p.weight)


def size(pool: Pool, roles: Sequence[RolePlan], profile: Profile) -> NodeGroupSize:
    t = sizing_type(pool, roles, profile)
    if t is None:  # the planner refuses pools without a catalog type before render
        return NodeGroupSize(1, 1, 1, "", 0)
    s = profile.serving
    peak = sum(nodes_for(r.max_replicas, r, t, s.cpu, s.memory_gi) for r in roles)
    if pool.limit_gpus is not None:
        peak = pool.limit_gpus // t.gpus
    floor = 1 if s.gpu_allocation == "dra" else 0
    if carries_target(pool, profile):
        low = sum(nodes_for(r.min_replicas, r, t, s.cpu, s.memory_gi) for r in roles)
        want = sum(nodes_for(max(r.replicas, r.min_replicas), r, t, s.cpu, s.memory_gi) for r in roles)
    else:
        low = want = 0
    low = max(low, floor)
    high = max(peak, low, 1)
    return NodeGroupSize(low, min(max(want, low), high), high, t.name, t.gpus)


def with_floors(profile: Profile, roles: Sequence[RolePlan], pools: Sequence[PoolPlan]) -> tuple[PoolPlan, ...]:
    """The pool plans of a managedNodeGroup profile with the nodes each group always keeps
    (``minSize``) counted and priced at the target load: a DRA burst group's one node is paid for
    even when no replica runs on it (the pool's per-node price already carries the spot factor)."""
    if profile.capacity.provisioner != "managedNodeGroup":
        return tuple(pools)
    out = []
    for pp, pool in zip(pools, profile.capacity.pools, strict=True):
        floor = size(pool, roles, profile).min_size
        if floor > pp.nodes_at_target:
            cost = round(floor * pp.price_per_hour, 4)
            pp = dataclasses.replace(pp, nodes_at_target=floor, cost_per_hour=cost, cost_per_hour_max=max(pp.cost_per_hour_max, cost))
        out.append(pp)
    return tuple(out)
