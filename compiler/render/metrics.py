"""The metric table: every metric name our PromQL uses (alerts, dashboards, KEDA queries), the
labels its series carry once Prometheus has scraped them, and where it comes from.

The test suite parses every emitted expression with a real PromQL parser and checks each
selector against this table: a metric name that is not here, or a label matcher on a label the
series do not carry, fails the build of the test suite (``tests/render/test_metrics.py``).

Labels are what a query sees: the exporter's own labels plus the target labels the scrape adds.

* vLLM and SGLang pods are scraped by our PodMonitor (:mod:`.monitoring`): Prometheus Operator adds
  ``namespace``, ``pod``, ``container``, ``endpoint``, ``job`` (``<namespace>/<podmonitor>``) and
  ``instance``; our relabeling adds ``role`` (the pod's ``app.kubernetes.io/component``).
* The DCGM exporter is scraped through the GPU Operator's ServiceMonitor with ``honorLabels:
  false`` (:func:`compiler.render.nodepools.gpu_operator_values`): the exporter's pod attribution
  ``namespace``/``pod``/``container`` collides with the target labels of the exporter pod and is
  renamed ``exported_*``. Both spellings are listed; expressions match either.
* kube-state-metrics is scraped by kube-prometheus-stack's ServiceMonitor (honorLabels: true).
  ``kube_node_labels`` carries a node label only when kube-state-metrics is started with
  ``--metric-labels-allowlist`` naming it: :data:`KSM_NODE_LABEL_ALLOWLIST` is the value the
  cluster platform must set (kube-prometheus-stack value
  ``kube-state-metrics.metricLabelsAllowlist``) for the cost dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .nodepools import CAPACITY_TYPE_KEY, POOL_LABEL, PROFILE_LABEL

INSTANCE_TYPE_KEY = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class Metric:
    """A metric a dashboard or alert reads, its kind, labels and the exporter that serves it."""

    name: str
    kind: str  # gauge | counter | histogram (the _bucket series)
    labels: frozenset[str]
    source: str


#: Target labels Prometheus Operator adds to every PodMonitor target, plus our ``role`` relabel.
POD_MONITOR_TARGET = frozenset({"namespace", "pod", "container", "endpoint", "job", "instance", "role"})
#: Target labels of a ServiceMonitor target.
SERVICE_MONITOR_TARGET = frozenset({"namespace", "pod", "container", "service", "endpoint", "job", "instance"})

VLLM_LABELS = frozenset({"model_name", "engine"}) | POD_MONITOR_TARGET
VLLM_SOURCE = ("vLLM PrometheusStatLogger (vllm-project/vllm vllm/v1/metrics/loggers.py: labelnames "
               "['model_name', 'engine']; counters are exposed with the _total suffix); "
               "scraped by our PodMonitor")
HTTP_SOURCE = ("vLLM API server, prometheus-fastapi-instrumentator default metrics "
               "(vllm-project/vllm vllm/entrypoints/serve/instrumentator/metrics.py: Instrumentator(excluded_handlers="
               "['/metrics', '/health', '/load', '/ping', '/version', '/server_info']).add(); status grouped as 2xx..5xx); "
               "scraped by our PodMonitor")
DCGM_LABELS = (frozenset({"gpu", "UUID", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION", "pci_bus_id",
                          "exported_namespace", "exported_pod", "exported_container"}) | SERVICE_MONITOR_TARGET)
DCGM_SOURCE = ("NVIDIA dcgm-exporter default counters (NVIDIA/dcgm-exporter etc/default-counters.csv: gauge, MiB), "
               "pod attribution namespace/pod/container (exported_* under honorLabels: false); "
               "ServiceMonitor of the GPU Operator (monitoring.dcgm)")


def ksm_label(node_label: str) -> str:
    """kube-state-metrics' Prometheus name for a Kubernetes label: ``label_`` + the key with every
    character outside ``[a-zA-Z0-9_]`` replaced by ``_`` (``karpenter.sh/capacity-type`` ->
    ``label_karpenter_sh_capacity_type``)."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", node_label)


#: Node labels the cost dashboard reads from ``kube_node_labels`` (all set on our NodePools' nodes:
#: the instance type and capacity type by Karpenter / Auto Mode, pool and profile by our templates).
COST_NODE_LABELS = (INSTANCE_TYPE_KEY, CAPACITY_TYPE_KEY, POOL_LABEL, PROFILE_LABEL)
#: ``--metric-labels-allowlist`` entry kube-state-metrics needs for the cost dashboard.
KSM_NODE_LABEL_ALLOWLIST = "nodes=[" + ",".join(COST_NODE_LABELS) + "]"

SGLANG_SCHEDULER_LABELS = frozenset({"model_name", "engine_type", "tp_rank", "pp_rank", "moe_ep_rank", "dp_rank"}) | POD_MONITOR_TARGET
SGLANG_TOKENIZER_LABELS = frozenset({"model_name", "engine_type"}) | POD_MONITOR_TARGET
SGLANG_SOURCE = ("SGLang {what} (sglang-0.5.23 wheel sglang/srt/observability/metrics_collector.py:{lines}: labels model_name "
                 "(served name), engine_type, {extra}); exported with --enable-metrics; scraped by our PodMonitor (leaders and, "
                 "rank >= 1 nodes: their health server also serves /metrics, utils/common.py:3624-3655)")
SGLANG_HTTP_SOURCE = ("SGLang HTTP middleware (sglang-0.5.23 wheel sglang/srt/observability/http_request_metrics.py:33-38: "
                      "labelnames endpoint (route path), status_code, method); with --enable-metrics; scraped by our PodMonitor")

KSM_SOURCE = "kube-state-metrics (kubernetes/kube-state-metrics docs/metrics/{path}); ServiceMonitor of kube-prometheus-stack"


def _table() -> dict[str, Metric]:
    vllm = [
        ("vllm:num_requests_waiting", "gauge", ()),
        ("vllm:num_requests_running", "gauge", ()),
        ("vllm:kv_cache_usage_perc", "gauge", ()),
        # Renamed to kv_cache_usage_perc in v0.9.2, hidden in v0.11, removed in v0.12 (domain facts):
        # only ever queried for images older than v0.9.2.
        ("vllm:gpu_cache_usage_perc", "gauge", ()),
        ("vllm:e2e_request_latency_seconds_bucket", "histogram", ("le",)),
        ("vllm:time_to_first_token_seconds_bucket", "histogram", ("le",)),
        ("vllm:generation_tokens_total", "counter", ()),
        ("vllm:prompt_tokens_total", "counter", ()),
        ("vllm:request_success_total", "counter", ("finished_reason",)),
    ]
    out = {n: Metric(n, k, VLLM_LABELS | frozenset(extra), VLLM_SOURCE) for n, k, extra in vllm}
    sched = SGLANG_SOURCE.format(what="SchedulerMetricsCollector", lines="1376-1392 (labels), 365-407", extra="tp_rank, pp_rank, moe_ep_rank, dp_rank")
    tok = SGLANG_SOURCE.format(what="TokenizerMetricsCollector", lines="1800-1816 (labels), 1856-1865, 1941-1945, 2041-2072", extra="is_streaming")
    for n, k, labels, src in [
        ("sglang:num_queue_reqs", "gauge", SGLANG_SCHEDULER_LABELS, sched),
        ("sglang:num_running_reqs", "gauge", SGLANG_SCHEDULER_LABELS, sched),
        ("sglang:token_usage", "gauge", SGLANG_SCHEDULER_LABELS, sched),
        ("sglang:e2e_request_latency_seconds_bucket", "histogram", SGLANG_TOKENIZER_LABELS | {"is_streaming", "le"}, tok),
        ("sglang:time_to_first_token_seconds_bucket", "histogram", SGLANG_TOKENIZER_LABELS | {"is_streaming", "le"}, tok),
        ("sglang:generation_tokens_total", "counter", SGLANG_TOKENIZER_LABELS | {"is_streaming"}, tok),
        ("sglang:prompt_tokens_total", "counter", SGLANG_TOKENIZER_LABELS | {"is_streaming"}, tok),
        ("sglang:num_requests_total", "counter", SGLANG_TOKENIZER_LABELS | {"is_streaming"}, tok),
    ]:
        out[n] = Metric(n, k, frozenset(labels), src)
    out["sglang:http_responses_total"] = Metric("sglang:http_responses_total", "counter",
                                                frozenset({"endpoint", "status_code", "method"}) | POD_MONITOR_TARGET, SGLANG_HTTP_SOURCE)
    out["http_requests_total"] = Metric("http_requests_total", "counter", frozenset({"handler", "method", "status"}) | POD_MONITOR_TARGET, HTTP_SOURCE)
    for n in ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"):
        out[n] = Metric(n, "gauge", DCGM_LABELS, DCGM_SOURCE)
    node_labels = frozenset({"node"} | {ksm_label(k) for k in COST_NODE_LABELS})
    out["kube_node_labels"] = Metric("kube_node_labels", "gauge", node_labels | SERVICE_MONITOR_TARGET,
                                     KSM_SOURCE.format(path="cluster/node-metrics.md") + f"; needs --metric-labels-allowlist={KSM_NODE_LABEL_ALLOWLIST}")
    hpa = "kube_horizontalpodautoscaler_status_desired_replicas"  # KEDA's HPA is named keda-hpa-<ScaledObject>
    out[hpa] = Metric(hpa, "gauge", frozenset({"horizontalpodautoscaler"}) | SERVICE_MONITOR_TARGET,
                      KSM_SOURCE.format(path="workload/horizontalpodautoscaler-metrics.md"))
    return out


METRICS: dict[str, Metric] = _table()


def metric(name: str) -> str:
    """A metric name from the table (a typo here is a KeyError at import/render time, not an empty panel)."""
    return METRICS[name].name


@dataclass(frozen=True)
class EngineMetrics:
    """What each engine calls the series our PromQL reads (every name is in the table). Both
    label the served model ``model_name``; ``finished_by`` is the label that splits finished
    requests (None: the engine has none); the HTTP counter names its route and status labels."""

    waiting: str
    running: str
    kv_usage: str
    e2e_bucket: str
    ttft_bucket: str
    generation_tokens: str
    prompt_tokens: str
    finished: str
    finished_by: str | None
    http: str
    http_route: str
    http_status: str


VLLM_METRICS = EngineMetrics("vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc",
                             "vllm:e2e_request_latency_seconds_bucket", "vllm:time_to_first_token_seconds_bucket",
                             "vllm:generation_tokens_total", "vllm:prompt_tokens_total", "vllm:request_success_total", "finished_reason",
                             "http_requests_total", "handler", "status")
#: SGLang: the waiting queue is num_queue_reqs, KV-pool usage token_usage (fraction of KV tokens in
#: use), finished requests num_requests_total (no finish reason), HTTP responses with status_code.
SGLANG_METRICS = EngineMetrics("sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:token_usage",
                               "sglang:e2e_request_latency_seconds_bucket", "sglang:time_to_first_token_seconds_bucket",
                               "sglang:generation_tokens_total", "sglang:prompt_tokens_total", "sglang:num_requests_total", None,
                               "sglang:http_responses_total", "endpoint", "status_code")
ENGINE_METRICS = {"vllm": VLLM_METRICS, "sglang": SGLANG_METRICS}


def for_engine(engine: str) -> EngineMetrics:
    """The metric names of ``serving.engine`` (each checked against the table at import)."""
    return ENGINE_METRICS[engine]


for _m in ENGINE_METRICS.values():  # a name outside the table fails at import, not as an empty panel
    for _f in ("waiting", "running", "kv_usage", "e2e_bucket", "ttft_bucket", "generation_tokens", "prompt_tokens", "finished", "http"):
        metric(getattr(_m, _f))
