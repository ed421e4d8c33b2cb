"""fleet/autoscaler.py: clusters whose profiles render managed node groups get the Cluster Autoscaler
(after its EKS Pod Identity association), those with DRA claims the NVIDIA DRA driver; Argo CD and
Flux forms; settings and GPU Operator values must agree per cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.fleet.clusters import clusters_of
from compiler.fleet.platform import components, render_platform
from compiler.verify.crds import CrdRegistry

from ..conftest import find_crd_dirs
from .fleetkit import REPO, clusters_from, copy_profile, keys, landings, outcomes

SHIPPED = sorted((REPO / "profiles").glob("tier*.yaml"))


@pytest.fixture(scope="module")
def all_crds() -> CrdRegistry:
    return CrdRegistry.load(find_crd_dirs())


@pytest.fixture(scope="module")
def clusters(tmp_path_factory):
    return clusters_from(SHIPPED, tmp_path_factory.mktemp("p") / "out")


def values(cluster, key: str) -> dict:
    (v,) = [v for c, v in components(cluster) if c.key == key]
    return v


def test_only_clusters_with_managed_node_groups_get_the_autoscaler(clusters) -> None:
    for name in ("gpu-dev-use1", "gpu-prod-use1"):
        assert {"cluster-autoscaler", "nvidia-dra-driver-gpu", "ack-eks-controller"} <= set(keys(clusters[name]))
    for name in ("prod-use1", "prod-usw2", "dev-use1", "staging-use1", "prod-use1-hpc"):
        assert not {"cluster-autoscaler", "nvidia-dra-driver-gpu"} & set(keys(clusters[name])), name


def test_autoscaler_values_discover_the_cluster_and_simulate_dra(clusters) -> None:
    v = values(clusters["gpu-prod-use1"], "cluster-autoscaler")
    assert v["cloudProvider"] == "aws" and v["awsRegion"] == "us-east-1"
    assert v["autoDiscovery"] == {"clusterName": "acme-gpu-prod"}  # the chart tags k8s.io/cluster-autoscaler/enabled + /<clusterName>
    assert v["extraArgs"]["enable-dynamic-resource-allocation"] is True
    assert v["rbac"]["serviceAccount"] == {"create": True, "name": "cluster-autoscaler", "annotations": {}}  # no IRSA, no keys
    assert not {"awsAccessKeyID", "awsSecretAccessKey"} & set(v)
    # baseline (weight 100) before the spot burst group (50): managed node group ASGs are eks-<nodegroup>-<id>
    assert v["extraArgs"]["expander"] == "priority,least-waste"
    assert v["expanderPriorities"] == {"100": ["^eks-llama-70b-dra-baseline-.*"], "50": ["^eks-llama-70b-dra-burst-.*"]}
    assert values(clusters["gpu-dev-use1"], "cluster-autoscaler")["autoDiscovery"] == {"clusterName": "acme-gpu-dev"}


def test_dra_driver_values_and_gpu_operator_without_a_second_plugin(clusters) -> None:
    c = clusters["gpu-prod-use1"]
    dra = values(c, "nvidia-dra-driver-gpu")
    assert dra["resources"]["gpus"] == {"enabled": True} and dra["nvidiaDriverRoot"] == "/"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in dra["kubeletPlugin"]["tolerations"]
    # the operator's device plugin runs cluster-wide, but the DRA node groups label it off (render/nodegroups.py)
    assert values(c, "gpu-operator")["devicePlugin"] == {"enabled": True}


def test_argocd_orders_ack_then_association_then_autoscaler(clusters, all_crds) -> None:
    dirs = render_platform(clusters["gpu-prod-use1"])
    apps = {a["metadata"]["name"]: a for a in dirs["argocd"]}
    wave = {n: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for n, a in apps.items()}
    assert wave["gpu-prod-use1-ack-eks-controller"] < wave["gpu-prod-use1-autoscaler-identity"] < wave["gpu-prod-use1-cluster-autoscaler"] < 0
    ca = apps["gpu-prod-use1-cluster-autoscaler"]["spec"]["source"]
    assert (ca["repoURL"], ca["chart"], ca["targetRevision"]) == ("https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.58.0")
    assert apps["gpu-prod-use1-autoscaler-identity"]["spec"]["source"]["path"] == "out/_platform/gpu-prod-use1/autoscaler-identity"
    (pia,) = dirs["autoscaler-identity"]
    assert pia["spec"] == {"clusterName": "acme-gpu-prod", "namespace": "kube-system", "serviceAccount": "cluster-autoscaler",
                           "roleARN": "arn:aws:iam::111122223333:role/acme-gpu-prod-cluster-autoscaler"}
    for obj in [*dirs["argocd"], pia]:
        assert all_crds.validate(obj) == [], obj["metadata"]["name"]


def test_flux_applies_the_association_then_the_autoscaler(tmp_path: Path, all_crds) -> None:
    path = copy_profile(tmp_path, "tier2-dra", "llama-70b-dra", "inference-llama-dra", (("  engine: argocd\n", "  engine: flux\n"),))
    found, errors = clusters_of(landings(outcomes([path], tmp_path / "out")))
    assert errors == []
    dirs = render_platform(found["gpu-prod-use1"])
    entry = {o["metadata"]["name"]: o for o in dirs["flux"] if o["kind"] == "Kustomization"}
    assert entry["mcompile-autoscaler-identity"]["spec"]["dependsOn"] == [{"name": "mcompile-platform"}]
    assert entry["mcompile-autoscaler"]["spec"]["dependsOn"] == [{"name": "mcompile-autoscaler-identity"}]
    assert entry["mcompile-autoscaler"]["spec"]["path"] == "./out/_platform/gpu-prod-use1/autoscaler"
    assert [o["kind"] for o in dirs["autoscaler-identity"]] == ["PodIdentityAssociation"]
    release = next(o for o in dirs["autoscaler"] if o["kind"] == "HelmRelease")
    assert release["spec"]["chart"]["spec"]["version"] == "9.58.0" and release["spec"]["targetNamespace"] == "kube-system"
    assert not any(o["metadata"]["name"] == "cluster-autoscaler" for o in dirs["components"])  # not beside the ACK HelmRelease
    assert any(o["kind"] == "HelmRelease" and o["metadata"]["name"] == "nvidia-dra-driver-gpu" for o in dirs["components"])
    for objs in dirs.values():
        for obj in objs:
            if obj["kind"] != "ConfigMap":
                assert all_crds.validate(obj) == [], obj["metadata"]["name"]


def test_two_profiles_disagreeing_on_the_autoscaler_role_are_a_located_error(tmp_path: Path) -> None:
    a = copy_profile(tmp_path, "tier2-dra", "a", "ns-a")
    b = copy_profile(tmp_path, "tier2-dra", "b", "ns-b", (("role/acme-gpu-prod-cluster-autoscaler", "role/other-autoscaler"),))
    _, errors = clusters_of(landings(outcomes([a, b], tmp_path / "out")))
    (err,) = errors
    assert err.path == "$.capacity.clusterAutoscaler" and "cluster gpu-prod-use1:" in err.message and "other-autoscaler" in err.message
    assert err.source.file.endswith("b.yaml")


def test_dra_and_a_bottlerocket_karpenter_profile_on_one_cluster_disagree_on_the_gpu_operator(tmp_path: Path) -> None:
    # tier2 (Bottlerocket: the host runs the device plugin, operator plugin off) on the DRA profile's cluster
    t2 = copy_profile(tmp_path, "tier2", "llama-k", "ns-k", (("https://prod-use1.eks.acme.internal", "https://gpu-prod-use1.eks.acme.internal"),
                                                           ("name: prod-use1,", "name: gpu-prod-use1,")))
    dra = REPO / "profiles" / "tier2-dra.yaml"
    _, errors = clusters_of(landings(outcomes([t2, dra], tmp_path / "out")))
    assert any("need different NVIDIA GPU Operator values (devicePlugin.enabled" in e.message for e in errors), [e.message for e in errors]


def test_dcgm_exporter_attributes_dra_gpus_only_where_a_profile_claims_them(clusters) -> None:
    assert values(clusters["gpu-prod-use1"], "gpu-operator")["dcgmExporter"]["env"] == [{"name": "KUBERNETES_ENABLE_DRA", "value": "true"}]
    assert "env" not in values(clusters["prod-use1"], "gpu-operator")["dcgmExporter"]


def test_gpu_operator_chart_renders_the_dra_cluster_values(clusters, all_crds, tmp_path: Path) -> None:
    from compiler.fleet import charts

    from .test_charts import helm_template

    docs = helm_template("gpu-operator", charts.GPU_OPERATOR.release, charts.GPU_OPERATOR.namespace,
                         values(clusters["gpu-prod-use1"], "gpu-operator"), tmp_path)
    (policy,) = [d for d in docs if d["kind"] == "ClusterPolicy"]
    assert all_crds.validate(policy) == []
    spec = policy["spec"]
    # AL2023 NVIDIA AMI: driver and toolkit on the host, no host device plugin; the operator's runs, kept off DRA nodes by their label
    assert spec["driver"]["enabled"] is False and spec["toolkit"]["enabled"] is False and spec["devicePlugin"]["enabled"] is True
    assert {"name": "KUBERNETES_ENABLE_DRA", "value": "true"} in spec["dcgmExporter"]["env"]
    assert not [d for d in docs if d["kind"] == "GPUCluster"]  # the standalone DRA driver chart, not the operator's experimental DRA stack
