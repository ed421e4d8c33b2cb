"""Prefill/decode routing (compiler/render/pd.py): role labels on both roles, the routing sidecar
on decode leaders only, ports consistent across sidecar, vLLM, pool, picker and NIXL."""

from __future__ import annotations

from typing import Any

from compiler.render import pd
from tests.render.test_lws import group_pods
from tests.render.test_vllm import compiled, flag, main_container, objects


def lws_pods(c: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(o["metadata"]["labels"]["app.kubernetes.io/component"], i, p) for o in objects(c, "LeaderWorkerSet") for i, p in group_pods(o)]


def sidecars(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in pod["spec"].get("initContainers", []) if c["name"] == pd.SIDECAR]


def test_sidecar_on_decode_leaders_only_and_labels_on_every_pod() -> None:
    c = compiled("tier3")
    seen = set()
    for role, index, pod in lws_pods(c):
        assert pod["metadata"]["labels"]["llm-d.ai/role"] == role
        assert bool(sidecars(pod)) == (role == "decode" and index == "0"), (role, index)
        seen.add((role, index))
    assert {("decode", "0"), ("prefill", "0")} <= seen


def test_ports_line_up_across_sidecar_vllm_pool_and_prefill() -> None:
    c = compiled("tier3")
    port, engine = c.profile.serving.port, c.profile.path.routing.engine_port
    (pool,) = objects(c, "InferencePool")
    assert pool["spec"]["targetPorts"] == [{"number": port}]
    for role, index, pod in lws_pods(c):
        if index != "0":
            continue
        vllm = main_container(pod)
        if role == "decode":
            (side,) = sidecars(pod)
            assert side["restartPolicy"] == "Always"  # a native sidecar
            assert flag([a for x in side["args"] for a in x.split("=", 1)], "--port") == str(port)
            assert flag([a for x in side["args"] for a in x.split("=", 1)], "--vllm-port") == str(engine) == flag(vllm["args"], "--port")
            assert {"name": "http", "containerPort": port, "protocol": "TCP"} in side["ports"]
            assert {"name": "vllm", "containerPort": engine, "protocol": "TCP"} in vllm["ports"]
            assert all(vllm[p]["httpGet"]["port"] == "vllm" for p in ("startupProbe", "readinessProbe", "livenessProbe"))
        else:  # prefill: vLLM itself on the pool's target port, where the sidecar sends the prefill
            assert flag(vllm["args"], "--port") == str(port)
            assert {"name": "http", "containerPort": port, "protocol": "TCP"} in vllm["ports"]
        nixl = [p["containerPort"] for p in vllm["ports"] if p["name"].startswith("nixl-")]
        assert nixl and nixl[0] == c.profile.serving.side_channel_port


def test_sidecar_speaks_nixl_like_vllm() -> None:
    c = compiled("tier3")
    decode = next(p for r, i, p in lws_pods(c) if r == "decode" and i == "0")
    assert "--kv-connector=nixlv2" in sidecars(decode)[0]["args"]  # docs: nixlv2 = vLLM NixlConnector
    assert '"kv_connector":"NixlConnector"' in flag(main_container(decode)["args"], "--kv-transfer-config")


def test_configured_role_label_and_engine_port() -> None:
    c = compiled("tier3", "routing.roleLabel=example.com/role", "routing.sidecar.enginePort=8300")
    decode = next(p for r, i, p in lws_pods(c) if r == "decode" and i == "0")
    assert decode["metadata"]["labels"]["example.com/role"] == "decode" and "llm-d.ai/role" not in decode["metadata"]["labels"]
    assert "--vllm-port=8300" in sidecars(decode)[0]["args"] and flag(main_container(decode)["args"], "--port") == "8300"


def test_no_sidecar_or_role_label_without_disaggregation() -> None:
    for tier, sets in (("tier2", ()), ("tier3", ("serving.disaggregation.enabled=false",))):
        c = compiled(tier, *sets)
        templates = [d["spec"]["template"] for d in objects(c, "Deployment")] + [p for _, _, p in lws_pods(c)]
        for t in templates:
            assert not sidecars(t) and "llm-d.ai/role" not in t["metadata"]["labels"]
