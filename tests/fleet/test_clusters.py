"""Clusters of an invocation: landings grouped by destination, and what profiles sharing one
cluster must agree on (each failure a located error naming both profiles)."""

from __future__ import annotations

from pathlib import Path

from compiler.fleet.clusters import clusters_of

from .fleetkit import REPO, copy_profile, landings, outcomes

SHIPPED = [REPO / "profiles" / f"tier{i}.yaml" for i in (1, 2, 3)]


def test_shipped_profiles_make_five_clusters(tmp_path: Path) -> None:
    clusters, errors = clusters_of(landings(outcomes(SHIPPED, tmp_path / "out")))
    assert errors == []
    assert {n: sorted({(x.profile, x.env) for x in c.landings}) for n, c in clusters.items()} == {
        "dev-use1": [("llama-70b", "dev")],
        "prod-use1": [("llama-70b", "prod"), ("qwen3-32b", "prod")],
        "prod-use1-hpc": [("glm-5", "prod")],
        "prod-usw2": [("llama-70b", "prod")],
        "staging-use1": [("qwen3-32b", "staging")],
    }
    assert clusters["prod-use1-hpc"].engine == "flux" and clusters["prod-use1"].engine == "argocd"


def test_incompatible_gpu_operator_values_on_one_cluster_name_both_profiles(tmp_path: Path) -> None:
    al2023 = copy_profile(tmp_path, "tier2", "llama-al2023", "inference-al2023",
                          (("  nodeRole: KarpenterNodeRole-acme-prod\n", "  nodeRole: KarpenterNodeRole-acme-prod\n  amiAlias: al2023@v20260101\n"),))
    _, errors = clusters_of(landings(outcomes([REPO / "profiles" / "tier2.yaml", al2023], tmp_path / "out")))
    msgs = [str(d) for d in errors]
    assert len(msgs) == 3, msgs  # dev-use1, prod-use1, prod-usw2
    for m in msgs:
        assert "llama-al2023 (" in m and "llama-70b (tier2.yaml" in m, m
        assert "need different NVIDIA GPU Operator values (devicePlugin.enabled: true vs false)" in m, m
    assert all(d.source.file == al2023.name and d.path == "$.capacity.amiAlias" for d in errors)  # located where it differs


def test_one_engine_per_cluster(tmp_path: Path) -> None:
    flux = copy_profile(tmp_path, "tier2", "llama-flux", "inference-flux", (("  engine: argocd\n", "  engine: flux\n"),))
    _, errors = clusters_of(landings(outcomes([REPO / "profiles" / "tier2.yaml", flux], tmp_path / "out")))
    assert errors and all("one GitOps engine per cluster" in str(d) and "llama-flux" in str(d) for d in errors)


def test_a_server_is_one_cluster_name(tmp_path: Path) -> None:
    other = copy_profile(tmp_path, "tier2", "llama-b", "inference-b", (("{name: dev-use1, server:", "{name: dev-east, server:"),))
    _, errors = clusters_of(landings(outcomes([REPO / "profiles" / "tier2.yaml", other], tmp_path / "out")))
    (e,) = errors
    assert "server https://dev.eks.acme.internal is cluster" in str(e) and "'dev-east'" in str(e) and "'dev-use1'" in str(e)
    assert "one server, one cluster name" in str(e) and e.path == "$.gitops.destinations"


def test_one_prometheus_per_cluster(tmp_path: Path) -> None:
    byo = copy_profile(tmp_path, "tier2", "llama-byo", "inference-byo")
    sets = ("platform.prometheus.install=false", "platform.prometheus.serverAddress=http://prom.obs.svc:9090",
            "platform.prometheus.namespace=obs", "platform.prometheus.selectorLabels.prometheus=main")
    outs = outcomes([REPO / "profiles" / "tier2.yaml"], tmp_path / "out") + outcomes([byo], tmp_path / "out", sets=sets)
    _, errors = clusters_of(landings(outs))
    prom = [d for d in errors if "declare different Prometheus" in str(d)]
    assert len(prom) == 3  # dev-use1, prod-use1, prod-usw2
    # The operator's DCGM ServiceMonitor carries each Prometheus's selector labels: those differ too.
    assert len(errors) == 6


def test_dashboards_on_one_cluster_must_share_the_grafana_sidecar_label(tmp_path: Path) -> None:
    team = copy_profile(tmp_path, "tier2", "llama-team", "inference-team",
                        (("environments:\n", "monitoring:\n  dashboards:\n    labels: {grafana_dashboard: ml-team}\nenvironments:\n"),))
    _, errors = clusters_of(landings(outcomes([REPO / "profiles" / "tier2.yaml", team], tmp_path / "out")))
    assert len(errors) == 3, errors  # dev-use1, prod-use1, prod-usw2
    for d in errors:
        assert d.path == "$.monitoring.dashboards.labels" and d.source.file == team.name, d
        assert "share no label" in str(d) and "llama-team (" in str(d) and "llama-70b (" in str(d), d
