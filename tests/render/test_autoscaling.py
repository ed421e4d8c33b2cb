"""KEDA ScaledObjects / TriggerAuthentication: valid against the real CRDs and free of the seed
mistakes (unnamed triggers, unsummed or unpinned queries, a ``model`` label, numbers where KEDA
wants strings, a formula naming a trigger that does not exist)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from compiler.errors import InputError
from compiler.pipeline import Compiled
from compiler.render import autoscaling
from compiler.render.autoscaling import format_number, formula_names
from compiler.verify.crds import CrdRegistry
from tests.shipped import compile_tier

ROOT = Path(__file__).resolve().parents[2]
AMP = ("autoscaling.prometheus.awsManagedPrometheus=true",
       "platform.prometheus.install=false", "platform.prometheus.namespace=monitoring", "platform.prometheus.selectorLabels.release=amp-agent",
       "platform.prometheus.serverAddress=https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd")
VARIANTS = [(t, s) for t in ("tier1", "tier2", "tier3") for s in ((), AMP, ("serving.image.tag=v0.9.0", "serving.image.capabilities=[s3-streaming, libfabric]"))]


def build(tier: str, sets: tuple[str, ...] = ()) -> Compiled:
    return compile_tier(tier, sets)


def of_kind(c: Compiled, kind: str) -> list[dict[str, Any]]:
    return [o for o in c.objects if o["kind"] == kind]


def scaled_objects(c: Compiled) -> list[dict[str, Any]]:
    return of_kind(c, "ScaledObject")


def queries(c: Compiled) -> list[str]:
    return [t["metadata"]["query"] for so in scaled_objects(c) for t in so["spec"]["triggers"]]


@pytest.mark.parametrize(("tier", "sets"), VARIANTS)
def test_every_keda_object_is_valid(registry: CrdRegistry, tier: str, sets: tuple[str, ...]) -> None:
    objs = [o for o in build(tier, sets).objects if o["apiVersion"] == "keda.sh/v1alpha1"]
    assert objs
    for obj in objs:
        assert registry.validate(obj) == []


@pytest.mark.parametrize("tier", ["tier1", "tier2"])
def test_single_role_scales_its_deployment(tier: str) -> None:
    c = build(tier)
    (so,) = scaled_objects(c)
    assert so["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": c.profile.name}


def test_tier3_one_scaled_object_per_leaderworkerset_role() -> None:
    c = build("tier3")
    sos = scaled_objects(c)
    assert [so["spec"]["scaleTargetRef"] for so in sos] == [
        {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": f"{c.profile.name}-{r.role}"} for r in c.plan.roles]
    assert {r.role for r in c.plan.roles} == {"prefill", "decode"}
    names = [so["metadata"]["name"] for so in sos]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("tier", "sets"), VARIANTS)
def test_trigger_names_cover_the_formula(tier: str, sets: tuple[str, ...]) -> None:
    for so in scaled_objects(build(tier, sets)):
        names = {t["name"] for t in so["spec"]["triggers"]}
        assert names == {"running", "waiting"}
        assert formula_names(so["spec"]["advanced"]["scalingModifiers"]["formula"]) <= names


def test_formula_names_parses_identifiers_only() -> None:
    assert formula_names("running + (waiting * 10)") == {"running", "waiting"}
    assert formula_names("ceil(running / 2.5) + waiting*0.5") == {"running", "waiting"}
    assert formula_names("running + queued") == {"running", "queued"}
    assert formula_names("3 * (1 + .5)") == set()


def test_formula_with_unknown_trigger_name_is_rejected() -> None:
    with pytest.raises(InputError, match="queued"):
        build("tier2", ("autoscaling.formula=running + queued",))
    with pytest.raises(InputError, match="autoscaling.formula"):
        autoscaling.check_formula("running + waiting + pending")


def test_custom_formula_over_trigger_names_is_kept() -> None:
    (so,) = scaled_objects(build("tier2", ("autoscaling.formula=running + waiting * 4",)))
    assert so["spec"]["advanced"]["scalingModifiers"]["formula"] == "running + waiting * 4"


@pytest.mark.parametrize(("tier", "sets"), VARIANTS)
def test_queries_sum_one_series_pinned_to_namespace_and_model_name(tier: str, sets: tuple[str, ...]) -> None:
    c = build(tier, sets)
    for q in queries(c):
        assert q.startswith("sum(") and q.endswith(")")
        assert f'namespace="{c.profile.namespace}"' in q
        assert f'model_name="{c.profile.model.served_name}"' in q
        assert not re.search(r"[{,]\s*model\s*=", q), q


def test_tier3_queries_pin_the_role_pods() -> None:
    c = build("tier3")
    for so in scaled_objects(c):
        lws = so["spec"]["scaleTargetRef"]["name"]
        other = "decode" if lws.endswith("prefill") else "prefill"
        for t in so["spec"]["triggers"]:
            m = re.search(r'pod=~"([^"]+)"', t["metadata"]["query"])
            assert m, t["metadata"]["query"]
            pattern = re.compile(m.group(1))
            assert pattern.fullmatch(f"{lws}-0") and pattern.fullmatch(f"{lws}-3-1")
            assert not pattern.fullmatch(f"{c.profile.name}-{other}-0")
            assert not pattern.fullmatch(f"{c.profile.name}-epp-5d9c7b6f4-x2x9z")


def test_metric_names_match_triggers() -> None:
    (so,) = scaled_objects(build("tier2"))
    by_name = {t["name"]: t["metadata"]["query"] for t in so["spec"]["triggers"]}
    assert "vllm:num_requests_running{" in by_name["running"]
    assert "vllm:num_requests_waiting{" in by_name["waiting"]


@pytest.mark.parametrize(("tier", "sets"), VARIANTS)
def test_all_trigger_metadata_values_are_strings(tier: str, sets: tuple[str, ...]) -> None:
    for so in scaled_objects(build(tier, sets)):
        for t in so["spec"]["triggers"]:
            assert t["type"] == "prometheus"
            assert all(isinstance(v, str) for v in t["metadata"].values()), t["metadata"]
        mods = so["spec"]["advanced"]["scalingModifiers"]
        assert all(isinstance(mods[k], str) for k in ("formula", "target", "activationTarget"))


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_seed_behaviour_and_plan_values(tier: str) -> None:
    c = build(tier)
    for so, role in zip(scaled_objects(c), c.plan.roles, strict=True):
        spec = so["spec"]
        assert spec["pollingInterval"] == 2 and spec["cooldownPeriod"] == 300
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (role.min_replicas, role.max_replicas)
        mods = spec["advanced"]["scalingModifiers"]
        assert mods == {"formula": "running + (waiting * 10)", "target": str(role.keda_target), "activationTarget": "5",
                        "metricType": "AverageValue"}
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        up = behavior["scaleUp"]
        assert up["stabilizationWindowSeconds"] == 0 and up["selectPolicy"] == "Max"
        assert {"type": "Percent", "value": 900, "periodSeconds": 15} in up["policies"]
        assert {"type": "Pods", "value": 9, "periodSeconds": 15} in up["policies"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_tier2_target_is_the_planned_keda_target() -> None:
    c = build("tier2")
    (so,) = scaled_objects(c)
    assert so["spec"]["advanced"]["scalingModifiers"]["target"] == str(c.plan.role("serve").keda_target)


def test_queue_weight_is_formatted_without_trailing_zero() -> None:
    (so,) = scaled_objects(build("tier2", ("autoscaling.queueWeight=2.5",)))
    assert so["spec"]["advanced"]["scalingModifiers"]["formula"] == "running + (waiting * 2.5)"
    assert (format_number(10.0), format_number(2.5), format_number(7)) == ("10", "2.5", "7")


def test_scale_down_window_is_capped_at_the_hpa_maximum() -> None:
    (so,) = scaled_objects(build("tier2", ("autoscaling.cooldownPeriod=7200",)))
    assert so["spec"]["cooldownPeriod"] == 7200
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 3600


def test_disabled_autoscaling_renders_nothing() -> None:
    c = build("tier3", ("autoscaling.enabled=false",))
    assert [o for o in c.objects if o["apiVersion"].startswith("keda.sh/")] == []


def test_self_managed_prometheus_has_no_authentication() -> None:
    c = build("tier2")
    assert of_kind(c, "TriggerAuthentication") == []
    assert all("authenticationRef" not in t for so in scaled_objects(c) for t in so["spec"]["triggers"])


@pytest.mark.parametrize("tier", ["tier2", "tier3"])
def test_amp_uses_trigger_authentication_with_aws_pod_identity(registry: CrdRegistry, tier: str) -> None:
    c = build(tier, AMP)
    (auth,) = of_kind(c, "TriggerAuthentication")
    assert auth["spec"] == {"podIdentity": {"provider": "aws"}}
    assert auth["metadata"]["namespace"] == c.profile.namespace
    for so in scaled_objects(c):
        for t in so["spec"]["triggers"]:
            assert t["authenticationRef"] == {"name": auth["metadata"]["name"], "kind": "TriggerAuthentication"}
            assert t["metadata"]["awsRegion"] == "us-east-1"
            assert t["metadata"]["serverAddress"] == AMP[-1].split("=", 1)[1]


def test_amp_needs_a_workspace_url() -> None:
    with pytest.raises(InputError, match="serverAddress"):
        build("tier2", ("autoscaling.prometheus.awsManagedPrometheus=true",))
    assert autoscaling.aws_region("https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1") == "eu-west-1"


def test_sglang_triggers_read_sglang_queue_metrics() -> None:
    from tests.shipped import compile_tier

    for tier in ("tier2-sglang", "tier3-sglang"):
        for so in (o for o in compile_tier(tier).objects if o["kind"] == "ScaledObject"):
            q = {t["name"]: t["metadata"]["query"] for t in so["spec"]["triggers"]}
            assert q["running"].startswith("sum(sglang:num_running_reqs{") and q["waiting"].startswith("sum(sglang:num_queue_reqs{")
