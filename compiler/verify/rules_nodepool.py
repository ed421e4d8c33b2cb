"""Rules about NodePool fields the CRD cannot judge in context: family vs type values, the label
domain of the provisioner (Auto Mode vs Karpenter), and disruption settings."""

from __future__ import annotations

import re
from typing import Any

from .rules_base import RuleInput, Violation, ref
from .rules_nodes import (
    FAMILY_KEYS,
    TYPE_KEY,
    NodePoolView,
    launchable,
    mixups,
    nodepools,
    schedulable,
)
from .rules_pods import all_pods, pod_templates

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
    return out + auto_mode_free_labels(inp)


def _object_label_keys(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, key) of every label and node-selection key an object carries or asks for."""
    out = [("metadata.labels", str(k)) for k in ((obj.get("metadata") or {}).get("labels") or {})]
    for where, spec in pod_templates(obj):
        out += [(f"{where} nodeSelector", str(k)) for k in spec.get("nodeSelector") or {}]
        aff = ((spec.get("affinity") or {}).get("nodeAffinity") or {})
        terms = [t for t in ((aff.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or ())]
        terms += [p.get("preference") or {} for p in aff.get("preferredDuringSchedulingIgnoredDuringExecution") or ()]
        out += [(f"{where} node affinity", str(e.get("key", ""))) for t in terms for e in t.get("matchExpressions") or ()]
    return out


def auto_mode_free_labels(inp: RuleInput) -> list[Violation]:
    """Part of ``label-prefix``: on EKS Auto Mode nothing carries ``karpenter.k8s.aws/*`` labels, so such
    a key anywhere (the profile's free-form ``metadata.labels`` included, which land on every object
    and pod) is a mistake: as a selector it matches no node, as a label it claims a domain that
    belongs to self-managed Karpenter."""
    if not any(np.group == AUTO_GROUP for np in nodepools(inp)):
        return []
    out = []
    mine = {k for k, _ in inp.profile.labels}
    reported: set[str] = set()  # a profile label lands on every object: report it once
    for obj in inp.objects:
        seen = set()
        for where, key in _object_label_keys(obj):
            if key.startswith(KARPENTER_GROUP + "/") and key not in seen and key not in reported:
                seen.add(key)
                if key in mine:
                    reported.add(key)
                path = ("metadata", "labels", key) if key in mine else ("capacity", "provisioner")
                out.append(Violation("label-prefix", ref(obj), f"{where} uses {key} on EKS Auto Mode, whose nodes carry eks.amazonaws.com/* "
                                     f"labels only; use eks.amazonaws.com/{key.split('/', 1)[1]} or drop the label", path))
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


def pool_gpu_sizes(inp: RuleInput) -> list[Violation]:
    """``pool-gpu-sizes``: a NodePool must not be able to launch instance sizes with fewer GPUs than
    the smallest GPU pod that can use it (a family list such as [g6e, p5] includes 1-GPU sizes):
    the planner would size limits and prices on nodes no serving pod fits. Add an
    ``instance-gpu-count`` requirement (mcompile renders one) or list only types that fit."""
    pools = nodepools(inp)
    pods = [p for p in all_pods(inp) if p.gpus > 0]
    out = []
    for np in pools:
        users = [p for p in pods if np in schedulable(p, [np])]
        types = launchable(np)
        if not users or not types:
            continue
        need = min(p.gpus for p in users)
        small = sorted({t.name for t in types if t.gpus < need})
        if small and any(t.gpus >= need for t in types):  # none fits at all: gpus-fit-instance says so
            out.append(Violation("pool-gpu-sizes", np.ref, f"may launch {', '.join(small)} with fewer than the {need} GPUs the smallest serving pod "
                                 f"needs; add requirement instance-gpu-count Gt {need - 1} or list only instance types with {need}+ GPUs",
                                 np.selection_path()))
    return out
