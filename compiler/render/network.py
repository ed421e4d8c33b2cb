"""The namespace and the NetworkPolicies of the request path.

Ingress is denied by default to every pod of the path and opened hop by hop, nothing else:

* clients -> fallback gateway (Bifrost) ``http``: from ``network.clientNamespaces`` (every
  namespace when unset) and the monitoring namespace; without fallback the clients reach the
  Gateway's listener directly;
* fallback gateway -> Gateway data plane (pods the controller labels
  ``gateway.networking.k8s.io/gateway-name: <gateway>``), listener port;
* Gateway -> endpoint picker ``grpc`` (ext-proc); monitoring -> picker ``metrics``;
* Gateway and picker (it scrapes ``/metrics`` on the pool's target port) -> serving pods ``http``;
  monitoring -> serving pods ``http`` (Prometheus; KEDA only queries Prometheus);
* disaggregated: decode pods (the routing sidecar) -> prefill pods ``http``; NIXL side-channel
  ports between the roles (numbers: the containers may not name them), in both directions:
  every NIXL worker listens on its port, the consumer (decode) dials the producer's (prefill)
  for the handshake, and ``kv_both``/push-mode connectors dial the other way. When the KV data
  itself rides on IP (UCX, or LIBFABRIC without EFA: TCP on ephemeral ports) all TCP between the
  two roles is opened; over EFA (SRD) the data bypasses the pod's IP stack;
* multi-node roles (LeaderWorkerSet groups): every TCP/UDP port between pods of the same role,
  because ``mp`` rendezvous (29500 by default), Ray and NCCL bootstrap pick arbitrary ports.

Egress is not restricted: weights stream from S3 and Bedrock is called over HTTPS (AWS endpoints
a NetworkPolicy cannot name), the picker talks to the API server, and DNS needs no rule. Kubelet
probes are unaffected: traffic from the pod's own node is always allowed.
"""

from __future__ import annotations

from typing import Any

from ..plan.model import RolePlan
from ..plan.path import bifrost_name, gateway_name
from . import bifrost, picker
from .gateway import GATEWAY_POD_LABEL
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


def gateway_pods(ctx: Context) -> dict[str, Any]:
    return {"matchLabels": {GATEWAY_POD_LABEL: gateway_name(ctx.profile)}}


def client_peers(ctx: Context) -> list[dict[str, Any]]:
    """Who may call the front door: the listed namespaces (and monitoring), or every namespace."""
    names = ctx.profile.path.client_namespaces
    if not names:
        return [{"namespaceSelector": {}}]
    return [namespace_peer(ns) for ns in sorted({*names, ctx.profile.monitoring.namespace})]


def allow_http(ctx: Context) -> dict[str, Any]:
    peers = [{"podSelector": gateway_pods(ctx)}, namespace_peer(ctx.profile.monitoring.namespace)]
    if ctx.profile.serving.kv_cache_aware:
        peers.append({"podSelector": {"matchLabels": picker.selector(ctx)}})  # metrics for scoring
    return policy(ctx, object_name(ctx, "allow-http"), serving_pod_selector(ctx),
                  [{"from": peers, "ports": [{"protocol": "TCP", "port": "http"}]}])


def allow_prefill_from_decode(ctx: Context) -> dict[str, Any]:
    """The decode pods' routing sidecar sends each remote prefill to the chosen prefill pod."""
    return policy(ctx, object_name(ctx, "prefill", "from-decode"), role_selector(ctx, "prefill"),
                  [{"from": [{"podSelector": role_selector(ctx, "decode")}], "ports": [{"protocol": "TCP", "port": "http"}]}])


def gateway_policy(ctx: Context) -> dict[str, Any]:
    f = ctx.profile.path.fallback
    peers = [{"podSelector": {"matchLabels": bifrost.selector(ctx)}}] if f.enabled else client_peers(ctx)
    return policy(ctx, gateway_name(ctx.profile), gateway_pods(ctx),
                  [{"from": peers, "ports": [{"protocol": "TCP", "port": ctx.profile.path.routing.listener_port}]}])


def picker_policy(ctx: Context) -> dict[str, Any]:
    pods = {"matchLabels": picker.selector(ctx)}
    return policy(ctx, picker.name(ctx), pods, [
        {"from": [{"podSelector": gateway_pods(ctx)}], "ports": [{"protocol": "TCP", "port": "grpc"}]},
        {"from": [namespace_peer(ctx.profile.monitoring.namespace)], "ports": [{"protocol": "TCP", "port": "metrics"}]},
    ])


def bifrost_policy(ctx: Context) -> dict[str, Any]:
    return policy(ctx, bifrost_name(ctx.profile), {"matchLabels": bifrost.selector(ctx)},
                  [{"from": client_peers(ctx), "ports": [{"protocol": "TCP", "port": "http"}]}])


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
    # SGLang's KV managers bind ZMQ sockets on random ports (compiler/render/sglang.py): every TCP port.
    any_port = kv_data_over_ip(ctx) or ctx.profile.serving.engine == "sglang"
    ports = [{"protocol": "TCP"}] if any_port else [side_channel_ports(ctx, listener)]
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
    if ctx.profile.serving.disaggregated:
        out.append(allow_prefill_from_decode(ctx))
    out.append(gateway_policy(ctx))
    if ctx.profile.serving.kv_cache_aware:
        out.append(picker_policy(ctx))
    if ctx.profile.path.fallback.enabled:
        out.append(bifrost_policy(ctx))
    return out
