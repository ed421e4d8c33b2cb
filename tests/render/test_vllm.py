"""The vLLM pod builder (compiler/render/vllm.py), through real compiled profiles."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler.catalog import instance_types
from compiler.pipeline import Compiled, compile_env
from compiler.render import vllm
from compiler.render.meta import Context
from compiler.resolve import Request
from compiler.verify.kube import KubeValidator

REPO = Path(__file__).resolve().parents[2]


# --- helpers shared by the render tests (imported by test_serving/test_lws/test_routing) ---

@cache
def compiled(tier: str, *sets: str, env: str = "prod") -> Compiled:
    path = REPO / "profiles" / f"{tier}.yaml"
    return compile_env(Request(path, f"profiles/{tier}.yaml", env, (), sets))


def ctx_of(c: Compiled) -> Context:
    return Context(c.profile, c.plan)


def objects(c: Compiled, kind: str) -> list[dict[str, Any]]:
    return [o for o in c.objects if o["kind"] == kind]


def one(c: Compiled, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects(c, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """matchLabels semantics: every selector pair is present in the labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def as_pod(template: dict[str, Any], name: str = "probe") -> dict[str, Any]:
    """A PodTemplateSpec as a Pod, so the strict built-in schema checks the pod spec too."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "x", **template["metadata"]}, "spec": template["spec"]}


def main_container(template: dict[str, Any]) -> dict[str, Any]:
    return template["spec"]["containers"][0]


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def tolerated(taint: dict[str, str], tolerations: list[dict[str, str]]) -> bool:
    for t in tolerations:
        if t.get("effect") not in (None, "", taint["effect"]) or t.get("key") != taint["key"]:
            continue
        if t.get("operator") == "Exists" or t.get("value") == taint.get("value"):
            return True
    return False


@pytest.fixture(scope="module")
def kube() -> KubeValidator:
    return KubeValidator()


TIERS = ("tier1", "tier2", "tier3")


def templates(c: Compiled) -> list[dict[str, Any]]:
    """Every vLLM pod template a compiled profile contains (Deployments and LWS leader/worker)."""
    out = [d["spec"]["template"] for d in objects(c, "Deployment") if d["spec"]["template"]["spec"]["containers"][0]["name"] == "vllm"]
    for lws in objects(c, "LeaderWorkerSet"):
        lwt = lws["spec"]["leaderWorkerTemplate"]
        out += [lwt[k] for k in ("leaderTemplate", "workerTemplate") if k in lwt]
    return out


# --- tests ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tier", TIERS)
def test_every_pod_template_is_a_valid_pod(tier: str, kube: KubeValidator) -> None:
    ts = templates(compiled(tier))
    assert ts
    for t in ts:
        assert kube.validate(as_pod(t)) == []


@pytest.mark.parametrize("tier", TIERS)
def test_flags_come_from_profile_and_plan(tier: str) -> None:
    c = compiled(tier)
    for rp in c.plan.roles:
        ts = [t for t in templates(c) if t["metadata"]["labels"]["app.kubernetes.io/component"] == rp.role]
        assert ts
        for t in ts:
            cn = main_container(t)
            args = cn["args"]
            assert cn["command"] == ["vllm", "serve"]
            assert args[0] == c.profile.model.source  # all shipped profiles stream from S3
            assert flag(args, "--load-format") == "runai_streamer"
            assert flag(args, "--tensor-parallel-size") == str(rp.tensor)
            assert flag(args, "--max-model-len") == str(c.profile.model.max_context)
            # per engine: each data-parallel rank schedules its share of the replica's cap
            assert int(flag(args, "--max-num-seqs")) * rp.data >= rp.max_num_seqs > (int(flag(args, "--max-num-seqs")) - 1) * rp.data
            assert flag(args, "--data-parallel-size") == (str(rp.data) if rp.data > 1 else None)
            assert flag(args, "--served-model-name") == c.profile.model.served_name
            sidecar = any(i["name"] == "routing-sidecar" for i in t["spec"].get("initContainers", []))  # decode leaders (P/D)
            assert flag(args, "--port") == str(c.profile.path.routing.engine_port if sidecar else c.profile.serving.port)
            assert flag(args, "--pipeline-parallel-size") == (str(rp.pipeline) if rp.pipeline > 1 else None)
            assert "--enable-prefix-caching" in args
            assert flag(args, "--kv-cache-dtype") == ("fp8" if c.profile.serving.kv_cache_dtype == "fp8" else None)
            # every shipped model is a pre-quantized FP8 checkpoint: no --quantization
            assert "--quantization" not in args


def test_dynamic_fp8_only_for_unquantized_checkpoints() -> None:
    c = compiled("tier1", "model.id=Qwen/Qwen3-32B", "model.source=s3://acme-models/qwen3-32b/")
    args = main_container(templates(c)[0])["args"]
    assert flag(args, "--quantization") == "fp8"
    assert not vllm.prequantized_fp8(c.profile.model)
    assert vllm.prequantized_fp8(compiled("tier1").profile.model)  # id ends in -FP8
    assert vllm.prequantized_fp8(compiled("tier2").profile.model)  # weights path ends in -fp8


def test_hf_source_uses_repo_id_and_a_writable_hf_home() -> None:
    c = compiled("tier1", "model.source=hf://Qwen/Qwen3-32B-FP8")
    cn = main_container(templates(c)[0])
    assert cn["args"][0] == "Qwen/Qwen3-32B-FP8"
    assert "--load-format" not in cn["args"]
    env = {e["name"]: e.get("value") for e in cn["env"]}
    mounts = [m["mountPath"] for m in cn["volumeMounts"] if not m.get("readOnly")]
    assert env["HF_HOME"] == "/cache/huggingface"
    assert any(env["HF_HOME"].startswith(m + "/") for m in mounts)


def test_pvc_source_is_mounted_read_only() -> None:
    c = compiled("tier1", "model.source=pvc://models-claim/qwen3/32b/")
    t = templates(c)[0]
    cn = main_container(t)
    assert cn["args"][0] == "/models/qwen3/32b"
    vol = next(v for v in t["spec"]["volumes"] if v["name"] == "models")
    assert vol["persistentVolumeClaim"] == {"claimName": "models-claim", "readOnly": True}
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in cn["volumeMounts"]


@pytest.mark.parametrize("tier", TIERS)
def test_gpu_resources_and_shm(tier: str) -> None:
    c = compiled(tier)
    for t in templates(c):
        rp = c.plan.role(t["metadata"]["labels"]["app.kubernetes.io/component"])
        res = main_container(t)["resources"]
        assert res["requests"] == res["limits"]
        assert res["limits"]["nvidia.com/gpu"] == str(rp.gpus_per_pod)
        shm = [v for v in t["spec"]["volumes"] if v["name"] == "dshm"]
        if rp.gpus_per_pod > 1 or rp.multi_node:
            assert shm == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{c.profile.serving.shm_gi}Gi"}}]
            assert {"name": "dshm", "mountPath": "/dev/shm"} in main_container(t)["volumeMounts"]
        else:
            assert shm == []


def test_tier1_single_gpu_has_no_shm_but_tier2_tp4_does() -> None:
    assert all(v["name"] != "dshm" for v in templates(compiled("tier1"))[0]["spec"]["volumes"])
    assert any(v["name"] == "dshm" for v in templates(compiled("tier2"))[0]["spec"]["volumes"])


@pytest.mark.parametrize("tier", TIERS)
def test_pod_invariants(tier: str) -> None:
    c = compiled(tier)
    for t in templates(c):
        spec = t["spec"]
        rp = c.plan.role(t["metadata"]["labels"]["app.kubernetes.io/component"])
        assert spec["enableServiceLinks"] is False
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == c.profile.serving.service_account
        assert spec["terminationGracePeriodSeconds"] == rp.termination_grace_seconds
        assert t["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
        cn = main_container(t)
        assert cn["lifecycle"]["preStop"]["sleep"]["seconds"] < rp.termination_grace_seconds
        assert ":latest" not in cn["image"] and cn["image"] == c.profile.serving.image.ref
        sc = cn["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}  # no runAsNonRoot: the image runs as root


@pytest.mark.parametrize("tier", TIERS)
def test_every_cache_path_is_writable(tier: str) -> None:
    for t in templates(compiled(tier)):
        cn = main_container(t)
        writable = [m["mountPath"] for m in cn["volumeMounts"] if not m.get("readOnly")]
        env = {e["name"]: e.get("value") for e in cn["env"]}
        for var in ("HOME", "XDG_CACHE_HOME", "HF_HOME", "VLLM_CACHE_ROOT", "TRITON_CACHE_DIR"):
            assert any(env[var] == m or env[var].startswith(m + "/") for m in writable), var
        assert "/tmp" in writable


@pytest.mark.parametrize("tier", TIERS)
def test_probes_cover_the_startup_budget(tier: str) -> None:
    c = compiled(tier)
    s = c.profile.serving
    for t in templates(c):
        cn = main_container(t)
        if "http" not in [p["name"] for p in cn.get("ports", [])]:
            continue  # headless worker
        rp = c.plan.role(t["metadata"]["labels"]["app.kubernetes.io/component"])
        sp = cn["startupProbe"]
        assert sp["httpGet"] == {"path": "/health", "port": "http"}
        assert sp["failureThreshold"] == math.ceil(rp.startup_budget_seconds / s.period_seconds)
        assert sp["failureThreshold"] * sp["periodSeconds"] >= rp.startup_budget_seconds
        assert cn["readinessProbe"]["httpGet"]["path"] == s.readiness_path
        assert cn["livenessProbe"]["httpGet"]["path"] == s.liveness_path


@pytest.mark.parametrize("tier", TIERS)
def test_pods_tolerate_every_taint_of_their_pools_and_select_their_nodes(tier: str) -> None:
    c = compiled(tier)
    pools = objects(c, "NodePool")
    assert pools
    for t in templates(c):
        spec = t["spec"]
        assert tolerated({"key": "nvidia.com/gpu", "effect": "NoSchedule"}, spec["tolerations"])
        assert tolerated({"key": "mcompile.io/burst", "value": "true", "effect": "NoSchedule"}, spec["tolerations"])
        for np in pools:
            node = np["spec"]["template"]
            for taint in node["spec"].get("taints", []):
                assert tolerated(taint, spec["tolerations"]), taint
            assert matches(spec["nodeSelector"], node["metadata"]["labels"])


def test_burst_pool_is_tolerated_and_baseline_preferred() -> None:
    c = compiled("tier2")
    spec = templates(c)[0]["spec"]
    burst = one(c, "NodePool", "llama-70b-burst")["spec"]["template"]["spec"]["taints"]
    assert any(t["key"] == "mcompile.io/burst" for t in burst)
    assert all(tolerated(t, spec["tolerations"]) for t in burst)
    prefs = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert prefs == [{"weight": 100, "preference": {"matchExpressions": [{"key": "mcompile.io/pool", "operator": "In", "values": ["baseline"]}]}}]


def test_deployment_spreads_softly_across_zones_and_hosts() -> None:
    spread = templates(compiled("tier2"))[0]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert all(c["whenUnsatisfiable"] == "ScheduleAnyway" for c in spread)


def test_profile_strings_stay_literal() -> None:
    c = compiled("tier2", 'serving.env=[{name: X, value: "{{ .Values.x }}"}, {name: Y, value: "a$(HOME)b"}, {name: HF_HOME, value: /cache/hf}]',
                 "serving.extraArgs=[--enforce-eager, 'x$(LWS_GROUP_SIZE)']")
    cn = main_container(templates(c)[0])
    env = {e["name"]: e for e in cn["env"]}
    assert env["X"]["value"] == "{{ .Values.x }}"
    assert env["Y"]["value"] == "a$$(HOME)b"  # the kubelet turns $$ into $, so the container sees a$(HOME)b
    assert env["HF_HOME"]["value"] == "/cache/hf"  # the profile overrides a default by name...
    assert [e["name"] for e in cn["env"]].count("HF_HOME") == 1  # ...without a duplicate entry
    assert cn["args"][-2:] == ["--enforce-eager", "x$$(LWS_GROUP_SIZE)"]  # extra args last, escaped


def test_secret_env_is_referenced_never_inlined() -> None:
    c = compiled("tier1", "serving.secretEnv=[{name: HF_TOKEN, secretName: hf-token, key: token}]")
    env = {e["name"]: e for e in main_container(templates(c)[0])["env"]}
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}


def test_prefix_caching_off_is_explicit() -> None:
    args = main_container(templates(compiled("tier1", "serving.prefixCaching=false"))[0])["args"]
    assert "--no-enable-prefix-caching" in args and "--enable-prefix-caching" not in args


def test_compile_cache_claim_backs_the_torch_compile_cache() -> None:
    t = templates(compiled("tier2", "serving.compileCache={enabled: true, claimName: vllm-cache}"))[0]
    cn = main_container(t)
    assert {"name": "compile-cache", "persistentVolumeClaim": {"claimName": "vllm-cache"}} in t["spec"]["volumes"]
    paths = [m["mountPath"] for m in cn["volumeMounts"]]
    assert paths.index("/cache") < paths.index("/cache/vllm/torch_compile_cache")
    assert {e["name"]: e.get("value") for e in cn["env"]}["VLLM_CACHE_ROOT"] == "/cache/vllm"


def test_no_efa_without_an_efa_pool() -> None:
    for tier in ("tier1", "tier2"):
        cn = main_container(templates(compiled(tier))[0])
        assert "vpc.amazonaws.com/efa" not in cn["resources"]["limits"]
        assert "add" not in cn["securityContext"]["capabilities"]


def test_efa_count_comes_from_the_catalog() -> None:
    c = compiled("tier3")
    ctx = ctx_of(c)
    for rp in c.plan.roles:
        assert vllm.efa_interfaces(ctx, rp) == instance_types()[rp.sizing_type].efa > 0


def test_kv_transfer_config_is_compact_and_sorted() -> None:
    assert vllm.kv_transfer_config("kv_producer", "LIBFABRIC") == (
        '{"kv_connector":"NixlConnector","kv_connector_extra_config":{"backends":["LIBFABRIC"]},"kv_role":"kv_producer"}')


@pytest.mark.parametrize("tier", TIERS)
def test_rendering_is_deterministic(tier: str) -> None:
    from compiler.render import lws, routing, serving

    ctx = ctx_of(compiled(tier))
    first = [f(ctx) for f in (serving.render, lws.render, routing.render)]
    assert first == [f(ctx) for f in (serving.render, lws.render, routing.render)]
