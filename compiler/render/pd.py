"""Prefill/decode routing (disaggregated profiles), after the llm-d router's
docs/disaggregation.md (v0.10.0):

* every serving pod carries its role under ``routing.roleLabel`` (default ``llm-d.ai/role``:
  ``prefill`` | ``decode``), and the InferencePool selects both roles;
* the picker's ``disagg-profile-handler`` picks a decode pod and, when the
  ``prefix-based-pd-decider`` says the uncached part of the prompt is worth it, a prefill pod,
  passed on as the ``x-prefiller-host-port`` header;
* the **routing sidecar runs on decode pods only** (leaders: workers serve no HTTP). It takes the
  serving port (``serving.port``, named ``http``: what the pool's ``targetPorts``, the Services and
  the NetworkPolicies name), sends the prefill to the chosen prefill pod's vLLM on that same
  port, then hands the request to its local vLLM, which moves to ``routing.sidecar.enginePort``
  and pulls the KV blocks over NIXL (``nixlv2`` connector = vLLM's ``NixlConnector``).

This module owns the decision; :func:`compiler.render.vllm.pod_template` calls :func:`decorate` on
every pod template it builds (one hook line), so the engine's own module stays about the engine.
"""

from __future__ import annotations

from typing import Any

from ..plan.model import RolePlan
from .meta import Context

SIDECAR = "routing-sidecar"
ENGINE_PORT_NAME = "vllm"
DEFAULT_ROLE_LABEL = "llm-d.ai/role"
#: prefix-based-pd-decider: prefill remotely once 8 prompt tokens are not cached on the decode pod
#: (the value of docs/disaggregation.md; 0 would never disaggregate).
NON_CACHED_TOKENS = 8
SIDECAR_UID = 65532
_HTTP_POSITIONS = ("single", "leader")


def role_label(ctx: Context) -> str:
    return ctx.profile.path.routing.role_label


def filter_name(ctx: Context, stage: str) -> str:
    return f"{stage}-filter" if role_label(ctx) == DEFAULT_ROLE_LABEL else f"{stage}-pods"


def role_filters(ctx: Context) -> list[dict[str, Any]]:
    """The role filters of the picker: the built-in ones on ``llm-d.ai/role``, else the generic
    ``label-selector-filter`` on the configured key (docs: "Integrating External P/D Workloads")."""
    if role_label(ctx) == DEFAULT_ROLE_LABEL:
        return [{"type": "prefill-filter"}, {"type": "decode-filter"}]
    return [{"type": "label-selector-filter", "name": filter_name(ctx, stage),
             "parameters": {"matchExpressions": [{"key": role_label(ctx), "operator": "In", "values": [stage]}]}}
            for stage in ("prefill", "decode")]


def has_sidecar(ctx: Context, rp: RolePlan, position: str) -> bool:
    return ctx.profile.serving.disaggregated and rp.role == "decode" and position in _HTTP_POSITIONS


def engine_port(ctx: Context, rp: RolePlan, position: str) -> int:
    """Where vLLM listens: behind the sidecar on decode pods, else on the serving port."""
    return ctx.profile.path.routing.engine_port if has_sidecar(ctx, rp, position) else ctx.profile.serving.port


def sidecar(ctx: Context) -> dict[str, Any]:
    r, s = ctx.profile.path.routing, ctx.profile.serving
    res = {"cpu": "1", "memory": "1Gi"}
    return {
        "name": SIDECAR,
        "image": r.sidecar_image.ref,
        "imagePullPolicy": "IfNotPresent",
        # A native sidecar: starts before vLLM, lives as long as the pod, is stopped after it.
        "restartPolicy": "Always",
        "args": [f"--port={s.port}", f"--vllm-port={r.engine_port}", f"--kv-connector={kv_connector(ctx)}", "--secure-proxy=false",
                 "--zap-encoder=json"],
        "ports": [{"name": "http", "containerPort": s.port, "protocol": "TCP"}],
        "resources": {"requests": dict(res), "limits": dict(res)},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 10, "failureThreshold": 3},
        "securityContext": {"runAsNonRoot": True, "runAsUser": SIDECAR_UID, "runAsGroup": SIDECAR_UID, "privileged": False,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
    }


def kv_connector(ctx: Context) -> str:
    """The sidecar's protocol (docs/disaggregation.md "KV Connector"): ``nixlv2`` for vLLM's
    NixlConnector, ``sglang`` for SGLang's own bootstrap protocol (prefill bootstrap on its
    default port 8998, the sidecar's SGLANG_BOOTSTRAP_PORT default)."""
    return "sglang" if ctx.profile.serving.engine == "sglang" else "nixlv2"


def _move_engine(c: dict[str, Any], port: int) -> None:
    """vLLM's ``--port`` argument, its ``http`` container port and its probes move to ``port``."""
    args = c.get("args") or []
    for i, a in enumerate(args[:-1]):
        if a == "--port":
            args[i + 1] = str(port)
    for p in c.get("ports") or ():
        if p.get("name") == "http":
            p.update({"name": ENGINE_PORT_NAME, "containerPort": port})
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = (c.get(probe) or {}).get("httpGet")
        if get and get.get("port") == "http":
            get["port"] = ENGINE_PORT_NAME


def decorate(ctx: Context, rp: RolePlan, position: str, template: dict[str, Any]) -> dict[str, Any]:
    """Role label on every disaggregated pod; the sidecar on decode pods that serve HTTP."""
    if not ctx.profile.serving.disaggregated:
        return template
    template["metadata"]["labels"][role_label(ctx)] = rp.role
    if has_sidecar(ctx, rp, position):
        spec = template["spec"]
        _move_engine(spec["containers"][0], engine_port(ctx, rp, position))
        spec["initContainers"] = [sidecar(ctx)] + list(spec.get("initContainers") or ())
    return template
