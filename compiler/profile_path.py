"""Typed view of the request-path sections of a profile: ``routing``, ``fallback``, ``identity``
and ``network.clientNamespaces`` (see :mod:`compiler.profile` for the rest).

Kept in its own module so the serving/capacity view and the path view evolve independently;
:func:`compiler.profile_read.from_resolved` calls :func:`from_values` once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PinnedImage:
    """An image pinned by tag (and optionally digest)."""

    repository: str
    tag: str
    digest: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


@dataclass(frozen=True)
class Step:
    """One cascade step: ``gateway`` (this profile's Gateway), ``hybrid`` (the on-premises replicas
    on EKS Hybrid Nodes) or ``bedrock``."""

    name: str
    kind: str
    timeout_seconds: int | None  # None: shares what the SLO leaves (see compiler.plan.path)
    model_id: str | None
    region: str | None
    role_arn: str | None
    index: int  # position in fallback.cascade (for locating errors)


@dataclass(frozen=True)
class Routing:
    """The Gateway and the endpoint picker's scoring weights."""

    gateway_class: str
    listener_port: int
    gateway_service: str | None  # None: <gateway>-<class> (Istio's naming)
    prefix_weight: int
    kv_weight: int
    queue_weight: int
    picker_image: PinnedImage
    sidecar_image: PinnedImage
    engine_port: int  # vLLM's port behind the sidecar on decode pods
    role_label: str
    request_timeout_seconds: int | None


@dataclass(frozen=True)
class Fallback:
    """The Bifrost gateway and its cascade of providers."""

    enabled: bool
    image: PinnedImage
    port: int
    cascade: tuple[Step, ...]


@dataclass(frozen=True)
class Identity:
    """EKS Pod Identity for the path: the ACK controller and the model role."""

    ack: bool
    model_role_arn: str | None


@dataclass(frozen=True)
class Path:
    """The request path from the clients to the model: routing, fallback, identity."""

    routing: Routing
    fallback: Fallback
    identity: Identity
    client_namespaces: tuple[str, ...]


def _image(d: dict[str, Any] | None, repository: str, tag: str) -> PinnedImage:
    d = d or {}
    return PinnedImage(d.get("repository", repository), d.get("tag", tag), d.get("digest"))


def from_values(v: dict[str, Any]) -> Path:
    """The defaults below only apply to values built without the tier defaults (tests)."""
    r, f, i = v.get("routing", {}), v.get("fallback", {}), v.get("identity", {})
    gw, sc, side = r.get("gateway", {}), r.get("scorers", {}), r.get("sidecar", {})
    routing = Routing(gw.get("className", "istio"), gw.get("listenerPort", 80), gw.get("serviceName"),
                      sc.get("prefixCache", 3), sc.get("kvCacheUtilization", 2), sc.get("queueDepth", 2),
                      _image(r.get("picker", {}).get("image"), "ghcr.io/llm-d/llm-d-router-endpoint-picker", "v0.10.0"),
                      _image(side.get("image"), "ghcr.io/llm-d/llm-d-routing-sidecar", "v0.10.0"),
                      side.get("enginePort", 8200), r.get("roleLabel", "llm-d.ai/role"), r.get("requestTimeoutSeconds"))
    steps = tuple(Step(s["name"], s["kind"], s.get("timeoutSeconds"), s.get("modelId"), s.get("region"), s.get("roleArn"), n)
                  for n, s in enumerate(f.get("cascade", [])))
    # The on-premises step (kind hybrid) is tried first wherever it is listed: its servers are paid
    # for whether used or not, and a merged cascade appends new steps after the tier defaults'.
    steps = tuple(sorted(steps, key=lambda s: s.kind != "hybrid"))
    fallback = Fallback(bool(f.get("enabled", False)), _image(f.get("image"), "maximhq/bifrost", "1.4.8"), f.get("port", 8080), steps)
    identity = Identity(bool(i.get("ack", True)), i.get("modelRoleArn"))
    return Path(routing, fallback, identity, tuple(v.get("network", {}).get("clientNamespaces", ())))
