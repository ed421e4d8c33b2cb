"""One platform per cluster: the components its profiles need, as Argo CD Applications or Flux
objects, every one valid against the real CRDs, ordered before the workloads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from compiler.fleet.charts import PROMETHEUS_STACK_ADDRESS
from compiler.fleet.clusters import clusters_of
from compiler.fleet.platform import components, render_platform
from compiler.render.metrics import KSM_NODE_LABEL_ALLOWLIST, ksm_label
from tests.shipped import compile_tier

from .fleetkit import REPO, clusters_from, copy_profile, keys, landings, outcomes

SHIPPED = [REPO / "profiles" / f"tier{i}.yaml" for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def clusters(tmp_path_factory):
    return clusters_from(SHIPPED, tmp_path_factory.mktemp("p") / "out")


def test_each_cluster_gets_what_its_profiles_need(clusters) -> None:
    shared = ["gateway-api-crds", "inference-extension-crds", "ack-eks-controller", "istio-base", "keda", "kube-prometheus-stack"]
    assert keys(clusters["staging-use1"]) == [*shared, "gpu-operator", "istiod"]  # tier1 alone: DCGM operator, request path
    assert keys(clusters["prod-use1"]) == [*shared, "gpu-operator", "istiod"]
    assert keys(clusters["prod-use1-hpc"]) == [*shared[:3], "aws-efa-k8s-device-plugin", "aws-efs-csi-driver", *shared[3:], "lws", "gpu-operator",
                                               "istiod"]
    assert "aws-efa-k8s-device-plugin" not in keys(clusters["prod-use1"])  # no EFA pool there


def test_every_platform_object_is_valid_against_the_real_crds(clusters, registry, kube) -> None:
    for cluster in clusters.values():
        for objs in render_platform(cluster).values():
            for obj in objs:
                problems = kube.validate(obj) if kube.is_builtin(obj) else registry.validate(obj)
                assert problems == [], (cluster.name, obj["metadata"]["name"], problems)


def test_argo_applications_target_the_cluster_and_sync_before_workloads(clusters) -> None:
    dirs = render_platform(clusters["prod-use1"])
    apps = {a["metadata"]["name"]: a for a in dirs["argocd"]}
    assert all(a["spec"]["destination"]["server"] == "https://prod-use1.eks.acme.internal" for a in apps.values())
    waves = {n: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for n, a in apps.items()}
    assert all(w < 0 for w in waves.values())  # the workload ApplicationSet is wave 0
    assert waves["prod-use1-gateway-api-crds"] < waves["prod-use1-istio-base"] < waves["prod-use1-istiod"]
    assert waves["prod-use1-kube-prometheus-stack"] < waves["prod-use1-gpu-operator"]  # its ServiceMonitor CRD first
    op = apps["prod-use1-gpu-operator"]["spec"]
    assert op["source"] == {"repoURL": "https://helm.ngc.nvidia.com/nvidia", "chart": "gpu-operator", "targetRevision": "v26.7.0",
                            "helm": {"releaseName": "gpu-operator", "valuesObject": op["source"]["helm"]["valuesObject"]}}
    assert op["syncPolicy"]["managedNamespaceMetadata"] == {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}
    istiod = apps["prod-use1-istiod"]["spec"]["source"]["helm"]["valuesObject"]
    assert istiod == {"pilot": {"env": {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true"}}}
    # tier1 on Auto Mode with NetworkPolicies: the VPC CNI policy controller is switched on once.
    (cm,) = dirs["manifests"]
    assert (cm["metadata"]["namespace"], cm["metadata"]["name"], cm["data"]) == ("kube-system", "amazon-vpc-cni", {"enable-network-policy-controller": "true"})
    assert apps["prod-use1-manifests"]["spec"]["source"]["path"] == "out/_platform/prod-use1/manifests"


def test_flux_platform_orders_releases_and_workloads_depend_on_it(clusters) -> None:
    dirs = render_platform(clusters["prod-use1-hpc"])
    entry = {(o["kind"], o["metadata"]["name"]): o for o in dirs["flux"]}
    ks = entry[("Kustomization", "mcompile-platform")]["spec"]
    assert ks["path"] == "./out/_platform/prod-use1-hpc/components" and ks["wait"] is True
    comps = {(o["kind"], o["metadata"]["name"]): o for o in dirs["components"]}
    assert comps[("HelmRelease", "istiod")]["spec"]["dependsOn"] and {"name": "istio-base"} in comps[("HelmRelease", "istiod")]["spec"]["dependsOn"]
    assert {"name": "kube-prometheus-stack"} in comps[("HelmRelease", "gpu-operator")]["spec"]["dependsOn"]
    assert comps[("HelmRepository", "lws")]["spec"] == {"interval": "1h", "url": "oci://registry.k8s.io/lws/charts", "type": "oci"}
    assert [k for k in comps if k[0] == "HelmRepository"].count(("HelmRepository", "istio")) == 1  # one per repository
    assert comps[("Kustomization", "gateway-api-crds")]["spec"]["prune"] is False  # deleting a CRD deletes its objects


def test_bring_your_own_prometheus_installs_none_and_workloads_use_it(tmp_path: Path) -> None:
    sets = ("platform.prometheus.install=false", "platform.prometheus.serverAddress=http://prom.obs.svc:9090",
            "platform.prometheus.namespace=obs", "platform.prometheus.selectorLabels.prometheus=main")
    outs = outcomes([REPO / "profiles" / "tier2.yaml"], tmp_path / "out", sets=sets)
    clusters, errors = clusters_of(landings(outs))
    assert errors == [] and all("kube-prometheus-stack" not in keys(c) for c in clusters.values())
    files = {f.path: f.content.decode() for f in outs[0].files}
    scaled = [t for p, t in files.items() if "/kustomize/base/scaledobject-" in p]
    assert scaled and all("serverAddress: http://prom.obs.svc:9090" in t for t in scaled)
    monitors = [t for p, t in files.items() if "/kustomize/base/podmonitor-" in p or "/kustomize/base/prometheusrule-" in p]
    assert monitors and all("prometheus: main" in t and "release: kube-prometheus-stack" not in t for t in monitors)
    assert PROMETHEUS_STACK_ADDRESS not in "".join(files.values())


def test_installed_prometheus_is_what_every_workload_points_at(tmp_path: Path) -> None:
    outs = outcomes(SHIPPED, tmp_path / "out")
    files = {f.path: f.content.decode() for o in outs for f in o.files}
    addresses = {line.split("serverAddress: ", 1)[1] for t in files.values() for line in t.splitlines() if "serverAddress: " in line}
    assert addresses == {PROMETHEUS_STACK_ADDRESS} == {"http://prometheus-operated.monitoring.svc:9090"}
    monitors = [t for p, t in files.items() if "/kustomize/base/" in p and ("podmonitor-" in p or "prometheusrule-" in p)]
    assert len(monitors) >= 3 and all("release: kube-prometheus-stack" in t for t in monitors)


def test_cluster_without_needs_still_is_one_platform(tmp_path: Path) -> None:
    """A tier2 copy with every optional need switched off still gets the GPU Operator (DCGM)."""
    p = copy_profile(tmp_path, "tier2", "plain", "inference-plain")
    outs = outcomes([p], tmp_path / "out", sets=("autoscaling.enabled=false", "monitoring.enabled=false"))
    clusters, errors = clusters_of(landings(outs))
    assert errors == []
    assert "keda" not in keys(clusters["dev-use1"])


def _with_pod_identity(region: str | None):
    """tier2 prod as the identity family (issue 11) will render it: plus a PodIdentityAssociation."""
    import dataclasses

    from compiler.fleet.landing import landings_of
    from tests.shipped import compile_tier

    c = compile_tier("tier2")
    pia = {"apiVersion": "eks.services.k8s.aws/v1alpha1", "kind": "PodIdentityAssociation",
           "metadata": {"name": "llama-70b-vllm", "namespace": "inference-llama"}, "spec": {}}
    c = dataclasses.replace(c, objects=(*c.objects, pia))
    dests = tuple(dataclasses.replace(d, region=region) for d in c.profile.gitops.destinations)
    c = dataclasses.replace(c, profile=dataclasses.replace(c.profile, gitops=dataclasses.replace(c.profile.gitops, destinations=dests)))
    return landings_of(c)


def test_pod_identity_objects_bring_the_ack_eks_controller_for_the_cluster_region(registry) -> None:
    clusters, errors = clusters_of(_with_pod_identity("us-east-1"))
    assert errors == []
    comps = {c.key: v for c, v in components(clusters["prod-use1"])}
    assert comps["ack-eks-controller"] == {"aws": {"region": "us-east-1"}}
    app = next(a for a in render_platform(clusters["prod-use1"])["argocd"] if a["metadata"]["name"] == "prod-use1-ack-eks-controller")
    assert app["spec"]["source"]["repoURL"] == "oci://public.ecr.aws/aws-controllers-k8s/eks-chart" and app["spec"]["source"]["path"] == "."
    assert registry.validate(app) == []


def test_pod_identity_objects_without_a_region_are_a_located_error() -> None:
    clusters, errors = clusters_of(_with_pod_identity(None))
    assert [e.path for e in errors] == ["$.gitops.destinations"] * 2  # prod-use1 and prod-usw2
    assert all("required: set region on the destination" in e.message and e.source.file == "profiles/tier2.yaml" for e in errors)
    assert all("ack-eks-controller" not in [c.key for c, _ in components(cl)] for cl in clusters.values())


def values(cluster, key: str) -> dict:
    (v,) = [v for c, v in components(cluster) if c.key == key]
    return v


def test_kube_state_metrics_exports_every_node_label_the_cost_dashboard_reads(clusters) -> None:
    """The cost dashboard's kube_node_labels matchers use label_<key> series; kube-state-metrics
    emits one only for a key on its --metric-labels-allowlist (the chart value, a list)."""
    boards = [json.dumps(o["data"]) for t in ("tier1", "tier2", "tier3") for o in compile_tier(t).objects
              if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard-cost")]
    used = {m for b in boards for m in re.findall(r"\blabel_[a-z0-9_]+", b)} - {"label_replace"}
    assert len(boards) == 3 and used
    for cluster in clusters.values():
        ksm = values(cluster, "kube-prometheus-stack")["kube-state-metrics"]
        assert ksm == {"metricLabelsAllowlist": [KSM_NODE_LABEL_ALLOWLIST]}
        ((resource, keys_),) = [re.fullmatch(r"(\w+)=\[(.*)\]", entry).groups() for entry in ksm["metricLabelsAllowlist"]]
        assert resource == "nodes" and used <= {ksm_label(k) for k in keys_.split(",")}, (used, keys_)


def test_efs_csi_driver_only_where_a_profile_renders_an_efs_storage_class(clusters, registry) -> None:
    have = {name for name, c in clusters.items() if "aws-efs-csi-driver" in keys(c)}
    assert have == {"prod-use1-hpc"}  # tier3 (compileCache.fileSystemId) lands there alone
    sa = values(clusters["prod-use1-hpc"], "aws-efs-csi-driver")["controller"]["serviceAccount"]
    assert sa == {"create": True, "name": "efs-csi-controller-sa", "annotations": {}}  # Pod Identity: no IRSA role, no keys
    comps = {(o["kind"], o["metadata"]["name"]): o for o in render_platform(clusters["prod-use1-hpc"])["components"]}
    release = comps[("HelmRelease", "aws-efs-csi-driver")]
    assert release["spec"]["chart"]["spec"]["chart"] == "aws-efs-csi-driver" and release["spec"]["targetNamespace"] == "kube-system"
    assert comps[("HelmRepository", "aws-efs-csi-driver")]["spec"]["url"] == "https://kubernetes-sigs.github.io/aws-efs-csi-driver"
    assert registry.validate(release) == []
    assert "aws-efs-csi-driver: 4.2.0\n" in comps[("ConfigMap", "mcompile-platform")]["data"]["components"]


def test_grafana_sidecar_selects_the_label_the_profiles_dashboards_carry(tmp_path: Path) -> None:
    p = copy_profile(tmp_path, "tier2", "llama-team", "inference-team",
                     (("environments:\n", "monitoring:\n  dashboards:\n    labels: {grafana_dashboard: ml-team}\nenvironments:\n"),))
    outs = outcomes([p], tmp_path / "out")
    boards = [f.content.decode() for f in outs[0].files if re.search(r"/kustomize/base/configmap-.*-dashboard-", f.path)]
    assert len(boards) == 3 and all("\n    grafana_dashboard: ml-team\n" in t for t in boards)
    clusters, errors = clusters_of(landings(outs))
    assert errors == []
    for cluster in clusters.values():
        sidecar = values(cluster, "kube-prometheus-stack")["grafana"]["sidecar"]["dashboards"]
        assert sidecar == {"enabled": True, "label": "grafana_dashboard", "labelValue": "ml-team", "searchNamespace": "ALL"}


def test_grafana_sidecar_keeps_the_chart_label_for_shipped_profiles(clusters) -> None:
    for cluster in clusters.values():
        sidecar = values(cluster, "kube-prometheus-stack")["grafana"]["sidecar"]["dashboards"]
        assert (sidecar["label"], sidecar["labelValue"], sidecar["searchNamespace"]) == ("grafana_dashboard", "1", "ALL")
