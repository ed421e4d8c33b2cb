"""The cascade fallback gateway (all tiers, ``fallback.enabled``, on by default): Bifrost
(maximhq/bifrost, app 1.4.8 = chart 2.0.9), an OpenAI-compatible AI gateway in front of the
in-cluster Gateway. Each request tries ``fallback.cascade`` in order and moves to the next step on
an error or when the step's timeout expires (:func:`compiler.plan.path.step_timeouts`).

Rendered as our own Deployment + Service + ConfigMap rather than the upstream chart (only its
Chart.yaml is available to test against, and the chart's default SQLite PVC is not needed in file
mode). ``config.json`` is file mode (``config_store`` and ``logs_store`` off) and validates against
Bifrost's own schema (tests/render/test_bifrost.py, draft 2019-09):

* ``providers.vllm``: the Gateway's Service (``vllm_key_config.url``), the served model name;
* ``providers.openai`` (with ``fallback.cascade`` kind ``hybrid``): the on-premises replicas on
  EKS Hybrid Nodes through their Service (``network_config.base_url``, :mod:`.hybrid`);
* ``providers.bedrock``: one key per Bedrock step (model, region), **no credentials**: the pod's
  ServiceAccount gets the step's IAM role through EKS Pod Identity (:mod:`.identity`), which the
  AWS SDK's default chain picks up; there is no Secret and no static key;
* ``governance.routing_rules``: one global rule whose provider/model is the first step and whose
  ``fallbacks`` are the other steps, in order.

Clients call ``http://<name>-bifrost.<namespace>:<port>/v1/...`` with model ``vllm/<served name>``.
"""

from __future__ import annotations

from typing import Any

from ..emit.jsonout import dumps_indented
from ..plan.path import bifrost_name, gateway_url, hybrid_url, step_timeouts
from ..profile_path import Step
from . import meta, security
from .meta import Context

COMPONENT = "fallback-gateway"
APP_DIR = "/app/data"
CONFIG_FILE = "config.json"
CONTAINER_PORT = 8080  # Bifrost's HTTP port
UID = 65532
#: Bifrost provider of the cascade's hybrid step (the on-premises replicas, OpenAI-compatible vLLM).
HYBRID_PROVIDER = "openai"
UNUSED_KEY = "dummy"  # the on-premises vLLM checks no key (no --api-key)
REPLICAS = 2  # the front door: one pod may drain while the other serves


def render(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.profile.path.fallback.enabled:
        return []
    return [service_account(ctx), config_map(ctx), deployment(ctx), service(ctx), disruption_budget(ctx)]


def name(ctx: Context) -> str:
    return bifrost_name(ctx.profile)


def selector(ctx: Context) -> dict[str, str]:
    return meta.selector(ctx, COMPONENT)


def _md(ctx: Context, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return meta.metadata(ctx, name(ctx), COMPONENT, annotations=annotations)


# --- config.json -------------------------------------------------------------------------------

def target(ctx: Context, step: Step) -> tuple[str, str]:
    """(Bifrost provider, model) of a cascade step."""
    if step.kind == "gateway":
        return "vllm", ctx.profile.model.served_name
    if step.kind == "hybrid":
        return HYBRID_PROVIDER, ctx.profile.model.served_name
    return "bedrock", str(step.model_id)


def _network(seconds: int) -> dict[str, Any]:
    # No retries inside a step: the next step is the retry, and the budget is the SLO's.
    return {"default_request_timeout_in_seconds": seconds, "max_retries": 0}


def providers(ctx: Context) -> dict[str, Any]:
    steps, timeouts = ctx.profile.path.fallback.cascade, step_timeouts(ctx.profile)
    out: dict[str, Any] = {}
    gw = [s for s in steps if s.kind == "gateway"]
    if gw:
        served = ctx.profile.model.served_name
        out["vllm"] = {"keys": [{"name": gw[0].name, "weight": 1, "models": [served],
                                 "vllm_key_config": {"url": gateway_url(ctx.profile), "model_name": served}}],
                       "network_config": _network(timeouts[gw[0].name])}
    onprem = [s for s in steps if s.kind == "hybrid"]
    if onprem:
        # The on-premises vLLM speaks the OpenAI API; Bifrost's openai provider is pointed at its
        # Service with network_config.base_url (schema: "Base URL for the provider"). vLLM runs
        # without --api-key and ignores the Authorization header, so the key value is the
        # placeholder Bifrost's docs use for a self-hosted vLLM ("value": "dummy", docs.getbifrost.ai
        # quickstart/gateway/provider-configuration): not a credential, and no Secret exists.
        served = ctx.profile.model.served_name
        out[HYBRID_PROVIDER] = {"keys": [{"name": onprem[0].name, "value": UNUSED_KEY, "weight": 1, "models": [served]}],
                                "network_config": {**_network(timeouts[onprem[0].name]), "base_url": hybrid_url(ctx.profile)}}
    bedrock = [s for s in steps if s.kind == "bedrock"]
    if bedrock:
        out["bedrock"] = {"keys": [{"name": s.name, "weight": 1, "models": [str(s.model_id)], "bedrock_key_config": {"region": str(s.region)}}
                                   for s in bedrock],
                          "network_config": _network(max(timeouts[s.name] for s in bedrock))}
    return out


def config(ctx: Context) -> dict[str, Any]:
    steps = ctx.profile.path.fallback.cascade
    first, rest = target(ctx, steps[0]), [target(ctx, s) for s in steps[1:]]
    first_desc = "on-premises (EKS Hybrid Nodes) first" if steps[0].kind == "hybrid" else "in-cluster first"
    rule = {"id": "cascade", "name": "cascade", "description": f"{first_desc}, then the fallbacks in profile order",
            "enabled": True, "cel_expression": "true", "provider": first[0], "model": first[1],
            "fallbacks": [f"{p}/{m}" for p, m in rest], "scope": "global", "priority": 0}
    return {
        "client": {"drop_excess_requests": False, "enable_logging": False, "disable_content_logging": True, "allow_direct_keys": False},
        "config_store": {"enabled": False},
        "logs_store": {"enabled": False},
        "providers": providers(ctx),
        "governance": {"routing_rules": [rule]},
    }


def config_map(ctx: Context) -> dict[str, Any]:
    text = dumps_indented(config(ctx)) + "\n"  # = json.dumps(..., indent=2, sort_keys=True), C-encoded strings
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _md(ctx), "data": {CONFIG_FILE: text}}


# --- workload ------------------------------------------------------------------------------------

def service_account(ctx: Context) -> dict[str, Any]:
    """EKS Pod Identity associates it with the Bedrock step's IAM role (:mod:`.identity`)."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _md(ctx), "automountServiceAccountToken": False}


def container(ctx: Context) -> dict[str, Any]:
    res = {"cpu": "1", "memory": "1Gi"}
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3}
    return {
        "name": "bifrost",
        "image": ctx.profile.path.fallback.image.ref,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": "APP_DIR", "value": APP_DIR}, {"name": "APP_PORT", "value": str(CONTAINER_PORT)}],
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "resources": {"requests": dict(res), "limits": dict(res)},
        "readinessProbe": probe,
        "livenessProbe": probe,
        "securityContext": security.container_security_context(),
        "volumeMounts": [{"name": "data", "mountPath": APP_DIR},
                         {"name": "config", "mountPath": f"{APP_DIR}/{CONFIG_FILE}", "subPath": CONFIG_FILE, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }


def deployment(ctx: Context) -> dict[str, Any]:
    pod = {
        "metadata": {"labels": meta.labels(ctx, COMPONENT)},
        "spec": {
            "serviceAccountName": name(ctx),
            "automountServiceAccountToken": False,  # Pod Identity injects its own token
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": selector(ctx)}, "matchLabelKeys": ["pod-template-hash"]}],
            "containers": [container(ctx)],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "config", "configMap": {"name": name(ctx)}}, {"name": "tmp", "emptyDir": {}}],
        },
    }
    spec = {"replicas": REPLICAS, "revisionHistoryLimit": 3, "selector": {"matchLabels": selector(ctx)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, "template": pod}
    waivers = security.pinned_waivers(ctx.profile.path.fallback.image.digest)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _md(ctx, security.skip_annotations(waivers)), "spec": spec}


def service(ctx: Context) -> dict[str, Any]:
    port = ctx.profile.path.fallback.port
    return {"apiVersion": "v1", "kind": "Service", "metadata": _md(ctx),
            "spec": {"type": "ClusterIP", "selector": selector(ctx), "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}}


def disruption_budget(ctx: Context) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _md(ctx),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(ctx)}, "unhealthyPodEvictionPolicy": "AlwaysAllow"}}
