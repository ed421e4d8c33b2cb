"""Semantic rules: silent on every shipped profile and environment, and each rule fires, alone, on
real rendered objects mutated to reproduce one seed mistake. Where the schema cannot see the
mistake, the mutated object is also shown to be schema-valid (the rule is the only guard)."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler.pipeline import Compiled, compile_env
from compiler.render.autoscaling import formula_identifiers
from compiler.resolve import Request
from compiler.verify.crds import CrdRegistry
from compiler.verify.kube import KubeValidator
from compiler.verify.rules import RULES, Violation, check_rules
from compiler.verify.rules_wiring import image_tag
from tests.shipped import shipped_envs

ROOT = Path(__file__).resolve().parents[2]
CASES = shipped_envs()  # every environment of every profile in profiles/
GPU, EFA = "nvidia.com/gpu", "vpc.amazonaws.com/efa"


@pytest.fixture(scope="module")
def kube() -> KubeValidator:
    return KubeValidator()


@cache
def compiled(tier: str, env: str, sets: tuple[str, ...] = ()) -> Compiled:
    return compile_env(Request(ROOT / "profiles" / f"{tier}.yaml", f"profiles/{tier}.yaml", env, (), sets))


def objects(tier: str, env: str = "prod") -> list[dict[str, Any]]:
    """A private deep copy of the real rendered objects, free to mutate."""
    return copy.deepcopy(list(compiled(tier, env).objects))


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def run(tier: str, objs: list[dict[str, Any]], env: str = "prod", profile: Any = None) -> list[Violation]:
    c = compiled(tier, env)
    return check_rules(objs, profile or c.profile, c.plan)


def only(violations: list[Violation], rule: str, obj: str) -> list[Violation]:
    """Assert that exactly ``rule`` fired, every time on ``obj``; return the violations."""
    assert violations, f"{rule} did not fire"
    assert {v.rule for v in violations} == {rule}, violations
    assert {v.obj for v in violations} == {obj}, violations
    for v in violations:
        assert v.message and v.profile_path and v.profile_path[0] in ("serving", "capacity", "autoscaling", "monitoring", "network")
    return violations


def container(obj: dict[str, Any], template: str = "") -> dict[str, Any]:
    spec = obj["spec"]["template"] if not template else obj["spec"]["leaderWorkerTemplate"][template]
    return spec["spec"]["containers"][0]


def set_flag(c: dict[str, Any], flag: str, value: str) -> None:
    args = c["args"]
    args[args.index(flag) + 1] = value


def set_resource(c: dict[str, Any], name: str, value: str | None) -> None:
    for part in ("requests", "limits"):
        if value is None:
            c["resources"][part].pop(name, None)
        else:
            c["resources"][part][name] = value


def schema_ok(obj: dict[str, Any], registry: CrdRegistry, kube: KubeValidator) -> None:
    findings = kube.validate(obj) if kube.is_builtin(obj) else registry.validate(obj)
    assert findings == [], findings


# --- the shipped profiles -------------------------------------------------------------------

@pytest.mark.parametrize("tier,env", CASES)
def test_shipped_profiles_pass_every_rule(tier: str, env: str) -> None:
    c = compiled(tier, env)
    assert check_rules(c.objects, c.profile, c.plan) == []


def test_rules_are_documented_pure_functions() -> None:
    assert len(RULES) == len(set(RULES)) >= 13
    for rule in RULES:
        assert rule.__doc__ and "``" in rule.__doc__, rule.__name__
    c = compiled("tier3", "prod")
    before = copy.deepcopy(list(c.objects))
    first = check_rules(c.objects, c.profile, c.plan)
    assert check_rules(c.objects, c.profile, c.plan) == first and list(c.objects) == before


# --- 1. tp-pp-gpus --------------------------------------------------------------------------

def test_tp8_with_4_gpus(registry: CrdRegistry, kube: KubeValidator) -> None:
    objs = objects("tier2")
    dep = find(objs, "Deployment", "llama-70b")
    set_flag(container(dep), "--tensor-parallel-size", "8")
    schema_ok(dep, registry, kube)
    [v] = only(run("tier2", objs), "tp-pp-gpus", "Deployment/llama-70b")
    assert "8" in v.message and v.profile_path == ("serving", "parallelism", "tensor")


def test_pipeline_mismatch_on_a_leader_worker_set_blames_the_role() -> None:
    objs = objects("tier3")
    lws = find(objs, "LeaderWorkerSet", "glm-5-decode")
    for t in ("leaderTemplate", "workerTemplate"):
        set_flag(container(lws, t), "--data-parallel-size", "32")
    [v] = only(run("tier3", objs), "tp-pp-gpus", "LeaderWorkerSet/glm-5-decode")
    assert v.profile_path == ("serving", "disaggregation", "decode", "tensor") and "16 GPUs" in v.message


# --- 2. gpus-fit-instance -------------------------------------------------------------------

def test_pod_bigger_than_every_instance_type() -> None:
    objs = objects("tier2")
    c = container(find(objs, "Deployment", "llama-70b"))
    set_resource(c, GPU, "16")
    set_flag(c, "--tensor-parallel-size", "16")  # keep tp-pp-gpus quiet: only the fit is wrong
    [v] = only(run("tier2", objs), "gpus-fit-instance", "Deployment/llama-70b")
    assert "16 nvidia.com/gpu" in v.message and v.profile_path[:2] == ("capacity", "pools")


# --- 3. schedulable -------------------------------------------------------------------------

def test_gpu_pod_without_the_gpu_toleration(registry: CrdRegistry, kube: KubeValidator) -> None:
    objs = objects("tier2")
    dep = find(objs, "Deployment", "llama-70b")
    spec = dep["spec"]["template"]["spec"]
    spec["tolerations"] = [t for t in spec["tolerations"] if t["key"] != GPU]
    schema_ok(dep, registry, kube)
    [v] = only(run("tier2", objs), "schedulable", "Deployment/llama-70b")
    assert "nvidia.com/gpu" in v.message


AFFINITY_CASES = [
    ([{"key": "mcompile.io/pool", "operator": "NotIn", "values": ["baseline"]}], True),  # burst remains
    ([{"key": "mcompile.io/pool", "operator": "NotIn", "values": ["baseline", "burst"]}], False),
    ([{"key": "mcompile.io/pool", "operator": "In", "values": ["burst"]}], True),
    ([{"key": "mcompile.io/pool", "operator": "DoesNotExist"}], False),  # both pools set it
    ([{"key": "team.example/dedicated", "operator": "Exists"}], False),  # no pool sets it: no node ever has it
    ([{"key": "team.example/dedicated", "operator": "DoesNotExist"}], True),
    ([{"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["2"]}], True),  # Karpenter sets it
    ([{"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["4"]},
      {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Lt", "values": ["5"]}], False),
    ([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g6e.12xlarge"]}], True),
    ([{"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["g6e.12xlarge"]}], True),  # burst has others
]


@pytest.mark.parametrize("exprs,ok", AFFINITY_CASES)
def test_required_node_affinity_against_pool_labels_and_requirements(exprs: list[dict[str, Any]], ok: bool) -> None:
    objs = objects("tier2")
    dep = find(objs, "Deployment", "llama-70b")
    aff = dep["spec"]["template"]["spec"].setdefault("affinity", {}).setdefault("nodeAffinity", {})
    aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [{"matchExpressions": exprs}]}
    got = run("tier2", objs)
    if ok:
        assert got == []
    else:
        only(got, "schedulable", "Deployment/llama-70b")


def test_node_selector_for_another_profile_fits_no_pool() -> None:
    objs = objects("tier1")
    find(objs, "Deployment", "qwen3-32b")["spec"]["template"]["spec"]["nodeSelector"] = {"mcompile.io/profile": "other"}
    only(run("tier1", objs), "schedulable", "Deployment/qwen3-32b")


def test_ored_node_selector_terms_need_only_one() -> None:
    objs = objects("tier1")
    spec = find(objs, "Deployment", "qwen3-32b")["spec"]["template"]["spec"]
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "mcompile.io/pool", "operator": "In", "values": ["nope"]}]},
        {"matchExpressions": [{"key": "eks.amazonaws.com/instance-family", "operator": "In", "values": ["g6e"]}]}]}}}
    assert run("tier1", objs) == []


# --- 4. pool-gpu-limits ---------------------------------------------------------------------

def test_max_replicas_beyond_the_pool_gpu_limits(registry: CrdRegistry, kube: KubeValidator) -> None:
    objs = objects("tier2")
    so = find(objs, "ScaledObject", "llama-70b")
    so["spec"]["maxReplicaCount"] = 9  # 9 x 4 GPUs = 36 > 16 + 16
    schema_ok(so, registry, kube)
    [v] = only(run("tier2", objs), "pool-gpu-limits", "Deployment/llama-70b")
    assert "36" in v.message and "32" in v.message and v.profile_path == ("autoscaling", "maxReplicas")


def test_roles_sharing_a_pool_are_summed() -> None:
    """prefill (2 x 16) and decode (3 x 16) each fit under 64 GPUs alone, not together."""
    objs = objects("tier3")
    find(objs, "NodePool", "glm-5-baseline")["spec"]["limits"][GPU] = "64"
    [v] = only(run("tier3", objs), "pool-gpu-limits", "LeaderWorkerSet/glm-5-prefill")
    assert "80" in v.message and "LeaderWorkerSet/glm-5-decode" in v.message


# --- 5. efa-coherence -----------------------------------------------------------------------

def test_ucx_on_efa(registry: CrdRegistry) -> None:
    objs = objects("tier3")
    lws = find(objs, "LeaderWorkerSet", "glm-5-prefill")
    for t in ("leaderTemplate", "workerTemplate"):
        c = container(lws, t)
        cfg = json.loads(c["args"][c["args"].index("--kv-transfer-config") + 1])
        cfg["kv_connector_extra_config"]["backends"] = ["UCX"]
        set_flag(c, "--kv-transfer-config", json.dumps(cfg))
    assert registry.validate(lws) == []
    got = only(run("tier3", objs), "efa-coherence", "LeaderWorkerSet/glm-5-prefill")
    assert all("UCX" in v.message and v.profile_path == ("serving", "disaggregation", "backend") for v in got)


def test_efa_requested_on_the_leader_only(registry: CrdRegistry) -> None:
    objs = objects("tier3")
    lws = find(objs, "LeaderWorkerSet", "glm-5-decode")
    set_resource(container(lws, "workerTemplate"), EFA, None)
    assert registry.validate(lws) == []
    [v] = only(run("tier3", objs), "efa-coherence", "LeaderWorkerSet/glm-5-decode")
    assert "leader requests 16" in v.message


def test_efa_pods_on_a_pool_not_marked_efa() -> None:
    c = compiled("tier3", "prod")
    pools = tuple(dataclasses.replace(p, efa=False) for p in c.profile.capacity.pools)
    profile = dataclasses.replace(c.profile, capacity=dataclasses.replace(c.profile.capacity, pools=pools))
    got = run("tier3", objects("tier3"), profile=profile)
    assert {v.rule for v in got} == {"efa-coherence"}
    assert {v.obj for v in got} == {"LeaderWorkerSet/glm-5-prefill", "LeaderWorkerSet/glm-5-decode"}
    assert len(got) == 4  # leader and workers of both roles
    assert all("not marked efa" in v.message and v.profile_path == ("capacity", "pools", 0, "efa") for v in got)


def test_more_efa_interfaces_than_the_instance_has() -> None:
    objs = objects("tier3")
    lws = find(objs, "LeaderWorkerSet", "glm-5-decode")
    for t in ("leaderTemplate", "workerTemplate"):
        set_resource(container(lws, t), EFA, "32")  # p5en.48xlarge has 16
    got = only(run("tier3", objs), "efa-coherence", "LeaderWorkerSet/glm-5-decode")
    assert len(got) == 2 and all("32 EFA" in v.message for v in got)


# --- 6. keda-formula-names ------------------------------------------------------------------

def test_formula_name_that_is_not_a_trigger(registry: CrdRegistry) -> None:
    objs = objects("tier1")
    so = find(objs, "ScaledObject", "qwen3-32b")
    so["spec"]["advanced"]["scalingModifiers"]["formula"] = "running + (queue_depth * 10)"
    assert registry.validate(so) == []  # only KEDA's admission webhook would refuse it
    [v] = only(run("tier1", objs), "keda-formula-names", "ScaledObject/qwen3-32b")
    assert "queue_depth" in v.message and v.profile_path == ("autoscaling", "formula")


@pytest.mark.parametrize("formula,names", [
    ("running + (waiting * 10)", ["running", "waiting"]),
    ("max(running, waiting * 2.5) + abs(-1) + float(len('x y'))", ["running", "waiting"]),
    ("running > 10 ? running : waiting", ["running", "waiting"]),
    ('waiting == nil ? 0 : ceil(waiting / 2) + "queue" ', ["waiting"]),
    ("a.b + c", ["a", "c"]),
])
def test_formula_identifiers(formula: str, names: list[str]) -> None:
    assert formula_identifiers(formula) == names


# --- 7. keda-one-per-target / keda-no-replicas ----------------------------------------------

def test_two_scaled_objects_on_one_target(registry: CrdRegistry) -> None:
    objs = objects("tier2")
    dup = copy.deepcopy(find(objs, "ScaledObject", "llama-70b"))
    dup["metadata"]["name"] = "llama-70b-extra"
    objs.append(dup)
    assert registry.validate(dup) == []
    [v] = only(run("tier2", objs), "keda-one-per-target", "ScaledObject/llama-70b-extra")
    assert "ScaledObject/llama-70b" in v.message


def test_replicas_on_a_scaled_deployment(kube: KubeValidator) -> None:
    objs = objects("tier2")
    dep = find(objs, "Deployment", "llama-70b")
    dep["spec"]["replicas"] = 2
    assert kube.validate(dep) == []
    [v] = only(run("tier2", objs), "keda-no-replicas", "Deployment/llama-70b")
    assert "ScaledObject/llama-70b" in v.message


def test_replicas_on_a_scaled_leader_worker_set() -> None:
    objs = objects("tier3")
    find(objs, "LeaderWorkerSet", "glm-5-decode")["spec"]["replicas"] = 1
    only(run("tier3", objs), "keda-no-replicas", "LeaderWorkerSet/glm-5-decode")


# --- 8. ports-selectors ---------------------------------------------------------------------

def _svc_target_port(objs: list[dict[str, Any]]) -> str:
    find(objs, "Service", "llama-70b")["spec"]["ports"][0]["targetPort"] = "metrics"
    return "Service/llama-70b"


def _svc_selector(objs: list[dict[str, Any]]) -> str:
    find(objs, "Service", "llama-70b")["spec"]["selector"]["app.kubernetes.io/component"] = "server"
    return "Service/llama-70b"


def _monitor_port(objs: list[dict[str, Any]]) -> str:
    find(objs, "PodMonitor", "llama-70b")["spec"]["podMetricsEndpoints"][0]["port"] = "metrics"
    return "PodMonitor/llama-70b"


def _monitor_namespace(objs: list[dict[str, Any]]) -> str:
    find(objs, "PodMonitor", "llama-70b")["spec"]["namespaceSelector"] = {"matchNames": ["default"]}
    return "PodMonitor/llama-70b"


def _pool_port(objs: list[dict[str, Any]]) -> str:
    find(objs, "InferencePool", "llama-70b")["spec"]["targetPorts"] = [{"number": 9000}]
    return "InferencePool/llama-70b"


def _pool_selector(objs: list[dict[str, Any]]) -> str:
    find(objs, "InferencePool", "llama-70b")["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] = "llama"
    return "InferencePool/llama-70b"


def _policy_port(objs: list[dict[str, Any]]) -> str:
    find(objs, "NetworkPolicy", "llama-70b-allow-http")["spec"]["ingress"][0]["ports"][0]["port"] = "https"
    return "NetworkPolicy/llama-70b-allow-http"


def _policy_selector(objs: list[dict[str, Any]]) -> str:
    find(objs, "NetworkPolicy", "llama-70b-default-deny")["spec"]["podSelector"] = {"matchLabels": {"app": "vllm"}}
    return "NetworkPolicy/llama-70b-default-deny"


@pytest.mark.parametrize("mutate", [_svc_target_port, _svc_selector, _monitor_port, _monitor_namespace, _pool_port,
                                    _pool_selector, _policy_port, _policy_selector], ids=lambda f: f.__name__.strip("_"))
def test_selectors_and_ports(mutate: Callable[[list[dict[str, Any]]], str], registry: CrdRegistry, kube: KubeValidator) -> None:
    objs = objects("tier2")
    target = mutate(objs)
    kind, name = target.split("/")
    schema_ok(find(objs, kind, name), registry, kube)
    only(run("tier2", objs), "ports-selectors", target)


def test_service_on_lws_workers_needs_their_port() -> None:
    """Worker-index "0" selects leaders (which serve http); index "1" selects headless workers."""
    objs = objects("tier3")
    find(objs, "Service", "glm-5")["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] = "1"
    [v] = only(run("tier3", objs), "ports-selectors", "Service/glm-5")
    assert "worker" in v.message


# --- 9. family-vs-type ----------------------------------------------------------------------

def test_type_under_instance_family(registry: CrdRegistry) -> None:
    objs = objects("tier2")
    np = find(objs, "NodePool", "llama-70b-burst")
    req = next(r for r in np["spec"]["template"]["spec"]["requirements"] if r["key"] == "karpenter.k8s.aws/instance-family")
    req["values"] = ["g6e.12xlarge"]
    assert registry.validate(np) == []
    [v] = only(run("tier2", objs), "family-vs-type", "NodePool/llama-70b-burst")
    assert "g6e.12xlarge" in v.message and v.profile_path == ("capacity", "pools", 1, "instanceFamilies")


def test_family_under_instance_type() -> None:
    objs = objects("tier2")
    np = find(objs, "NodePool", "llama-70b-baseline")
    next(r for r in np["spec"]["template"]["spec"]["requirements"] if r["key"] == "node.kubernetes.io/instance-type")["values"] = ["g6e"]
    [v] = only(run("tier2", objs), "family-vs-type", "NodePool/llama-70b-baseline")
    assert v.profile_path == ("capacity", "pools", 0, "instanceTypes")


# --- 10. label-prefix -----------------------------------------------------------------------

def test_karpenter_key_on_auto_mode() -> None:
    objs = objects("tier1")
    np = find(objs, "NodePool", "qwen3-32b-gpu")
    req = next(r for r in np["spec"]["template"]["spec"]["requirements"] if r["key"] == "eks.amazonaws.com/instance-family")
    req["key"] = "karpenter.k8s.aws/instance-family"
    [v] = only(run("tier1", objs), "label-prefix", "NodePool/qwen3-32b-gpu")
    assert "eks.amazonaws.com/instance-family" in v.message and v.profile_path == ("capacity", "provisioner")


def test_auto_mode_key_on_karpenter() -> None:
    objs = objects("tier2")
    np = find(objs, "NodePool", "llama-70b-burst")
    next(r for r in np["spec"]["template"]["spec"]["requirements"] if r["key"] == "karpenter.k8s.aws/instance-family")["key"] = \
        "eks.amazonaws.com/instance-family"
    only(run("tier2", objs), "label-prefix", "NodePool/llama-70b-burst")


# --- 11. no-latest --------------------------------------------------------------------------

@pytest.mark.parametrize("image", ["vllm/vllm-openai:latest", "vllm/vllm-openai", "registry.local:5000/vllm/vllm-openai"])
def test_latest_or_untagged_image(image: str) -> None:
    objs = objects("tier2")
    container(find(objs, "Deployment", "llama-70b"))["image"] = image
    [v] = only(run("tier2", objs), "no-latest", "Deployment/llama-70b")
    assert image in v.message and v.profile_path == ("serving", "image", "tag")


def test_latest_on_a_lws_worker_only() -> None:
    objs = objects("tier3")
    container(find(objs, "LeaderWorkerSet", "glm-5-prefill"), "workerTemplate")["image"] = "vllm/vllm-openai:latest"
    [v] = only(run("tier3", objs), "no-latest", "LeaderWorkerSet/glm-5-prefill")
    assert "workerTemplate" in v.message


@pytest.mark.parametrize("image,tag,digest", [
    ("vllm/vllm-openai:v0.28.0", "v0.28.0", False),
    ("registry.local:5000/vllm", None, False),
    ("vllm/vllm-openai@sha256:" + "a" * 64, None, True),
    ("registry.local:5000/vllm:v1@sha256:" + "b" * 64, "v1", True),
])
def test_image_tag(image: str, tag: str | None, digest: bool) -> None:
    assert image_tag(image) == (tag, digest)


# --- 12. consolidation ----------------------------------------------------------------------

def test_consolidation_policy_never(registry: CrdRegistry) -> None:
    objs = objects("tier2")
    np = find(objs, "NodePool", "llama-70b-baseline")
    np["spec"]["disruption"]["consolidationPolicy"] = "Never"
    assert registry.validate(np) != []  # the CRD rejects it too; the rule points at the profile
    [v] = only(run("tier2", objs), "consolidation", "NodePool/llama-70b-baseline")
    assert "Never" in v.message and v.profile_path == ("capacity", "pools", 0, "consolidateAfter")


def test_consolidate_after_missing() -> None:
    objs = objects("tier3")
    del find(objs, "NodePool", "glm-5-baseline")["spec"]["disruption"]["consolidateAfter"]
    [v] = only(run("tier3", objs), "consolidation", "NodePool/glm-5-baseline")
    assert "missing" in v.message
