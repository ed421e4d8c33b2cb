"""The request path as data (compiler/plan/path.py): budgets that fit the SLO, one hop per line
per tier, and the hops in ``mcompile plan`` (JSON, Markdown)."""

from __future__ import annotations

import json

import pytest

from compiler.plan.path import gateway_service, hops, route_timeout, step_timeouts
from tests.clirun import mcompile
from tests.shipped import compile_tier


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_budgets_fit_the_client_slo(tier: str) -> None:
    p = compile_tier(tier).profile
    budgets = step_timeouts(p)
    assert list(budgets) == [s.name for s in p.path.fallback.cascade]
    assert sum(budgets.values()) <= p.workload.e2e_seconds
    assert route_timeout(p) == budgets["cluster"] < p.workload.e2e_seconds


@pytest.mark.parametrize(("tier", "targets"), [
    ("tier1", ["Bifrost", "Gateway", "Bedrock", "Service qwen3-32b :8000 (round robin)"]),
    ("tier2", ["Bifrost", "Gateway", "Bedrock", "endpoint picker llama-70b-epp :9002", "vLLM pod :8000 chosen by the picker"]),
    ("tier3", ["Bifrost", "Gateway", "Bedrock", "endpoint picker glm-5-epp :9002", "decode leader: routing sidecar :8000 -> vLLM :8200",
               "prefill leader vLLM :8000", "prefill NIXL :5600 (LIBFABRIC)"]),
])
def test_hops_per_tier(tier: str, targets: list[str]) -> None:
    c = compile_tier(tier)
    hs = hops(c.profile, c.plan)
    assert len(hs) == len(targets)
    for hop, want in zip(hs, targets, strict=True):
        assert hop.target.startswith(want), (hop, want)
        assert hop.objects and hop.budget
    assert gateway_service(c.profile) in hs[1].target
    assert "on error/timeout of cluster" in hs[2].budget  # when the fallback fires


def test_without_fallback_the_client_calls_the_gateway() -> None:
    c = compile_tier("tier2", ("fallback.enabled=false",))
    hs = hops(c.profile, c.plan)
    assert hs[0].source == "client" and hs[0].target.startswith("Gateway") and not any("Bedrock" in h.target for h in hs)


def test_plan_cli_shows_the_request_path(repo) -> None:
    r = mcompile("plan", str(repo / "profiles" / "tier3.yaml"), "--env", "prod", "--format", "json")
    assert r.code == 0, r.stderr
    path = json.loads(r.stdout)["requestPath"]
    assert [h["source"] for h in path] == ["client", "Bifrost", "Bifrost", "Gateway", "Gateway", "sidecar", "decode vLLM"]
    r = mcompile("plan", str(repo / "profiles" / "tier1.yaml"), "--env", "prod", "--format", "markdown")
    assert "### Request path" in r.stdout and "| 3 | Bifrost | Bedrock qwen.qwen3-32b-v1:0 (us-east-1) | 5s (on error/timeout of cluster) |" in r.stdout
