"""GPU sharing in the planner (compiler/plan/sharing.py): the catalog's MIG profiles, sizing on one
slice, limits in physical GPUs and whole nodes, time-slicing's memory split. Refusals (located,
exit 2) are the corpus in tests/test_sharing_bad_inputs.py."""

from __future__ import annotations

import pytest

from compiler.catalog import instance_types
from compiler.errors import InputError
from compiler.plan import memory
from tests.shipped import compile_tier

SHIPPED = "small-shared"  # profiles/small-shared.yaml: Llama-3.1-8B FP8 on H100 MIG 2g.20gb
TIME_SLICED = ("serving.gpuSharing={mode: timeSlicing, replicas: 4}",)


def test_catalog_mig_profiles_fit_their_gpu() -> None:
    """MIG cuts a GPU into at most 7 compute slices and 8 memory slices: every listed layout (one
    profile on every GPU) must fit, and the GPUs without MIG have none."""
    gpus = {t.gpu.name: t.gpu for t in instance_types().values()}
    assert {n for n, g in gpus.items() if g.mig} == {"A100", "H100", "H200"}
    assert all(not gpus[n].mig for n in ("A10G", "L4", "L40S", "T4"))
    for gpu in gpus.values():
        names = [m.name for m in gpu.mig]
        assert len(names) == len(set(names))
        for m in gpu.mig:
            assert m.per_gpu * m.compute_slices <= 7, (gpu.name, m)
            assert m.per_gpu * m.memory_gb <= gpu.memory_gb + 1, (gpu.name, m)  # names round to whole GB
    owners = [m.name for g in gpus.values() for m in g.mig]
    assert len(owners) == len(set(owners))  # a layout name (all-<profile>) belongs to one GPU model


def test_mig_replica_is_sized_on_its_slice() -> None:
    c = compile_tier(SHIPPED)
    sh, (serve,) = c.plan.sharing, c.plan.roles
    assert sh is not None and (sh.mode, sh.gpu, sh.mig_profile, sh.resource) == ("mig", "H100", "2g.20gb", "nvidia.com/mig-2g.20gb")
    assert sh.slices_per_gpu == 3 and sh.mig_layout == "all-2g.20gb" and sh.node_labels == {"nvidia.com/mig.config": "all-2g.20gb"}
    assert serve.gpus_per_pod == 1 and serve.gpu_memory_gb == 20
    # the KV budget is what is left of the 20 GB slice, not of the 80 GB GPU
    assert serve.kv_budget_gb == pytest.approx(20 * 0.9 - 8.03 - memory.OVERHEAD_GB, abs=0.01)
    assert serve.max_num_seqs <= serve.kv_tokens // (1024 + 256)
    assert sh.gpu_memory_utilization == c.profile.serving.gpu_memory_utilization  # vLLM sees the slice as its GPU


def test_smaller_slice_has_less_compute_and_is_slower() -> None:
    """1g.20gb has the memory of 2g.20gb but half its compute slices: the same model is slower on it."""
    two = compile_tier(SHIPPED).plan.roles[0]
    one = compile_tier(SHIPPED, ("serving.gpuSharing.migProfile=1g.20gb",)).plan
    assert one.sharing is not None and one.sharing.slices_per_gpu == 4
    assert one.roles[0].ttft_seconds > two.ttft_seconds


def test_pool_limits_count_physical_gpus_of_whole_nodes() -> None:
    """24 slices fit one p5.48xlarge (8 GPUs x 3); 30 slices need two: Karpenter counts the node's
    8 nvidia.com/gpu, 192 vCPUs and 2048 GiB per node, so the limits hold two whole nodes."""
    (pool,) = compile_tier(SHIPPED, ("autoscaling.maxReplicas=24",)).plan.pools
    assert (pool.limit_gpus, pool.limit_cpu, pool.limit_memory_gi) == (8, 192, 2048)
    (pool,) = compile_tier(SHIPPED, ("autoscaling.maxReplicas=30",)).plan.pools
    p5 = instance_types()["p5.48xlarge"]
    assert (pool.limit_gpus, pool.limit_cpu, pool.limit_memory_gi) == (2 * p5.gpus, 2 * p5.vcpu, 2 * p5.memory_gi)


def test_time_slicing_splits_the_gpu_memory_between_the_engines() -> None:
    c = compile_tier(SHIPPED, TIME_SLICED)
    sh = c.plan.sharing
    assert sh is not None and sh.mode == "timeSlicing" and sh.resource == "nvidia.com/gpu" and sh.slices_per_gpu == 4
    assert sh.device_plugin_config == "ts-4" and sh.node_labels == {"nvidia.com/device-plugin.config": "ts-4"}
    assert sh.gpu_memory_utilization * 4 <= 0.9 and sh.gpu_memory_utilization == pytest.approx(0.225)
    assert c.plan.roles[0].gpu_memory_gb == 20  # 80 GB / 4


def test_whole_gpu_profiles_plan_no_sharing() -> None:
    for tier in ("tier1", "tier2", "tier3"):
        assert compile_tier(tier).plan.sharing is None


def test_sharing_packs_replicas_onto_fewer_nodes() -> None:
    """The point of sharing: 24 replicas on 2g.20gb slices fill one p5.48xlarge (whole GPUs would
    need three nodes), the 25th opens a second one."""
    def nodes(replicas: int) -> int:
        sets = (f"autoscaling.minReplicas={replicas}", f"autoscaling.maxReplicas={replicas}")
        return compile_tier(SHIPPED, sets).plan.pools[0].nodes_at_target

    assert (nodes(24), nodes(25)) == (1, 2)


def test_sharing_is_refused_off_karpenter_node_pools() -> None:
    """Managed node groups (the DRA path) have no NodePool template to carry the layout label."""
    with pytest.raises(InputError) as err:
        compile_tier("tier2-dra", ("serving.gpuSharing={mode: timeSlicing, replicas: 2}",))
    messages = [d.message for d in err.value.diagnostics]
    assert any("not for provisioner managedNodeGroup" in m for m in messages), messages
    assert any("tensor 4" in m for m in messages), messages  # and the TP=4 replica, in the same run
