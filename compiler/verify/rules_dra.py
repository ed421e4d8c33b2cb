"""Rules of the DRA path: GPUs claimed through Dynamic Resource Allocation on EKS managed node
groups scaled by the Cluster Autoscaler (see :mod:`compiler.render.dra`, :mod:`compiler.render.nodegroups`).

* ``dra-claims``: every pod claim names a ResourceClaimTemplate rendered in the pod's namespace,
  every container claim names a pod claim (and an existing request), every request asks the
  DeviceClass the platform's DRA driver installs, the claimed GPUs equal vLLM's TP x PP x DP, and a
  claiming container does not also request ``nvidia.com/gpu`` (the device plugin is off there);
* ``nodegroup-scaling``: each Nodegroup has ``minSize <= desiredSize <= maxSize``; a group that
  hosts DRA pods keeps at least one node (the Cluster Autoscaler cannot scale an empty group up for
  a ResourceClaim on AWS, kubernetes/autoscaler #10277); the groups' ``maxSize`` in nodes of their
  smallest type hold every GPU workload at its maximum replicas;
* ``dra-placement``: pods that claim devices land on a managed node group (their node selection
  and tolerations match a Nodegroup) and never on a Karpenter / Auto Mode NodePool, which skip them;
  where a profile renders node groups, every GPU pod (claims or ``nvidia.com/gpu``) fits one of them
  (the ``schedulable`` rule only looks at NodePools).
"""

from __future__ import annotations

from typing import Any

from ..catalog import instance_types
from ..fleet.charts import DRA_DEVICE_CLASSES
from .rules_base import RuleInput, Violation, namespace_of, objects_of, ref
from .rules_pods import GPU, PodView, all_pods, engine_containers, max_replicas, parallelism, pods_of, workloads

DRA_PATH: tuple[str | int, ...] = ("serving", "gpuAllocation")
#: EKS managed node group taint effects -> Kubernetes effects.
EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def _claims(pod: PodView) -> list[dict[str, Any]]:
    return [c for c in pod.spec.get("resourceClaims") or () if isinstance(c, dict)]


def _templates(inp: RuleInput) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace_of(t), str(t["metadata"]["name"])): t for t in objects_of(inp, "ResourceClaimTemplate")}


def _requests(template: dict[str, Any]) -> list[dict[str, Any]]:
    return list(((template.get("spec") or {}).get("spec") or {}).get("devices", {}).get("requests") or [])


def claimed_gpus(pod: PodView, templates: dict[tuple[str, str], dict[str, Any]]) -> int:
    """GPUs one pod gets from its claims (ExactCount requests of the driver's DeviceClasses)."""
    total = 0
    for claim in _claims(pod):
        t = templates.get((pod.namespace, str(claim.get("resourceClaimTemplateName"))))
        for r in _requests(t) if t else ():
            ex = r.get("exactly") or {}
            if ex.get("deviceClassName") in DRA_DEVICE_CLASSES and ex.get("allocationMode", "ExactCount") == "ExactCount":
                total += int(ex.get("count", 1))
    return total


def _pod_claim_problems(pod: PodView, templates: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    out = []
    names = {str(c.get("name")) for c in _claims(pod)}
    for claim in _claims(pod):
        tname = claim.get("resourceClaimTemplateName")
        t = templates.get((pod.namespace, str(tname)))
        if t is None:
            out.append(f"claim {claim.get('name')!r} names ResourceClaimTemplate {tname!r}, which is not rendered in namespace {pod.namespace}")
            continue
        for r in _requests(t):
            cls = (r.get("exactly") or {}).get("deviceClassName")
            if cls not in DRA_DEVICE_CLASSES:
                out.append(f"ResourceClaimTemplate {tname} requests DeviceClass {cls!r}, which the platform's DRA driver does not install "
                           f"({', '.join(sorted(DRA_DEVICE_CLASSES))})")
    for c in pod.containers():
        res = c.get("resources") or {}
        for cc in res.get("claims") or ():
            if cc.get("name") not in names:
                out.append(f"container {c.get('name')} claims {cc.get('name')!r}, which is not in the pod's resourceClaims")
        if res.get("claims") and any(GPU in (res.get(k) or {}) for k in ("requests", "limits")):
            out.append(f"container {c.get('name')} claims GPUs through DRA and also requests {GPU} (the device plugin is off on DRA nodes: Pending forever)")
    return out


def dra_claims(inp: RuleInput) -> list[Violation]:
    """``dra-claims``: see the module docstring."""
    templates = _templates(inp)
    out = []
    for w in workloads(inp):
        pods = pods_of(w)
        if not any(_claims(p) for p in pods):
            continue
        problems = [msg for p in pods for msg in _pod_claim_problems(p, templates)]
        total = sum(claimed_gpus(p, templates) * p.count for p in pods)
        pars = [par for p in pods for c in engine_containers(p) if (par := parallelism(c))]
        if pars and pars[0]["tensor"] * pars[0]["pipeline"] * pars[0]["data"] != total:
            par = pars[0]
            problems.append(f"vLLM runs tensor {par['tensor']} x pipeline {par['pipeline']} x data {par['data']} ranks but a replica claims {total} GPUs "
                            "(ResourceClaimTemplate count x pods per replica); make them equal")
        out += [Violation("dra-claims", ref(w), msg, DRA_PATH) for msg in dict.fromkeys(problems)]
    return out


def _pool_index(inp: RuleInput, ng: dict[str, Any]) -> tuple[str | int, ...]:
    pool = ((ng.get("spec") or {}).get("labels") or {}).get("mcompile.io/pool")
    for p in inp.profile.capacity.pools:
        if p.name == pool:
            return ("capacity", "pools", p.index)
    return ("capacity", "pools")


def _smallest_gpus(ng: dict[str, Any]) -> int:
    cat = instance_types()
    return min((cat[t].gpus for t in (ng.get("spec") or {}).get("instanceTypes") or () if t in cat), default=0)


def nodegroup_scaling(inp: RuleInput) -> list[Violation]:
    """``nodegroup-scaling``: see the module docstring."""
    groups = objects_of(inp, "Nodegroup")
    if not groups:
        return []
    dra = any(_claims(p) for p in all_pods(inp))
    out = []
    for ng in groups:
        sc = (ng.get("spec") or {}).get("scalingConfig") or {}
        lo, want, hi = int(sc.get("minSize", 0)), int(sc.get("desiredSize", 0)), int(sc.get("maxSize", 0))
        if not lo <= want <= hi or hi < 1:
            out.append(Violation("nodegroup-scaling", ref(ng), f"scalingConfig needs minSize <= desiredSize <= maxSize and maxSize >= 1 (EKS refuses it): {lo} / {want} / {hi}",
                                 _pool_index(inp, ng)))
        if dra and lo < 1 and _smallest_gpus(ng) > 0:
            out.append(Violation("nodegroup-scaling", ref(ng), "minSize 0 on a node group for DRA pods: the Cluster Autoscaler builds an empty group's "
                                 "template node without DRA ResourceSlices and never scales it up for a ResourceClaim; keep minSize >= 1",
                                 _pool_index(inp, ng)))
    templates = _templates(inp)
    need = 0
    for w in workloads(inp):
        n, _ = max_replicas(inp, w)
        need += n * sum((p.gpus or claimed_gpus(p, templates)) * p.count for p in pods_of(w))
    have = sum(int(((ng.get("spec") or {}).get("scalingConfig") or {}).get("maxSize", 0)) * _smallest_gpus(ng) for ng in groups)
    if need > have:
        out.append(Violation("nodegroup-scaling", ref(groups[0]), f"the node groups' maxSize holds {have} GPUs (in nodes of each group's smallest type) but "
                             f"the GPU workloads at their maximum replicas need {need}: raise maxSize (capacity.pools[].limits.gpus) or lower maxReplicas",
                             ("capacity", "pools")))
    return out


def _tolerates(pod: PodView, taint: dict[str, Any]) -> bool:
    effect = EFFECTS.get(str(taint.get("effect")), str(taint.get("effect")))
    for t in pod.spec.get("tolerations") or ():
        if t.get("effect") not in (None, "", effect):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and str(t.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def _selects(pod: PodView, labels: dict[str, Any]) -> bool:
    return all(labels.get(k) == v for k, v in (pod.spec.get("nodeSelector") or {}).items())


def dra_placement(inp: RuleInput) -> list[Violation]:
    """``dra-placement``: see the module docstring."""
    out = []
    groups = objects_of(inp, "Nodegroup")
    pools = objects_of(inp, "NodePool")
    for pod in all_pods(inp):
        if not _claims(pod) and not (groups and pod.gpus):
            continue
        karpenter = [np for np in pools if _claims(pod) and _selects(pod, (((np.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})]
        if karpenter:
            out.append(Violation("dra-placement", pod.ref, f"{pod.position} pods claim GPUs through DRA but may land on NodePool "
                                 f"{', '.join(ref(np) for np in karpenter)}: Karpenter and EKS Auto Mode skip DRA pods; use managed node groups",
                                 ("capacity", "provisioner")))
        elif not any(_selects(pod, (ng.get("spec") or {}).get("labels") or {}) and all(_tolerates(pod, t) for t in (ng.get("spec") or {}).get("taints") or ())
                     for ng in groups):
            how = "claim GPUs through DRA" if _claims(pod) else f"request {GPU}"
            out.append(Violation("dra-placement", pod.ref, f"{pod.position} pods {how} but fit no managed node group "
                                 "(node selector and taints): the Cluster Autoscaler has no group to scale for them", ("capacity", "provisioner")))
    return out
