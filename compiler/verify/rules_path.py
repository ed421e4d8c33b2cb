"""``path-references``: every reference the request path uses resolves to an object of this render
(or, for the Gateway's data plane, to what its controller creates), so a broken path is a compile
error instead of a 404, an inert pool or a silent fallback to Bedrock:

* HTTPRoute ``parentRefs`` -> a Gateway and one of its listeners;
* HTTPRoute ``backendRefs`` -> an InferencePool, or a Service with that port;
* InferencePool ``endpointPickerRef`` -> a Service with that port whose ``targetPort`` a
  selected pod declares (the picker);
* Bifrost ``config.json`` provider URLs (``vllm_key_config.url``, and ``network_config.base_url``
  of the on-premises hop) -> the Gateway's Service (``<gateway>-<class>`` or
  ``routing.gateway.serviceName``) on a listener port, or a Service of this render (the on-premises
  Service ``<name>-onprem`` must also select pods placed on hybrid nodes: ``hybrid-placement``);
* NetworkPolicy peers -> pods that exist (or the data plane of an existing Gateway), and a
  numeric port on the Gateway's pods -> one of its listener ports;
* the routing sidecar's ``--vllm-port`` -> the port its vLLM listens on (``--port``) and declares,
  and its ``--port`` -> its own container port;
* PodIdentityAssociation / RoleBinding ``serviceAccount``s and ``roleRef`` -> objects of the render.

Service selectors and named target ports are checked by ``ports-selectors``
(:mod:`.rules_wiring`) for every Service, the path's included.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from ..render.gateway import GATEWAY_POD_LABEL
from .rules_base import RuleInput, Violation, namespace_of, objects_of, ref
from .rules_k8s import map_selector_matches, selector_matches
from .rules_pods import PodView, all_pods

RULE = "path-references"
SIDECAR = "routing-sidecar"


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _index(inp: RuleInput, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace_of(o), _name(o)): o for o in objects_of(inp, kind)}


def _service_ports(svc: dict[str, Any]) -> set[int]:
    return {int(p["port"]) for p in (svc.get("spec") or {}).get("ports") or () if "port" in p}


def _listeners(gw: dict[str, Any]) -> dict[str, int]:
    return {str(x.get("name")): int(x.get("port", 0)) for x in (gw.get("spec") or {}).get("listeners") or ()}


def _routes(inp: RuleInput) -> list[Violation]:
    gateways, pools, services = _index(inp, "Gateway"), _index(inp, "InferencePool"), _index(inp, "Service")
    out = []
    for rt in objects_of(inp, "HTTPRoute"):
        ns, spec = namespace_of(rt), rt.get("spec") or {}
        for parent in spec.get("parentRefs") or ():
            gw = gateways.get((parent.get("namespace") or ns, str(parent.get("name"))))
            if parent.get("kind", "Gateway") != "Gateway" or gw is None:
                out.append(Violation(RULE, ref(rt), f"parentRef {parent.get('name')!r} names no Gateway of this profile", ("routing", "gateway")))
            elif parent.get("sectionName") and parent["sectionName"] not in _listeners(gw):
                out.append(Violation(RULE, ref(rt), f"parentRef sectionName {parent['sectionName']!r} is no listener of {ref(gw)} "
                                     f"(listeners: {', '.join(_listeners(gw))})", ("routing", "gateway")))
        for rule in spec.get("rules") or ():
            for b in rule.get("backendRefs") or ():
                key = (b.get("namespace") or ns, str(b.get("name")))
                if b.get("kind") == "InferencePool":
                    if key not in pools:
                        out.append(Violation(RULE, ref(rt), f"backendRef InferencePool {b.get('name')!r} does not exist",
                                             ("serving", "routing", "kvCacheAware")))
                elif b.get("kind", "Service") == "Service":
                    svc = services.get(key)
                    if svc is None or int(b.get("port", 0)) not in _service_ports(svc):
                        out.append(Violation(RULE, ref(rt), f"backendRef Service {b.get('name')!r} port {b.get('port')} does not exist",
                                             ("serving", "port")))
    return out


def _picker_refs(inp: RuleInput, pods: list[PodView]) -> list[Violation]:
    services = _index(inp, "Service")
    out = []
    for pool in objects_of(inp, "InferencePool"):
        epp = (pool.get("spec") or {}).get("endpointPickerRef") or {}
        port = int((epp.get("port") or {}).get("number", 0))
        svc = services.get((namespace_of(pool), str(epp.get("name"))))
        where = ("serving", "routing", "endpointPicker")
        if svc is None:
            out.append(Violation(RULE, ref(pool), f"endpointPickerRef names Service {epp.get('name')!r}, which is not rendered", where))
            continue
        ports = [p for p in (svc.get("spec") or {}).get("ports") or () if int(p.get("port", 0)) == port]
        if not ports:
            out.append(Violation(RULE, ref(pool), f"endpointPickerRef port {port} is not a port of {ref(svc)}", ("serving", "routing", "endpointPickerPort")))
            continue
        target = ports[0].get("targetPort", port)
        sel = (svc.get("spec") or {}).get("selector") or {}
        backing = [p for p in pods if p.namespace == namespace_of(svc) and sel and map_selector_matches(sel, p.labels)]
        declared = any((target in p.port_names()) if isinstance(target, str) else (int(target) in p.port_numbers()) for p in backing)
        if not declared:
            out.append(Violation(RULE, ref(pool), f"{ref(svc)} port {port} targets {target!r}, which no picker pod declares", where))
    return out


def _bifrost_urls(inp: RuleInput) -> list[Violation]:
    services = _index(inp, "Service")
    gateways = list(objects_of(inp, "Gateway"))
    svc_name = inp.profile.path.routing.gateway_service
    out = []
    for cm in objects_of(inp, "ConfigMap"):
        text = ((cm.get("data") or {}).get("config.json"))
        if not text:
            continue
        cfg = json.loads(text)
        for provider in (cfg.get("providers") or {}).values():
            for key in provider.get("keys") or ():
                url = (key.get("vllm_key_config") or {}).get("url") or (provider.get("network_config") or {}).get("base_url")
                if not url:
                    continue
                u = urlparse(url)
                host = (u.hostname or "").split(".")
                name, ns = host[0], host[1] if len(host) > 1 else namespace_of(cm)
                port = u.port or 80
                ok = (ns, name) in services and port in _service_ports(services[(ns, name)])
                for gw in gateways:
                    expected = svc_name or f"{_name(gw)}-{(gw.get('spec') or {}).get('gatewayClassName')}"
                    ok = ok or (namespace_of(gw) == ns and expected == name and port in _listeners(gw).values())
                if not ok:
                    out.append(Violation(RULE, ref(cm), f"provider URL {url} reaches neither a Service of this profile nor the Gateway's "
                                         "Service on a listener port", ("routing", "gateway", "serviceName")))
    return out


def _policies(inp: RuleInput, pods: list[PodView]) -> list[Violation]:
    gateways = _index(inp, "Gateway")
    out = []
    for np in objects_of(inp, "NetworkPolicy"):
        ns, spec = namespace_of(np), np.get("spec") or {}
        for rule in spec.get("ingress") or ():
            for peer in rule.get("from") or ():
                sel = peer.get("podSelector")
                if not sel or "namespaceSelector" in peer:
                    continue  # every pod, or other namespaces: nothing of ours to resolve
                gw = (sel.get("matchLabels") or {}).get(GATEWAY_POD_LABEL)
                if gw is not None:
                    if (ns, gw) not in gateways:
                        out.append(Violation(RULE, ref(np), f"peer selects the data plane of Gateway {gw!r}, which is not rendered", ("network", "policy")))
                elif not any(p.namespace == ns and selector_matches(sel, p.labels) for p in pods):
                    out.append(Violation(RULE, ref(np), f"peer podSelector {sel} matches no pod of this profile", ("network", "policy")))
        gw_name = ((spec.get("podSelector") or {}).get("matchLabels") or {}).get(GATEWAY_POD_LABEL)
        gw_obj = gateways.get((ns, gw_name)) if gw_name else None
        if gw_obj is not None:
            listeners = set(_listeners(gw_obj).values())
            for rule in spec.get("ingress") or ():
                for port in rule.get("ports") or ():
                    if isinstance(port.get("port"), int) and port["port"] not in listeners:
                        out.append(Violation(RULE, ref(np), f"allows port {port['port']} on {ref(gw_obj)}'s pods, which listen on "
                                             f"{sorted(listeners)}", ("routing", "gateway", "listenerPort")))
    return out


def _flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a.startswith(f"{name}="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return None


def _sidecars(pods: list[PodView]) -> list[Violation]:
    out = []
    for pod in pods:
        for side in pod.spec.get("initContainers") or ():
            if side.get("name") != SIDECAR:
                continue
            args = [str(a) for a in side.get("args") or ()]
            target, own = _flag(args, "--vllm-port"), _flag(args, "--port")
            engines = pod.spec.get("containers") or ()
            listening = {_flag([str(a) for a in c.get("args") or ()], "--port") for c in engines}
            declared = {str(p.get("containerPort")) for c in engines for p in c.get("ports") or ()}
            if target not in listening or target not in declared:
                out.append(Violation(RULE, pod.ref, f"{pod.position} routing sidecar forwards to --vllm-port={target}, but vLLM listens on "
                                     f"{sorted(x for x in listening if x)} (declared {sorted(declared)})", ("routing", "sidecar", "enginePort")))
            if own not in {str(p.get("containerPort")) for p in side.get("ports") or ()}:
                out.append(Violation(RULE, pod.ref, f"routing sidecar --port={own} is not its container port", ("serving", "port")))
    return out


def _accounts(inp: RuleInput) -> list[Violation]:
    accounts, roles = _index(inp, "ServiceAccount"), _index(inp, "Role")
    out = []
    for pia in objects_of(inp, "PodIdentityAssociation"):
        spec = pia.get("spec") or {}
        if (str(spec.get("namespace")), str(spec.get("serviceAccount"))) not in accounts:
            out.append(Violation(RULE, ref(pia), f"serviceAccount {spec.get('serviceAccount')!r} in {spec.get('namespace')!r} is not rendered", ("identity",)))
    for rb in objects_of(inp, "RoleBinding"):
        rr = rb.get("roleRef") or {}
        if rr.get("kind") == "Role" and (namespace_of(rb), str(rr.get("name"))) not in roles:
            out.append(Violation(RULE, ref(rb), f"roleRef Role {rr.get('name')!r} is not rendered", ("serving", "routing", "endpointPicker")))
        for sub in rb.get("subjects") or ():
            if sub.get("kind") == "ServiceAccount" and (str(sub.get("namespace") or namespace_of(rb)), str(sub.get("name"))) not in accounts:
                out.append(Violation(RULE, ref(rb), f"subject ServiceAccount {sub.get('name')!r} is not rendered", ("serving", "routing", "endpointPicker")))
    return out


def path_references(inp: RuleInput) -> list[Violation]:
    """``path-references``: see the module docstring."""
    pods = all_pods(inp)
    return _routes(inp) + _picker_refs(inp, pods) + _bifrost_urls(inp) + _policies(inp, pods) + _sidecars(pods) + _accounts(inp)
