"""Capacity Blocks in the plan (compiler/plan/reservations.py), on the shipped
``profiles/tier2-capacity-block.yaml`` (2 x p5.48xlarge, 8 GPUs each, 336 h at $3.93/GPU-h):
prepaid price, limits that hold the block, the drain time, and the end-of-block warnings."""

from __future__ import annotations

from compiler.emit.plan_summary import plan_summary
from compiler.plan import extras
from compiler.plan.reservations import block_only
from tests.render.test_vllm import compiled

PROFILE = "tier2-capacity-block"


def test_block_priced_for_its_whole_window() -> None:
    (b,) = compiled(PROFILE).plan.capacity_blocks
    assert (b.pool, b.id, b.instance_type, b.instance_count, b.gpus_per_instance) == ("block", "cr-0b1c2d3e4f5a6b7c8", "p5.48xlarge", 2, 8)
    assert b.hours == 14 * 24
    assert b.cost_per_hour == 62.88  # 2 instances x 8 GPUs x $3.93
    assert b.total_cost == 21127.68  # x 336 h
    # EC2 terminates from 30 minutes before the end, Karpenter drains 10 minutes before that
    assert (b.end, b.drain_from) == ("2027-01-18T11:30:00Z", "2027-01-18T10:50:00Z")


def test_block_pool_costs_the_block_and_holds_all_of_it() -> None:
    plan = compiled(PROFILE).plan
    pool = plan.pool("block")
    assert pool.cost_per_hour == pool.cost_per_hour_max == 62.88  # reserved only: the block, used or not
    assert pool.limit_gpus >= 16 and pool.limit_cpu >= 2 * 192 and pool.limit_memory_gi >= 2 * 2048
    assert plan.cost_per_hour == 62.88  # the on-demand pool takes over only after the end


def test_on_demand_beyond_the_block_is_priced_at_list() -> None:
    c = compiled(PROFILE, "capacity.pools[block].capacityType=[reserved, on-demand]",
                 "capacity.pools[block].reservations=[{id: cr-0b1c2d3e4f5a6b7c8, capacityBlock: {instanceType: p5.48xlarge, instanceCount: 1, "
                 'start: "2027-01-04T11:30:00Z", end: "2027-01-18T11:30:00Z", pricePerGpuHour: 3.93}}]')
    pool = c.plan.pool("block")
    assert pool.nodes_at_target == 2  # 4 replicas of TP=4, 2 per p5.48xlarge
    assert pool.cost_per_hour == round(1 * 8 * 3.93 + 1 * 98.32, 4)


def test_block_only_capacity_warns_about_the_end() -> None:
    """tier3 (one pool) with its ODCR replaced by a Capacity Block and no on-demand fallback."""
    c = compiled("tier3", "capacity.pools[baseline].capacityType=[reserved]",
                 "capacity.pools[baseline].reservations=[{id: cr-0a1b2c3d4e5f67890, capacityBlock: {instanceType: p5en.48xlarge, "
                 'instanceCount: 4, start: "2027-02-01T11:30:00Z", end: "2027-02-08T11:30:00Z", pricePerGpuHour: 5}}]')
    assert block_only(c.profile.capacity.pools[0])
    (w,) = [str(w) for w in c.plan.warnings if "every pool launches only into Capacity Blocks" in str(w)]
    assert "ending 2027-02-08T11:30:00Z" in w and "only the fallback cascade answers" in w
    assert c.plan.pool("baseline").cost_per_hour == 4 * 8 * 5


def test_drain_longer_than_karpenters_window_warns() -> None:
    c = compiled(PROFILE, "serving.terminationGracePeriodSeconds=900")
    assert any("Karpenter drains a block 10 minutes before EC2 terminates" in str(w) for w in c.plan.warnings)
    assert not compiled(PROFILE).plan.warnings


def test_idle_prepaid_gpus_warn() -> None:
    c = compiled(PROFILE, "autoscaling.minReplicas=1", "autoscaling.maxReplicas=2")
    assert any("16 GPUs but every role at maxReplicas needs 8: 8 prepaid GPUs stay idle" in str(w) for w in c.plan.warnings)


def test_plan_views_show_blocks_only_where_used() -> None:
    c = compiled(PROFILE)
    md = extras.markdown(c.plan)
    assert "### Capacity Blocks" in md and "| block | cr-0b1c2d3e4f5a6b7c8 | 2 x p5.48xlarge (8 GPUs) |" in md
    assert '"capacityBlocks"' in plan_summary([c]) and '"totalCost": 21127.68' in plan_summary([c])
    tier2 = compiled("tier2")
    assert extras.tables(tier2.plan) == [] and "capacityBlocks" not in plan_summary([tier2])
