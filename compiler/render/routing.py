"""KV-cache-aware routing: an InferencePool (Gateway API Inference Extension,
``inference.networking.k8s.io/v1``) over the pods that serve requests, whose endpoint picker
chooses a pod by KV-cache and queue state instead of round-robin.

The pool selects the ``serve`` pods or, when prefill/decode are split, the HTTP pods of both
roles (LeaderWorkerSet leaders, ``worker-index: "0"``): the picker's role filters then choose a
decode pod and, when worth it, a prefill pod (:mod:`.pd`). The endpoint picker it points at is
rendered by :mod:`.picker` (same name and port); the HTTPRoute that sends traffic to the pool by
:mod:`.gateway`. Nothing is rendered when routing is off.
"""

from __future__ import annotations

from typing import Any

from . import meta
from .meta import Context
from .vllm import entry_role, http_selector

API_VERSION = "inference.networking.k8s.io/v1"


def render(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.profile.serving.kv_cache_aware:
        return []
    return [inference_pool(ctx)]


def pool_selector(ctx: Context) -> dict[str, str]:
    """The entry role's HTTP pods, or every role's when disaggregated (all roles are LWS then)."""
    sel = http_selector(ctx, entry_role(ctx))
    if ctx.profile.serving.disaggregated:
        sel.pop("app.kubernetes.io/component")
    return sel


def inference_pool(ctx: Context) -> dict[str, Any]:
    s = ctx.profile.serving
    rp = entry_role(ctx)
    return {
        "apiVersion": API_VERSION,
        "kind": "InferencePool",
        "metadata": meta.metadata(ctx, meta.object_name(ctx), rp.role),
        "spec": {
            "selector": {"matchLabels": pool_selector(ctx)},
            "targetPorts": [{"number": s.port}],
            "endpointPickerRef": {
                "kind": "Service",
                "name": s.endpoint_picker,
                "port": {"number": s.endpoint_picker_port},
                # The picker only optimises placement: if it is down, route to any ready pod
                # rather than failing every request (FailClose is the API default).
                "failureMode": "FailOpen",
            },
        },
    }
