"""The endpoint picker (EPP) of the InferencePool: the llm-d router v0.10.0 (the Gateway API
Inference Extension's picker, renamed from llm-d-inference-scheduler), rendered as our own objects
rather than installing the upstream ``llm-d-router-gateway`` chart as a GitOps app, because

* the upstream chart's image is ``:main`` with ``pullPolicy: Always`` and its pod has no security
  context: rendering lets us pin the tag, harden the pod and keep checkov at 0 failed;
* the picker's Service name/port must equal ``InferencePool.spec.endpointPickerRef``; in one
  render the reference rule (:mod:`compiler.verify.rules_path`) proves it before anything is
  written, and chart == overlays == internal render keeps holding;
* one app per profile: nothing for GitOps to order between two releases of one path.

tests/render/test_picker.py runs the real ``helm template`` of the upstream chart with equivalent
values and compares the essentials (image repository, args, ports, RBAC rules, plugin config).

Objects (name = ``serving.routing.endpointPicker``, default ``<name>-epp``): ServiceAccount,
Role + RoleBinding (pods, InferencePools, InferenceObjectives/ModelRewrites: read-only, as
upstream), ConfigMap with the ``EndpointPickerConfig``, Deployment (one replica, ``Recreate``:
the prefix-cache index is per process, upstream's recommendation), Service (ext-proc gRPC on
``endpointPickerPort`` with ``appProtocol: kubernetes.io/h2c``, metrics on 9090).

The picker runs with ``--secure-serving=false`` (plaintext gRPC): upstream's TLS is a self-signed
certificate that its own Istio DestinationRule tells the gateway not to verify, so it
authenticates nothing; the NetworkPolicy admits only this profile's gateway pods to the port.
Metrics are served without auth (``--metrics-endpoint-auth=false``) for the same reason: only the
monitoring namespace may reach 9090.
"""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]

from . import meta, pd, security
from .meta import Context

COMPONENT = "endpoint-picker"
CONFIG_FILE = "plugins.yaml"
CONFIG_DIR = "/config"
HEALTH_PORT = 9003
METRICS_PORT = 9090
UID = 65532  # distroless "nonroot"
CONFIG_API = "llm-d.ai/v1alpha1"

#: Read-only access the picker needs (upstream Roles ``<epp>-sa`` and ``<epp>-non-sa``, merged).
RBAC_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]},
    {"apiGroups": ["inference.networking.k8s.io"], "resources": ["inferencepools"], "verbs": ["get", "watch", "list"]},
    {"apiGroups": ["inference.networking.x-k8s.io"], "resources": ["inferenceobjectives", "inferencemodelrewrites"], "verbs": ["get", "watch", "list"]},
    {"apiGroups": ["llm-d.ai"], "resources": ["inferenceobjectives", "inferencemodelrewrites"], "verbs": ["get", "watch", "list"]},
]


def render(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.profile.serving.kv_cache_aware:
        return []
    return [service_account(ctx), role(ctx), role_binding(ctx), config_map(ctx), deployment(ctx), service(ctx)]


def name(ctx: Context) -> str:
    return ctx.profile.serving.endpoint_picker


def selector(ctx: Context) -> dict[str, str]:
    return meta.selector(ctx, COMPONENT)


def _md(ctx: Context, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return meta.metadata(ctx, name(ctx), COMPONENT, annotations=annotations)


def service_account(ctx: Context) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _md(ctx)}


def role(ctx: Context) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _md(ctx), "rules": RBAC_RULES}


def role_binding(ctx: Context) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _md(ctx),
            "subjects": [{"kind": "ServiceAccount", "name": name(ctx), "namespace": ctx.namespace}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name(ctx)}}


# --- plugin configuration ------------------------------------------------------------------------

def scorers(ctx: Context) -> list[tuple[str, int]]:
    """(plugin type, weight) of the scorers the profile keeps (weight 0 = left out)."""
    r = ctx.profile.path.routing
    pairs = [("queue-scorer", r.queue_weight), ("kv-cache-utilization-scorer", r.kv_weight), ("prefix-cache-scorer", r.prefix_weight)]
    return [(t, w) for t, w in pairs if w > 0]


def core_metrics_extractor(ctx: Context) -> dict[str, Any]:
    """The extractor reads queue depth, running requests and KV-cache usage by the engine's metric
    names, chosen per pod by ``llm-d.ai/engine-type`` (set on SGLang pods by
    :mod:`.sglang`) and else ``defaultEngine`` (vllm); for SGLang pools the default is sglang too,
    as the upstream chart renders for ``router.modelServers.type: sglang``
    (plugins/datalayer/extractor/metrics/README.md: built-in engines vllm, sglang, ...)."""
    if ctx.profile.serving.engine == "sglang":
        return {"type": "core-metrics-extractor", "parameters": {"defaultEngine": "sglang"}}
    return {"type": "core-metrics-extractor"}


def plugin_config(ctx: Context) -> dict[str, Any]:
    """The ``EndpointPickerConfig``. Without disaggregation it is the upstream chart's
    ``default-plugins.yaml`` with the profile's weights. With it, the P/D form of
    docs/disaggregation.md: ``disagg-profile-handler`` with ``prefix-based-pd-decider``, a
    ``prefill`` and a ``decode`` scheduling profile, each filtering its role (``prefill-filter`` /
    ``decode-filter`` on ``llm-d.ai/role``, or ``label-selector-filter`` on a configured key),
    keeping the prefix-cache scorer (required in both profiles) and picking the best score."""
    plugins: list[dict[str, Any]] = [{"type": t} for t, _ in scorers(ctx)]
    plugins += [{"type": "metrics-data-source", "parameters": {"scheme": "http", "path": "/metrics", "insecureSkipVerify": True}},
                core_metrics_extractor(ctx)]
    weighted = [{"pluginRef": t, "weight": w} for t, w in scorers(ctx)]
    if not ctx.profile.serving.disaggregated:
        return {"apiVersion": CONFIG_API, "kind": "EndpointPickerConfig", "plugins": plugins,
                "schedulingProfiles": [{"name": "default", "plugins": weighted}]}
    if not any(t == "prefix-cache-scorer" for t, _ in scorers(ctx)):
        weighted.append({"pluginRef": "prefix-cache-scorer", "weight": 1})
        plugins.insert(0, {"type": "prefix-cache-scorer"})
    plugins += [{"type": "approx-prefix-cache-producer"}, {"type": "max-score-picker"},
                {"type": "prefix-based-pd-decider", "parameters": {"nonCachedTokens": pd.NON_CACHED_TOKENS, "promptTokens": 0}},
                {"type": "disagg-profile-handler", "parameters": {"deciders": {"prefill": "prefix-based-pd-decider"}}}]
    plugins += pd.role_filters(ctx)
    profiles = [{"name": stage, "plugins": [{"pluginRef": pd.filter_name(ctx, stage)}, {"pluginRef": "max-score-picker"}] + [dict(w) for w in weighted]}
                for stage in ("prefill", "decode")]
    return {"apiVersion": CONFIG_API, "kind": "EndpointPickerConfig", "plugins": plugins, "schedulingProfiles": profiles}


#: libyaml's emitter when PyYAML has it (~30x faster than the pure-Python one; the same text for
#: this plain data, tests/render/test_picker.py compares both on every shipped profile)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def config_text(config: dict[str, Any], dumper: Any = DUMPER) -> str:
    """The config as YAML; with the default dumper remembered per ``repr(config)`` (a fleet's
    configs are a few variants, and PyYAML's representer is pure Python: ~0.3 ms a dump). The
    repr tells apart everything the dump can (key order, 1/1.0/True/"1", list/tuple)."""
    if dumper is not DUMPER:
        return _dump(config, dumper)
    key = repr(config)
    text = _TEXTS.get(key)
    if text is None:
        if len(_TEXTS) >= 256:
            _TEXTS.clear()
        text = _TEXTS[key] = _dump(config, dumper)
    return text


_TEXTS: dict[str, str] = {}


def _dump(config: dict[str, Any], dumper: Any) -> str:
    return str(yaml.dump(config, Dumper=dumper, sort_keys=False, default_flow_style=False))


def config_map(ctx: Context) -> dict[str, Any]:
    text = config_text(plugin_config(ctx))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _md(ctx), "data": {CONFIG_FILE: text}}


# --- workload ------------------------------------------------------------------------------------

def args(ctx: Context) -> list[str]:
    # The pool lives in the picker's own namespace: $(NAMESPACE) is the pod's (env from the
    # downward API), so a chart installed with `helm -n other` stays consistent.
    return ["--pool-name", meta.object_name(ctx), "--pool-namespace", "$(NAMESPACE)", "--pool-group", "inference.networking.k8s.io",
            "--zap-encoder", "json", "--config-file", f"{CONFIG_DIR}/{CONFIG_FILE}", "--grpc-health-port", str(HEALTH_PORT),
            "--secure-serving=false", "--tracing=false", "--metrics-endpoint-auth=false"]


def container(ctx: Context) -> dict[str, Any]:
    s = ctx.profile.serving
    probe = {"grpc": {"port": HEALTH_PORT, "service": "inference-extension"}}
    return {
        "name": "epp",
        "image": ctx.profile.path.routing.picker_image.ref,
        "imagePullPolicy": "IfNotPresent",
        "args": args(ctx),
        "env": [{"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"name": "grpc", "containerPort": s.endpoint_picker_port, "protocol": "TCP"},
                  {"name": "grpc-health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        # Upstream's figures (8 CPU / 8Gi, memory capped at 16Gi) plus a CPU limit (checkov CKV_K8S_11).
        "resources": {"requests": {"cpu": "8", "memory": "8Gi"}, "limits": {"cpu": "8", "memory": "16Gi"}},
        "livenessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 10},
        "readinessProbe": {**probe, "periodSeconds": 2},
        "securityContext": security.container_security_context(),
        "volumeMounts": [{"name": "plugins-config", "mountPath": CONFIG_DIR, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
    }


def non_root_pod() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}}


def deployment(ctx: Context) -> dict[str, Any]:
    waivers = [*security.pinned_waivers(ctx.profile.path.routing.picker_image.digest), security.API_TOKEN]
    spec = {
        "replicas": 1,
        "revisionHistoryLimit": 3,
        # One active picker: a rolling update would briefly split the prefix-cache index.
        "strategy": {"type": "Recreate"},
        "selector": {"matchLabels": selector(ctx)},
        "template": {
            "metadata": {"labels": meta.labels(ctx, COMPONENT)},
            "spec": {
                "serviceAccountName": name(ctx),
                "automountServiceAccountToken": True,  # it watches pods and the InferencePool
                "enableServiceLinks": False,
                # Upstream: mirror the longest grace period of the pool's pods (in-flight streams).
                "terminationGracePeriodSeconds": max(r.termination_grace_seconds for r in ctx.roles()),
                "securityContext": non_root_pod(),
                "containers": [container(ctx)],
                "volumes": [{"name": "plugins-config", "configMap": {"name": name(ctx)}}, {"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _md(ctx, security.skip_annotations(waivers)), "spec": spec}


def service(ctx: Context) -> dict[str, Any]:
    s = ctx.profile.serving
    return {"apiVersion": "v1", "kind": "Service", "metadata": _md(ctx),
            "spec": {"type": "ClusterIP", "selector": selector(ctx),
                     "ports": [{"name": "grpc-ext-proc", "port": s.endpoint_picker_port, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
                               {"name": "http-metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}]}}
