"""What the rules read from capacity: NodePools, the profile pool each came from, the label domains
of the nodes they may launch, the instance types they may launch, and which pools a pod can use.

Karpenter semantics (v1): a pod can use a NodePool when its tolerations cover every NoSchedule /
NoExecute taint of ``spec.template.spec.taints`` (``startupTaints`` are removed before pods bind)
and its ``nodeSelector`` + required node affinity can hold together with the pool's template
labels and ``requirements``. Keys the pool does not mention are satisfiable only for well-known
labels Karpenter sets itself (zone, instance type, capacity type, ``karpenter.k8s.aws/*`` ...); a
custom label nobody sets matches no node, so a pod requiring it stays Pending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from ..catalog import InstanceType, instance_types
from ..plan import pool_types
from ..profile import Pool, Profile
from ..render.meta import POOL_LABEL
from .rules_base import RuleInput, objects_of, ref
from .rules_k8s import ABSENT, Domain, first_conflict, fixed, op_matches, quantity, untolerated
from .rules_pods import GPU, PodView

TYPE_KEY = "node.kubernetes.io/instance-type"
FAMILY_KEYS = ("karpenter.k8s.aws/instance-family", "eks.amazonaws.com/instance-family")
NODEPOOL_LABEL = "karpenter.sh/nodepool"

#: Labels Karpenter (or the kubelet) puts on every node it launches, whatever the pool says.
WELL_KNOWN = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", TYPE_KEY, "node.kubernetes.io/windows-build",
    "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.k8s.aws/zone-id",
    "karpenter.sh/capacity-type", NODEPOOL_LABEL, "beta.kubernetes.io/arch", "beta.kubernetes.io/os",
    "beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
})
WELL_KNOWN_PREFIXES = ("karpenter.k8s.aws/", "eks.amazonaws.com/")


@dataclass(frozen=True)
class NodePoolView:
    obj: dict[str, Any]
    pool: Pool | None  # the profile pool it was rendered from, when known

    @property
    def ref(self) -> str:
        return ref(self.obj)

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))

    @property
    def template(self) -> dict[str, Any]:
        return (self.obj.get("spec") or {}).get("template") or {}

    @property
    def labels(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in ((self.template.get("metadata") or {}).get("labels") or {}).items()}

    @property
    def requirements(self) -> list[dict[str, Any]]:
        return list((self.template.get("spec") or {}).get("requirements") or ())

    @property
    def taints(self) -> list[dict[str, Any]]:
        return list((self.template.get("spec") or {}).get("taints") or ())

    @property
    def group(self) -> str:
        return str(((self.template.get("spec") or {}).get("nodeClassRef") or {}).get("group", ""))

    @cached_property
    def domains(self) -> dict[str, Domain]:
        """The label domains of its nodes (:func:`domains`), worked out once per view."""
        return _domains(self)

    @cached_property
    def launchable(self) -> list[InstanceType] | None:
        """The catalog types it may launch (:func:`launchable`), worked out once per view."""
        return _launchable(self)

    def limit(self, resource: str) -> float | None:
        raw = ((self.obj.get("spec") or {}).get("limits") or {}).get(resource)
        return quantity(raw) if raw is not None else None

    def path(self, *sub: str | int) -> tuple[str | int, ...]:
        return ("capacity", "pools", self.pool.index, *sub) if self.pool else ("capacity", "pools")

    def selection_path(self) -> tuple[str | int, ...]:
        """The profile field that says which instances this pool launches."""
        if self.pool is None:
            return self.path()
        return self.path("instanceTypes" if self.pool.instance_types else "instanceFamilies")


def profile_pool(obj: dict[str, Any], profile: Profile) -> Pool | None:
    """By the ``mcompile.io/pool`` node label, else by the ``<profile>-<pool>`` object name."""
    labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    name = (obj.get("metadata") or {}).get("name")
    for pool in profile.capacity.pools:
        if labels.get(POOL_LABEL) == pool.name:
            return pool
    for pool in profile.capacity.pools:
        if name == f"{profile.name}-{pool.name}":
            return pool
    return None


COMPUTE_TYPE_KEY = "eks.amazonaws.com/compute-type"


def nodepools(inp: RuleInput) -> list[NodePoolView]:
    views = inp.memo.get("nodepools")
    if views is None:
        views = inp.memo["nodepools"] = [NodePoolView(o, profile_pool(o, inp.profile)) for o in objects_of(inp, "NodePool")]
    return list(views)


# --- node label domains and pod placement ---------------------------------------------------

def domains(np: NodePoolView) -> dict[str, Domain]:
    return dict(np.domains)


def _domains(np: NodePoolView) -> dict[str, Domain]:
    out: dict[str, Domain] = {k: fixed(v) for k, v in np.labels.items()}
    out[NODEPOOL_LABEL] = fixed(np.name)
    # NodePools launch EC2 instances; EKS labels only its hybrid (on-premises) nodes compute-type hybrid.
    out[COMPUTE_TYPE_KEY] = Domain(excluded=frozenset({"hybrid"}))
    for r in np.requirements:
        key = str(r.get("key", ""))
        out[key] = out.get(key, Domain()).restrict(str(r.get("operator", "")), r.get("values") or ())
    return out


def unmentioned(key: str) -> Domain:
    return Domain() if key in WELL_KNOWN or key.startswith(WELL_KNOWN_PREFIXES) else ABSENT


def node_terms(pod: PodView) -> list[list[tuple[str, str, list[Any]]]]:
    """The pod's node selection as ORed terms of ANDed (key, op, values); nodeSelector joins each."""
    spec = pod.spec
    base = [(str(k), "In", [str(v)]) for k, v in (spec.get("nodeSelector") or {}).items()]
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return [base]
    terms = []
    for term in required.get("nodeSelectorTerms") or ():
        exprs = term.get("matchExpressions") or ()
        if not exprs and not term.get("matchFields"):
            continue  # an empty term matches no node
        terms.append(base + [(str(e.get("key", "")), str(e.get("operator", "")), list(e.get("values") or ())) for e in exprs])
    return terms


def placement_problem(pod: PodView, np: NodePoolView) -> str | None:
    """Why ``pod`` cannot land on ``np``, or None when it can."""
    missing = untolerated(pod.spec.get("tolerations") or (), np.taints)
    if missing:
        return "no toleration for taint " + ", ".join(f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}" for t in missing)
    terms = node_terms(pod)
    if not terms:
        return "required node affinity has no usable nodeSelectorTerms"
    doms = domains(np)
    conflicts = [first_conflict(doms, term, unmentioned) for term in terms]
    if all(c is not None for c in conflicts):
        return f"node label {conflicts[0]!r} required by the pod cannot be satisfied by the pool's labels and requirements"
    return None


def schedulable(pod: PodView, pools: list[NodePoolView]) -> list[NodePoolView]:
    return [np for np in pools if placement_problem(pod, np) is None]


# --- instance types a pool may launch ------------------------------------------------------

def _category(family: str) -> str:
    m = re.match(r"[a-z]+", family)
    return m.group(0) if m else family


def _generation(family: str) -> str:
    m = re.search(r"\d+", family)
    return m.group(0) if m else ""


def type_labels(t: InstanceType) -> dict[str, str]:
    """The labels Karpenter (and Auto Mode) give a node of this type, for the keys we model."""
    return dict(_type_labels(t))


@cache
def _type_labels(t: InstanceType) -> dict[str, str]:
    out = {TYPE_KEY: t.name}
    for prefix in ("karpenter.k8s.aws/", "eks.amazonaws.com/"):
        out.update({
            prefix + "instance-family": t.family, prefix + "instance-category": _category(t.family),
            prefix + "instance-generation": _generation(t.family), prefix + "instance-cpu": str(t.vcpu),
            prefix + "instance-memory": str(t.memory_gi * 1024), prefix + "instance-gpu-count": str(t.gpus),
            prefix + "instance-gpu-manufacturer": "nvidia", prefix + "instance-gpu-name": t.gpu.name.lower(),
        })
    return out


def mixups(np: NodePoolView) -> list[tuple[str, str]]:
    """(key, value) pairs that put a type under a family key or a family under the type key."""
    out = []
    for r in np.requirements:
        key = r.get("key")
        for v in r.get("values") or ():
            if (key in FAMILY_KEYS and "." in str(v)) or (key == TYPE_KEY and "." not in str(v)):
                out.append((str(key), str(v)))
    return out


def _knows_all(np: NodePoolView) -> bool:
    """Does the catalog know every type/family the pool names (else we cannot judge its types)?"""
    cat = instance_types()
    families = {t.family for t in cat.values()}
    for r in np.requirements:
        if r.get("operator") != "In":
            continue
        vals = [str(v) for v in r.get("values") or ()]
        if r.get("key") == TYPE_KEY and any(v not in cat for v in vals):
            return False
        if r.get("key") in FAMILY_KEYS and any(v not in families for v in vals):
            return False
    return True


def launchable(np: NodePoolView) -> list[InstanceType] | None:
    types = np.launchable
    return None if types is None else list(types)


def _launchable(np: NodePoolView) -> list[InstanceType] | None:
    """Catalog types this NodePool may launch: its requirements hold for the type's labels and the
    type fits under the pool's limits (Karpenter never launches a node bigger than the limit).
    None when we cannot tell (a name the catalog does not know, or a family/type mix-up, which
    ``family-vs-type`` reports)."""
    if mixups(np) or not _knows_all(np):
        return None
    if np.pool is not None:
        known, unknown = pool_types(np.pool)
        if unknown:
            return None
        candidates = known
    else:
        candidates = sorted(instance_types().values(), key=lambda t: t.name)
    gpu_lim, cpu_lim, mem_lim = np.limit(GPU), np.limit("cpu"), np.limit("memory")
    out = []
    for t in candidates:
        labels = _type_labels(t)  # read only
        if not all(op_matches(str(r.get("operator", "")), r.get("values") or (), labels.get(str(r.get("key"))))
                   for r in np.requirements if str(r.get("key")) in labels):
            continue
        if (gpu_lim is not None and t.gpus > gpu_lim) or (cpu_lim is not None and t.vcpu > cpu_lim) \
                or (mem_lim is not None and t.memory_gi * 2**30 > mem_lim):
            continue
        out.append(t)
    return out


def fits(pod: PodView, np: NodePoolView) -> bool:
    """Can the pool launch a type with enough GPUs for the pod (unknown types: assume yes)?"""
    types = launchable(np)
    return types is None or any(t.gpus >= pod.gpus for t in types)
