"""Rules about NodePool fields the CRD cannot judge in context: family vs type values, the label
domain of the provisioner (Auto Mode vs Karpenter), and disruption settings."""

from __future__ import annotations

import re

from .rules_base import RuleInput, Violation
from .rules_nodes import FAMILY_KEYS, TYPE_KEY, NodePoolView, mixups, nodepools

AUTO_GROUP, KARPENTER_GROUP = "eks.amazonaws.com", "karpenter.k8s.aws"
#: karpenter.sh/v1 NodePool disruption.consolidationPolicy values (v1.14 adds Balanced; "Never" does not exist).
POLICIES = ("WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced")
_DURATION = re.compile(r"^(([0-9]+(s|m|h))+|Never)$")  # the CRD's pattern for consolidateAfter


def family_vs_type(inp: RuleInput) -> list[Violation]:
    """``family-vs-type``: family keys take families (``g6e``), the instance-type key takes types
    (``g6e.12xlarge``). A mix-up matches no instance at all: pods stay Pending forever."""
    out = []
    for np in nodepools(inp):
        for key, value in mixups(np):
            if key in FAMILY_KEYS:
                msg = f"{key} value {value!r} is an instance type, not a family; put it under {TYPE_KEY} (profile instanceTypes)"
                path = np.path("instanceFamilies") if np.pool and np.pool.instance_families else np.selection_path()
            else:
                msg = f"{TYPE_KEY} value {value!r} is a family, not an instance type; put it under the instance-family key (profile instanceFamilies)"
                path = np.path("instanceTypes") if np.pool and np.pool.instance_types else np.selection_path()
            out.append(Violation("family-vs-type", np.ref, msg, path))
    return out


def _keys(np: NodePoolView) -> list[str]:
    return [str(r.get("key", "")) for r in np.requirements] + list(np.labels)


def label_prefix(inp: RuleInput) -> list[Violation]:
    """``label-prefix``: EKS Auto Mode nodes carry ``eks.amazonaws.com/*`` labels, Karpenter's EC2
    nodes ``karpenter.k8s.aws/*``; a key from the other domain matches no node."""
    out = []
    for np in nodepools(inp):
        wrong = {AUTO_GROUP: KARPENTER_GROUP + "/", KARPENTER_GROUP: AUTO_GROUP + "/"}.get(np.group)
        if wrong is None:
            continue
        for key in _keys(np):
            if key.startswith(wrong):
                right = ("eks.amazonaws.com/" if np.group == AUTO_GROUP else "karpenter.k8s.aws/") + key.split("/", 1)[1]
                kind = "EKS Auto Mode" if np.group == AUTO_GROUP else "Karpenter (EC2NodeClass)"
                out.append(Violation("label-prefix", np.ref, f"{kind} NodePool uses key {key}, which its nodes never carry; use {right}",
                                     ("capacity", "provisioner")))
    return out


def consolidation(inp: RuleInput) -> list[Violation]:
    """``consolidation``: ``consolidationPolicy`` is one of WhenEmpty, WhenEmptyOrUnderutilized,
    Balanced (there is no ``Never``: disable with ``consolidateAfter: Never``), and
    ``consolidateAfter`` is set to a duration or ``Never``."""
    out = []
    for np in nodepools(inp):
        disruption = (np.obj.get("spec") or {}).get("disruption")
        if disruption is None:
            continue  # the CRD defaults the whole block (WhenEmptyOrUnderutilized after 0s)
        policy = disruption.get("consolidationPolicy")
        if policy is not None and policy not in POLICIES:
            out.append(Violation("consolidation", np.ref, f"consolidationPolicy {policy!r} does not exist (use one of {', '.join(POLICIES)}; "
                                 "to stop consolidation set consolidateAfter: Never)", np.path("consolidateAfter")))
        after = disruption.get("consolidateAfter")
        if after is None or not _DURATION.match(str(after)):
            out.append(Violation("consolidation", np.ref, f"consolidateAfter is {'missing' if after is None else repr(after)}; "
                                 "set a duration such as 10m, or Never", np.path("consolidateAfter")))
    return out
