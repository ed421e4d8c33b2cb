"""Grafana dashboards: three ConfigMaps per profile that the kube-prometheus-stack Grafana sidecar
loads, valid for Kubernetes, whose panels show what the issue names (queue depth and replicas
overlaid; P50/P95/P99, TTFT, tokens/s; node hours by type, spot vs on-demand, cost per request)
and whose queries point at the objects mcompile renders (KEDA's HPA, the NodePools' labels).
That every query parses and uses known metrics is tests/render/test_metrics.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from compiler.build import build_files, target_for
from compiler.catalog import instance_types
from compiler.emit.layout import deployed_objects, profile_files
from compiler.pipeline import Compiled, compile_all, render_delivery
from compiler.render.nodepools import PROFILE_LABEL
from compiler.resolve import Request
from compiler.store.writer import write_outputs
from compiler.verify import make_verifier
from compiler.verify.kube import KubeValidator

from ..emit.tooling import helm_template, kustomize
from ..shipped import REPO, compile_tier

TIERS = ("tier1", "tier2", "tier3")


def config_maps(c: Compiled) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"].rsplit("-", 1)[1]: o for o in c.objects if is_dashboard(o)}


def is_dashboard(o: dict[str, Any]) -> bool:
    """Dashboard ConfigMaps only: the picker and Bifrost carry ConfigMaps of their own."""
    return bool(o["kind"] == "ConfigMap" and o["metadata"]["labels"].get("app.kubernetes.io/component") == "dashboards")


def board(c: Compiled, kind: str) -> dict[str, Any]:
    (text,) = config_maps(c)[kind]["data"].values()
    return json.loads(text)


def panel(b: dict[str, Any], title: str) -> dict[str, Any]:
    (p,) = [p for p in b["panels"] if p["title"] == title]
    return p


def exprs(p: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in p["targets"]]


@pytest.mark.parametrize("tier", TIERS)
def test_three_dashboards_the_grafana_sidecar_loads(kube: KubeValidator, tier: str) -> None:
    c = compile_tier(tier)
    cms = config_maps(c)
    assert sorted(cms) == ["cost", "latency", "scaling"]
    uids = set()
    for kind, cm in cms.items():
        assert kube.validate(cm) == []
        # kube-prometheus-stack: grafana.sidecar.dashboards.label grafana_dashboard, labelValue "1", searchNamespace ALL
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["namespace"] == c.profile.namespace
        (key,) = cm["data"]
        assert key.endswith(".json") and re.fullmatch(r"[-._a-zA-Z0-9]+", key)
        b = board(c, kind)
        assert len(b["uid"]) <= 40 and b["uid"] not in uids
        uids.add(b["uid"])
        assert b["templating"]["list"][0] == {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus", "hide": 0}
        ids = [p["id"] for p in b["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        cells = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in b["panels"]}
        assert len(cells) == len(ids)  # no two panels on top of each other
        for p in b["panels"]:
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"} and p["targets"]


def test_uid_differs_per_profile_and_namespace() -> None:
    a, b = compile_tier("tier2"), compile_tier("tier2", ("metadata.namespace=other",))
    assert board(a, "cost")["uid"] != board(b, "cost")["uid"]
    assert board(a, "cost")["uid"] == board(compile_tier("tier2"), "cost")["uid"]


@pytest.mark.parametrize("tier", TIERS)
def test_scaling_overlays_queue_depth_and_replicas_per_role(tier: str) -> None:
    c = compile_tier(tier)
    b = board(c, "scaling")
    hpas = {f"keda-hpa-{o['metadata']['name']}" for o in c.objects if o["kind"] == "ScaledObject"}
    assert len(hpas) == len(c.plan.roles)
    for rp in c.plan.roles:
        p = panel(b, f"{rp.role}: queue depth and replicas")
        e = exprs(p)
        assert "vllm:num_requests_waiting" in e[0] and f'role="{rp.role}"' in e[0]
        assert e[2].startswith("count(count by (pod) (vllm:num_requests_running")
        (hpa,) = re.findall(r'horizontalpodautoscaler="([^"]+)"', e[3])
        assert hpa in hpas  # the HPA KEDA creates for this role's ScaledObject
        right = {o["matcher"]["options"] for o in p["fieldConfig"]["overrides"]}
        assert right == {"C", "D"}  # replicas on the right axis, queue on the left
        signal = panel(b, f"{rp.role}: scaling signal per replica")
        assert signal["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == rp.keda_target


def test_scaling_without_autoscaling_shows_served_replicas_only() -> None:
    b = board(compile_tier("tier2", ("autoscaling.enabled=false",)), "scaling")
    assert [p["title"] for p in b["panels"]] == ["serve: queue depth and replicas"]
    assert not any("horizontalpodautoscaler" in e for e in exprs(b["panels"][0]))


@pytest.mark.parametrize("tier", TIERS)
def test_latency_quantiles_ttft_tokens_against_the_slo(tier: str) -> None:
    c = compile_tier(tier)
    b = board(c, "latency")
    e2e, ttft = panel(b, "End-to-end latency P50 / P95 / P99"), panel(b, "Time to first token P50 / P95 / P99")
    for p, metric in ((e2e, "vllm:e2e_request_latency_seconds_bucket"), (ttft, "vllm:time_to_first_token_seconds_bucket")):
        assert [e.split(",")[0] for e in exprs(p)] == ["histogram_quantile(0.5", "histogram_quantile(0.95", "histogram_quantile(0.99"]
        assert all(metric in e for e in exprs(p)) and p["fieldConfig"]["defaults"]["unit"] == "s"
    assert e2e["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == c.profile.workload.e2e_seconds
    assert ttft["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == c.profile.workload.ttft_seconds
    tokens = exprs(panel(b, "Tokens per second"))
    assert "rate(vllm:generation_tokens_total" in tokens[0] and "rate(vllm:prompt_tokens_total" in tokens[1]
    gpu = panel(b, "GPU memory used (DCGM framebuffer)")
    assert "DCGM_FI_DEV_FB_USED" in exprs(gpu)[0]


def test_latency_without_dcgm_has_no_gpu_memory_panel() -> None:
    b = board(compile_tier("tier2", ("monitoring.dcgm=false",)), "latency")
    assert not [p for p in b["panels"] if "DCGM" in json.dumps(p)]


@pytest.mark.parametrize("tier", TIERS)
def test_cost_reads_the_labels_our_node_pools_set(tier: str) -> None:
    c = compile_tier(tier)
    pool_labels = [np["spec"]["template"]["metadata"]["labels"] for np in c.objects if np["kind"] == "NodePool"]
    assert pool_labels and all(lbl[PROFILE_LABEL] == c.profile.name for lbl in pool_labels)
    b = board(c, "cost")
    for p in b["panels"]:
        for e in exprs(p):
            if "kube_node_labels" in e:
                assert f'label_mcompile_io_profile="{c.profile.name}"' in e
    hours = exprs(panel(b, "GPU node hours in the selected time range"))[0]
    assert "[$__range:1m]" in hours and hours.endswith("/ 60")
    assert exprs(panel(b, "Spot vs on-demand"))[0].startswith("count by (label_karpenter_sh_capacity_type)")


def priced_terms(expr: str) -> dict[tuple[str, str], float]:
    pat = r'label_node_kubernetes_io_instance_type="([^"]+)",label_karpenter_sh_capacity_type="([^"]+)"\}\) or vector\(0\)\) \* ([0-9.]+)'
    return {(t, ct): float(p) for t, ct, p in re.findall(pat, expr)}


def test_cost_per_hour_prices_every_type_the_pools_may_launch() -> None:
    c = compile_tier("tier2")
    terms = priced_terms(exprs(panel(board(c, "cost"), "Cost per hour (list price)"))[0])
    cat = instance_types()
    # baseline: g6e.12xlarge on-demand at list price; burst: every g6e and p5 type, spot at 0.45 of it
    assert terms[("g6e.12xlarge", "on-demand")] == cat["g6e.12xlarge"].price
    spot = {t for t, ct in terms if ct == "spot"}
    assert spot == {n for n, t in cat.items() if t.family in ("g6e", "p5")}
    assert terms[("p5.48xlarge", "spot")] == round(98.32 * 0.45, 4)
    over = compile_tier("tier2", ("capacity.pricing={onDemandPerHour: {g6e.12xlarge: 8.0}, spotPriceFactor: 0.3}",))
    terms = priced_terms(exprs(panel(board(over, "cost"), "Cost per hour (list price)"))[0])
    assert terms[("g6e.12xlarge", "on-demand")] == 8.0 and terms[("g6e.12xlarge", "spot")] == 2.4


def test_cost_per_request_counts_requests_where_they_finish() -> None:
    for tier, role in (("tier2", "serve"), ("tier3", "decode")):
        b = board(compile_tier(tier), "cost")
        (e,) = exprs(panel(b, "Cost per request"))
        assert f'vllm:request_success_total{{namespace="{compile_tier(tier).profile.namespace}",model_name=' in e and f'role="{role}"' in e
        assert panel(b, "Cost per request")["fieldConfig"]["defaults"]["unit"] == "currencyUSD"


@pytest.mark.parametrize("sets", [("monitoring.dashboards.enabled=false",), ("monitoring.enabled=false",)])
def test_switches(sets: tuple[str, ...]) -> None:
    assert config_maps(compile_tier("tier2", sets)) == {}


def test_dashboard_labels_come_from_the_profile() -> None:
    c = compile_tier("tier2", ("monitoring.dashboards.labels={grafana_dashboard: \"1\", team: ml}",))
    assert all(cm["metadata"]["labels"]["team"] == "ml" for cm in config_maps(c).values())


def test_grafana_templates_come_out_literally_through_helm_and_kustomize(tmp_path: Path) -> None:
    """Legend formats such as ``{{role}}`` are Grafana's, not Helm's: the chart escapes them, and
    helm template / kubectl kustomize give back exactly the ConfigMaps mcompile rendered.
    (Profile strings that reach dashboards, such as model names, cannot contain braces: the
    schema's patterns refuse them.)"""
    out = tmp_path / "out"
    target = target_for(REPO / "profiles" / "tier2.yaml", out, (), ())
    for scope, files in build_files([target], make_verifier()):
        write_outputs(out, files, scope=scope)
    compiled = compile_all(Request(REPO / "profiles" / "tier2.yaml", "profiles/tier2.yaml"))
    ours = {o["metadata"]["name"].rsplit("-", 1)[1]: o for o in deployed_objects(compiled)[1]["prod"] if is_dashboard(o)}
    assert "{{role}}" in ours["latency"]["data"]["llama-70b-latency.json"]
    templates = out / "llama-70b" / "chart" / "templates"
    assert '{{ "{{" }}role{{ "}}" }}' in (templates / "configmap-llama-70b-dashboard-latency.yaml").read_text()
    chart = out / "llama-70b" / "chart"
    via_helm = helm_template(chart, "llama-70b", chart / "values-prod.yaml")
    via_kustomize = kustomize(out / "llama-70b" / "kustomize" / "overlays" / "prod")
    for kind, cm in ours.items():
        got_helm = [o for o in via_helm.values() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == cm["metadata"]["name"]]
        got_kust = [o for o in via_kustomize.values() if o["kind"] == "ConfigMap" and o["metadata"]["name"] == cm["metadata"]["name"]]
        assert got_helm == [cm] and got_kust == [cm], kind


def test_braces_in_a_model_name_inside_dashboards_come_out_literally(tmp_path: Path) -> None:
    """The schema refuses braces in model names, so this puts them into the rendered dashboards
    directly (served name -> a Go template), in both environments (prod and dev differ, so the
    dashboards travel through values files too), and emits, helm-templates and kustomizes them."""
    hostile = "llama-{{ .Values.secret }}-{{- end }}-{% raw %}"
    compiled = compile_all(Request(REPO / "profiles" / "tier2.yaml", "profiles/tier2.yaml"))
    for c in compiled:
        for o in c.objects:
            if is_dashboard(o):
                o["data"] = {k: v.replace("llama-3.3-70b", hostile) for k, v in o["data"].items()}
    ours = {env: {o["metadata"]["name"]: o for o in objs if is_dashboard(o)} for env, objs in deployed_objects(compiled)[1].items()}
    assert all(hostile in next(iter(cm["data"].values())) for cms in ours.values() for cm in cms.values())
    out = tmp_path / "out"
    write_outputs(out, profile_files(compiled, render_delivery(compiled)), scope="llama-70b")
    chart = out / "llama-70b" / "chart"
    for env, cms in ours.items():
        via_helm = helm_template(chart, "llama-70b", chart / f"values-{env}.yaml")
        via_kustomize = kustomize(out / "llama-70b" / "kustomize" / "overlays" / env)
        for name, cm in cms.items():
            assert [o for o in via_helm.values() if o["metadata"]["name"] == name and o["kind"] == "ConfigMap"] == [cm], (env, name)
            assert [o for o in via_kustomize.values() if o["metadata"]["name"] == name and o["kind"] == "ConfigMap"] == [cm], (env, name)


def test_sglang_dashboards_count_leaders_as_replicas() -> None:
    """SGLang's LWS workers export scheduler gauges too; replicas are counted on leader pods only."""
    import json as _json

    from tests.shipped import compile_tier

    cm = next(o for o in compile_tier("tier3-sglang").objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("dashboard-scaling"))
    exprs = [t["expr"] for text in cm["data"].values() for p in _json.loads(text)["panels"] for t in p["targets"]]
    serving = [e for e in exprs if e.startswith("count(count by (pod)")]
    assert serving and all('pod=~"deepseek-v3-' in e and '-[0-9]+"' in e for e in serving)
    assert not any("vllm:" in e for e in exprs)
