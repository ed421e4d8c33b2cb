"""The platform charts, rendered by the real ``helm template`` of the upstream charts in
../shared/upstream/charts with the values the fleet stage generates, then verified: the GPU
Operator's ClusterPolicy against its real CRD, the EFA device plugin's DaemonSet with the strict
Kubernetes schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.fleet import charts
from compiler.fleet.clusters import clusters_of
from compiler.fleet.platform import components, efa_values
from compiler.toolchain import run_tool

from .fleetkit import REPO, landings, outcomes

UPSTREAM = REPO.parent / "shared" / "upstream" / "charts"


def helm_template(chart: str, release: str, namespace: str, values: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    path = UPSTREAM / chart
    if not path.is_dir():
        pytest.fail(f"{path} missing: the upstream charts are test data in ../shared")
    vfile = tmp / f"{chart}-values.yaml"
    vfile.write_text(yaml.safe_dump(values))
    p = run_tool("helm", ["template", release, str(path), "-n", namespace, "-f", str(vfile)])
    assert p.returncode == 0, p.stderr
    return [d for d in yaml.safe_load_all(p.stdout) if d]


@pytest.fixture(scope="module")
def clusters(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    paths = [REPO / "profiles" / f"tier{i}.yaml" for i in (1, 2, 3)]
    found, errors = clusters_of(landings(outcomes(paths, tmp / "out")))
    assert errors == []
    return found


def values_of(cluster, key: str) -> dict[str, Any]:
    (v,) = [v for c, v in components(cluster) if c.key == key]
    return v


@pytest.mark.parametrize("cluster", ["prod-use1", "prod-use1-hpc"])
def test_gpu_operator_chart_renders_our_values_into_a_valid_cluster_policy(clusters, cluster: str, registry, tmp_path: Path) -> None:
    docs = helm_template("gpu-operator", charts.GPU_OPERATOR.release, charts.GPU_OPERATOR.namespace, values_of(clusters[cluster], "gpu-operator"), tmp_path)
    (policy,) = [d for d in docs if d["kind"] == "ClusterPolicy"]
    assert registry.validate(policy) == []
    spec = policy["spec"]
    assert spec["driver"]["enabled"] is False and spec["toolkit"]["enabled"] is False  # Bottlerocket ships both
    assert spec["devicePlugin"]["enabled"] is False  # ... and the device plugin
    assert spec["dcgmExporter"]["enabled"] is True
    monitor = spec["dcgmExporter"]["serviceMonitor"]
    assert monitor["enabled"] is True
    assert monitor["additionalLabels"] == {"release": "kube-prometheus-stack"}  # what the platform's Prometheus selects
    tolerated = {t["key"] for t in spec["daemonsets"]["tolerations"]}
    assert {"nvidia.com/gpu", "mcompile.io/burst"} <= tolerated
    # node-feature-discovery labels the GPU nodes the operands select: its worker must reach burst nodes too.
    (nfd,) = [d for d in docs if d["kind"] == "DaemonSet" and d["metadata"]["name"].endswith("node-feature-discovery-worker")]
    assert {(t["key"], t.get("effect")) for t in nfd["spec"]["template"]["spec"]["tolerations"]} >= {
        ("nvidia.com/gpu", "NoSchedule"), ("mcompile.io/burst", "NoSchedule"), ("node-role.kubernetes.io/control-plane", "NoSchedule")}


def test_efa_device_plugin_chart_runs_on_our_tainted_gpu_nodes(clusters, kube, tmp_path: Path) -> None:
    cluster = clusters["prod-use1-hpc"]
    assert values_of(cluster, "aws-efa-k8s-device-plugin") == efa_values()
    docs = helm_template("aws-efa-k8s-device-plugin", charts.EFA_DEVICE_PLUGIN.release, charts.EFA_DEVICE_PLUGIN.namespace, efa_values(), tmp_path)
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    assert kube.validate(ds) == []
    pod = ds["spec"]["template"]["spec"]
    assert {(t["key"], t.get("effect")) for t in pod["tolerations"]} >= {("nvidia.com/gpu", "NoSchedule"), ("mcompile.io/burst", "NoSchedule")}
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    types = {v for t in terms for e in t["matchExpressions"] for v in e.get("values", [])}
    assert "p5en.48xlarge" in types  # the tier3 instance type is one the plugin schedules on


def test_pinned_versions_match_the_upstream_copies() -> None:
    for chart, pinned in (("gpu-operator", None), ("aws-efa-k8s-device-plugin", charts.EFA_DEVICE_PLUGIN.version)):
        meta = yaml.safe_load((UPSTREAM / chart / "Chart.yaml").read_text())
        if pinned:
            assert meta["version"] == pinned
    sources = (REPO.parent / "shared" / "upstream" / "SOURCES.md").read_text()
    assert f"tag `{charts.GPU_OPERATOR.version}`" in sources  # the chart copy says v1.0.0-devel; the tag is the pin
    assert f"tag `{charts.GATEWAY_API.revision}`" in sources
    crd_sources = (REPO.parent / "shared" / "crds" / "SOURCES.md").read_text()
    for tag in (f"v{charts.KEDA.version}", f"v{charts.LWS.version}", charts.INFERENCE_EXTENSION.revision):
        assert f"`{tag}`" in crd_sources, tag
