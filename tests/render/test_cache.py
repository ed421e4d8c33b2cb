"""The EFS torch.compile cache: StorageClass (EFS CSI access points) and ReadWriteMany PVC valid
for Kubernetes, mounted where vLLM keeps its torch.compile cache, keyed by model and engine
version; the three volume sources and the off switch."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.pipeline import Compiled
from compiler.render import cache, vllm
from compiler.verify.kube import KubeValidator

from ..shipped import compile_tier

FS = "fs-0123456789abcdef0"
ON_FS = (f"serving.compileCache={{enabled: true, fileSystemId: {FS}}}",)
ON_CLASS = ("serving.compileCache={enabled: true, storageClassName: efs-sc}",)
ON_CLAIM = ("serving.compileCache={enabled: true, claimName: shared-cache}",)


def of_kind(c: Compiled, kind: str) -> list[dict[str, Any]]:
    return [o for o in c.objects if o["kind"] == kind]


def pod_specs(c: Compiled) -> list[dict[str, Any]]:
    out = [d["spec"]["template"]["spec"] for d in of_kind(c, "Deployment")]
    for lws in of_kind(c, "LeaderWorkerSet"):
        t = lws["spec"]["leaderWorkerTemplate"]
        out += [t[k]["spec"] for k in ("leaderTemplate", "workerTemplate") if k in t]
    # the model servers only: the picker and Bifrost Deployments run no engine
    return [s for s in out if any(c["name"] == vllm.CONTAINER for c in s["containers"])]


def engine(spec: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in spec["containers"] if c["name"] == vllm.CONTAINER)


def cache_mounts(c: Compiled) -> list[dict[str, Any]]:
    return [m for s in pod_specs(c) for m in engine(s)["volumeMounts"] if m["name"] == cache.VOLUME]


@pytest.mark.parametrize(("tier", "sets"), [("tier1", ON_FS), ("tier2", ON_FS), ("tier3", ())])
def test_file_system_id_renders_an_efs_access_point_class_and_a_shared_claim(kube: KubeValidator, tier: str, sets: tuple[str, ...]) -> None:
    c = compile_tier(tier, sets)
    (sc,) = of_kind(c, "StorageClass")
    (pvc,) = of_kind(c, "PersistentVolumeClaim")
    for obj in (sc, pvc):
        assert kube.validate(obj) == []
    fs = c.profile.serving.compile_cache.file_system_id
    assert fs and sc["provisioner"] == "efs.csi.aws.com"
    assert sc["parameters"]["provisioningMode"] == "efs-ap" and sc["parameters"]["fileSystemId"] == fs
    assert "namespace" not in sc["metadata"] and pvc["metadata"]["namespace"] == c.profile.namespace
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"] and pvc["spec"]["storageClassName"] == sc["metadata"]["name"]
    specs = pod_specs(c)
    assert specs and all({"name": cache.VOLUME, "persistentVolumeClaim": {"claimName": pvc["metadata"]["name"]}} in s["volumes"] for s in specs)
    assert len(cache_mounts(c)) == len(specs)  # every engine container, LWS leaders and workers alike


def test_tier3_leader_and_worker_share_the_cache() -> None:
    c = compile_tier("tier3")
    assert len(of_kind(c, "LeaderWorkerSet")) == 2 and len(pod_specs(c)) == 4
    assert len({m["subPath"] for m in cache_mounts(c)}) == 1


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_mounted_where_vllm_keeps_its_torch_compile_cache(tier: str) -> None:
    c = compile_tier(tier, () if tier == "tier3" else ON_FS)
    for spec in pod_specs(c):
        cn = engine(spec)
        env = {e["name"]: e.get("value") for e in cn["env"]}
        (m,) = [m for m in cn["volumeMounts"] if m["name"] == cache.VOLUME]
        # vLLM: $VLLM_CACHE_ROOT/torch_compile_cache/<hash>/rank_<r>_<dp>/ (vllm/compilation/backends.py)
        assert m["mountPath"] == env["VLLM_CACHE_ROOT"] + "/torch_compile_cache"
        paths = [x["mountPath"] for x in cn["volumeMounts"]]
        assert paths.index("/cache") < paths.index(m["mountPath"])  # nested mount after its parent


def test_key_separates_models_and_engine_versions() -> None:
    base = cache_mounts(compile_tier("tier2", ON_FS))[0]["subPath"]
    assert cache_mounts(compile_tier("tier2", ON_FS))[0]["subPath"] == base  # deterministic
    tag = cache_mounts(compile_tier("tier2", (*ON_FS, "serving.image.tag=v0.27.1", "serving.image.capabilities=[s3-streaming]")))[0]["subPath"]
    digest = cache_mounts(compile_tier("tier2", (*ON_FS, "serving.image.digest=sha256:" + "ab" * 32)))[0]["subPath"]
    model = cache_mounts(compile_tier("tier2", (*ON_FS, "model.id=meta-llama/Llama-3.1-70B-Instruct")))[0]["subPath"]
    assert len({base, tag, digest, model}) == 4
    assert base.split("/")[0] == tag.split("/")[0] == digest.split("/")[0] != model.split("/")[0]  # model segment
    assert base.split("/")[1] != tag.split("/")[1] and model.split("/")[1] == base.split("/")[1]  # engine segment
    assert base.startswith("meta-llama-llama-3.3-70b-instruct-") and "/vllm-v0.28.0-" in base
    for key in (base, tag, digest, model):
        assert not key.startswith("/") and ".." not in key.split("/") and all(0 < len(p) <= 255 for p in key.split("/"))


def test_existing_storage_class_renders_the_claim_only(kube: KubeValidator) -> None:
    c = compile_tier("tier2", ON_CLASS)
    assert of_kind(c, "StorageClass") == []
    (pvc,) = of_kind(c, "PersistentVolumeClaim")
    assert kube.validate(pvc) == [] and pvc["spec"]["storageClassName"] == "efs-sc"


def test_existing_claim_renders_nothing_and_is_mounted() -> None:
    c = compile_tier("tier2", ON_CLAIM)
    assert of_kind(c, "StorageClass") == [] and of_kind(c, "PersistentVolumeClaim") == []
    assert all({"name": cache.VOLUME, "persistentVolumeClaim": {"claimName": "shared-cache"}} in s["volumes"] for s in pod_specs(c))


@pytest.mark.parametrize("tier", ["tier1", "tier2"])
def test_off_by_default_the_cache_stays_on_the_pod(tier: str) -> None:
    c = compile_tier(tier)
    assert c.profile.serving.compile_cache is None
    assert of_kind(c, "StorageClass") == [] and of_kind(c, "PersistentVolumeClaim") == [] and cache_mounts(c) == []
    assert all(v["name"] != cache.VOLUME for s in pod_specs(c) for v in s["volumes"])
