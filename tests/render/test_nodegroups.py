"""render/nodegroups.py: one ACK Nodegroup per pool of a managedNodeGroup profile, valid against the
real eks-controller v1.20.0 CRD, tagged for Cluster Autoscaler auto-discovery, and no Karpenter
objects on that path (nor Nodegroups on the others)."""

from __future__ import annotations

import copy

import pytest

from compiler.verify.crds import CrdRegistry

from ..conftest import REPO
from ..shipped import compile_tier

NODEGROUP_CRD = REPO.parent / "shared" / "upstream" / "crds" / "ack-eks" / "eks.services.k8s.aws_nodegroups.yaml"


@pytest.fixture(scope="module")
def ack() -> CrdRegistry:
    return CrdRegistry.load([NODEGROUP_CRD])


def groups(env: str = "prod", sets: tuple[str, ...] = ()) -> dict[str, dict]:
    return {o["spec"]["name"]: o for o in compile_tier("tier2-dra", sets, env).objects if o["kind"] == "Nodegroup"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_nodegroup_is_valid_against_the_real_crd(ack: CrdRegistry, env: str) -> None:
    found = groups(env)
    assert sorted(found) == ["llama-70b-dra-baseline", "llama-70b-dra-burst"]
    for obj in found.values():
        assert ack.validate(obj) == [], obj["metadata"]["name"]


def test_the_crd_check_can_fail(ack: CrdRegistry) -> None:
    bad = copy.deepcopy(groups()["llama-70b-dra-baseline"])
    bad["spec"]["scalingConfig"]["minSize"] = "two"
    bad["spec"]["nodeGroupName"] = "x"  # not a field of the CRD (it is spec.name)
    messages = " ".join(f.message for f in ack.validate(bad))
    assert "minSize" in messages or "integer" in messages
    assert "nodeGroupName" in messages


def test_cluster_autoscaler_discovery_tags_and_desired_size_left_to_it() -> None:
    for ng in groups().values():
        # the Cluster Autoscaler chart's autoDiscovery.tags: k8s.io/cluster-autoscaler/enabled and .../<cluster>
        assert ng["spec"]["tags"] == {"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/acme-gpu-prod": "owned"}
        assert ng["metadata"]["annotations"]["eks.services.k8s.aws/desired-size-managed-by"] == "external-autoscaler"
    dev = groups("dev")["llama-70b-dra-baseline"]["spec"]
    assert dev["clusterName"] == "acme-gpu-dev" and "k8s.io/cluster-autoscaler/acme-gpu-dev" in dev["tags"]


def test_gpu_nodes_have_the_nvidia_ami_taint_labels_and_one_capacity_type() -> None:
    base, burst = groups()["llama-70b-dra-baseline"]["spec"], groups()["llama-70b-dra-burst"]["spec"]
    assert base["amiType"] == burst["amiType"] == "AL2023_x86_64_NVIDIA"
    assert (base["capacityType"], burst["capacityType"]) == ("ON_DEMAND", "SPOT")
    assert base["instanceTypes"] == ["g6e.12xlarge"] and burst["instanceTypes"] == ["g6e.12xlarge", "g6e.24xlarge"]
    assert base["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert {"key": "mcompile.io/burst", "value": "true", "effect": "NO_SCHEDULE"} in burst["taints"]
    # DRA: the GPU Operator's device plugin stays off these nodes; the DRA kubelet plugin's affinity label is set
    assert base["labels"] == {"mcompile.io/pool": "baseline", "mcompile.io/profile": "llama-70b-dra", "karpenter.sh/capacity-type": "on-demand",
                              "nvidia.com/gpu.deploy.device-plugin": "false", "nvidia.com/gpu.present": "true"}
    assert burst["labels"]["karpenter.sh/capacity-type"] == "spot"
    assert base["nodeRole"] == "arn:aws:iam::111122223333:role/acme-gpu-prod-nodes"
    assert base["subnets"] == ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
    assert base["version"] == "1.34"


def test_device_plugin_path_keeps_the_plugin_on_the_nodes() -> None:
    spec = groups(sets=("serving.gpuAllocation=devicePlugin",))["llama-70b-dra-baseline"]["spec"]
    assert "nvidia.com/gpu.deploy.device-plugin" not in spec["labels"]


def test_managed_node_groups_render_no_karpenter_objects_and_karpenter_no_nodegroups() -> None:
    kinds = {o["kind"] for o in compile_tier("tier2-dra").objects}
    assert "Nodegroup" in kinds and not kinds & {"NodePool", "EC2NodeClass", "NodeClass"}
    for tier in ("tier1", "tier2", "tier3"):
        assert not any(o["kind"] == "Nodegroup" for o in compile_tier(tier).objects)


def test_node_group_names_fit_eks() -> None:
    # EKS node group names: up to 63 letters, digits, hyphens and underscores, starting alphanumeric
    for name in groups():
        assert len(name) <= 63 and name[0].isalnum()


def test_nodes_carry_every_label_the_cost_dashboard_reads() -> None:
    from compiler.render.metrics import COST_NODE_LABELS

    for ng in groups().values():
        # node.kubernetes.io/instance-type is set by the kubelet on every node; the rest must come from the group
        assert set(COST_NODE_LABELS) - {"node.kubernetes.io/instance-type"} <= set(ng["spec"]["labels"])


def test_serving_pods_tell_the_cluster_autoscaler_not_to_drain_them() -> None:
    (dep,) = [o for o in compile_tier("tier2-dra").objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "llama-70b-dra"]
    assert dep["spec"]["template"]["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    (k,) = [o for o in compile_tier("tier2").objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "llama-70b"]
    assert "cluster-autoscaler.kubernetes.io/safe-to-evict" not in k["spec"]["template"]["metadata"]["annotations"]
