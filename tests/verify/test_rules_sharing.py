"""The ``gpu-sharing`` rule (compiler/verify/rules_sharing.py) and the slice-aware capacity rules:
silent on the shipped shared profile (MIG and time-sliced), and firing, alone, on its real objects
mutated to reproduce one mistake; the mutated objects stay schema-valid (the rule is the guard)."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from compiler.pipeline import Compiled
from compiler.verify.crds import CrdRegistry
from compiler.verify.rules import check_rules
from compiler.verify.rules_base import RuleInput
from compiler.verify.rules_nodes import nodepools
from compiler.verify.rules_sharing import slices_per_gpu
from tests.shipped import compile_tier

SHIPPED = "small-shared"
TIME_SLICED = ("serving.gpuSharing={mode: timeSlicing, replicas: 4}",)


@cache
def compiled(sets: tuple[str, ...] = ()) -> Compiled:
    return compile_tier(SHIPPED, sets)


def objects(sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return copy.deepcopy(list(compiled(sets).objects))


def run(objs: list[dict[str, Any]], sets: tuple[str, ...] = ()) -> list[Any]:
    c = compiled(sets)
    return check_rules(objs, c.profile, c.plan)


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def serving(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in of_kind(objs, "Deployment") if o["metadata"]["name"] == "llama-8b-shared")


def test_shared_profiles_pass_every_rule() -> None:
    for sets in ((), TIME_SLICED, ("serving.gpuSharing.migStrategy=single",)):
        c = compiled(sets)
        assert check_rules(c.objects, c.profile, c.plan) == []


def test_pods_of_a_mig_slice_no_pool_makes(registry: CrdRegistry) -> None:
    objs = objects()
    (pool,) = of_kind(objs, "NodePool")
    pool["spec"]["template"]["metadata"]["labels"]["nvidia.com/mig.config"] = "all-3g.40gb"  # nodes cut into another profile
    assert registry.validate(pool) == []
    found = run(objs)
    assert [v.rule for v in found] == ["gpu-sharing"] and found[0].profile_path == ("serving", "gpuSharing", "migProfile")
    assert "nvidia.com/mig-2g.20gb" in found[0].message and "no node ever advertises" in found[0].message


def test_mig_pool_without_node_overlay_is_pending_forever() -> None:
    objs = [o for o in objects() if o["kind"] != "NodeOverlay"]
    found = run(objs)
    assert [v.rule for v in found] == ["gpu-sharing"]
    assert "NodeOverlay" in found[0].message and found[0].obj.startswith("NodePool/")


def test_time_sliced_engines_at_full_memory_would_run_out() -> None:
    objs = objects(TIME_SLICED)
    args = serving(objs)["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("--gpu-memory-utilization") + 1] = "0.9"
    found = run(objs, TIME_SLICED)
    assert [v.rule for v in found] == ["gpu-sharing"] and found[0].profile_path == ("serving", "gpuMemoryUtilization")
    assert "4 engines" in found[0].message


def test_slices_per_gpu_reads_the_pool_labels() -> None:
    for sets, expected in (((), 3), (TIME_SLICED, 4), (("serving.gpuSharing.migProfile=1g.10gb", "model.maxContext=4096",
                                                         "model.parametersB=3"), 7)):
        c = compiled(sets)
        (np,) = nodepools(RuleInput(tuple(c.objects), c.profile, c.plan))
        assert slices_per_gpu(np) == expected


def test_pool_gpu_limits_count_slices() -> None:
    """24 replicas of one 2g.20gb slice fit one p5.48xlarge: the NodePool's limit of 8 nvidia.com/gpu
    (3 slices each) holds them; 25 replicas do not."""
    objs = objects()
    so = of_kind(objs, "ScaledObject")[0]
    so["spec"]["maxReplicaCount"] = 24
    assert run(objs) == []
    so["spec"]["maxReplicaCount"] = 25
    assert [v.rule for v in run(objs)] == ["pool-gpu-limits"]


def test_time_sliced_sglang_engines_at_full_memory_would_run_out() -> None:
    sets = (*TIME_SLICED, "serving.engine=sglang", "serving.image.repository=lmsysorg/sglang", "serving.image.tag=v0.5.23",
            "model.source=hf://meta-llama/Llama-3.1-8B-Instruct")
    objs = objects(sets)
    assert run(objs, sets) == []
    args = serving(objs)["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("--mem-fraction-static") + 1] = "0.85"
    found = run(objs, sets)
    assert [v.rule for v in found] == ["gpu-sharing"] and "4 engines" in found[0].message
