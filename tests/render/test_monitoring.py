"""PodMonitor / PrometheusRule: valid against the real CRDs, selecting the serving pods, and
carrying the seed alert table with expressions pinned to namespace and model_name."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler.pipeline import Compiled, compile_env
from compiler.render import monitoring
from compiler.render.meta import Context, selector
from compiler.resolve import Request
from compiler.verify.crds import CrdRegistry
from compiler.verify.rules_k8s import selector_matches as matches

ROOT = Path(__file__).resolve().parents[2]
TIERS = ("tier1", "tier2", "tier3")


@cache
def build(tier: str, sets: tuple[str, ...] = ()) -> Compiled:
    path = ROOT / "profiles" / f"{tier}.yaml"
    return compile_env(Request(path, f"profiles/{tier}.yaml", "prod", (), sets))


def one(c: Compiled, kind: str) -> dict[str, Any]:
    (obj,) = [o for o in c.objects if o["kind"] == kind]
    return obj


def rules(c: Compiled) -> list[dict[str, Any]]:
    return [r for g in one(c, "PrometheusRule")["spec"]["groups"] for r in g["rules"]]




def thresholds(c: Compiled, alert: str) -> dict[str, tuple[float, str]]:
    """severity -> (threshold, for) of one alert, read back from the rendered rules."""
    out = {}
    for r in rules(c):
        if r["alert"] == alert:
            m = re.search(r" > ([0-9.]+)$", r["expr"])
            assert m, r["expr"]
            out[r["labels"]["severity"]] = (float(m.group(1)), r["for"])
    return out


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("sets", [(), ("serving.image.tag=v0.9.0", "serving.image.capabilities=[s3-streaming, libfabric]")])
def test_monitoring_objects_are_valid(registry: CrdRegistry, tier: str, sets: tuple[str, ...]) -> None:
    c = build(tier, sets)
    for kind in ("PodMonitor", "PrometheusRule"):
        assert registry.validate(one(c, kind)) == []


@pytest.mark.parametrize("tier", TIERS)
def test_pod_monitor_selects_every_serving_pod_and_nothing_else(tier: str) -> None:
    c = build(tier)
    ctx = Context(c.profile, c.plan)
    pm = one(c, "PodMonitor")
    sel = pm["spec"]["selector"]
    for role in c.plan.roles:
        assert matches(sel, selector(ctx, role.role))
        assert matches(sel, {**selector(ctx, role.role), "leaderworkerset.sigs.k8s.io/worker-index": "0"})
    assert not matches(sel, selector(ctx, "epp"))
    assert not matches(sel, {**selector(ctx, c.plan.roles[0].role), "app.kubernetes.io/instance": "someone-else"})
    assert pm["spec"]["namespaceSelector"] == {"matchNames": [c.profile.namespace]}
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert (ep["port"], ep["path"], ep["interval"]) == ("http", "/metrics", c.profile.monitoring.interval)


def test_pod_monitor_drops_headless_lws_workers_only() -> None:
    (ep,) = one(build("tier3"), "PodMonitor")["spec"]["podMetricsEndpoints"]
    (drop,) = [r for r in ep["relabelings"] if r["action"] == "drop"]
    assert drop["sourceLabels"] == ["__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_worker_index"]
    regex = re.compile(drop["regex"])
    assert regex.fullmatch("1") and regex.fullmatch("12")
    assert not regex.fullmatch("0") and not regex.fullmatch("")  # leaders and Deployment pods stay


@pytest.mark.parametrize("tier", TIERS)
def test_monitor_and_rule_carry_the_prometheus_selector_labels(tier: str) -> None:
    c = build(tier)
    for kind in ("PodMonitor", "PrometheusRule"):
        labels = one(c, kind)["metadata"]["labels"]
        assert dict(c.profile.monitoring.selector_labels).items() <= labels.items()
        assert dict(c.profile.monitoring.selector_labels)


@pytest.mark.parametrize("tier", TIERS)
def test_alert_table_thresholds(tier: str) -> None:
    c = build(tier)
    assert thresholds(c, "VllmQueueDepthHigh") == {"warning": (10, "1m"), "critical": (50, "1m")}
    slo = c.profile.workload.e2e_seconds  # the seed's 10 s / 30 s are 2x / 6x its 5 s SLO
    assert {k: v[0] for k, v in thresholds(c, "VllmLatencyP99High").items()} == {"warning": 2 * slo, "critical": 6 * slo}
    assert {k: v[0] for k, v in thresholds(c, "VllmRequestFailuresHigh").items()} == {"warning": 0.01, "critical": 0.05}


def test_no_gpu_memory_alert_without_dcgm() -> None:
    """KV-cache usage is not GPU memory (vLLM preallocates it; it sits above 90 % under normal load):
    without the DCGM exporter no rule pretends to watch GPU memory."""
    c = build("tier2", ("monitoring.dcgm=false",))
    assert thresholds(c, monitoring.GPU_MEMORY_ALERT) == {}
    assert not [r for r in rules(c) if "cache_usage_perc" in r["expr"]]
    assert {r["alert"] for r in rules(c)} == {"VllmQueueDepthHigh", "VllmLatencyP99High", "VllmRequestFailuresHigh"}


@pytest.mark.parametrize("tier", TIERS)
def test_gpu_memory_from_dcgm_stays_above_the_vllm_reservation(tier: str) -> None:
    c = build(tier)
    assert c.profile.monitoring.dcgm is True  # every tier, Auto Mode included (operator without device plugin)
    util = c.profile.serving.gpu_memory_utilization
    got = {k: v[0] for k, v in thresholds(c, monitoring.GPU_MEMORY_ALERT).items()}
    assert got == dict(zip(("warning", "critical"), monitoring.framebuffer_thresholds(util), strict=True))
    assert util < got["warning"] < got["critical"] <= 0.99
    for r in rules(c):
        if r["alert"] == monitoring.GPU_MEMORY_ALERT:
            used, free = 'DCGM_FI_DEV_FB_USED{', 'DCGM_FI_DEV_FB_FREE{'
            assert r["expr"].count(used) == 4 and r["expr"].count(free) == 2  # used / (used + free), two label spellings
            assert f'namespace="{c.profile.namespace}"' in r["expr"] and f'exported_namespace="{c.profile.namespace}"' in r["expr"]
        assert "cache_usage_perc" not in r["expr"]


def test_framebuffer_thresholds_follow_the_table_when_the_reservation_allows() -> None:
    assert monitoring.framebuffer_thresholds(0.80) == (0.90, 0.95)
    assert monitoring.framebuffer_thresholds(0.90) == (0.93, 0.95)
    assert monitoring.framebuffer_thresholds(0.95) == (0.98, 0.99)


def test_dcgm_pod_pattern_matches_only_this_profiles_pods() -> None:
    for tier, good, bad in (("tier2", ["llama-70b-7c9f8d6b5-abcde"], ["llama-70b-epp-7c9f8d6b5-abcde", "llama-70b-2-7c9f8d6b5-abcde"]),
                            ("tier3", ["glm-5-prefill-0", "glm-5-decode-2-1"], ["glm-5-epp-7c9f8d6b5-abcde", "glm-5-prefill-x"])):
        c = build(tier)
        pattern = re.compile(monitoring.all_pods_regex(Context(c.profile, c.plan)))
        assert all(pattern.fullmatch(p) for p in good)
        assert not any(pattern.fullmatch(p) for p in bad)


@pytest.mark.parametrize("tier", TIERS)
def test_expressions_are_pinned_and_never_use_a_model_label(tier: str) -> None:
    c = build(tier)
    for r in rules(c):
        expr = r["expr"]
        assert not re.search(r"[{,]\s*model\s*[=!]", expr), expr
        if "vllm:" in expr:
            assert expr.count("vllm:") == expr.count(f'namespace="{c.profile.namespace}",model_name="{c.profile.model.served_name}"'), expr
        if "http_requests_total" in expr:
            assert expr.count("http_requests_total{") == expr.count(f'job="{c.profile.namespace}/{c.profile.name}",namespace="{c.profile.namespace}"')
        assert set(r["labels"]) == {"severity"} and r["labels"]["severity"] in {"warning", "critical"}
        assert set(r["annotations"]) == {"summary", "description"}


def test_latency_thresholds_are_the_seed_table_for_the_seed_slo() -> None:
    """Seed 004: e2e SLO 5 s, P99 alert > 10 s warning / > 30 s critical."""
    # the fallback cascade must fit the 5 s SLO too (a compile-time check)
    c = build("tier2", ("workload.slo.e2eSeconds=5", "fallback.cascade[cluster].timeoutSeconds=3", "fallback.cascade[bedrock].timeoutSeconds=2"))
    assert {k: v[0] for k, v in thresholds(c, "VllmLatencyP99High").items()} == {"warning": 10, "critical": 30}


@pytest.mark.parametrize("tier", TIERS)
def test_latency_alert_is_quiet_at_the_planned_load(tier: str) -> None:
    """The planner fills replicas up to the SLO: the warning must sit above the latency it plans for."""
    c = build(tier)
    warning = thresholds(c, "VllmLatencyP99High")["warning"][0]
    assert all(r.e2e_seconds < warning for r in c.plan.roles), [(r.role, r.e2e_seconds, warning) for r in c.plan.roles]


def test_latency_is_p99_of_the_e2e_histogram() -> None:
    for r in rules(build("tier2")):
        if r["alert"] == "VllmLatencyP99High":
            assert r["expr"].startswith("histogram_quantile(0.99, sum by (le,")
            assert "rate(vllm:e2e_request_latency_seconds_bucket{" in r["expr"]


def test_failed_requests_are_the_5xx_share_of_api_requests() -> None:
    (r, _) = [r for r in rules(build("tier2")) if r["alert"] == "VllmRequestFailuresHigh"]
    failed, total = r["expr"].rsplit(" > ", 1)[0].split(" / ")
    assert 'status=~"5.."' in failed and "status" not in total
    assert 'handler!="/v1/models"' in failed and 'handler!="/v1/models"' in total


def test_kv_cache_metric_function() -> None:
    assert monitoring.kv_cache_metric(None) == "vllm:kv_cache_usage_perc"
    assert monitoring.kv_cache_metric((0, 9, 1)) == "vllm:gpu_cache_usage_perc"
    assert monitoring.kv_cache_metric((0, 9, 2)) == "vllm:kv_cache_usage_perc"
    assert monitoring.kv_cache_metric((0, 28, 0)) == "vllm:kv_cache_usage_perc"


def test_monitoring_switches() -> None:
    assert [o for o in build("tier2", ("monitoring.enabled=false",)).objects if o["apiVersion"].startswith("monitoring.coreos.com/")] == []
    kinds = [o["kind"] for o in build("tier2", ("monitoring.alerts=false",)).objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert kinds == ["PodMonitor"]


def test_sglang_alerts_read_sglang_metrics_and_carry_its_name() -> None:
    """The same alert table on SGLang's series (sglang-0.5.23 metrics_collector.py, http_request_metrics.py)."""
    from tests.shipped import compile_tier

    objs = list(compile_tier("tier3-sglang").objects)
    rule = next(o for o in objs if o["kind"] == "PrometheusRule")
    [group] = rule["spec"]["groups"]
    assert group["name"] == "deepseek-v3.sglang"
    by = {r["alert"]: r["expr"] for r in group["rules"]}
    assert set(by) == {"SglangQueueDepthHigh", "SglangLatencyP99High", "SglangGpuMemoryHigh", "SglangRequestFailuresHigh"}
    assert "sglang:num_queue_reqs{" in by["SglangQueueDepthHigh"]
    assert "sglang:e2e_request_latency_seconds_bucket{" in by["SglangLatencyP99High"]
    assert 'sglang:http_responses_total{' in by["SglangRequestFailuresHigh"] and 'status_code=~"5.."' in by["SglangRequestFailuresHigh"]
    assert "DCGM_FI_DEV_FB_USED" in by["SglangGpuMemoryHigh"]
    assert "vllm:" not in " ".join(by.values())
    pm = next(o for o in objs if o["kind"] == "PodMonitor")
    # SGLang's rank >= 1 nodes serve /metrics for their schedulers: no worker drop
    assert not [r for r in pm["spec"]["podMetricsEndpoints"][0]["relabelings"] if r["action"] == "drop"]
