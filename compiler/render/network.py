"""The namespace and the NetworkPolicies around the serving pods.

Ingress to the serving pods is denied by default and opened only where the serving path needs it:

* the ``http`` port (named on every serving container) from the gateway namespace (gateway data
  plane and fallback gateway), from the monitoring namespace (Prometheus scrapes ``/metrics``;
  KEDA never talks to pods, it queries Prometheus), and from any pod of the profile's own
  namespace: the endpoint picker must live next to its InferencePool (the pool's
  ``endpointPickerRef`` is a same-namespace reference) and scrapes the pods' metrics on ``http``,
  but it is installed by the gateway stack with labels this compiler does not control, so the
  namespace is the trust boundary for the serving port;
* multi-node roles (LeaderWorkerSet groups): every TCP/UDP port between pods of the same role,
  because ``mp`` rendezvous (29500 by default), Ray and NCCL bootstrap pick arbitrary ports;
* disaggregated prefill/decode: the NIXL side-channel ports (``sideChannelPort`` .. + TP x DP - 1,
  numbers: the containers may not name them), opened in both directions: every NIXL worker listens
  on its port, the consumer (decode) dials the producer's (prefill) for the handshake, and
  ``kv_both``/push-mode connectors dial the other way. When the KV data itself rides on IP (UCX,
  or LIBFABRIC without EFA: TCP on ephemeral ports) all TCP between the two roles is opened; over
  EFA (SRD) the data bypasses the pod's IP stack and NetworkPolicy does not see it.

Egress is not restricted: weights stream from S3 over HTTPS and the pods resolve names through
cluster DNS; an egress allow-list would need the S3 prefix lists, which a NetworkPolicy cannot name.
Kubelet probes are unaffected: traffic from the pod's own node is always allowed.
"""

from __future__ import annotations

from typing import Any

from ..plan.model import RolePlan
from .meta import COMPONENT_LABEL, WAVE_NAMESPACE, Context, metadata, object_name, selector

NETWORK_API = "networking.k8s.io/v1"
COMPONENT = "network-policy"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
PSA = "pod-security.kubernetes.io/"


def needs_privileged(ctx: Context) -> bool:
    """EFA pods need ``IPC_LOCK`` (some stacks run privileged): the baseline Pod Security level
    only allows a short list of capabilities without it, so such namespaces enforce privileged."""
    return ctx.profile.tier == "tier3" or any(p.efa for p in ctx.profile.capacity.pools)


def pod_security_level(ctx: Context) -> str:
    """``baseline`` otherwise: vLLM images run as root, which ``restricted`` forbids, and GPU
    pods need nothing beyond baseline (devices come from the device plugin)."""
    return "privileged" if needs_privileged(ctx) else "baseline"


def render_namespace(ctx: Context) -> list[dict[str, Any]]:
    level = pod_security_level(ctx)
    psa = {f"{PSA}{mode}": level for mode in ("enforce", "audit", "warn")}
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": metadata(ctx, ctx.namespace, "namespace", namespaced=False, wave=WAVE_NAMESPACE, extra_labels=psa)}]


def serving_pod_selector(ctx: Context) -> dict[str, Any]:
    """Every serving pod of this profile, whatever its role (not the endpoint picker or others)."""
    base = selector(ctx, "")
    base.pop(COMPONENT_LABEL)
    roles = sorted({r.role for r in ctx.roles()})
    return {"matchLabels": base, "matchExpressions": [{"key": COMPONENT_LABEL, "operator": "In", "values": roles}]}


def role_selector(ctx: Context, role: str) -> dict[str, Any]:
    return {"matchLabels": selector(ctx, role)}


def namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}


def policy(ctx: Context, name: str, pods: dict[str, Any], ingress: list[dict[str, Any]] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": pods, "policyTypes": ["Ingress"]}
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": NETWORK_API, "kind": "NetworkPolicy", "metadata": metadata(ctx, name, COMPONENT), "spec": spec}


def default_deny(ctx: Context) -> dict[str, Any]:
    return policy(ctx, object_name(ctx, "default-deny"), serving_pod_selector(ctx), None)


def allow_http(ctx: Context) -> dict[str, Any]:
    namespaces = sorted({ctx.profile.gateway_namespace, ctx.profile.monitoring.namespace})
    peers = [namespace_peer(ns) for ns in namespaces]
    peers.append({"podSelector": {}})  # every pod of this namespace (endpoint picker, proxies)
    return policy(ctx, object_name(ctx, "allow-http"), serving_pod_selector(ctx),
                  [{"from": peers, "ports": [{"protocol": "TCP", "port": "http"}]}])


def allow_group(ctx: Context, role: RolePlan) -> dict[str, Any]:
    """All TCP/UDP between pods of one multi-node role (port omitted = every port)."""
    return policy(ctx, object_name(ctx, role.role, "group"), role_selector(ctx, role.role),
                  [{"from": [{"podSelector": role_selector(ctx, role.role)}],
                    "ports": [{"protocol": "TCP"}, {"protocol": "UDP"}]}])


def kv_data_over_ip(ctx: Context) -> bool:
    """NIXL moves KV blocks over EFA only with the LIBFABRIC backend on EFA nodes; otherwise over TCP."""
    return not (ctx.profile.serving.nixl_backend == "LIBFABRIC" and any(p.efa for p in ctx.profile.capacity.pools))


def side_channel_ports(ctx: Context, listener: RolePlan) -> dict[str, Any]:
    first = ctx.profile.serving.side_channel_port
    last = first + listener.tensor * listener.data - 1
    port: dict[str, Any] = {"protocol": "TCP", "port": first}
    if last > first:
        port["endPort"] = last
    return port


def allow_kv_transfer(ctx: Context, listener: RolePlan, peer: RolePlan) -> dict[str, Any]:
    ports = [{"protocol": "TCP"}] if kv_data_over_ip(ctx) else [side_channel_ports(ctx, listener)]
    return policy(ctx, object_name(ctx, listener.role, "nixl"), role_selector(ctx, listener.role),
                  [{"from": [{"podSelector": role_selector(ctx, peer.role)}], "ports": ports}])


def kv_transfer_policies(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.profile.serving.disaggregated:
        return []
    prefill, decode = ctx.plan.role("prefill"), ctx.plan.role("decode")
    return [allow_kv_transfer(ctx, prefill, decode), allow_kv_transfer(ctx, decode, prefill)]


def render(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.profile.network_policy:
        return []
    out = [default_deny(ctx), allow_http(ctx)]
    out.extend(allow_group(ctx, r) for r in ctx.roles() if r.multi_node)
    out.extend(kv_transfer_policies(ctx))
    return out
