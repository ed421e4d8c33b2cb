"""The planner on hand-checked cases (issue: capacity planner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.errors import InputError
from compiler.pipeline import compile_env
from compiler.resolve import Request

from ..shipped import shipped_profiles
from .profiles import plan_of

REPO = Path(__file__).resolve().parents[2]


def test_llama_70b_bf16_does_not_fit_tp4_on_g5_and_says_why(tmp_path: Path) -> None:
    # 70.6B x 2 bytes / 4 GPUs = 35.3 GB/GPU + 3 GB overhead = 38.3 GB; an A10G gives 24 x 0.9 = 21.6 GB.
    with pytest.raises(InputError) as e:
        plan_of(tmp_path, "capacity.pools[baseline].instanceTypes=[g5.12xlarge]", "capacity.pools[burst].instanceFamilies=[g5]",
                "serving.resources.memoryGi=160")
    [d] = e.value.sorted()
    assert str(d) == (
        "p.yaml:9:17: $.serving.parallelism.tensor: meta-llama/Llama-3.3-70B-Instruct (bf16) does not fit 4 x A10G 24 GB (g5.12xlarge): "
        "needs 38.3 GB/GPU for weights + overhead, has 21.6 GB at gpu-memory-utilization 0.9 (short by 16.7 GB/GPU); "
        "would fit with: pipeline parallel 2 across nodes, FP8 weights, a bigger GPU (g6e.12xlarge, g6e.24xlarge, g6e.48xlarge)"
    )


def test_llama_70b_fits_g6e_with_fp8(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "model.precision=fp8")
    r = plan.role("serve")
    assert r.sizing_type == "g6e.12xlarge" and r.gpus_per_pod == 4 and r.pods_per_replica == 1
    assert r.weights_per_gpu_gb == pytest.approx(70.6 / 4)  # 17.65 GB
    assert r.kv_budget_gb == pytest.approx(48 * 0.9 - 17.65 - 3.0)  # 22.55 GB
    # KV per token per GPU (bf16 KV): 2 x 80 layers x 8 heads x 128 dim x 2 bytes / 4 shards = 81,920 B
    assert r.kv_bytes_per_token == pytest.approx(81920)
    assert r.kv_tokens == int(22.55e9 // 81920)


def test_one_trillion_moe_fp8_needs_multi_node_on_p5en(tmp_path: Path) -> None:
    text = (REPO / "profiles" / "tier3.yaml").read_text()
    sets = ("model.id=moonshotai/Kimi-K2.5", "model.parametersB=1000", "model.activeParametersB=32")
    one_node = sets + tuple(f"serving.disaggregation.{r}.{k}" for r in ("prefill", "decode") for k in ("tensor=8", "data=1", "expert=false"))
    with pytest.raises(InputError) as e:  # 1000 GB / 8 = 125 GB/GPU + 3 > 141 x 0.9 = 126.9
        plan_of(tmp_path, *one_node, text=text)
    assert "does not fit 8 x H200 141 GB (p5en.48xlarge)" in str(e.value) and "short by 1.1 GB/GPU" in str(e.value)
    plan = plan_of(tmp_path, *sets, text=text)  # the shipped wide-EP layout: 16 GPUs over 2 nodes
    for role in ("prefill", "decode"):
        r = plan.role(role)
        assert (r.pods_per_replica, r.gpus_per_pod, r.tensor * r.pipeline * r.data, r.expert) == (2, 8, 16, True)
        # experts (1000 - 32 B) over 16 ranks + the dense 32 B replicated per rank, FP8
        assert r.weights_per_gpu_gb == pytest.approx(968 / 16 + 32)


def test_seed_case_study_measured_points(tmp_path: Path) -> None:
    """(1, 2.5 s), (64, 5 s), (128, 10 s) on one 8-GPU node, 25 RPS at <= 5 s -> 64 per node, 2 nodes, 25.6 RPS."""
    plan = plan_of(
        tmp_path,
        "model.precision=fp8", "serving.parallelism.tensor=8", "capacity.pools[baseline].instanceTypes=[p5.48xlarge]",
        "workload.targetRPS=25", "workload.slo.e2eSeconds=5",
        "workload.measured=[{concurrency: 1, e2eSeconds: 2.5}, {concurrency: 64, e2eSeconds: 5}, {concurrency: 128, e2eSeconds: 10}]",
    )
    r = plan.role("serve")
    assert r.measured and r.concurrency == 64 and r.rps_per_replica == pytest.approx(12.8)
    assert r.replicas == 2 and r.sizing_type == "p5.48xlarge"
    assert plan.capacity_rps == pytest.approx(25.6)
    # Seed cost check: two p5.48xlarge at $98.32/h for 30 days = $141,580.80.
    assert plan.pool("baseline").nodes_at_target == 2
    assert plan.cost_per_month == pytest.approx(141580.80)
    # KEDA target keeps 20 % headroom under the cap (seed: 32 concurrent -> 25).
    assert r.keda_target == 51


def test_keda_target_headroom_matches_the_seed(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "model.precision=fp8", "serving.maxNumSeqs=32", "workload.measured=[{concurrency: 32, e2eSeconds: 10}]")
    assert plan.role("serve").keda_target == 25


def test_max_context_larger_than_kv_cache_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        plan_of(tmp_path, "model.precision=fp8", "model.maxContext=1048576")
    assert "maxContext 1048576 exceeds the KV cache of one replica" in str(e.value)


def test_pinned_values_are_checked_against_the_plan(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "model.precision=fp8", "serving.maxNumSeqs=4000", "autoscaling.maxReplicas=1", "workload.targetRPS=40")
    msgs = [d.message for d in plan.warnings]
    assert any("maxNumSeqs 4000 exceeds the" in m for m in msgs)
    assert any("maxReplicas 1 cannot serve 40 RPS" in m for m in msgs)
    assert plan.role("serve").max_num_seqs == 4000  # a pin wins, with a warning


def test_rps_drives_replicas_and_pool_limits(tmp_path: Path) -> None:
    low = plan_of(tmp_path, "model.precision=fp8", "workload.targetRPS=2")
    high = plan_of(tmp_path, "model.precision=fp8", "workload.targetRPS=40")
    assert high.role("serve").replicas > low.role("serve").replicas
    assert high.pool("baseline").limit_gpus > low.pool("baseline").limit_gpus
    assert high.pool("baseline").limit_gpus == high.role("serve").max_replicas * 4


def test_limits_hold_one_node_of_every_allowed_type(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, "model.precision=fp8", "workload.targetRPS=0.1", "autoscaling.maxReplicas=1")
    burst = plan.pool("burst")  # g6e family: the biggest is g6e.48xlarge (8 GPUs, 192 vCPU, 1536 GiB)
    assert burst.limit_gpus >= 8 and burst.limit_cpu >= 192 and burst.limit_memory_gi >= 1536


def test_pool_limit_below_one_node_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        plan_of(tmp_path, "model.precision=fp8", "capacity.pools[baseline].limits.memoryGi=768", "capacity.pools[baseline].instanceTypes=[p4d.24xlarge]", "serving.resources.memoryGi=300")
    assert "memory limit 768Gi is below one p4d.24xlarge (1152Gi): it would never launch" in str(e.value)


@pytest.mark.parametrize("tier", shipped_profiles())
def test_shipped_profiles_plan_cleanly(tier: str) -> None:
    from compiler.resolve import resolve_all

    for r in resolve_all(Request(REPO / "profiles" / f"{tier}.yaml", f"profiles/{tier}.yaml")):
        c = compile_env(Request(REPO / "profiles" / f"{tier}.yaml", f"profiles/{tier}.yaml", r.env))
        assert [str(w) for w in c.plan.warnings] == []
        assert all(role.replicas >= 1 and role.max_replicas >= role.min_replicas for role in c.plan.roles)


def test_price_table_and_spot_factor_are_overridable(tmp_path: Path) -> None:
    base = ("model.precision=fp8", "serving.parallelism.tensor=8", "capacity.pools[baseline].instanceTypes=[p5.48xlarge]",
            "workload.targetRPS=25", "workload.slo.e2eSeconds=5",
            "workload.measured=[{concurrency: 64, e2eSeconds: 5}]")
    plan = plan_of(tmp_path, *base, 'capacity.pricing={onDemandPerHour: {"p5.48xlarge": 55.04}, spotPriceFactor: 0.3}')
    assert plan.cost_per_month == pytest.approx(2 * 55.04 * 720)
    # The spot-only g6e burst pool prices the cheapest g6e with 8 GPUs (g6e.48xlarge, $30.131/h) at 30 %.
    assert plan.pool("burst").price_per_hour == pytest.approx(30.131 * 0.3)
