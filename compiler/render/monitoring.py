"""Prometheus Operator monitoring: a PodMonitor for the serving pods and a PrometheusRule with the
seed 004 alert table (queue depth, P99 latency, GPU memory, failed requests).

Why the expressions look the way they do:

* vLLM series carry ``model_name`` and ``engine`` (there is no ``model`` label): every vLLM
  expression is pinned to the profile's namespace and served model name.
* The KV-cache gauge was renamed ``gpu_cache_usage_perc`` -> ``kv_cache_usage_perc`` in v0.9.2
  (the old name is gone in v0.12): :func:`kv_cache_metric` picks by image version (for the
  latency dashboard's KV-cache panel; no alert reads it).
* P99 latency: the seed's 10 s / 30 s are 2x / 6x its 5 s SLO; :func:`latency_threshold` scales
  them to the profile's SLO, since the planner fills replicas up to it.
* vLLM has no failure counter (``vllm:request_success_total`` only counts finished requests by
  ``finished_reason``), so failed requests are the 5xx share of the OpenAI server's HTTP metrics
  (``http_requests_total`` from prometheus-fastapi-instrumentator, ``status`` grouped as ``5xx``),
  restricted to the ``/v1/`` API handlers so probe traffic (``/health``, ``/v1/models``) does not
  dilute the ratio. Those series have no model_name: they are pinned to this PodMonitor's ``job``.
* GPU memory is the DCGM exporter's framebuffer: used / (used + free) per GPU of this
  profile's pods (``vllm:kv_cache_usage_perc`` is not GPU memory: vLLM preallocates the KV cache
  and the gauge sits above 90 % under normal load). vLLM reserves ``gpuMemoryUtilization`` of
  every GPU, so framebuffer usage sits just above that value in steady state:
  :func:`framebuffer_thresholds` keeps the table's 90 %/95 % unless the reservation itself
  reaches them. Without DCGM (``monitoring.dcgm: false``) there is no GPU memory alert at all.
  The exporter attributes GPUs to pods as ``namespace``/``pod``, renamed ``exported_namespace``/
  ``exported_pod`` when its ServiceMonitor does not honor labels: both spellings are matched.

Every metric name comes from the metric table (:mod:`.metrics`), which the tests check every
emitted expression against with a real PromQL parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan.model import RolePlan
from .autoscaling import format_number, is_lws, promql_string, target_name
from .meta import Context, metadata
from .metrics import EngineMetrics, for_engine, metric
from .network import serving_pod_selector

MONITORING_API = "monitoring.coreos.com/v1"
COMPONENT = "monitoring"
KV_CACHE_RENAMED = (0, 9, 2)
#: Prometheus' sanitized meta label for the LWS worker index ("0" on leaders, absent on Deployments).
WORKER_INDEX_META = "__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_worker_index"
COMPONENT_META = "__meta_kubernetes_pod_label_app_kubernetes_io_component"


@dataclass(frozen=True)
class Threshold:
    """One row of the alert table: the same alert name fires at two severities, so
    Alertmanager's usual inhibition (critical silences warning) applies."""

    alert: str
    warning: float
    critical: float
    duration: str
    summary: str
    description: str


QUEUE = Threshold("VllmQueueDepthHigh", 10, 50, "1m", "vLLM requests are queueing",
                  "{{ $labels.pod }} in {{ $labels.namespace }} has {{ $value }} requests waiting for a slot.")
#: The seed's P99 thresholds (10 s / 30 s) sit at 2x and 6x its e2e SLO (5 s). Our planner fills
#: every replica up to the profile's SLO, so fixed 10 s would fire under normal load on every
#: shipped tier (planned e2e 20 s, 30 s, 51 s): the factors carry the table's meaning instead.
SEED_E2E_SLO_SECONDS = 5.0
LATENCY = Threshold("VllmLatencyP99High", 10, 30, "5m", "vLLM P99 end-to-end latency is high",
                    "P99 end-to-end latency of {{ $labels.model_name }} ({{ $labels.role }}) is {{ $value }} s.")
FAILURES = Threshold("VllmRequestFailuresHigh", 0.01, 0.05, "5m", "vLLM requests are failing",
                     "{{ $value | humanizePercentage }} of API requests to {{ $labels.role }} pods in {{ $labels.namespace }} returned 5xx.")
GPU_MEMORY_ALERT = "VllmGpuMemoryHigh"


def kv_cache_metric(version: tuple[int, ...] | None) -> str:
    """The vLLM KV-cache usage gauge for an image version (None: an untagged build, assume new)."""
    old = version is not None and version < KV_CACHE_RENAMED
    return metric("vllm:gpu_cache_usage_perc" if old else "vllm:kv_cache_usage_perc")


def framebuffer_thresholds(gpu_memory_utilization: float) -> tuple[float, float]:
    """(warning, critical) framebuffer fractions: the table's 0.90/0.95, raised to stay above
    vLLM's own steady-state reservation (utilization + 0.03 for the CUDA context), at most 0.99."""
    warning = min(0.99, max(0.90, round(gpu_memory_utilization + 0.03, 2)))
    critical = min(0.99, max(0.95, round(warning + 0.02, 2)))
    return warning, critical


def pod_regex(ctx: Context, role: RolePlan) -> str:
    """Pod names of one role: ``<lws>-<group>[-<worker>]`` or ``<deployment>-<hash>-<suffix>``."""
    base = target_name(ctx, role)
    return base + ("-[0-9]+(-[0-9]+)?" if is_lws(role) else "-[a-z0-9]+-[a-z0-9]+")


def all_pods_regex(ctx: Context) -> str:
    return "|".join(pod_regex(ctx, r) for r in ctx.roles())


def job(ctx: Context) -> str:
    """The ``job`` label Prometheus Operator gives targets of a PodMonitor: ``<namespace>/<name>``."""
    return f"{ctx.namespace}/{ctx.name}"


def vllm_selector(ctx: Context) -> str:
    return "{" + f"namespace={promql_string(ctx.namespace)},model_name={promql_string(ctx.profile.model.served_name)}" + "}"


def engine_metrics(ctx: Context) -> EngineMetrics:
    return for_engine(ctx.profile.serving.engine)


def queue_expr(ctx: Context) -> str:
    return f"sum by (namespace, model_name, role, pod) ({engine_metrics(ctx).waiting}{vllm_selector(ctx)})"


def latency_expr(ctx: Context) -> str:
    return ("histogram_quantile(0.99, sum by (le, namespace, model_name, role) "
            f"(rate({engine_metrics(ctx).e2e_bucket}{vllm_selector(ctx)}[5m])))")


def failure_expr(ctx: Context) -> str:
    em = engine_metrics(ctx)
    route = em.http_route
    base = f"job={promql_string(job(ctx))},namespace={promql_string(ctx.namespace)},{route}=~\"/v1/.+\",{route}!=\"/v1/models\""
    http = em.http
    failed = f"sum by (namespace, role) (rate({http}{{{base},{em.http_status}=~\"5..\"}}[5m]))"
    total = f"sum by (namespace, role) (rate({http}{{{base}}}[5m]))"
    return f"{failed} / {total}"


def framebuffer_expr(ctx: Context) -> str:
    """Used / (used + free) per GPU of this profile's pods, under either DCGM label spelling."""
    pods = promql_string(all_pods_regex(ctx))
    ns = promql_string(ctx.namespace)

    def ratio(ns_label: str, pod_label: str) -> str:
        sel = f"{{{ns_label}={ns},{pod_label}=~{pods}}}"
        used, free = metric("DCGM_FI_DEV_FB_USED"), metric("DCGM_FI_DEV_FB_FREE")
        return f"({used}{sel} / ({used}{sel} + {free}{sel}))"

    return f"({ratio('namespace', 'pod')} or {ratio('exported_namespace', 'exported_pod')})"


def rule(alert: str, expr: str, op_value: float, severity: str, duration: str, summary: str, description: str) -> dict[str, Any]:
    return {"alert": alert, "expr": f"{expr} > {format_number(op_value)}", "for": duration,
            "labels": {"severity": severity}, "annotations": {"summary": summary, "description": description}}


def rules_for(t: Threshold, expr: str) -> list[dict[str, Any]]:
    return [rule(t.alert, expr, t.warning, "warning", t.duration, t.summary, t.description),
            rule(t.alert, expr, t.critical, "critical", t.duration, t.summary, t.description)]


def gpu_memory_rules(ctx: Context) -> list[dict[str, Any]]:
    """GPU memory from DCGM only: without the exporter there is no honest source, so no alert."""
    if not ctx.profile.monitoring.dcgm:
        return []
    warning, critical = framebuffer_thresholds(ctx.profile.serving.gpu_memory_utilization)
    t = Threshold(GPU_MEMORY_ALERT, warning, critical, "5m", "GPU memory of a vLLM pod is nearly full",
                  ("GPU {{ $labels.gpu }} on {{ $labels.Hostname }} uses {{ $value | humanizePercentage }} of its memory "
                   f"(vLLM reserves {format_number(round(ctx.profile.serving.gpu_memory_utilization * 100, 1))} % of it by design)."))
    return rules_for(t, framebuffer_expr(ctx))


def latency_threshold(ctx: Context) -> Threshold:
    """The table's P99 row scaled from the seed's SLO to the profile's (seed case: exactly 10 s / 30 s)."""
    slo = ctx.profile.workload.e2e_seconds
    factor = slo / SEED_E2E_SLO_SECONDS
    return Threshold(LATENCY.alert, round(LATENCY.warning * factor, 3), round(LATENCY.critical * factor, 3), LATENCY.duration, LATENCY.summary,
                     LATENCY.description[:-1] + f" (SLO {format_number(slo)} s).")


def alert_rules(ctx: Context) -> list[dict[str, Any]]:
    rules = [*rules_for(QUEUE, queue_expr(ctx)), *rules_for(latency_threshold(ctx), latency_expr(ctx)),
             *gpu_memory_rules(ctx), *rules_for(FAILURES, failure_expr(ctx))]
    return [for_sglang(r) for r in rules] if ctx.profile.serving.engine == "sglang" else rules


def for_sglang(rule: dict[str, Any]) -> dict[str, Any]:
    """The same alert table for SGLang pods, named after the engine (``SglangQueueDepthHigh``, ...)."""
    ann = {k: v.replace("vLLM", "SGLang") for k, v in rule["annotations"].items()}
    return {**rule, "alert": rule["alert"].replace("Vllm", "Sglang", 1), "annotations": ann}


def selector_labels(ctx: Context) -> dict[str, str]:
    return dict(ctx.profile.monitoring.selector_labels)


def pod_monitor(ctx: Context) -> dict[str, Any]:
    relabelings = [
        # vLLM's LWS workers run headless (no API server): scrape leaders ("0") and Deployment pods only.
        # SGLang's rank >= 1 nodes serve /metrics for their own schedulers: every pod is scraped.
        {"action": "drop", "sourceLabels": [WORKER_INDEX_META], "regex": "[1-9][0-9]*"},
        {"action": "replace", "sourceLabels": [COMPONENT_META], "targetLabel": "role"},
    ]
    if ctx.profile.serving.engine == "sglang":
        relabelings = relabelings[1:]
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": metadata(ctx, ctx.name, COMPONENT, extra_labels=selector_labels(ctx)),
        "spec": {
            "selector": serving_pod_selector(ctx),
            "namespaceSelector": {"matchNames": [ctx.namespace]},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "scheme": "http",
                                     "interval": ctx.profile.monitoring.interval, "relabelings": relabelings}],
        },
    }


def prometheus_rule(ctx: Context) -> dict[str, Any]:
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": metadata(ctx, ctx.name, COMPONENT, extra_labels=selector_labels(ctx)),
        "spec": {"groups": [{"name": f"{ctx.name}.{ctx.profile.serving.engine}", "rules": alert_rules(ctx)}]},
    }


def render(ctx: Context) -> list[dict[str, Any]]:
    m = ctx.profile.monitoring
    if not m.enabled:
        return []
    out = [pod_monitor(ctx)]
    if m.alerts:
        out.append(prometheus_rule(ctx))
    return out
