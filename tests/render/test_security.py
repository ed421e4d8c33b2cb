"""Security posture of the serving workloads and their checkov waivers (compiler/render/security.py).

tests/test_checkov.py proves the posture with the real scanner; these tests pin the render
decisions behind it, profile variant by profile variant, without running checkov."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.pipeline import Compiled
from compiler.render import security
from compiler.render.security import CATALOGUE, SKIP_PREFIX, Waiver, skip_annotations
from compiler.verify.crds import CrdRegistry
from compiler.verify.kube import KubeValidator
from tests.render.test_vllm import as_pod, compiled, main_container, objects, templates

DIGEST = "sha256:" + "ab" * 32
TIERS = ("tier1", "tier2", "tier3")
ROOT = {"CKV_K8S_23", "CKV_K8S_40"}
TAG_ONLY = {"CKV_K8S_43", "CKV_K8S_15"}


def workloads(c: Compiled) -> list[dict[str, Any]]:
    """The objects that own vLLM pod templates: Deployments and LeaderWorkerSets."""
    vllm = [d for d in objects(c, "Deployment") if d["spec"]["template"]["spec"]["containers"][0]["name"] == "vllm"]
    return vllm + objects(c, "LeaderWorkerSet")


def skipped(obj: dict[str, Any]) -> dict[str, str]:
    """check id -> reason, from the object's own ``checkov.io/skip<N>`` annotations."""
    out = {}
    for key, value in obj["metadata"]["annotations"].items():
        if key.startswith(SKIP_PREFIX):
            check, reason = value.split("=")  # exactly what checkov does: one "=" only
            out[check] = reason
    return out


def validate(obj: dict[str, Any], kube: KubeValidator, registry: CrdRegistry) -> list:
    return kube.validate(obj) if obj["kind"] == "Deployment" else registry.validate(obj)


# --- the catalogue --------------------------------------------------------------------------

def test_catalogue_reasons_survive_checkovs_annotation_parsing() -> None:
    assert len({w.check for w in CATALOGUE}) == len(CATALOGUE)
    for w in CATALOGUE:
        assert w.check.startswith("CKV_K8S_") and w.control and w.reason
        assert "=" not in w.reason and "{{" not in w.reason and "\n" not in w.reason


def test_skip_annotations_are_numbered_in_catalogue_order() -> None:
    ann = skip_annotations([security.TAG_ONLY, security.ROOT_USER, security.TAG_ONLY])
    assert ann == {"checkov.io/skip1": f"CKV_K8S_23={security.ROOT_USER.reason}",
                   "checkov.io/skip2": f"CKV_K8S_43={security.TAG_ONLY.reason}"}
    assert skip_annotations([]) == {}
    with pytest.raises(ValueError):
        skip_annotations([Waiver("CKV_K8S_1", "x", "made up")])


# --- hardening present on every pod --------------------------------------------------------

@pytest.mark.parametrize("tier", TIERS)
def test_every_vllm_container_is_hardened(tier: str) -> None:
    c = compiled(tier)
    efa = any(p.efa for p in c.profile.capacity.pools)
    ts = templates(c)
    assert ts
    for t in ts:
        spec, cn = t["spec"], main_container(t)
        assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        assert spec["automountServiceAccountToken"] is False
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
        sc = cn["securityContext"]
        assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert sc["capabilities"].get("add", []) == (["IPC_LOCK"] if efa else [])
        res = cn["resources"]
        for key in ("cpu", "memory", "nvidia.com/gpu"):
            assert res["requests"][key] == res["limits"][key]
        assert "@" not in cn["image"] and not cn["image"].endswith(":latest")


@pytest.mark.parametrize("tier", TIERS)
def test_probes_on_every_pod_that_serves_http(tier: str) -> None:
    for t in templates(compiled(tier)):
        cn = main_container(t)
        serves_http = any(p["name"] in ("http", "vllm") for p in cn.get("ports", []))  # vllm: behind the P/D sidecar
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert (probe in cn) == serves_http, (probe, cn["name"])


# --- waivers match the render decisions ----------------------------------------------------

def test_single_gpu_deployment_waives_only_root_and_tag_pinning() -> None:
    for obj in workloads(compiled("tier1")) + workloads(compiled("tier2")):
        assert set(skipped(obj)) == ROOT | TAG_ONLY, obj["metadata"]["name"]


def test_efa_groups_also_waive_ipc_lock_and_headless_worker_probes() -> None:
    lws_objs = objects(compiled("tier3"), "LeaderWorkerSet")
    assert len(lws_objs) == 2
    for obj in lws_objs:
        assert "leaderTemplate" in obj["spec"]["leaderWorkerTemplate"]  # multi-node groups
        assert set(skipped(obj)) == ROOT | TAG_ONLY | {"CKV_K8S_25", "CKV_K8S_8", "CKV_K8S_9"}
        assert skipped(obj)["CKV_K8S_25"].startswith("IPC_LOCK")


def test_single_node_lws_roles_keep_their_probes_and_waive_none() -> None:
    """A disaggregated role that fits one node is one pod per group: no workers."""
    c = compiled("tier3", "serving.disaggregation.prefill.data=8", "serving.disaggregation.decode.data=8",
                 "serving.parallelism.data=8", "model.parametersB=300")
    for obj in objects(c, "LeaderWorkerSet"):
        assert "leaderTemplate" not in obj["spec"]["leaderWorkerTemplate"]
        assert not {"CKV_K8S_8", "CKV_K8S_9"} & set(skipped(obj))


@pytest.mark.parametrize("tier", TIERS)
def test_a_digest_removes_both_image_waivers(tier: str, kube: KubeValidator, registry: CrdRegistry) -> None:
    c = compiled(tier, f"serving.image.digest={DIGEST}")
    for obj in workloads(c):
        assert not TAG_ONLY & set(skipped(obj))
        assert set(skipped(obj)) >= ROOT
        assert validate(obj, kube, registry) == []
    for t in templates(c):
        assert main_container(t)["image"] == f"{c.profile.serving.image.repository}:{c.profile.serving.image.tag}@{DIGEST}"


def test_pull_always_without_digest_waives_only_the_digest() -> None:
    for obj in workloads(compiled("tier1", "serving.image.pullPolicy=Always")):
        assert set(skipped(obj)) & TAG_ONLY == {"CKV_K8S_43"}


def test_secret_env_is_a_reference_and_waived_as_env(kube: KubeValidator) -> None:
    c = compiled("tier1", "serving.secretEnv=[{name: HF_TOKEN, secretName: hf-token, key: token}]")
    dep = objects(c, "Deployment")[0]
    assert "CKV_K8S_35" in skipped(dep)
    env = {e["name"]: e for e in main_container(dep["spec"]["template"])["env"]}
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}
    assert not objects(c, "Secret")
    assert kube.validate(dep) == []
    assert "CKV_K8S_35" not in skipped(objects(compiled("tier1"), "Deployment")[0])


@pytest.mark.parametrize("tier", TIERS)
def test_waived_workloads_stay_valid(tier: str, kube: KubeValidator, registry: CrdRegistry) -> None:
    c = compiled(tier)
    for obj in workloads(c):
        assert validate(obj, kube, registry) == []
    for t in templates(c):
        assert kube.validate(as_pod(t)) == []
