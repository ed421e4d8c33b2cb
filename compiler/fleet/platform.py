"""One platform per destination cluster: the pinned components its profiles need, rendered as
Argo CD Applications or Flux objects (see ARCHITECTURE.md, "The out/ layout").

``out/_platform/<cluster>/``
    ``argocd/``      (engine argocd) one Application per component, destination = the cluster,
                     sync waves before every workload (-40 CRDs, -30 controllers, -20 the ones that
                     need other components' CRDs); applied to the Argo CD control plane like the
                     profiles' ApplicationSets.
    ``manifests/``   plain objects the platform applies itself (the Auto Mode VPC CNI ConfigMap);
                     synced by the Application ``<cluster>-manifests`` / the Flux Kustomization.
    ``flux/``        (engine flux) what the cluster applies once: GitRepository + Kustomization
                     ``mcompile-platform`` of ``components/`` (``wait: true``); every profile's
                     workload Kustomization ``dependsOn`` it.
    ``components/``  (engine flux) HelmRepository + HelmRelease per chart (``dependsOn`` in install
                     order), GitRepository + Kustomization per upstream CRD directory.
"""

from __future__ import annotations

import copy
from typing import Any

from ..render.gitops import ARGO_API, FLUX_KUSTOMIZE_API, FLUX_SOURCE_API, PLATFORM_KUSTOMIZATION, RETRY, flux_ref, flux_url
from ..render.meta import (
    CLUSTER_LABEL,
    COMPONENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PART_OF_LABEL,
    SYNC_WAVE,
)
from ..render.metrics import KSM_NODE_LABEL_ALLOWLIST
from ..render.nodepools import BURST_TAINT, GPU_TAINT
from . import autoscaler, sharing
from .charts import (
    ACK_EKS,
    AWS_EFS_CSI_DRIVER,
    CLUSTER_AUTOSCALER,
    EFA_DEVICE_PLUGIN,
    EFS_CSI_CONTROLLER_SERVICE_ACCOUNT,
    GATEWAY_API,
    GPU_OPERATOR,
    INFERENCE_EXTENSION,
    ISTIO_BASE,
    ISTIOD,
    KEDA,
    KUBE_PROMETHEUS_STACK,
    LWS,
    NVIDIA_DRA_DRIVER,
    GitCrds,
    HelmChart,
)
from .clusters import Cluster
from .stage import PLATFORM_SCOPE

FLUX_HELM_API = "helm.toolkit.fluxcd.io/v2"

PLATFORM_DIR = PLATFORM_SCOPE  # (the manifest scope is the directory)
PART_OF = PLATFORM_KUSTOMIZATION  # every platform object is part of the cluster's mcompile-platform
MANIFESTS = "manifests"

Component = HelmChart | GitCrds


def components(cluster: Cluster) -> list[tuple[Component, dict[str, Any]]]:
    """(component, Helm values) for the cluster, in install order."""
    out: list[tuple[Component, dict[str, Any]]] = []
    if cluster.any("gateway"):
        out += [(GATEWAY_API, {}), (INFERENCE_EXTENSION, {}), (ISTIO_BASE, {}), (ISTIOD, istiod_values())]
    if cluster.any("prometheus") and cluster.first.prometheus.install:
        out.append((KUBE_PROMETHEUS_STACK, prometheus_values(cluster.dashboard_label())))
    if cluster.any("keda"):
        out.append((KEDA, {}))
    if cluster.any("lws"):
        out.append((LWS, {}))
    if cluster.any("efa"):
        out.append((EFA_DEVICE_PLUGIN, efa_values()))
    if cluster.any("efs_csi"):
        out.append((AWS_EFS_CSI_DRIVER, efs_csi_values()))
    if cluster.any("ack_eks") and cluster.region:
        out.append((ACK_EKS, {"aws": {"region": cluster.region}}))
    gpu = cluster.gpu_operator_values()
    if gpu is not None:
        values = autoscaler.dcgm_on_dra(gpu_operator_values(gpu), cluster.any("dra_driver"))
        out.append((GPU_OPERATOR, sharing.operator_values(values, cluster.gpu_sharing())))  # + MIG / time-slicing
    if cluster.any("dra_driver"):
        out.append((NVIDIA_DRA_DRIVER, autoscaler.dra_driver_values()))
    if cluster.any("autoscaler") and cluster.region:
        out.append((CLUSTER_AUTOSCALER, autoscaler.autoscaler_values(cluster)))
    return sorted(out, key=lambda cv: (cv[0].order, cv[0].key))


def gpu_operator_values(profile_values: dict[str, Any]) -> dict[str, Any]:
    """The profiles' operator values, plus what the cluster install needs: node-feature-discovery
    labels the GPU nodes the operands select (``pci-10de.present``), so its worker must run on every
    GPU node, burst (spot) nodes included. The chart's default tolerates ``nvidia.com/gpu`` only;
    the list replaces it, so the control-plane toleration is kept."""
    out = copy.deepcopy(profile_values)
    tolerations = [{"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": "", "effect": "NoSchedule"}]
    tolerations += [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in (GPU_TAINT, BURST_TAINT)]
    out["node-feature-discovery"] = {"worker": {"tolerations": tolerations}}
    return out


def istiod_values() -> dict[str, Any]:
    """istiod serves Gateway API Gateways of class ``istio``; the env switch turns on its
    Inference Extension support (InferencePool backends, endpoint-picker ext_proc)."""
    return {"pilot": {"env": {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true"}}}


def prometheus_values(dashboard_label: tuple[str, str]) -> dict[str, Any]:
    """What the workloads rely on, stated instead of inherited: monitors and rules selected by
    ``release: kube-prometheus-stack`` (the release name); dashboards from ConfigMaps in any
    namespace with the label the profiles' dashboards carry (:meth:`Cluster.dashboard_label`);
    kube-state-metrics exporting the node labels the cost dashboard reads from ``kube_node_labels``
    (its ``--metric-labels-allowlist``, :data:`compiler.render.metrics.KSM_NODE_LABEL_ALLOWLIST`)."""
    label, value = dashboard_label
    return {
        "prometheus": {"prometheusSpec": {"serviceMonitorSelectorNilUsesHelmValues": True, "podMonitorSelectorNilUsesHelmValues": True,
                                          "ruleSelectorNilUsesHelmValues": True}},
        "grafana": {"sidecar": {"dashboards": {"enabled": True, "label": label, "labelValue": value, "searchNamespace": "ALL"}}},
        "kube-state-metrics": {"metricLabelsAllowlist": [KSM_NODE_LABEL_ALLOWLIST]},
    }


def efs_csi_values() -> dict[str, Any]:
    """The controller's service account under its fixed name, without an IRSA role annotation: its
    AWS permissions come from the EKS Pod Identity association for that name (created with the
    cluster, see :data:`.charts.AWS_EFS_CSI_DRIVER`). The node DaemonSet tolerates every taint by
    the chart's default, so it reaches the tainted GPU nodes that mount the cache."""
    return {"controller": {"serviceAccount": {"create": True, "name": EFS_CSI_CONTROLLER_SERVICE_ACCOUNT, "annotations": {}}}}


def efa_values() -> dict[str, Any]:
    """The plugin must run on the tainted GPU nodes (baseline and burst) to advertise EFA there."""
    return {"tolerations": [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in (GPU_TAINT, BURST_TAINT)]}


def vpc_cni_config() -> dict[str, Any]:
    """Auto Mode enforces NetworkPolicies only with this ConfigMap (AWS docs "auto-net-pol")."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system",
                                                                   "labels": {MANAGED_BY_LABEL: MANAGED_BY, PART_OF_LABEL: PART_OF}},
            "data": {"enable-network-policy-controller": "true"}}


def manifests(cluster: Cluster) -> list[dict[str, Any]]:
    return [vpc_cni_config()] if cluster.any("auto_mode_network_policy") else []


def inventory(cluster: Cluster) -> dict[str, Any]:
    """What the platform installs on the cluster and for whom, readable in the cluster itself
    (``kubectl -n flux-system get cm mcompile-platform -o yaml``)."""
    installed = {c.key: (c.version if isinstance(c, HelmChart) else c.revision) for c, _ in components(cluster)}
    profiles = sorted({f"{x.profile}/{x.env}" for x in cluster.landings})
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": PART_OF, "namespace": cluster.first.gitops.controller_namespace, "labels": _labels(cluster, "inventory")},
            "data": {"components": "".join(f"{k}: {v}\n" for k, v in sorted(installed.items())), "profiles": "".join(f"{p}\n" for p in profiles)}}


def wave(order: int) -> str:
    return str(-40 + 10 * order)


def repo_path(cluster: Cluster, sub: str) -> str:
    root = cluster.first.gitops.path.strip("/")
    rel = f"{PLATFORM_DIR}/{cluster.name}/{sub}"
    return rel if root in ("", ".") else f"{root}/{rel}"


def _labels(cluster: Cluster, component: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, PART_OF_LABEL: PART_OF, COMPONENT_LABEL: component, CLUSTER_LABEL: cluster.name}


# --------------------------------------------------------------------------- Argo CD


def application(cluster: Cluster, name: str, order: int, source: dict[str, Any], namespace: str, privileged: bool = False,
                create_namespace: bool = True) -> dict[str, Any]:
    g = cluster.first.gitops
    options = (["CreateNamespace=true"] if create_namespace else []) + ["ServerSideApply=true"]
    policy: dict[str, Any] = {"automated": {"prune": True, "selfHeal": True}, "syncOptions": options, "retry": copy.deepcopy(RETRY)}
    if privileged:
        policy["managedNamespaceMetadata"] = {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}
    return {
        "apiVersion": ARGO_API, "kind": "Application",
        "metadata": {"name": f"{cluster.name}-{name}", "namespace": g.controller_namespace, "labels": _labels(cluster, name),
                     "annotations": {SYNC_WAVE: wave(order)}},
        "spec": {"project": g.project, "source": source, "destination": {"server": cluster.server, "namespace": namespace}, "syncPolicy": policy},
    }


def argo_source(component: Component, values: dict[str, Any]) -> dict[str, Any]:
    if isinstance(component, GitCrds):
        return {"repoURL": component.repo, "targetRevision": component.revision, "path": component.path}
    helm: dict[str, Any] = {"releaseName": component.release}
    if values:
        helm["valuesObject"] = copy.deepcopy(values)
    if component.oci:  # Argo CD >= 3.1 native OCI source: the chart is the artifact, path "."
        return {"repoURL": f"{component.repo}/{component.chart}", "targetRevision": component.version, "path": ".", "helm": helm}
    return {"repoURL": component.repo, "chart": component.chart, "targetRevision": component.version, "helm": helm}


def render_argocd(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    apps = []
    for comp, values in components(cluster):
        ns = comp.namespace if isinstance(comp, HelmChart) else "default"
        apps.append(application(cluster, comp.key, comp.order, argo_source(comp, values), ns,
                                privileged=isinstance(comp, HelmChart) and comp.privileged, create_namespace=isinstance(comp, HelmChart)))
    out = {"argocd": apps}
    if any(comp is CLUSTER_AUTOSCALER for comp, _ in components(cluster)):  # its Pod Identity association, between ACK and it
        source = {"repoURL": cluster.first.gitops.repo_url, "targetRevision": cluster.first.gitops.revision,
                  "path": repo_path(cluster, autoscaler.IDENTITY_DIR)}
        apps.append(application(cluster, autoscaler.IDENTITY_DIR, autoscaler.IDENTITY_ORDER, source, "kube-system", create_namespace=False))
        out[autoscaler.IDENTITY_DIR] = [autoscaler.identity(cluster)]
    if objs := manifests(cluster):
        g = cluster.first.gitops
        source = {"repoURL": g.repo_url, "targetRevision": g.revision, "path": repo_path(cluster, MANIFESTS)}
        apps.append(application(cluster, MANIFESTS, 0, source, "kube-system", create_namespace=False))
        out[MANIFESTS] = objs
    return out


# --------------------------------------------------------------------------- Flux


def _flux_meta(cluster: Cluster, name: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": cluster.first.gitops.controller_namespace, "labels": _labels(cluster, component)}


def helm_repository(cluster: Cluster, comp: HelmChart) -> dict[str, Any]:
    spec: dict[str, Any] = {"interval": "1h", "url": comp.repo}
    if comp.oci:
        spec["type"] = "oci"
    return {"apiVersion": FLUX_SOURCE_API, "kind": "HelmRepository", "metadata": _flux_meta(cluster, comp.source_name, comp.source_name), "spec": spec}


def helm_release(cluster: Cluster, comp: HelmChart, values: dict[str, Any], after: list[str]) -> dict[str, Any]:
    """CRDs created and replaced on upgrade (Helm alone never upgrades ``crds/``)."""
    spec: dict[str, Any] = {
        "interval": "30m",
        "chart": {"spec": {"chart": comp.chart, "version": comp.version, "sourceRef": {"kind": "HelmRepository", "name": comp.source_name}}},
        "releaseName": comp.release,
        "targetNamespace": comp.namespace,
        "timeout": "15m",
        "install": {"createNamespace": True, "crds": "CreateReplace", "remediation": {"retries": 3}},
        "upgrade": {"crds": "CreateReplace", "remediation": {"retries": 3}},
    }
    if after:
        spec["dependsOn"] = [{"name": name} for name in after]
    if values:
        spec["values"] = copy.deepcopy(values)
    return {"apiVersion": FLUX_HELM_API, "kind": "HelmRelease", "metadata": _flux_meta(cluster, comp.key, comp.key), "spec": spec}


def git_crds(cluster: Cluster, comp: GitCrds) -> list[dict[str, Any]]:
    """CRDs are never pruned: deleting one deletes every object of its kind in the cluster."""
    repo = {"apiVersion": FLUX_SOURCE_API, "kind": "GitRepository", "metadata": _flux_meta(cluster, comp.key, comp.key),
            "spec": {"interval": "1h", "url": comp.repo, "ref": {"tag": comp.revision}}}
    ks = {"apiVersion": FLUX_KUSTOMIZE_API, "kind": "Kustomization", "metadata": _flux_meta(cluster, comp.key, comp.key),
          "spec": {"interval": "1h", "path": f"./{comp.path}", "prune": False, "wait": True, "timeout": "5m",
                   "sourceRef": {"kind": "GitRepository", "name": comp.key}}}
    return [repo, ks]


def render_flux(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    g = cluster.first.gitops
    objs: list[dict[str, Any]] = []
    releases: list[HelmChart] = []
    later: list[dict[str, Any]] = []  # the Cluster Autoscaler, after its Pod Identity association (compiler/fleet/autoscaler.py)
    for comp, values in components(cluster):
        if isinstance(comp, GitCrds):
            objs += git_crds(cluster, comp)
            continue
        if comp is CLUSTER_AUTOSCALER:
            later = [helm_repository(cluster, comp), helm_release(cluster, comp, values, [])]
            continue
        after = [r.key for r in releases if r.order < comp.order]
        if all(r.source_name != comp.source_name for r in releases):
            objs.append(helm_repository(cluster, comp))
        objs.append(helm_release(cluster, comp, values, after))
        releases.append(comp)
    objs += manifests(cluster)
    objs.append(inventory(cluster))  # never an empty directory for mcompile-platform to point at
    url = flux_url(g.repo_url)
    repo_spec: dict[str, Any] = {"interval": "1m", "url": url, "ref": flux_ref(g.revision)}
    if url.startswith("ssh://"):
        repo_spec["secretRef"] = {"name": f"{PLATFORM_KUSTOMIZATION}-git"}  # SSH deploy key: flux create secret git
    entry = [
        {"apiVersion": FLUX_SOURCE_API, "kind": "GitRepository", "metadata": _flux_meta(cluster, PLATFORM_KUSTOMIZATION, "platform"), "spec": repo_spec},
        {"apiVersion": FLUX_KUSTOMIZE_API, "kind": "Kustomization", "metadata": _flux_meta(cluster, PLATFORM_KUSTOMIZATION, "platform"),
         "spec": {"interval": "10m", "retryInterval": "2m", "path": f"./{repo_path(cluster, 'components')}", "prune": True, "wait": True,
                  "timeout": "30m", "sourceRef": {"kind": "GitRepository", "name": PLATFORM_KUSTOMIZATION}}},
    ]
    out = {"flux": entry, "components": objs}
    if later:
        out[autoscaler.IDENTITY_DIR] = [autoscaler.identity(cluster)]
        out[autoscaler.AUTOSCALER_DIR] = later
        entry += [_stage_kustomization(cluster, autoscaler.IDENTITY_KUSTOMIZATION, autoscaler.IDENTITY_DIR, PLATFORM_KUSTOMIZATION),
                  _stage_kustomization(cluster, autoscaler.AUTOSCALER_KUSTOMIZATION, autoscaler.AUTOSCALER_DIR, autoscaler.IDENTITY_KUSTOMIZATION)]
    return out


def _stage_kustomization(cluster: Cluster, name: str, directory: str, after: str) -> dict[str, Any]:
    """A platform Kustomization applied after another one (``dependsOn``, ``wait``)."""
    return {"apiVersion": FLUX_KUSTOMIZE_API, "kind": "Kustomization", "metadata": _flux_meta(cluster, name, "platform"),
            "spec": {"interval": "10m", "retryInterval": "2m", "path": f"./{repo_path(cluster, directory)}", "prune": True, "wait": True,
                     "timeout": "15m", "dependsOn": [{"name": after}], "sourceRef": {"kind": "GitRepository", "name": PLATFORM_KUSTOMIZATION}}}


def render_platform(cluster: Cluster) -> dict[str, list[dict[str, Any]]]:
    """``{directory under out/_platform/<cluster>/: objects}``."""
    return render_flux(cluster) if cluster.engine == "flux" else render_argocd(cluster)
