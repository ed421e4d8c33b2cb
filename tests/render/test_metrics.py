"""Every PromQL expression mcompile emits (PrometheusRule alerts, Grafana dashboard panels, KEDA
ScaledObject queries) parses with a real PromQL parser (PyPI ``promql-parser``, the Rust
``promql-parser`` crate), and every selector names a metric of the table in
``compiler/render/metrics.py`` with only labels its series carry; every ``by (...)`` label of an
aggregation over selectors is one of their labels. Broken fixtures prove the check can fail."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pytest

from compiler.render import metrics
from compiler.render.metrics import METRICS

from ..shipped import compile_tier

#: Grafana interpolates these before a query reaches Prometheus; substitute them the same way.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "6h", "$__interval": "1m"}

#: Shipped profiles and variants that reach every branch of the query builders.
VARIANTS = [
    ("tier1", ()), ("tier2", ()), ("tier3", ()),
    ("tier2", ("serving.image.tag=v0.9.0", "serving.image.capabilities=[s3-streaming]")),  # the pre-rename KV-cache gauge
    ("tier2", ("monitoring.dcgm=false",)),
    ("tier2", ("autoscaling.formula=running + waiting * 2",)),
    ("tier3", ("autoscaling.enabled=false",)),
    ("tier2-sglang", ()), ("tier3-sglang", ()),  # SGLang's metric names (compiler/render/metrics.py: SGLANG_METRICS)
]


def expressions(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(where, expression) for every PromQL expression in the rendered objects."""
    out = []
    for o in objects:
        name = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "PrometheusRule":
            out += [(f"{name} {r['alert']}", r["expr"]) for g in o["spec"]["groups"] for r in g["rules"]]
        elif o["kind"] == "ScaledObject":
            out += [(f"{name} trigger {t['name']}", t["metadata"]["query"]) for t in o["spec"]["triggers"] if t["type"] == "prometheus"]
        elif o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboards":
            for key, text in o["data"].items():
                for p in json.loads(text)["panels"]:
                    out += [(f"{name} {key} {p['title']!r} {t['refId']}", t["expr"]) for t in p["targets"]]
    return out


def selector_name(node: Any) -> str | None:
    if node.name:
        return str(node.name)
    for m in node.matchers.matchers:
        if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal:
            return str(m.value)
    return None


def selectors(node: Any) -> list[Any]:
    found: list[Any] = []
    promql_parser.walk(node, lambda n: found.append(n) if isinstance(n, promql_parser.VectorSelector) else None)
    return found


def problems(expr: str) -> list[str]:
    """Everything wrong with one expression; [] when it parses and uses known metrics and labels."""
    text = expr
    for var, value in GRAFANA_VARIABLES.items():
        text = text.replace(var, value)
    try:
        ast = promql_parser.parse(text)
    except ValueError as e:
        return [f"does not parse: {e}"]
    out: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            name = selector_name(node)
            if name is None:
                out.append(f"selector without a metric name: {node}")
            elif name not in METRICS:
                out.append(f"unknown metric {name!r} (not in compiler/render/metrics.py)")
            else:
                out.extend(f"{name} has no label {m.name!r}" for m in node.matchers.matchers
                           if m.name != "__name__" and m.name not in METRICS[name].labels)
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None and node.modifier.type == promql_parser.AggModifierType.By:
            names = [selector_name(s) for s in selectors(node.expr)]
            known = set().union(*(METRICS[n].labels for n in names if n in METRICS)) if names else set()
            if names and all(n in METRICS for n in names):
                out.extend(f"by ({label}): no selected metric carries it" for label in node.modifier.labels if label not in known)

    promql_parser.walk(ast, visit)
    return out


def all_expressions() -> list[tuple[str, str]]:
    out = []
    for tier, sets in VARIANTS:
        for where, expr in expressions(compile_tier(tier, sets).objects):
            out.append((f"{tier} {' '.join(sets)}: {where}", expr))
    return out


def test_every_emitted_expression_parses_and_uses_known_metrics() -> None:
    exprs = all_expressions()
    kinds = {w.split(": ", 1)[1].split("/", 1)[0] for w, _ in exprs}
    assert kinds == {"PrometheusRule", "ScaledObject", "ConfigMap"}, kinds
    assert len(exprs) > 100
    bad = [f"{where}: {p}\n    {expr}" for where, expr in exprs for p in problems(expr)]
    assert not bad, "\n".join(bad)


def test_the_table_lists_only_metrics_we_query() -> None:
    used = {selector_name(s) for _, expr in all_expressions() for s in selectors(promql_parser.parse(_interpolate(expr)))}
    assert used == set(METRICS), f"unused: {set(METRICS) - used}, unknown: {used - set(METRICS)}"


def _interpolate(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    return expr


@pytest.mark.parametrize(("expr", "expected"), [
    ('sum(vllm:num_request_waiting{namespace="a"})', "unknown metric 'vllm:num_request_waiting'"),  # misspelt
    ('sum(rate(vllm:generation_tokens_total{namespace="a"}[5m])', "does not parse"),  # unclosed parenthesis
    ('histogram_quantil(0.99, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket[5m])))', "does not parse"),  # unknown function
    ('sum(vllm:num_requests_waiting{model="x"})', "has no label 'model'"),  # vLLM has no model label
    ('sum by (model) (vllm:num_requests_running{model_name="x"})', "by (model)"),
    ('DCGM_FI_DEV_FB_USED{exported_namespace="a"} / DCGM_FI_DEV_MEM_TOTAL', "unknown metric 'DCGM_FI_DEV_MEM_TOTAL'"),
    ('vllm:gpu_cache_usage_perc{namespace="a"} > 0.9 and on() {job="x"}', "selector without a metric name"),
])
def test_broken_expressions_are_caught(expr: str, expected: str) -> None:
    found = problems(expr)
    assert any(expected in p for p in found), found


def test_a_broken_expression_in_a_rendered_object_fails_the_check() -> None:
    objects = json.loads(json.dumps(compile_tier("tier2").objects))
    (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    rule["spec"]["groups"][0]["rules"][0]["expr"] = rule["spec"]["groups"][0]["rules"][0]["expr"].replace("num_requests_waiting", "num_requests_wating")
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("latency")]
    key = next(iter(cm["data"]))
    cm["data"][key] = cm["data"][key].replace("histogram_quantile(0.99,", "histogram_quantile(0.99", 1)
    bad = [w for w, e in expressions(objects) if problems(e)]
    assert any("PrometheusRule" in w for w in bad) and any("ConfigMap" in w and "latency" in w for w in bad), bad


def test_ksm_label_names_follow_kube_state_metrics() -> None:
    assert metrics.ksm_label("karpenter.sh/capacity-type") == "label_karpenter_sh_capacity_type"
    assert metrics.ksm_label("node.kubernetes.io/instance-type") == "label_node_kubernetes_io_instance_type"
    assert metrics.KSM_NODE_LABEL_ALLOWLIST == "nodes=[node.kubernetes.io/instance-type,karpenter.sh/capacity-type,mcompile.io/pool,mcompile.io/profile]"


def test_every_metric_cites_its_source() -> None:
    for m in METRICS.values():
        assert m.kind in {"gauge", "counter", "histogram"}
        assert ("/" in m.source and "." in m.source), m  # a repository path or document
        if m.kind == "counter":
            assert m.name.endswith("_total"), m.name
        if m.kind == "histogram":
            assert m.name.endswith("_bucket") and "le" in m.labels, m.name
