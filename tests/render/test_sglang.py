"""The SGLang pod (compiler/render/sglang.py) on the shipped SGLang profiles: launch line, parallel
layout in SGLang's terms, multi-node and P/D arguments, environment, ports, probes, the picker's
engine label and the routing sidecar's connector. Expected values come from the sglang-0.5.23
wheel (see the module docstring), not from the code under test."""

from __future__ import annotations

from typing import Any

from compiler.render import sglang
from compiler.render.vllm import LEADER, SINGLE, WORKER
from tests.shipped import compile_tier


def objects(tier: str, *sets: str) -> list[dict[str, Any]]:
    return list(compile_tier(tier, tuple(sets)).objects)


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_tier2_runs_the_launch_server_reachable_from_other_pods() -> None:
    dep = find(objects("tier2-sglang"), "Deployment", "llama-70b-sglang")
    pod = dep["spec"]["template"]
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["python3", "-m", "sglang.launch_server"] and c["name"] == "sglang"
    a = c["args"]
    assert flag(a, "--host") == "0.0.0.0"  # SGLang's default 127.0.0.1 would refuse the gateway and probes
    assert flag(a, "--port") == "8000" and flag(a, "--tp-size") == "4" and flag(a, "--context-length") == "32768"
    assert flag(a, "--model-path") == "meta-llama/Llama-3.3-70B-Instruct"
    assert "--enable-metrics" in a  # /metrics exists only with it
    assert flag(a, "--quantization") == "fp8" and flag(a, "--kv-cache-dtype") == "fp8_e4m3"
    assert not any(x.startswith(("--tensor-parallel-size", "--max-model-len", "--gpu-memory")) for x in a)  # no vLLM spelling
    assert pod["metadata"]["labels"]["llm-d.ai/engine-type"] == "sglang"  # the picker's metric names
    names = [e["name"] for e in c["env"]]
    assert "SGLANG_CACHE_DIR" in names and not [n for n in names if n.startswith("VLLM_")]
    assert c["startupProbe"]["httpGet"]["path"] == "/health" and c["startupProbe"]["timeoutSeconds"] > 20  # health-generate waits up to 20 s


def test_the_replica_cap_is_not_split_over_attention_dp_ranks() -> None:
    """SGLang divides --max-running-requests over attention-DP ranks itself (vLLM does not)."""
    c = compile_tier("tier3-sglang")
    decode = next(r for r in c.plan.roles if r.role == "decode")
    lws = find(list(c.objects), "LeaderWorkerSet", "deepseek-v3-decode")
    args = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["args"]
    assert flag(args, "--max-running-requests") == str(decode.max_num_seqs)


def test_tier3_wide_ep_multi_node_and_disaggregation() -> None:
    objs = objects("tier3-sglang")
    for role in ("prefill", "decode"):
        lwt = find(objs, "LeaderWorkerSet", f"deepseek-v3-{role}")["spec"]["leaderWorkerTemplate"]
        assert lwt["size"] == 2
        leader, worker = (lwt[k]["spec"]["containers"][0] for k in ("leaderTemplate", "workerTemplate"))
        for c, rank in ((leader, "0"), (worker, "$(LWS_WORKER_INDEX)")):
            a = c["args"]
            # TP=1 x DP=16 + EP is SGLang's --tp-size 16 --attn-dp-size 16 --ep-size 16 (16 GPUs, not 256)
            assert (flag(a, "--tp-size"), flag(a, "--attn-dp-size"), flag(a, "--ep-size")) == ("16", "16", "16")
            assert "--dp-size" not in a
            assert flag(a, "--nnodes") == "$(LWS_GROUP_SIZE)" and flag(a, "--node-rank") == rank
            assert flag(a, "--dist-init-addr") == f"$(LWS_LEADER_ADDRESS):{sglang.DIST_PORT}"
            assert flag(a, "--disaggregation-mode") == role and flag(a, "--disaggregation-transfer-backend") == "nixl"
            assert flag(a, "--load-format") == "runai_streamer" and "--quantization" not in a  # an FP8 checkpoint
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["SGLANG_DISAGGREGATION_NIXL_BACKEND"] == "LIBFABRIC" and env["FI_PROVIDER"] == "efa"
        # rank >= 1 nodes serve /health and /metrics on --port: probes and a scrape port
        assert worker["livenessProbe"]["httpGet"]["path"] == "/health" and worker["ports"][0]["name"] == "http"
        assert {p["name"] for p in leader["ports"]} >= {"dist"}
    prefill = find(objs, "LeaderWorkerSet", "deepseek-v3-prefill")["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    assert {"name": "bootstrap", "containerPort": 8998, "protocol": "TCP"} in prefill["spec"]["containers"][0]["ports"]


def test_decode_leaders_route_through_the_sglang_sidecar_protocol() -> None:
    lwt = find(objects("tier3-sglang"), "LeaderWorkerSet", "deepseek-v3-decode")["spec"]["leaderWorkerTemplate"]
    side = lwt["leaderTemplate"]["spec"]["initContainers"][0]
    assert "--kv-connector=sglang" in side["args"]  # llm-d-router docs/disaggregation.md: the SGLang protocol
    engine = lwt["leaderTemplate"]["spec"]["containers"][0]
    assert flag(engine["args"], "--port") == "8200"  # moved behind the sidecar


def test_kv_transfer_policies_open_every_tcp_port_between_roles() -> None:
    """SGLang's KV managers bind ZMQ on random ports: a port range would cut them off."""
    pol = find(objects("tier3-sglang"), "NetworkPolicy", "deepseek-v3-prefill-nixl")
    assert pol["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP"}]


def test_parallel_args_per_layout() -> None:
    from compiler.plan.model import RolePlan

    def rp(t: int, p: int, d: int, e: bool) -> RolePlan:
        base = compile_tier("tier2-sglang").plan.roles[0]
        return base.__class__(**{**base.__dict__, "tensor": t, "pipeline": p, "data": d, "expert": e})

    assert sglang.parallel_args(rp(4, 1, 1, False)) == ["--tp-size", "4"]
    assert sglang.parallel_args(rp(4, 2, 1, False)) == ["--tp-size", "4", "--pp-size", "2"]
    assert sglang.parallel_args(rp(2, 1, 2, False)) == ["--tp-size", "2", "--dp-size", "2"]  # full replicas
    assert sglang.parallel_args(rp(8, 1, 1, True)) == ["--tp-size", "8", "--ep-size", "8"]
    assert sglang.parallel_args(rp(1, 1, 16, True)) == ["--tp-size", "16", "--attn-dp-size", "16", "--ep-size", "16"]


def test_positions_share_one_launch_line_but_the_rank() -> None:
    c = compile_tier("tier3-sglang")
    from compiler.render.meta import Context

    ctx = Context(c.profile, c.plan)
    rp = c.plan.roles[0]
    single, leader, worker = (sglang.command(ctx, rp, pos)[1] for pos in (SINGLE, LEADER, WORKER))
    assert leader[: len(single)] == single == worker[: len(single)]
    assert leader[len(single):] == sglang.multinode_args("0") and worker[len(single):] == sglang.multinode_args("$(LWS_WORKER_INDEX)")


def test_vllm_profiles_are_untouched() -> None:
    dep = find(objects("tier2"), "Deployment", "llama-70b")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["vllm", "serve"] and c["name"] == "vllm"
    assert "llm-d.ai/engine-type" not in dep["spec"]["template"]["metadata"]["labels"]
