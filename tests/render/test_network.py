"""Namespace and NetworkPolicies: strictly valid, selecting exactly the serving pods, and opening
only the paths the serving stack uses (gateway, monitoring, endpoint picker, LWS groups, NIXL)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from tests.shipped import compile_tier
from compiler.verify.rules_k8s import selector_matches as matches
from compiler.pipeline import Compiled, compile_env
from compiler.render.meta import WAVE_NAMESPACE, Context, selector
from compiler.resolve import Request
from compiler.verify.kube import KubeValidator

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


@pytest.mark.parametrize("tier", TIERS)
def test_policies_select_the_serving_pods_and_restrict_ingress_only(tier: str) -> None:
    c = build(tier)
    ctx = ctx_of(c)
    pols = policies(c)
    deny = pols[f"{c.profile.name}-default-deny"]
    assert "ingress" not in deny["spec"]
    for role in c.plan.roles:
        assert matches(deny["spec"]["podSelector"], selector(ctx, role.role))
    assert not matches(deny["spec"]["podSelector"], selector(ctx, "epp"))
    assert not matches(deny["spec"]["podSelector"], {**selector(ctx, c.plan.roles[0].role), "app.kubernetes.io/instance": "other"})
    for p in pols.values():
        assert p["spec"]["policyTypes"] == ["Ingress"]  # egress (S3, DNS) stays open
        assert p["metadata"]["namespace"] == c.profile.namespace
        assert any(matches(p["spec"]["podSelector"], selector(ctx, r.role)) for r in c.plan.roles)


@pytest.mark.parametrize("tier", TIERS)
def test_http_is_open_to_gateway_monitoring_and_own_namespace_only(tier: str) -> None:
    c = build(tier)
    ctx = ctx_of(c)
    gw, mon, ns = c.profile.gateway_namespace, c.profile.monitoring.namespace, c.profile.namespace
    anyone = {"app": "x"}
    for role in c.plan.roles:
        dst = selector(ctx, role.role)
        assert admitted(c, dst, anyone, gw, "http")
        assert admitted(c, dst, anyone, mon, "http")
        # the endpoint picker sits next to its InferencePool, installed with labels we do not control
        assert admitted(c, dst, {"app": "gateway-api-inference-extension-epp"}, ns, "http")
        assert not admitted(c, dst, anyone, "default", "http")
        assert not admitted(c, dst, selector(ctx, "epp"), "default", "http")
        assert not admitted(c, dst, anyone, gw, 22)
        assert not admitted(c, dst, anyone, ns, 22)


def test_gateway_namespace_follows_the_profile() -> None:
    c = build("tier2", ("network.gatewayNamespace=edge",))
    dst = selector(ctx_of(c), "serve")
    assert admitted(c, dst, {}, "edge", "http")
    assert not admitted(c, dst, {}, "gateway-system", "http")


@pytest.mark.parametrize("tier", ["tier1", "tier2"])
def test_single_pod_replicas_get_no_group_or_kv_rules(tier: str) -> None:
    c = build(tier)
    assert sorted(policies(c)) == sorted([f"{c.profile.name}-default-deny", f"{c.profile.name}-allow-http"])
    dst = src = selector(ctx_of(c), "serve")
    assert not admitted(c, dst, src, c.profile.namespace, 29500)


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
