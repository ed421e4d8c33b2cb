"""The platform components mcompile installs on a destination cluster, pinned.

Each is an upstream Helm chart (Argo CD Application with a Helm source, or Flux HelmRepository +
HelmRelease) or an upstream directory of CRDs (Argo CD Application with a Git source, or Flux
GitRepository + Kustomization). ``order`` is the install order: a component waits for every
component of a lower order (Argo CD sync waves, Flux ``dependsOn``). The workloads come after all
of them (wave 0, Kustomization ``dependsOn: mcompile-platform``).

Versions: the GPU Operator and the EFA device plugin match the charts in
``../shared/upstream/charts`` (tests run ``helm template`` on them with our values); KEDA and
LeaderWorkerSet match the CRDs in ``../shared/crds``; the EFS CSI driver chart 4.2.0 is the newest
release tag the upstream repository showed when it was pinned (not in ``../shared``: its values are
not rendered by a test); Gateway API v1.6.1 and the Inference
Extension v1.6.0 match ``../shared/upstream/crds`` and ``../shared/crds``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HelmChart:
    """A platform component installed from its upstream Helm chart."""

    key: str  # component id (file names, Application names)
    repo: str  # Helm repository URL (``oci://`` for OCI registries)
    chart: str
    version: str
    release: str
    namespace: str
    order: int
    privileged: bool = False  # namespace needs Pod Security ``privileged`` (host DaemonSets)
    repo_name: str = ""  # Flux HelmRepository name (charts from one repository share it); default: key

    @property
    def source_name(self) -> str:
        return self.repo_name or self.key

    @property
    def oci(self) -> bool:
        return self.repo.startswith("oci://")


@dataclass(frozen=True)
class GitCrds:
    """CRDs from an upstream Git repository directory (applied with kustomize)."""

    key: str
    repo: str
    revision: str
    path: str
    order: int


GATEWAY_API = GitCrds("gateway-api-crds", "https://github.com/kubernetes-sigs/gateway-api", "v1.6.1", "config/crd", 0)
INFERENCE_EXTENSION = GitCrds("inference-extension-crds", "https://github.com/kubernetes-sigs/gateway-api-inference-extension", "v1.6.0", "config/crd", 0)

KUBE_PROMETHEUS_STACK = HelmChart("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "80.4.1",
                                  "kube-prometheus-stack", "monitoring", 1, privileged=True)
KEDA = HelmChart("keda", "https://kedacore.github.io/charts", "keda", "2.20.2", "keda", "keda", 1)
LWS = HelmChart("lws", "oci://registry.k8s.io/lws/charts", "lws", "0.10.0", "lws", "lws-system", 1)
EFA_DEVICE_PLUGIN = HelmChart("aws-efa-k8s-device-plugin", "https://aws.github.io/eks-charts", "aws-efa-k8s-device-plugin", "v0.5.30",
                              "aws-efa-k8s-device-plugin", "kube-system", 1)
ISTIO_BASE = HelmChart("istio-base", "https://istio-release.storage.googleapis.com/charts", "base", "1.29.2", "istio-base", "istio-system", 1,
                       repo_name="istio")
ISTIOD = HelmChart("istiod", "https://istio-release.storage.googleapis.com/charts", "istiod", "1.29.2", "istiod", "istio-system", 2,
                   repo_name="istio")
#: ACK EKS controller: turns PodIdentityAssociation objects into EKS Pod Identity associations. Its
#: own AWS permissions (eks:*PodIdentityAssociation, iam:PassRole) come from a Pod Identity
#: association for its service account that must exist before it (created with the cluster).
ACK_EKS = HelmChart("ack-eks-controller", "oci://public.ecr.aws/aws-controllers-k8s", "eks-chart", "1.20.0", "ack-eks-controller", "ack-system", 1)
#: EFS CSI driver (kubernetes-sigs/aws-efs-csi-driver, chart ``aws-efs-csi-driver``): provisions the
#: compile cache's EFS access points (StorageClass provisioner ``efs.csi.aws.com``). Its controller
#: service account ``kube-system/efs-csi-controller-sa`` gets its AWS permissions (the managed policy
#: AmazonEFSCSIDriverPolicy) from an EKS Pod Identity association created with the cluster, like the
#: ACK EKS controller's own: the profiles carry no role ARN for it, and no static keys exist.
AWS_EFS_CSI_DRIVER = HelmChart("aws-efs-csi-driver", "https://kubernetes-sigs.github.io/aws-efs-csi-driver", "aws-efs-csi-driver", "4.2.0",
                               "aws-efs-csi-driver", "kube-system", 1)
EFS_CSI_CONTROLLER_SERVICE_ACCOUNT = "efs-csi-controller-sa"
GPU_OPERATOR = HelmChart("gpu-operator", "https://helm.ngc.nvidia.com/nvidia", "gpu-operator", "v26.7.0", "gpu-operator", "gpu-operator", 2, privileged=True)
#: Cluster Autoscaler (kubernetes/autoscaler, chart ``cluster-autoscaler``) for clusters with managed
#: node groups (ACK Nodegroup objects): AWS auto-discovery by the tags ``k8s.io/cluster-autoscaler/enabled``
#: and ``k8s.io/cluster-autoscaler/<cluster>`` (the chart's ``autoDiscovery.tags``). Chart 9.58.0 runs
#: Cluster Autoscaler v1.36.1 (kubernetes/autoscaler issue #10199 reports "v1.36.1 (helm chart 9.58.0)");
#: its DRA support is the flag ``--enable-dynamic-resource-allocation`` (same issue, and #10277). Its AWS
#: identity is an EKS Pod Identity association for ``kube-system/cluster-autoscaler`` with the profile's
#: ``capacity.clusterAutoscaler.roleArn`` (compiler/fleet/autoscaler.py): no static keys.
CLUSTER_AUTOSCALER = HelmChart("cluster-autoscaler", "https://kubernetes.github.io/autoscaler", "cluster-autoscaler", "9.58.0",
                               "cluster-autoscaler", "kube-system", 3)
CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
#: NVIDIA DRA driver for GPUs (NVIDIA/k8s-dra-driver-gpu, chart ``nvidia-dra-driver-gpu`` from the NGC
#: Helm repository): publishes each node's GPUs as ResourceSlices and installs the DeviceClasses
#: (``gpu.nvidia.com`` for whole GPUs, ``mig.nvidia.com`` for MIG devices). 25.12.0: the release the GPU
#: Operator docs ("NVIDIA DRA Driver for GPUs v25.12.0 and later") and install guides pin
#: (``helm install nvidia-dra-driver-gpu nvidia/nvidia-dra-driver-gpu --version="25.12.0"``); later
#: releases moved to kubernetes-sigs/dra-driver-nvidia-gpu as chart ``dra-driver-nvidia-gpu``.
NVIDIA_DRA_DRIVER = HelmChart("nvidia-dra-driver-gpu", "https://helm.ngc.nvidia.com/nvidia", "nvidia-dra-driver-gpu", "25.12.0",
                              "nvidia-dra-driver-gpu", "nvidia-dra-driver-gpu", 2, privileged=True)
DRA_DEVICE_CLASSES = frozenset({"gpu.nvidia.com", "mig.nvidia.com"})

#: What kube-prometheus-stack (release ``kube-prometheus-stack`` in ``monitoring``) declares: the
#: Prometheus Service its operator creates, the label its Prometheus selects monitors and rules by
#: (``serviceMonitorSelectorNilUsesHelmValues``: ``release: <release name>``) and the label its
#: Grafana sidecar loads dashboards from when no profile on the cluster renders dashboards (the chart's
#: own default; otherwise the label is the profiles' ``monitoring.dashboards.labels``).
PROMETHEUS_STACK_ADDRESS = f"http://prometheus-operated.{KUBE_PROMETHEUS_STACK.namespace}.svc:9090"
PROMETHEUS_STACK_NAMESPACE = KUBE_PROMETHEUS_STACK.namespace
PROMETHEUS_STACK_SELECTOR = {"release": KUBE_PROMETHEUS_STACK.release}
GRAFANA_DASHBOARD_LABEL = {"grafana_dashboard": "1"}

#: The Gateway class whose controller (istiod with the Inference Extension on) serves InferencePools.
GATEWAY_CLASS = "istio"

HELM_CHARTS = (KUBE_PROMETHEUS_STACK, KEDA, LWS, EFA_DEVICE_PLUGIN, ISTIO_BASE, ISTIOD, ACK_EKS, AWS_EFS_CSI_DRIVER, GPU_OPERATOR,
               CLUSTER_AUTOSCALER, NVIDIA_DRA_DRIVER)
GIT_CRDS = (GATEWAY_API, INFERENCE_EXTENSION)
