"""Namespace and NetworkPolicies: strictly valid, selecting exactly the serving pods, and opening
only the paths the serving stack uses (gateway, monitoring, endpoint picker, LWS groups, NIXL)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from compiler.pipeline import Compiled
from compiler.render.meta import WAVE_NAMESPACE, Context, selector
from compiler.verify.kube import KubeValidator
from compiler.verify.rules_k8s import selector_matches as matches
from tests.shipped import compile_tier

ROOT = Path(__file__).resolve().parents[2]
TIERS = ("tier1", "tier2", "tier3")


@pytest.fixture(scope="module")
def kube() -> KubeValidator:
    return KubeValidator()


def build(tier: str, sets: tuple[str, ...] = ()) -> Compiled:
    return compile_tier(tier, sets)


def of_kind(c: Compiled, kind: str) -> list[dict[str, Any]]:
    return [o for o in c.objects if o["kind"] == kind]


def policies(c: Compiled) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in of_kind(c, "NetworkPolicy")}


def ctx_of(c: Compiled) -> Context:
    return Context(c.profile, c.plan)




def admitted(c: Compiled, dst: dict[str, str], src: dict[str, str], src_ns: str, port: str | int, protocol: str = "TCP") -> bool:
    """Would the rendered policies admit a connection from a pod (labels, namespace) to a
    destination pod in the profile namespace on ``port``? Named ports are compared by name."""
    selecting = [p for p in of_kind(c, "NetworkPolicy") if matches(p["spec"]["podSelector"], dst)]
    if not selecting:
        return True
    for p in selecting:
        for rule in p["spec"].get("ingress", []):
            peer_ok = any(peer_admits(peer, src, src_ns, c.profile.namespace) for peer in rule.get("from", [])) if "from" in rule else True
            port_ok = any(port_admits(pp, port, protocol) for pp in rule["ports"]) if "ports" in rule else True
            if peer_ok and port_ok:
                return True
    return False


def peer_admits(peer: dict[str, Any], src: dict[str, str], src_ns: str, own_ns: str) -> bool:
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    ns_ok = matches(ns_sel, {"kubernetes.io/metadata.name": src_ns}) if ns_sel is not None else src_ns == own_ns
    return ns_ok and (matches(pod_sel, src) if pod_sel is not None else True)


def port_admits(pp: dict[str, Any], port: str | int, protocol: str) -> bool:
    if pp.get("protocol", "TCP") != protocol:
        return False
    if "port" not in pp:
        return True
    if isinstance(port, int) and isinstance(pp["port"], int):
        return pp["port"] <= port <= pp.get("endPort", pp["port"])
    return pp["port"] == port


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("sets", [(), ("serving.disaggregation.backend=UCX",), ("network.policy=false",)])
def test_namespace_and_policies_are_strictly_valid(kube: KubeValidator, tier: str, sets: tuple[str, ...]) -> None:
    c = build(tier, sets)
    objs = of_kind(c, "Namespace") + of_kind(c, "NetworkPolicy")
    assert objs
    for obj in objs:
        assert kube.validate(obj) == []


@pytest.mark.parametrize(("tier", "level"), [("tier1", "baseline"), ("tier2", "baseline"), ("tier3", "privileged")])
def test_namespace_pod_security(tier: str, level: str) -> None:
    c = build(tier)
    (ns,) = of_kind(c, "Namespace")
    meta = ns["metadata"]
    assert meta["name"] == c.profile.namespace and "namespace" not in meta
    assert meta["annotations"]["argocd.argoproj.io/sync-wave"] == WAVE_NAMESPACE
    for mode in ("enforce", "audit", "warn"):
        assert meta["labels"][f"pod-security.kubernetes.io/{mode}"] == level


def test_namespace_is_first() -> None:
    assert build("tier2").objects[0]["kind"] == "Namespace"


def path_pods(c: Compiled) -> dict[str, dict[str, str]]:
    """Labels of the request path's non-serving pods: the Gateway's data plane (labelled by its
    controller, GEP-1762), the endpoint picker and the fallback gateway (as rendered)."""
    out = {"gateway": {"gateway.networking.k8s.io/gateway-name": f"{c.profile.name}-gateway"}}
    for o in of_kind(c, "Deployment"):
        comp = o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        if comp in ("endpoint-picker", "fallback-gateway"):
            out[comp] = o["spec"]["template"]["metadata"]["labels"]
    return out


@pytest.mark.parametrize("tier", TIERS)
def test_policies_select_the_path_pods_and_restrict_ingress_only(tier: str) -> None:
    c = build(tier)
    ctx = ctx_of(c)
    pols = policies(c)
    deny = pols[f"{c.profile.name}-default-deny"]
    assert "ingress" not in deny["spec"]
    for role in c.plan.roles:
        assert matches(deny["spec"]["podSelector"], selector(ctx, role.role))
    assert not matches(deny["spec"]["podSelector"], selector(ctx, "epp"))
    assert not matches(deny["spec"]["podSelector"], {**selector(ctx, c.plan.roles[0].role), "app.kubernetes.io/instance": "other"})
    targets = [selector(ctx, r.role) for r in c.plan.roles] + list(path_pods(c).values())
    for p in pols.values():
        assert p["spec"]["policyTypes"] == ["Ingress"]  # egress (S3, Bedrock, DNS, API server) stays open
        assert p["metadata"]["namespace"] == c.profile.namespace
        assert any(matches(p["spec"]["podSelector"], labels) for labels in targets)
    for labels in path_pods(c).values():  # every pod of the path is selected by some policy
        assert any(matches(p["spec"]["podSelector"], labels) for p in pols.values())


@pytest.mark.parametrize("tier", TIERS)
def test_serving_http_is_open_to_gateway_picker_and_monitoring_only(tier: str) -> None:
    c = build(tier)
    ctx = ctx_of(c)
    mon, ns = c.profile.monitoring.namespace, c.profile.namespace
    path = path_pods(c)
    anyone = {"app": "x"}
    for role in c.plan.roles:
        dst = selector(ctx, role.role)
        assert admitted(c, dst, path["gateway"], ns, "http")
        assert admitted(c, dst, anyone, mon, "http")
        picker = path.get("endpoint-picker", selector(ctx, "endpoint-picker"))
        assert admitted(c, dst, picker, ns, "http") == c.profile.serving.kv_cache_aware
        assert not admitted(c, dst, anyone, ns, "http")  # no longer the whole namespace
        assert not admitted(c, dst, path["fallback-gateway"], ns, "http")  # Bifrost goes through the Gateway
        assert not admitted(c, dst, anyone, "gateway-system", "http")
        assert not admitted(c, dst, anyone, "default", "http")
        assert not admitted(c, dst, path["gateway"], ns, 22)


@pytest.mark.parametrize("tier", TIERS)
def test_each_hop_admits_exactly_the_previous_hop(tier: str) -> None:
    c = build(tier)
    ns, mon = c.profile.namespace, c.profile.monitoring.namespace
    path = path_pods(c)
    listener = c.profile.path.routing.listener_port
    bifrost, gw = path["fallback-gateway"], path["gateway"]
    anyone = {"app": "client"}
    assert admitted(c, bifrost, anyone, "default", "http")  # clients from any namespace by default
    assert not admitted(c, bifrost, anyone, "default", 22)
    assert admitted(c, gw, bifrost, ns, listener)
    assert not admitted(c, gw, anyone, "default", listener)  # clients go through the fallback gateway
    assert not admitted(c, gw, anyone, ns, listener)
    assert not admitted(c, gw, bifrost, ns, listener + 1)
    if c.profile.serving.kv_cache_aware:
        epp = path["endpoint-picker"]
        assert admitted(c, epp, gw, ns, "grpc") and admitted(c, epp, anyone, mon, "metrics")
        assert not admitted(c, epp, anyone, ns, "grpc") and not admitted(c, epp, bifrost, ns, "grpc")
        assert not admitted(c, epp, anyone, mon, "grpc")


def test_client_namespaces_restrict_the_front_door() -> None:
    c = build("tier2", ("network.clientNamespaces=[apps]",))
    bifrost = path_pods(c)["fallback-gateway"]
    assert admitted(c, bifrost, {}, "apps", "http") and admitted(c, bifrost, {}, c.profile.monitoring.namespace, "http")
    assert not admitted(c, bifrost, {}, "default", "http")


def test_without_fallback_clients_reach_the_gateway_directly() -> None:
    c = build("tier1", ("fallback.enabled=false",))
    assert "fallback-gateway" not in path_pods(c)
    assert admitted(c, path_pods(c)["gateway"], {"app": "client"}, "default", c.profile.path.routing.listener_port)


@pytest.mark.parametrize("tier", ["tier1", "tier2"])
def test_single_pod_replicas_get_no_group_or_kv_rules(tier: str) -> None:
    c = build(tier)
    name = c.profile.name
    expected = [f"{name}-default-deny", f"{name}-allow-http", f"{name}-gateway", f"{name}-bifrost"]
    if c.profile.serving.kv_cache_aware:
        expected.append(f"{name}-epp")
    assert sorted(policies(c)) == sorted(expected)
    dst = src = selector(ctx_of(c), "serve")
    assert not admitted(c, dst, src, c.profile.namespace, 29500)


def test_tier3_decode_sidecar_reaches_prefill_http_only() -> None:
    c = build("tier3")
    ctx = ctx_of(c)
    ns = c.profile.namespace
    pre, dec = selector(ctx, "prefill"), selector(ctx, "decode")
    assert admitted(c, pre, dec, ns, "http")
    assert not admitted(c, dec, pre, ns, "http")
    assert not admitted(c, pre, {"app": "x"}, ns, "http")


def test_tier3_group_traffic_is_open_within_a_role_only() -> None:
    c = build("tier3")
    ctx = ctx_of(c)
    ns = c.profile.namespace
    pre, dec = selector(ctx, "prefill"), selector(ctx, "decode")
    for role in (pre, dec):
        for port, proto in ((29500, "TCP"), (6379, "TCP"), (40123, "TCP"), (40123, "UDP")):
            assert admitted(c, role, role, ns, port, proto)
    assert not admitted(c, pre, dec, ns, 29500)
    assert not admitted(c, dec, pre, ns, 29500)
    assert not admitted(c, pre, selector(ctx, "epp"), ns, 29500)


def test_tier3_nixl_side_channel_both_directions_exactly_the_tp_range() -> None:
    c = build("tier3")
    ctx = ctx_of(c)
    ns = c.profile.namespace
    pre, dec = selector(ctx, "prefill"), selector(ctx, "decode")
    base = c.profile.serving.side_channel_port
    for dst, src, role in ((pre, dec, "prefill"), (dec, pre, "decode")):
        tp = c.plan.role(role).tensor * c.plan.role(role).data
        assert admitted(c, dst, src, ns, base) and admitted(c, dst, src, ns, base + tp - 1)
        assert not admitted(c, dst, src, ns, base + tp)
        assert not admitted(c, dst, src, ns, base - 1)
        assert not admitted(c, dst, src, ns, base, "UDP")
        assert not admitted(c, dst, {"app": "x"}, ns, base)


def test_tier3_kv_over_tcp_opens_all_tcp_between_roles() -> None:
    c = build("tier3", ("serving.disaggregation.backend=UCX",))
    ctx = ctx_of(c)
    pre, dec = selector(ctx, "prefill"), selector(ctx, "decode")
    assert admitted(c, pre, dec, c.profile.namespace, 43210) and admitted(c, dec, pre, c.profile.namespace, 43210)
    assert not admitted(c, pre, dec, c.profile.namespace, 43210, "UDP")


@pytest.mark.parametrize("tier", TIERS)
def test_network_policy_off_renders_none_but_keeps_the_namespace(tier: str) -> None:
    c = build(tier, ("network.policy=false",))
    assert of_kind(c, "NetworkPolicy") == []
    assert len(of_kind(c, "Namespace")) == 1


def test_policy_names_are_dns_labels() -> None:
    for tier in TIERS:
        for name in policies(build(tier)):
            assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
