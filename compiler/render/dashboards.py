"""Grafana dashboards as ConfigMaps for the kube-prometheus-stack Grafana sidecar.

The sidecar of kube-prometheus-stack loads every ConfigMap labelled ``grafana_dashboard: "1"``
in any namespace (chart defaults ``grafana.sidecar.dashboards.{label, labelValue,
searchNamespace: ALL}``); the label is ``monitoring.dashboards.labels`` (tier default
``grafana_dashboard: "1"``). Each dashboard picks its Prometheus through a ``datasource``
variable (default: Grafana's default data source, the chart's ``prometheus``).

Three dashboards per profile, every query built from the metric table (:mod:`.metrics`):

* **scaling** (per role): queue depth and running requests overlaid with the replicas that serve
  (pods Prometheus scrapes) and the replicas KEDA wants (its HPA ``keda-hpa-<ScaledObject>``);
  with the default formula, the scaling signal per replica against the KEDA target;
* **latency**: P50/P95/P99 of end-to-end latency and TTFT against the profile's SLO, tokens/s,
  finished requests by reason, KV-cache usage and (with DCGM) GPU framebuffer usage;
* **cost**: GPU nodes and node hours by instance type and capacity type (kube-state-metrics
  ``kube_node_labels``), spot vs on-demand, list-price cost per hour, per request and per 1M
  output tokens, next to the planner's figures.

Grafana variables (``$__rate_interval``, ``$__range``) are interpolated by Grafana before the
query reaches Prometheus; the tests substitute them the same way before parsing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..plan import pool_types
from ..plan.cost import SPOT_PRICE_FACTOR
from ..plan.model import RolePlan
from .autoscaling import format_number, is_lws, promql_string, target_name
from .meta import Context, metadata
from .metrics import INSTANCE_TYPE_KEY, ksm_label, metric
from .monitoring import engine_metrics, framebuffer_expr, framebuffer_thresholds, kv_cache_metric
from .nodepools import CAPACITY_TYPE_KEY, PROFILE_LABEL

COMPONENT = "dashboards"
KINDS = ("scaling", "latency", "cost")
QUANTILES = (0.5, 0.95, 0.99)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TYPE_LABEL, CAPACITY_LABEL = ksm_label(INSTANCE_TYPE_KEY), ksm_label(CAPACITY_TYPE_KEY)
#: kube-state-metrics publishes ``kube_node_labels`` once per scrape; a 1-minute subquery step
#: turns "minutes a node existed" into node hours (/ 60).
NODE_HOURS_STEP = "1m"


def uid(ctx: Context, kind: str) -> str:
    """Grafana uids are at most 40 characters and unique per Grafana: a hash of namespace/name."""
    digest = hashlib.sha256(f"{ctx.namespace}/{ctx.name}".encode()).hexdigest()[:16]
    return f"mc-{digest}-{kind}"


def vllm_sel(ctx: Context, role: str | None = None) -> str:
    matchers = [f"namespace={promql_string(ctx.namespace)}", f"model_name={promql_string(ctx.profile.model.served_name)}"]
    if role:
        matchers.append(f"role={promql_string(role)}")
    return "{" + ",".join(matchers) + "}"


def serving_pods_sel(ctx: Context, rp: RolePlan) -> str:
    """The role's series from the pods that serve requests: every pod, except SGLang's LWS workers
    (rank >= 1 nodes export their schedulers' gauges but are no replica of their own; leader pods
    are named ``<lws>-<group>``, workers ``<lws>-<group>-<index>``)."""
    sel = vllm_sel(ctx, rp.role)
    if ctx.profile.serving.engine == "sglang" and is_lws(rp) and rp.multi_node:
        sel = sel[:-1] + f",pod=~{promql_string(target_name(ctx, rp) + '-[0-9]+')}}}"
    return sel


def entry_role(ctx: Context) -> str:
    """The role that finishes client requests (decode when prefill is disaggregated)."""
    return "decode" if ctx.profile.serving.disaggregated else ctx.roles()[0].role


# --- panels ----------------------------------------------------------------------------------

def target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"refId": ref, "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}


def panel(title: str, description: str, targets: list[tuple[str, str]], *, unit: str = "short", kind: str = "timeseries",
          right: tuple[str, ...] = (), thresholds: tuple[float, ...] = (), decimals: int | None = None) -> dict[str, Any]:
    """One panel; ``targets`` are (expr, legend); refIds in ``right`` go on a right-hand axis
    (replicas over queue depth); ``thresholds`` are drawn as red lines (SLOs, alert levels)."""
    refs = [chr(ord("A") + i) for i in range(len(targets))]
    defaults: dict[str, Any] = {"unit": unit}
    if decimals is not None:
        defaults["decimals"] = decimals
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None}] + [{"color": "red", "value": t} for t in thresholds]}
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    overrides = [{"matcher": {"id": "byFrameRefID", "options": ref},
                  "properties": [{"id": "custom.axisPlacement", "value": "right"}, {"id": "unit", "value": "short"}, {"id": "decimals", "value": 0}]}
                 for ref in right]
    return {
        "type": kind, "title": title, "description": description, "datasource": DATASOURCE,
        "targets": [target(e, legend, r) for (e, legend), r in zip(targets, refs, strict=True)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
    }


def layout(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two panels per row, 8 units high, ids in order."""
    out = []
    for i, p in enumerate(panels):
        out.append({**p, "id": i + 1, "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8}})
    return out


# --- scaling ---------------------------------------------------------------------------------

def scaling_panels(ctx: Context) -> list[dict[str, Any]]:
    a = ctx.profile.autoscaling
    em = engine_metrics(ctx)
    waiting, running = em.waiting, em.running
    out = []
    for rp in ctx.roles():
        sel = vllm_sel(ctx, rp.role)
        pods = serving_pods_sel(ctx, rp)
        targets = [(f"sum({waiting}{sel})", "waiting (queue depth)"), (f"sum({running}{sel})", "running"),
                   (f"count(count by (pod) ({running}{pods}))", "replicas serving")]
        if a.enabled:
            hpa = promql_string(f"keda-hpa-{target_name(ctx, rp)}")
            desired = metric("kube_horizontalpodautoscaler_status_desired_replicas")
            targets.append((f"sum({desired}{{namespace={promql_string(ctx.namespace)},horizontalpodautoscaler={hpa}}})", "replicas desired (KEDA)"))
        unit = "groups" if is_lws(rp) else "pods"
        out.append(panel(f"{rp.role}: queue depth and replicas",
                         f"Requests waiting and running on the {rp.role} role (left axis) and its replicas (right axis, {unit}): "
                         "serving = pods Prometheus scrapes, desired = what KEDA asks the HPA for.",
                         targets, right=tuple(chr(ord("A") + i) for i in range(2, len(targets)))))
        if a.enabled and not a.formula:
            signal = f"(sum({running}{sel}) + sum({waiting}{sel}) * {format_number(a.queue_weight)}) / count(count by (pod) ({running}{pods}))"
            out.append(panel(f"{rp.role}: scaling signal per replica",
                             f"KEDA's formula running + waiting x {format_number(a.queue_weight)} per replica; above the target "
                             f"({rp.keda_target}) KEDA adds replicas, up to {rp.max_replicas}.",
                             [(signal, "per replica")], thresholds=(float(rp.keda_target),)))
    return out


# --- latency ---------------------------------------------------------------------------------

def quantiles(bucket: str, sel: str) -> list[tuple[str, str]]:
    return [(f"histogram_quantile({format_number(q)}, sum by (le, role) (rate({bucket}{sel}[$__rate_interval])))", f"{{{{role}}}} p{format_number(q * 100)}")
            for q in QUANTILES]


def finished_panel(ctx: Context, sel: str) -> dict[str, Any]:
    em = engine_metrics(ctx)
    if em.finished_by:
        return panel("Finished requests per second", "Requests vLLM finished, by role and finish reason (stop, length, abort, ...).",
                     [(f"sum by (role, {em.finished_by}) (rate({em.finished}{sel}[$__rate_interval]))", f"{{{{role}}}} {{{{{em.finished_by}}}}}")],
                     unit="reqps")
    return panel("Finished requests per second", "Requests SGLang processed, by role (SGLang has no finish-reason label).",
                 [(f"sum by (role) (rate({em.finished}{sel}[$__rate_interval]))", "{{role}}")], unit="reqps")


def latency_panels(ctx: Context) -> list[dict[str, Any]]:
    w = ctx.profile.workload
    sel = vllm_sel(ctx)
    em = engine_metrics(ctx)
    engine = "SGLang" if ctx.profile.serving.engine == "sglang" else "vLLM"
    kv = em.kv_usage if engine == "SGLang" else kv_cache_metric(ctx.profile.serving.image.version)
    out = [
        panel("End-to-end latency P50 / P95 / P99", f"{engine} request latency from arrival to last token; the red line is the SLO ({format_number(w.e2e_seconds)} s).",
              quantiles(em.e2e_bucket, sel), unit="s", thresholds=(w.e2e_seconds,)),
        panel("Time to first token P50 / P95 / P99",
              "Time to first token" + (f"; the red line is the SLO ({format_number(w.ttft_seconds)} s)." if w.ttft_seconds else "."),
              quantiles(em.ttft_bucket, sel), unit="s", thresholds=(w.ttft_seconds,) if w.ttft_seconds else ()),
        panel("Tokens per second", "Output (generation) and input (prompt) tokens processed per second, by role.",
              [(f"sum by (role) (rate({em.generation_tokens}{sel}[$__rate_interval]))", "{{role}} output"),
               (f"sum by (role) (rate({em.prompt_tokens}{sel}[$__rate_interval]))", "{{role}} prompt")]),
        finished_panel(ctx, sel),
        panel("KV-cache usage", f"Share of KV-cache blocks in use per pod. High under normal load by design ({engine} preallocates); "
              "it is not GPU memory.", [(f"max by (role, pod) ({kv}{sel})", "{{pod}}")],
              unit="percentunit"),
    ]
    if ctx.profile.monitoring.dcgm:
        warning, critical = framebuffer_thresholds(ctx.profile.serving.gpu_memory_utilization)
        out.append(panel("GPU memory used (DCGM framebuffer)", "Framebuffer used / (used + free) per GPU of the serving pods; red lines are "
                         "the VllmGpuMemoryHigh alert levels (above vLLM's own reservation).",
                         [(framebuffer_expr(ctx), "{{Hostname}} GPU {{gpu}}")], unit="percentunit", thresholds=(warning, critical)))
    return out


# --- cost ------------------------------------------------------------------------------------

def node_sel(ctx: Context, **labels: str) -> str:
    matchers = [f"{ksm_label(PROFILE_LABEL)}={promql_string(ctx.name)}"] + [f"{k}={promql_string(v)}" for k, v in labels.items()]
    return "{" + ",".join(matchers) + "}"


def prices(ctx: Context) -> dict[tuple[str, str], float]:
    """(instance type, capacity type) -> USD per node-hour for every pair the pools may launch:
    catalog list price (or the profile's override); spot at the spot factor; reserved capacity
    is paid at the on-demand rate."""
    cap = ctx.profile.capacity
    overrides = dict(cap.prices)
    factor = cap.spot_price_factor or SPOT_PRICE_FACTOR
    out = {}
    for pool in cap.pools:
        for t in pool_types(pool)[0]:
            for ct in pool.capacity_types:
                out[(t.name, ct)] = round(overrides.get(t.name, t.price) * (factor if ct == "spot" else 1.0), 4)
    return dict(sorted(out.items()))


def cost_per_hour_expr(ctx: Context) -> str:
    nodes = metric("kube_node_labels")
    terms = [f"(count({nodes}{node_sel(ctx, **{TYPE_LABEL: t, CAPACITY_LABEL: ct})}) or vector(0)) * {format_number(p)}"
             for (t, ct), p in prices(ctx).items()]
    return " + ".join(terms) if terms else "vector(0)"


def cost_panels(ctx: Context) -> list[dict[str, Any]]:
    nodes, plan = metric("kube_node_labels"), ctx.plan
    by = f"{TYPE_LABEL}, {CAPACITY_LABEL}"
    legend = f"{{{{{TYPE_LABEL}}}}} {{{{{CAPACITY_LABEL}}}}}"
    cost = cost_per_hour_expr(ctx)
    sel = vllm_sel(ctx, entry_role(ctx))
    priced = ", ".join(f"{t} {ct} ${format_number(p)}/h" for (t, ct), p in prices(ctx).items())
    return [
        panel("GPU nodes by instance type and capacity type", "Nodes of this profile's NodePools (kube-state-metrics kube_node_labels).",
              [(f"count by ({by}) ({nodes}{node_sel(ctx)})", legend)], decimals=0),
        panel("GPU node hours in the selected time range", "Node hours by instance type and capacity type over the dashboard's time range.",
              [(f"sum by ({by}) (count_over_time({nodes}{node_sel(ctx)}[$__range:{NODE_HOURS_STEP}])) / 60", legend)], kind="bargauge", unit="h"),
        panel("Spot vs on-demand", "Current nodes by capacity type (spot, on-demand, reserved).",
              [(f"count by ({CAPACITY_LABEL}) ({nodes}{node_sel(ctx)})", f"{{{{{CAPACITY_LABEL}}}}}")], kind="piechart"),
        panel("Cost per hour (list price)", f"Nodes x list price: {priced}. The plan expects "
              f"${format_number(round(plan.cost_per_hour, 2))}/h at the target load.", [(cost, "USD/h")], kind="stat", unit="currencyUSD"),
        panel("Cost per request", f"Cost per hour / requests finished per hour by the {entry_role(ctx)} role (last hour).",
              [(f"({cost}) / (sum(rate({engine_metrics(ctx).finished}{sel}[1h])) * 3600)", "USD/request")],
              kind="stat", unit="currencyUSD", decimals=5),
        panel("Cost per 1M output tokens", f"Cost per hour / output tokens per hour (last hour). The plan expects "
              f"${format_number(round(plan.cost_per_million_output_tokens, 2))} at the target load.",
              [(f"({cost}) / (sum(rate({engine_metrics(ctx).generation_tokens}{sel}[1h])) * 3600) * 1000000", "USD per 1M tokens")],
              kind="stat", unit="currencyUSD", decimals=2),
    ]


# --- dashboards ------------------------------------------------------------------------------

BUILDERS = {"scaling": scaling_panels, "latency": latency_panels, "cost": cost_panels}


def dashboard(ctx: Context, kind: str) -> dict[str, Any]:
    return {
        "uid": uid(ctx, kind),
        "title": f"{ctx.name} ({ctx.namespace}): {kind}",
        "tags": ["mcompile", ctx.name, kind],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "utc",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "hide": 0}]},
        "panels": layout(BUILDERS[kind](ctx)),
    }


def dashboard_json(board: dict[str, Any]) -> str:
    """Deterministic JSON with one panel per line: a changed panel is a one-line diff in out/."""
    head = json.dumps({k: v for k, v in board.items() if k != "panels"}, sort_keys=True, separators=(",", ":"))
    panels = ",\n".join(json.dumps(p, sort_keys=True, separators=(",", ":")) for p in board["panels"])
    return head[:-1] + ',"panels":[\n' + panels + "\n]}\n"


def config_map(ctx: Context, kind: str) -> dict[str, Any]:
    labels = dict(ctx.profile.monitoring.dashboard_labels)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(ctx, f"{ctx.name}-dashboard-{kind}", COMPONENT, extra_labels=labels),
        "data": {f"{ctx.name}-{kind}.json": dashboard_json(dashboard(ctx, kind))},
    }


def render(ctx: Context) -> list[dict[str, Any]]:
    m = ctx.profile.monitoring
    if not (m.enabled and m.dashboards):
        return []
    return [config_map(ctx, kind) for kind in KINDS]
