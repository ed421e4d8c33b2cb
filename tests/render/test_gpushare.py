"""GPU sharing on the profile's objects (compiler/render/gpushare.py): what the serving pods request,
the NodePool labels the GPU Operator acts on, the Karpenter NodeOverlays, vLLM's memory share.
Objects are validated against the real Karpenter CRDs."""

from __future__ import annotations

from typing import Any

from compiler.catalog import instance_types
from compiler.verify.crds import CrdRegistry
from tests.shipped import compile_tier

SHIPPED = "small-shared"


def of_kind(objs: Any, kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def serving_container(objs: Any) -> dict[str, Any]:
    (dep,) = [d for d in of_kind(objs, "Deployment") if d["metadata"]["name"] == "llama-8b-shared"]  # the serving Deployment
    return dep["spec"]["template"]["spec"]["containers"][0]


def flag(container: dict[str, Any], name: str) -> str:
    args = container["args"]
    return args[args.index(name) + 1]


def test_mig_pods_request_one_slice_by_its_resource_name() -> None:
    res = serving_container(compile_tier(SHIPPED).objects)["resources"]
    assert res["requests"] == res["limits"]
    assert res["limits"]["nvidia.com/mig-2g.20gb"] == "1"
    assert "nvidia.com/gpu" not in res["limits"]  # a mixed-strategy node advertises no whole GPU for it


def test_nodepool_template_selects_the_mig_layout(registry: CrdRegistry) -> None:
    objs = compile_tier(SHIPPED).objects
    (pool,) = of_kind(objs, "NodePool")
    assert registry.validate(pool) == []
    assert pool["spec"]["template"]["metadata"]["labels"]["nvidia.com/mig.config"] == "all-2g.20gb"
    assert "nvidia.com/gpu.deploy.device-plugin" not in pool["spec"]["template"]["metadata"]["labels"]  # the operator's plugin runs


def test_node_overlay_tells_karpenter_how_many_slices_a_node_has(registry: CrdRegistry) -> None:
    objs = compile_tier(SHIPPED).objects
    (overlay,) = of_kind(objs, "NodeOverlay")
    (pool,) = of_kind(objs, "NodePool")
    assert registry.validate(overlay) == []
    reqs = {r["key"]: r["values"] for r in overlay["spec"]["requirements"] if r["operator"] == "In"}
    assert reqs["karpenter.sh/nodepool"] == [pool["metadata"]["name"]]
    assert reqs["node.kubernetes.io/instance-type"] == ["p5.48xlarge"]
    per_gpu = {m.name: m.per_gpu for m in instance_types()["p5.48xlarge"].gpu.mig}["2g.20gb"]
    assert overlay["spec"]["capacity"] == {"nvidia.com/mig-2g.20gb": str(instance_types()["p5.48xlarge"].gpus * per_gpu)}


def test_single_strategy_requests_nvidia_gpu_and_needs_no_overlay() -> None:
    objs = compile_tier(SHIPPED, ("serving.gpuSharing.migStrategy=single",)).objects
    assert serving_container(objs)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert of_kind(objs, "NodeOverlay") == []
    (pool,) = of_kind(objs, "NodePool")
    assert pool["spec"]["template"]["metadata"]["labels"]["nvidia.com/mig.config"] == "all-2g.20gb"


def test_time_slicing_labels_the_config_and_splits_vllm_memory(registry: CrdRegistry) -> None:
    objs = compile_tier(SHIPPED, ("serving.gpuSharing={mode: timeSlicing, replicas: 4}",)).objects
    c = serving_container(objs)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert float(flag(c, "--gpu-memory-utilization")) * 4 <= 0.9  # four engines on one GPU stay within 90 %
    (pool,) = of_kind(objs, "NodePool")
    assert registry.validate(pool) == []
    labels = pool["spec"]["template"]["metadata"]["labels"]
    assert labels["nvidia.com/device-plugin.config"] == "ts-4" and "nvidia.com/mig.config" not in labels
    assert of_kind(objs, "NodeOverlay") == []


def test_whole_gpu_tiers_are_unchanged() -> None:
    for tier in ("tier1", "tier2", "tier3"):
        objs = compile_tier(tier).objects
        assert of_kind(objs, "NodeOverlay") == []
        for pool in of_kind(objs, "NodePool"):
            assert not {"nvidia.com/mig.config", "nvidia.com/device-plugin.config"} & set(pool["spec"]["template"]["metadata"]["labels"])


SGLANG = ("serving.engine=sglang", "serving.image.repository=lmsysorg/sglang", "serving.image.tag=v0.5.23",
          "model.source=hf://meta-llama/Llama-3.1-8B-Instruct")


def test_time_slicing_splits_sglang_memory_like_vllm() -> None:
    objs = compile_tier(SHIPPED, (*SGLANG, "serving.gpuSharing={mode: timeSlicing, replicas: 4}")).objects
    c = serving_container(objs)
    assert "--gpu-memory-utilization" not in c["args"]
    assert float(flag(c, "--mem-fraction-static")) * 4 <= 0.9  # four SGLang engines on one GPU stay within 90 %
