"""InferencePool for KV-cache-aware routing (compiler/render/routing.py)."""

from __future__ import annotations

import pytest

from compiler.render import routing
from compiler.verify.crds import CrdRegistry
from tests.conftest import find_crd_dir
from tests.render.test_vllm import compiled, ctx_of, main_container, matches, objects, templates


@pytest.fixture(scope="module")
def registry() -> CrdRegistry:
    return CrdRegistry.load([find_crd_dir()])


@pytest.mark.parametrize("tier", ("tier2", "tier3"))
def test_inference_pool_is_valid(tier: str, registry: CrdRegistry) -> None:
    out = routing.render(ctx_of(compiled(tier)))
    assert [o["kind"] for o in out] == ["InferencePool"]
    assert out[0]["apiVersion"] == "inference.networking.k8s.io/v1"
    assert registry.validate(out[0]) == []


def test_nothing_when_routing_is_off() -> None:
    assert not compiled("tier1").profile.serving.kv_cache_aware
    assert routing.render(ctx_of(compiled("tier1"))) == []
    assert routing.render(ctx_of(compiled("tier2", "serving.routing.kvCacheAware=false"))) == []


def test_tier2_pool_selects_the_serving_pods() -> None:
    c = compiled("tier2")
    s = c.profile.serving
    (pool,) = objects(c, "InferencePool")
    pod = objects(c, "Deployment")[0]["spec"]["template"]
    assert matches(pool["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    assert pool["spec"]["targetPorts"] == [{"number": s.port}]
    assert s.port in [p["containerPort"] for p in main_container(pod)["ports"]]
    ref = pool["spec"]["endpointPickerRef"]
    assert (ref["name"], ref["port"], ref.get("kind", "Service")) == (s.endpoint_picker, {"number": s.endpoint_picker_port}, "Service")


def test_tier3_pool_selects_the_leaders_of_both_roles() -> None:
    """P/D: the picker chooses a decode pod and a prefill pod from the same pool (role filters)."""
    c = compiled("tier3")
    (pool,) = objects(c, "InferencePool")
    sel = pool["spec"]["selector"]["matchLabels"]
    for t in templates(c):
        role = t["metadata"]["labels"]["app.kubernetes.io/component"]
        for index in ("0", "1"):  # LWS labels the leader 0, workers 1..size-1
            labels = {**t["metadata"]["labels"], "leaderworkerset.sigs.k8s.io/worker-index": index}
            assert matches(sel, labels) == (index == "0"), (role, index)
            assert t["metadata"]["labels"]["llm-d.ai/role"] == role
