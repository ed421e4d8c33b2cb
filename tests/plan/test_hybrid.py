"""The on-premises plan (compiler/plan/hybrid.py) on the shipped ``profiles/tier2-hybrid.yaml``:
2 servers x 8 H100 80 GB, 192 vCPU, 2048 GiB; Llama-3.3-70B FP8 at TP=4, pods of 40 CPU / 320 Gi."""

from __future__ import annotations

from compiler.plan import extras
from tests.render.test_vllm import compiled

PROFILE = "tier2-hybrid"


def test_replicas_weights_and_kv_on_declared_gpus() -> None:
    c = compiled(PROFILE)
    h = c.plan.hybrid
    assert h is not None
    assert (h.gpus_per_pod, h.pods_per_node, h.replicas) == (4, 2, 4)  # 8 GPUs / 4; CPU (191 // 40 = 4) and memory allow more
    assert h.weights_per_gpu_gb == 17.65  # 70.6 B x 1 byte / 4
    assert h.kv_budget_gb == round(80 * 0.9 - 17.65 - 3.0, 3)
    assert 1 <= h.max_num_seqs <= c.plan.role("serve").max_num_seqs


def test_cpu_and_pinned_replicas_bound_the_servers() -> None:
    h = compiled(PROFILE, "capacity.hybrid.cpu=60").plan.hybrid
    assert h is not None and (h.pods_per_node, h.replicas) == (1, 2)  # (60 - 1) // 40 = 1 pod per server
    pinned = compiled(PROFILE, "capacity.hybrid.replicas=3").plan.hybrid
    assert pinned is not None and pinned.replicas == 3


def test_small_kv_cache_lowers_max_num_seqs() -> None:
    big, small = compiled(PROFILE).plan.hybrid, compiled(PROFILE, "capacity.hybrid.gpu.memoryGB=30").plan.hybrid
    assert big is not None and small is not None
    assert small.max_num_seqs < big.max_num_seqs


def test_plan_shows_the_onprem_section_and_the_hop() -> None:
    md = extras.markdown(compiled(PROFILE).plan)
    assert "### On-premises (EKS Hybrid Nodes" in md and "| 2 | 8 x H100 80 GB | 4 (2/server, 4 GPUs each) |" in md
    assert compiled("tier2").plan.hybrid is None


def test_multi_node_replicas_are_not_placed_on_hybrid_nodes() -> None:
    """A replica spanning nodes (LeaderWorkerSet group) is refused at capacity.hybrid."""
    import dataclasses

    from compiler.plan.hybrid import plan_hybrid

    c = compiled(PROFILE)
    group = dataclasses.replace(c.plan.role("serve"), pods_per_replica=2)
    errors: list[tuple[list[str | int], str]] = []
    assert plan_hybrid(c.profile, [group], lambda where, msg: errors.append((list(where), msg))) is None
    assert errors == [(["capacity", "hybrid"], ("a replica spans 2 nodes (LeaderWorkerSet); mcompile places only replicas that fit one "
                       "on-premises server on hybrid nodes (multi-node groups need EFA on the cloud pools)"))]


def test_request_path_lists_the_onprem_hop_first() -> None:
    from compiler.plan.path import hops

    c = compiled(PROFILE)
    path = hops(c.profile, c.plan)
    assert [h.source for h in path[:4]] == ["client", "Bifrost", "Bifrost", "Bifrost"]
    assert path[1].target == "on-premises vLLM (EKS Hybrid Nodes) via Service llama-70b-hybrid-onprem :8000"
    assert path[1].budget == "12s (first)" and path[2].budget == "12s (on error/timeout of onprem)"
