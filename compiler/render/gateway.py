"""The front door of every tier: a Gateway API ``Gateway`` and the ``HTTPRoute`` for the OpenAI paths
(``gateway.networking.k8s.io/v1``, CRDs v1.6.1).

One Gateway per profile, in the profile's namespace, so the route, the InferencePool and the
Services it names are same-namespace references (no ReferenceGrant). Its class comes from
``routing.gateway.className`` (default ``istio``: the controller the platform installs with the
Inference Extension enabled; agentgateway and GKE's ``gke-l7-*`` classes implement it too, per
the llm-d router README and its charts' ``provider`` values). The controller provisions the data
plane (Deployment + Service, Istio names them ``<gateway>-<class>``) and labels its pods with
``gateway.networking.k8s.io/gateway-name`` (GEP-1762), which the NetworkPolicies select.

The route sends ``/v1/*`` to the InferencePool (tiers with KV-cache-aware routing) or the entry
Service (tier1: round robin), with ``timeouts.request`` = the gateway step's budget from
:func:`compiler.plan.path.route_timeout`: a stuck backend fails at the Gateway, inside the
client's SLO, so the fallback gateway can still try Bedrock.
"""

from __future__ import annotations

from typing import Any

from ..plan.path import duration, entry_service, gateway_name, route_timeout
from . import meta
from .meta import Context

API = "gateway.networking.k8s.io/v1"
INFERENCE_GROUP = "inference.networking.k8s.io"
COMPONENT = "gateway"
LISTENER = "http"
#: The OpenAI-compatible API vLLM serves; everything else (metrics, admin) stays off the Gateway.
PATHS = ("/v1/",)
GATEWAY_POD_LABEL = "gateway.networking.k8s.io/gateway-name"


def render(ctx: Context) -> list[dict[str, Any]]:
    return [gateway(ctx), http_route(ctx)]


def gateway(ctx: Context) -> dict[str, Any]:
    r = ctx.profile.path.routing
    return {
        "apiVersion": API,
        "kind": "Gateway",
        "metadata": meta.metadata(ctx, gateway_name(ctx.profile), COMPONENT),
        "spec": {
            "gatewayClassName": r.gateway_class,
            # Only routes of this namespace attach: the Gateway fronts this profile alone.
            "listeners": [{"name": LISTENER, "protocol": "HTTP", "port": r.listener_port, "allowedRoutes": {"namespaces": {"from": "Same"}}}],
        },
    }


def backend_ref(ctx: Context) -> dict[str, Any]:
    s = ctx.profile.serving
    if s.kv_cache_aware:
        return {"group": INFERENCE_GROUP, "kind": "InferencePool", "name": meta.object_name(ctx)}
    return {"name": entry_service(ctx.profile), "port": s.port}


def http_route(ctx: Context) -> dict[str, Any]:
    rules = [{
        "matches": [{"path": {"type": "PathPrefix", "value": path}} for path in PATHS],
        "backendRefs": [backend_ref(ctx)],
        "timeouts": {"request": duration(route_timeout(ctx.profile))},
    }]
    return {
        "apiVersion": API,
        "kind": "HTTPRoute",
        "metadata": meta.metadata(ctx, meta.object_name(ctx), COMPONENT),
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway_name(ctx.profile), "sectionName": LISTENER}],
            "rules": rules,
        },
    }
