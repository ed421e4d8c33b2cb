"""plan/nodegroups.py: managed node groups sized from the plan like Karpenter pool limits, with the
one-node floor of DRA groups counted in the plan's cost."""

from __future__ import annotations

import pytest

from compiler.plan.nodegroups import size

from ..shipped import compile_tier


def sizes(env: str = "prod", sets: tuple[str, ...] = ()) -> dict[str, tuple[int, int, int, str]]:
    c = compile_tier("tier2-dra", sets, env)
    out = {}
    for pool in c.profile.capacity.pools:
        s = size(pool, c.plan.roles, c.profile)
        out[pool.name] = (s.min_size, s.desired_size, s.max_size, s.sizing_type)
    return out


def test_shipped_prod_sizes() -> None:
    # prod: TP=4 pods on 4-GPU g6e.12xlarge (one pod per node); 1 replica needed, min 2, max 4 (spiky: 2 x the 2 min).
    # baseline carries the load: min 2, desired 2, max 4 nodes; the spot burst group keeps its one DRA node and may reach the peak too.
    assert sizes() == {"baseline": (2, 2, 4, "g6e.12xlarge"), "burst": (1, 1, 4, "g6e.12xlarge")}


def test_shipped_dev_sizes() -> None:
    # dev pins 1..1 replicas
    assert sizes("dev") == {"baseline": (1, 1, 1, "g6e.12xlarge"), "burst": (1, 1, 1, "g6e.12xlarge")}


def test_device_plugin_groups_may_be_empty() -> None:
    # without DRA the Cluster Autoscaler scales an empty group from its AWS template: burst starts at 0
    assert sizes(sets=("serving.gpuAllocation=devicePlugin",))["burst"] == (0, 0, 4, "g6e.12xlarge")


def test_bigger_nodes_hold_more_pods() -> None:
    # g6e.48xlarge: 8 GPUs, 192 vCPUs, 1536 GiB -> two TP=4 pods (40 CPU / 320 GiB each) per node: 4 replicas on 2 nodes
    got = sizes(sets=("capacity.pools[burst].instanceTypes=[g6e.48xlarge]",))["burst"]
    assert got == (1, 1, 2, "g6e.48xlarge")


def test_pinned_gpu_limit_caps_max_size() -> None:
    assert sizes(sets=("capacity.pools[burst].limits.gpus=8",))["burst"][2] == 2  # 8 GPUs / 4 per node


def test_the_floor_node_is_in_the_cost() -> None:
    c = compile_tier("tier2-dra")
    burst = c.plan.pool("burst")
    assert burst.nodes_at_target == 1
    assert burst.cost_per_hour == pytest.approx(10.493 * 0.45, abs=1e-3)  # one spot g6e.12xlarge (catalog list price x spot factor)
    no_floor = compile_tier("tier2-dra", ("serving.gpuAllocation=devicePlugin",))
    assert no_floor.plan.pool("burst").cost_per_hour == 0
    assert c.plan.cost_per_hour == pytest.approx(no_floor.plan.cost_per_hour + 10.493 * 0.45, abs=1e-3)
