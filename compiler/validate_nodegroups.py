"""Profile checks of the DRA path: managed node groups (``capacity.provisioner: managedNodeGroup``)
and GPUs claimed through Dynamic Resource Allocation (``serving.gpuAllocation: dra``).

Rules JSON Schema cannot express, run by :func:`compiler.validate.cross_field_rules` on the merged
profile of each environment, each a located :class:`~compiler.errors.Diagnostic`:

* a managed node group is one EKS node group (ACK ``Nodegroup``): it takes the node role's ARN,
  explicit subnets, instance types (no families) and exactly one capacity type (``ON_DEMAND`` or
  ``SPOT``); no EFA, no capacity reservations (those need a launch template);
* its Cluster Autoscaler needs an IAM role for EKS Pod Identity and the cluster's Kubernetes
  version is required (the node groups run it): values nobody can default;
* DRA needs managed node groups (Karpenter and Auto Mode skip pods that use DRA, see
  ``../shared/docs/domain-facts.md`` and issue 13) and Kubernetes 1.34 or newer, where
  ``resource.k8s.io/v1`` is GA and on by default (kubernetes.io DRA docs; the NVIDIA DRA driver docs:
  "Starting in Kubernetes 1.34, DRA is enabled by default").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import Diagnostic, Source, json_path
from .merge import Merged

MANAGED = "managedNodeGroup"
#: resource.k8s.io/v1 (DRA GA) is served from this Kubernetes minor version on.
DRA_MIN_MINOR = 34
#: EKS managed node groups take one capacity type (CreateNodegroup ``capacityType``).
NODEGROUP_CAPACITY = {"on-demand": "ON_DEMAND", "spot": "SPOT"}


def _minor(version: str) -> int:
    return int(version.split(".")[1])


def _missing(merged: Merged, path: Sequence[str | int], what: str) -> Diagnostic:
    """A required value nobody set: blamed on its nearest parent in the user's files (else ``tier``)."""
    src = merged.source(list(path))
    if src is None or src.layer == "tier default":
        src = merged.source(["tier"])
    return Diagnostic(src or Source("<profile>", 1, 1, "profile"), json_path(list(path)), f"required: set {'.'.join(map(str, path))} to {what}")


def _at(merged: Merged, path: Sequence[str | int], msg: str) -> Diagnostic:
    src = merged.source(list(path)) or merged.source(["tier"]) or Source("<profile>", 1, 1, "profile")
    return Diagnostic(src, json_path(list(path)), msg)


def nodegroup_rules(merged: Merged) -> list[Diagnostic]:
    v = merged.values
    cap: dict[str, Any] = v.get("capacity") or {}
    managed = cap.get("provisioner") == MANAGED
    out = _managed(merged, cap) if managed else _not_managed(merged, cap)
    alloc = (v.get("serving") or {}).get("gpuAllocation")
    if alloc == "dra" and not managed:
        out.append(_at(merged, ["serving", "gpuAllocation"], f"gpuAllocation dra needs capacity.provisioner managedNodeGroup: {cap.get('provisioner')} "
                       "(Karpenter / EKS Auto Mode) does not provision nodes for pods that claim devices through Dynamic Resource Allocation"))
    version = cap.get("kubernetesVersion")
    if alloc == "dra" and isinstance(version, str) and _minor(version) < DRA_MIN_MINOR:
        out.append(_at(merged, ["capacity", "kubernetesVersion"], f"gpuAllocation dra needs Kubernetes 1.{DRA_MIN_MINOR} or newer "
                       f"(resource.k8s.io/v1 is GA and on by default from 1.{DRA_MIN_MINOR}); the cluster runs {version}"))
    return out


def _managed(merged: Merged, cap: dict[str, Any]) -> list[Diagnostic]:
    out = []
    role = cap.get("nodeRole")
    if isinstance(role, str) and not role.startswith("arn:"):
        out.append(_at(merged, ["capacity", "nodeRole"], f"managedNodeGroup needs the node role's ARN (arn:aws:iam::<account>:role/{role}): "
                       "the EKS CreateNodegroup API takes an ARN, not a name"))
    if not cap.get("subnets"):
        out.append(_missing(merged, ["capacity", "subnets"], "the subnet IDs the managed node groups launch into (a node group has no subnet discovery)"))
    if not (cap.get("clusterAutoscaler") or {}).get("roleArn"):
        out.append(_missing(merged, ["capacity", "clusterAutoscaler", "roleArn"],
                            "the IAM role the Cluster Autoscaler assumes through EKS Pod Identity (it resizes the node groups' Auto Scaling groups)"))
    if not cap.get("kubernetesVersion"):
        out.append(_missing(merged, ["capacity", "kubernetesVersion"], "the cluster's Kubernetes minor version (e.g. \"1.34\"): the node groups run it"))
    for i, p in enumerate(cap.get("pools") or []):
        if not isinstance(p, dict):
            continue
        types = p.get("capacityType") or []
        if len(types) != 1 or types[0] not in NODEGROUP_CAPACITY:
            out.append(_at(merged, ["capacity", "pools", i, "capacityType"], f"a managed node group has exactly one capacity type, on-demand or spot "
                           f"(EKS ON_DEMAND / SPOT), not {types}: make one pool per capacity type"))
        if p.get("instanceFamilies"):
            out.append(_at(merged, ["capacity", "pools", i, "instanceFamilies"], "a managed node group takes instance types (instanceTypes), not families"))
        if p.get("efa"):
            out.append(_at(merged, ["capacity", "pools", i, "efa"], "EFA on managed node groups needs a launch template, which mcompile does not render: "
                           "use provisioner karpenter for EFA pools"))
        if p.get("reservations"):
            out.append(_at(merged, ["capacity", "pools", i, "reservations"], "capacity reservations need provisioner karpenter "
                           "(a managed node group selects no reservation without a launch template)"))
    return out


def _not_managed(merged: Merged, cap: dict[str, Any]) -> list[Diagnostic]:
    out = []
    role = cap.get("nodeRole")
    if isinstance(role, str) and role.startswith("arn:"):
        out.append(_at(merged, ["capacity", "nodeRole"], f"provisioner {cap.get('provisioner')} takes the node role's name, not its ARN "
                       f"(the node class's role field): {role.rsplit('/', 1)[-1]}"))
    for key in ("subnets", "clusterAutoscaler"):
        if key in cap:
            out.append(_at(merged, ["capacity", key], f"capacity.{key} is only used with provisioner managedNodeGroup"))
    return out
