"""render/dra.py: ResourceClaimTemplates of the built-in resource.k8s.io/v1 API (strictly valid
for Kubernetes 1.34, unknown to 1.33), and pods that claim their GPUs instead of requesting
nvidia.com/gpu; the device-plugin path is unchanged."""

from __future__ import annotations

import copy

from compiler.verify.kube import KubeValidator

from ..shipped import compile_tier


def objects(kind: str, env: str = "prod", sets: tuple[str, ...] = ()) -> list[dict]:
    return [o for o in compile_tier("tier2-dra", sets, env).objects if o["kind"] == kind]


def test_claim_template_is_strictly_valid_on_1_34_and_unknown_to_1_33() -> None:
    (tpl,) = objects("ResourceClaimTemplate")
    assert tpl["apiVersion"] == "resource.k8s.io/v1"
    assert KubeValidator("1.34").validate(tpl) == []
    assert not KubeValidator("1.33").is_builtin(tpl)  # v1 is GA from 1.34
    bad = copy.deepcopy(tpl)
    bad["spec"]["spec"]["devices"]["requests"][0]["exactly"]["countt"] = 4
    assert KubeValidator("1.34").validate(bad)


def test_claim_asks_the_driver_device_class_for_the_gpus_of_one_pod() -> None:
    (tpl,) = objects("ResourceClaimTemplate")
    (req,) = tpl["spec"]["spec"]["devices"]["requests"]
    # tier2-dra serves TP=4: four whole GPUs of the NVIDIA DRA driver's DeviceClass per pod
    assert req == {"name": "gpus", "exactly": {"deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": 4}}


def test_pods_claim_instead_of_requesting_nvidia_gpu() -> None:
    (dep,) = [d for d in objects("Deployment") if d["metadata"]["name"] == "llama-70b-dra"]
    spec = dep["spec"]["template"]["spec"]
    assert spec["resourceClaims"] == [{"name": "gpus", "resourceClaimTemplateName": "llama-70b-dra-gpus"}]
    (vllm,) = spec["containers"]
    res = vllm["resources"]
    assert res["claims"] == [{"name": "gpus"}]
    assert "nvidia.com/gpu" not in res["limits"] and "nvidia.com/gpu" not in res["requests"]
    assert KubeValidator("1.34").validate(dep) == []
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]  # the nodes are still tainted


def test_device_plugin_path_is_unchanged() -> None:
    assert not objects("ResourceClaimTemplate", sets=("serving.gpuAllocation=devicePlugin",))
    (dep,) = [d for d in objects("Deployment", sets=("serving.gpuAllocation=devicePlugin",)) if d["metadata"]["name"] == "llama-70b-dra"]
    spec = dep["spec"]["template"]["spec"]
    assert "resourceClaims" not in spec
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    for tier in ("tier1", "tier2", "tier3"):
        assert not any(o["kind"] == "ResourceClaimTemplate" for o in compile_tier(tier).objects)
