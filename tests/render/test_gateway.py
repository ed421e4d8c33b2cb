"""Gateway + HTTPRoute (compiler/render/gateway.py): valid against the Gateway API v1.6.1 CRDs, the
route's backend and timeout follow the tier and the profile's SLO."""

from __future__ import annotations

import re

import pytest

from compiler.plan.path import route_timeout, step_timeouts
from compiler.render import gateway
from compiler.verify.crds import CrdRegistry
from tests.conftest import find_crd_dirs
from tests.render.test_vllm import compiled, ctx_of, objects, one

DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"  # the Gateway API duration pattern


@pytest.fixture(scope="module")
def registry() -> CrdRegistry:
    return CrdRegistry.load(find_crd_dirs())


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
@pytest.mark.parametrize("sets", [(), ("fallback.enabled=false",), ("routing.gateway.className=gke-l7-regional-external-managed",)])
def test_gateway_and_route_are_valid(tier: str, sets: tuple[str, ...], registry: CrdRegistry) -> None:
    out = gateway.render(ctx_of(compiled(tier, *sets)))
    assert [o["kind"] for o in out] == ["Gateway", "HTTPRoute"]
    for o in out:
        assert registry.validate(o) == [], o["kind"]


def test_a_bad_route_is_refused_by_the_crd(registry: CrdRegistry) -> None:
    """The CRD check can fail: a timeout that is no Gateway API duration."""
    route = gateway.render(ctx_of(compiled("tier2")))[1]
    route["spec"]["rules"][0]["timeouts"]["request"] = "15 seconds"
    assert registry.validate(route)


@pytest.mark.parametrize(("tier", "kind"), [("tier1", "Service"), ("tier2", "InferencePool"), ("tier3", "InferencePool")])
def test_route_sends_the_openai_paths_to_the_pool_or_the_service(tier: str, kind: str) -> None:
    c = compiled(tier)
    (route,) = objects(c, "HTTPRoute")
    (gw,) = objects(c, "Gateway")
    (rule,) = route["spec"]["rules"]
    (backend,) = rule["backendRefs"]
    assert backend.get("kind", "Service") == kind
    if kind == "Service":
        svc = one(c, "Service", backend["name"])
        assert backend["port"] in [p["port"] for p in svc["spec"]["ports"]]
    else:
        assert backend["group"] == "inference.networking.k8s.io" and one(c, "InferencePool", backend["name"])
    assert [m["path"] for m in rule["matches"]] == [{"type": "PathPrefix", "value": "/v1/"}]
    assert route["spec"]["parentRefs"][0]["name"] == gw["metadata"]["name"]
    assert gw["spec"]["gatewayClassName"] == "istio"  # the documented default


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_route_timeout_is_the_gateway_step_and_fits_the_slo(tier: str) -> None:
    c = compiled(tier)
    (route,) = objects(c, "HTTPRoute")
    timeout = route["spec"]["rules"][0]["timeouts"]["request"]
    assert re.fullmatch(DURATION, timeout)
    budgets = step_timeouts(c.profile)
    assert timeout == f"{budgets['cluster']}s"
    assert sum(budgets.values()) <= c.profile.workload.e2e_seconds  # Bedrock still has its turn


def test_without_fallback_the_route_gets_the_whole_slo_or_the_profile_value() -> None:
    c = compiled("tier2", "fallback.enabled=false")
    assert route_timeout(c.profile) == 30
    c = compiled("tier2", "fallback.enabled=false", "routing.requestTimeoutSeconds=25")
    assert objects(c, "HTTPRoute")[0]["spec"]["rules"][0]["timeouts"]["request"] == "25s"


def test_unset_step_timeouts_share_the_slo() -> None:
    c = compiled("tier2", "fallback.cascade[cluster].timeoutSeconds=null", "fallback.cascade[bedrock].timeoutSeconds=null")
    assert step_timeouts(c.profile) == {"cluster": 15, "bedrock": 15}
