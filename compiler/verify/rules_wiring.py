"""Rules about objects that point at each other by name, label or port: KEDA ScaledObjects and their
targets and triggers, Services, PodMonitors, InferencePools and NetworkPolicies and the pods they
select, and container images."""

from __future__ import annotations

from typing import Any

from ..render.autoscaling import formula_identifiers
from ..render.gateway import GATEWAY_POD_LABEL
from .rules_base import RuleInput, Violation, namespace_of, objects_of, ref
from .rules_k8s import map_selector_matches, selector_matches
from .rules_pods import PodView, all_pods, pod_templates, scale_target, target_key, workloads

# --- KEDA -----------------------------------------------------------------------------------

def keda_formula_names(inp: RuleInput) -> list[Violation]:
    """``keda-formula-names``: every name in ``scalingModifiers.formula`` is a trigger ``name`` of
    the same ScaledObject (the KEDA admission webhook rejects the object otherwise)."""
    out = []
    for so in objects_of(inp, "ScaledObject"):
        spec = so.get("spec") or {}
        formula = ((spec.get("advanced") or {}).get("scalingModifiers") or {}).get("formula")
        if not formula:
            continue
        triggers = [str(t.get("name")) for t in spec.get("triggers") or () if t.get("name")]
        unknown = [n for n in formula_identifiers(str(formula)) if n not in triggers]
        if unknown:
            out.append(Violation("keda-formula-names", ref(so), f"formula {formula!r} uses {', '.join(unknown)}, which "
                                 f"{'is' if len(unknown) == 1 else 'are'} not trigger names (triggers: {', '.join(triggers) or 'none named'}); "
                                 "use only trigger names in autoscaling.formula", ("autoscaling", "formula")))
    return out


def keda_one_per_target(inp: RuleInput) -> list[Violation]:
    """``keda-one-per-target``: two ScaledObjects on one workload make two HPAs fight over it."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    out = []
    for so in objects_of(inp, "ScaledObject"):
        key = scale_target(so)
        if key in seen:
            out.append(Violation("keda-one-per-target", ref(so), f"{key[1]}/{key[2]} is already scaled by {ref(seen[key])}; keep one "
                                 "ScaledObject per scaleTargetRef", ("autoscaling", "enabled")))
        else:
            seen[key] = so
    return out


def keda_no_replicas(inp: RuleInput) -> list[Violation]:
    """``keda-no-replicas``: a scaled workload must not set ``spec.replicas``: every sync would reset
    the count the autoscaler chose."""
    targets = {scale_target(so): so for so in objects_of(inp, "ScaledObject")}
    out = []
    for w in workloads(inp):
        so = targets.get(target_key(w))
        if so is not None and "replicas" in (w.get("spec") or {}):
            out.append(Violation("keda-no-replicas", ref(w), f"spec.replicas is set but {ref(so)} scales this workload; remove "
                                 "spec.replicas and let KEDA own the count", ("autoscaling", "enabled")))
    return out


# --- selectors and ports --------------------------------------------------------------------

def _in_namespace(pods: list[PodView], ns: str) -> list[PodView]:
    return [p for p in pods if p.namespace == ns]


def _declares(pod: PodView, port: Any) -> bool:
    return str(port) in pod.port_names() if isinstance(port, str) and not port.isdigit() else int(port) in pod.port_numbers()


def _services(inp: RuleInput, pods: list[PodView]) -> list[Violation]:
    """Named targetPort: pods without the name get no endpoint, so one matched pod must declare it;
    a numeric one sends traffic to every matched pod, so each must declare it."""
    out = []
    for svc in objects_of(inp, "Service"):
        sel = (svc.get("spec") or {}).get("selector")
        if not sel:
            continue  # selector-less Services have manually managed endpoints
        matched = [p for p in _in_namespace(pods, namespace_of(svc)) if map_selector_matches(sel, p.labels)]
        if not matched:
            out.append(Violation("ports-selectors", ref(svc), f"selector {sel} matches no pod template; align it with the workload's pod labels",
                                 ("serving",)))
            continue
        for port in (svc.get("spec") or {}).get("ports") or ():
            target = port.get("targetPort", port.get("port"))
            named = isinstance(target, str) and not target.isdigit()
            ok = any(_declares(p, target) for p in matched) if named else all(_declares(p, target) for p in matched)
            if not ok:
                out.append(Violation("ports-selectors", ref(svc), f"targetPort {target!r} is not a container port of the selected pods "
                                     f"({', '.join(sorted({p.ref + ' ' + p.position for p in matched}))}); use a declared port name",
                                     ("serving", "port")))
    return out


def _pod_monitors(inp: RuleInput, pods: list[PodView]) -> list[Violation]:
    out = []
    for pm in objects_of(inp, "PodMonitor"):
        spec = pm.get("spec") or {}
        ns_sel = spec.get("namespaceSelector") or {}
        names = ns_sel.get("matchNames") or [namespace_of(pm)]
        scope = pods if ns_sel.get("any") else [p for p in pods if p.namespace in names]
        matched = [p for p in scope if selector_matches(spec.get("selector") or {}, p.labels)]
        if not matched:
            out.append(Violation("ports-selectors", ref(pm), "selector matches no serving pod; align it with the pod labels", ("monitoring",)))
            continue
        for ep in spec.get("podMetricsEndpoints") or ():
            port = ep.get("port")
            if port and not any(port in p.port_names() for p in matched):
                out.append(Violation("ports-selectors", ref(pm), f"podMetricsEndpoints port {port!r} is not a container port name of the "
                                     "selected pods; use a declared port name", ("monitoring",)))
    return out


def _inference_pools(inp: RuleInput, pods: list[PodView]) -> list[Violation]:
    """Every selected pod becomes an endpoint, on every target port: each must declare them."""
    out = []
    for ip in objects_of(inp, "InferencePool"):
        spec = ip.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        matched = [p for p in _in_namespace(pods, namespace_of(ip)) if map_selector_matches(sel, p.labels)]
        if not matched:
            out.append(Violation("ports-selectors", ref(ip), f"selector {sel} matches no pod; select the serving pods", ("serving", "routing")))
            continue
        for tp in spec.get("targetPorts") or ():
            num = tp.get("number")
            missing = [p for p in matched if num is None or int(num) not in p.port_numbers()]
            if missing:
                out.append(Violation("ports-selectors", ref(ip), f"targetPorts number {num} is not a container port of "
                                     f"{', '.join(sorted({p.ref + ' ' + p.position for p in missing}))}", ("serving", "port")))
    return out


def _network_policies(inp: RuleInput, pods: list[PodView]) -> list[Violation]:
    out = []
    for np in objects_of(inp, "NetworkPolicy"):
        spec = np.get("spec") or {}
        sel = spec.get("podSelector")
        scope = _in_namespace(pods, namespace_of(np))
        matched = [p for p in scope if selector_matches(sel if sel is not None else {}, p.labels)]
        if not matched:
            if GATEWAY_POD_LABEL in ((sel or {}).get("matchLabels") or {}):
                continue  # the Gateway controller's pods: rules_path checks the Gateway exists
            if sel:  # an empty selector matches every pod, including ones rendered elsewhere
                out.append(Violation("ports-selectors", ref(np), "podSelector matches no pod; align it with the pod labels", ("network", "policy")))
            continue
        for rule in spec.get("ingress") or ():
            for port in rule.get("ports") or ():
                name = port.get("port")
                if isinstance(name, str) and not name.isdigit() and not any(name in p.port_names() for p in matched):
                    out.append(Violation("ports-selectors", ref(np), f"allows port {name!r}, which no selected pod declares; "
                                         "use a declared port name", ("network", "policy")))
    return out


def ports_selectors(inp: RuleInput) -> list[Violation]:
    """``ports-selectors``: Services, PodMonitors, InferencePools and NetworkPolicies select pods
    that exist and name ports those pods declare (else: no endpoints, no metrics, no traffic)."""
    pods = all_pods(inp)
    return _services(inp, pods) + _pod_monitors(inp, pods) + _inference_pools(inp, pods) + _network_policies(inp, pods)


# --- images ---------------------------------------------------------------------------------

def image_tag(image: str) -> tuple[str | None, bool]:
    """(tag or None, pinned by digest) of an image reference (a registry port is not a tag)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    return (last.split(":", 1)[1] if ":" in last else None), bool(digest)


def no_latest(inp: RuleInput) -> list[Violation]:
    """``no-latest``: ``latest`` or no tag (without a digest) moves under a running deployment: nodes
    pull different builds and a rollback restores nothing."""
    out = []
    for obj in inp.objects:
        for where, spec in pod_templates(obj):
            for key in ("initContainers", "containers", "ephemeralContainers"):
                for c in spec.get(key) or ():
                    image = str(c.get("image", ""))
                    tag, digest = image_tag(image)
                    if tag == "latest" or (tag is None and not digest):
                        out.append(Violation("no-latest", ref(obj), f"{where} container {c.get('name')!r} uses image {image!r} "
                                             f"{'tagged latest' if tag else 'without a tag'}; pin a version tag or digest",
                                             ("serving", "image", "tag")))
    return out
