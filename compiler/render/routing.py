"""KV-cache-aware routing: an InferencePool (Gateway API Inference Extension,
``inference.networking.k8s.io/v1``) over the pods that serve requests, whose endpoint picker
chooses a pod by KV-cache and queue state instead of round-robin.

The pool selects the ``serve`` pods, or the decode leaders when prefill/decode are split
(workers of a LeaderWorkerSet serve no HTTP). The endpoint picker Service itself is installed by
the gateway stack; it is only referenced here. Nothing is rendered when routing is off.
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


def inference_pool(ctx: Context) -> dict[str, Any]:
    s = ctx.profile.serving
    rp = entry_role(ctx)
    return {
        "apiVersion": API_VERSION,
        "kind": "InferencePool",
        "metadata": meta.metadata(ctx, meta.object_name(ctx), rp.role),
        "spec": {
            "selector": {"matchLabels": http_selector(ctx, rp)},
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
