"""The SGLang engine (``serving.engine: sglang``): its launch command, multi-node and
prefill/decode arguments, environment, ports and probes, applied to the pod template that
:mod:`.vllm` builds for every engine (resources, volumes, security, placement stay shared).

Every flag is next to its reason and exists in the pinned SGLang (``compiler/engine/
sglang-0.5.23.yaml``, proved by ``tests/engine/test_sglang_parser.py`` with SGLang's own parser).
Facts come from the sglang-0.5.23 wheel (paths below are under ``sglang/srt/``):

* ``python3 -m sglang.launch_server`` builds its parser with ``ServerArgs.add_cli_args`` and
  ``parse_args``: an unknown flag exits at start (server_args.py:668-700).
* The HTTP server binds ``--host`` (default ``127.0.0.1``: unreachable from other pods) and
  ``--port`` (default 30000) (arg_groups/fields/serving.py:65-66).
* ``--tp-size`` is the GPUs of one model replica across all its nodes; ``--dp-size`` replicates it
  (world size = dp x tp x pp, server_args.py:581); ``--attn-dp-size`` runs attention
  data-parallel *inside* the TP group ("adds no GPUs"), which with ``--ep-size`` is SGLang's wide
  EP: our TP=1 x DP=16 + EP is ``--tp-size 16 --attn-dp-size 16 --ep-size 16``
  (``--enable-dp-attention`` is the deprecated spelling, arg_groups/fields/parallel.py:192).
* ``--max-running-requests`` caps the whole server; SGLang splits it over the attention-DP ranks
  itself (model_executor/pool_configurator.py:956), so the replica's cap is passed unsplit.
* Multi-node: every node runs the same command with ``--nnodes``, ``--node-rank`` and
  ``--dist-init-addr <rank-0 host>:<port>``; nodes of rank >= 1 run no tokenizer and serve
  ``/health``, ``/health_generate``, ``/ping`` and (with ``--enable-metrics``) ``/metrics`` on
  ``--port`` (entrypoints/engine.py:1234-1285, utils/common.py:3624-3655): workers get probes
  and are scraped too.
* Prefill/decode: ``--disaggregation-mode prefill|decode`` with ``--disaggregation-transfer-backend
  nixl``; the NIXL plugin is ``SGLANG_DISAGGREGATION_NIXL_BACKEND`` (default UCX; LIBFABRIC on EFA,
  environ.py:766, disaggregation/nixl/conn.py:551-629). Prefill pods serve the bootstrap on
  ``--disaggregation-bootstrap-port`` (8998, the llm-d routing sidecar's SGLANG_BOOTSTRAP_PORT
  default, llm-d-router docs/disaggregation.md:664); KV managers bind ZMQ sockets on random ports
  of the pod IP (disaggregation/common/conn.py:400), so the roles talk on every TCP port.
* ``/health`` generates one token (503 while starting; gives up after
  ``SGLANG_HEALTH_CHECK_TIMEOUT`` = 20 s, entrypoints/http_server.py:218, 721-795): its probes wait
  longer than that. ``/metrics`` exists only with ``--enable-metrics`` (http_server.py:314).
* ``s3://`` model paths stream with ``runai_streamer`` (arg_groups/model_path_hook.py:189), which
  needs ``runai-model-streamer[s3]`` (the ``sglang[runai]`` extra): an image capability.
"""

from __future__ import annotations

from typing import Any

from ..plan.model import RolePlan
from . import gpushare
from .meta import Context

ENGINE = "sglang"
LAUNCH = ["python3", "-m", "sglang.launch_server"]
#: torch.distributed rendezvous of a multi-node group on the leader (``--dist-init-addr host:port``).
DIST_PORT = 50000
#: SGLang's prefill bootstrap server (its default; the llm-d sidecar's SGLANG_BOOTSTRAP_PORT default).
BOOTSTRAP_PORT = 8998
#: The transfer backend of disaggregated roles (NIXL: UCX or LIBFABRIC plugin).
TRANSFER_BACKEND = "nixl"
#: SGLang's health-generate gives up after 20 s; a probe must wait longer to see its answer.
HEALTH_TIMEOUT_SECONDS = 25
#: Flags mcompile generates from profile fields: ``serving.extraArgs`` must not restate them with
#: another value (argparse: the last one wins, silently undoing what the other objects assume).
GENERATED = ("--model-path", "--served-model-name", "--host", "--port", "--tp-size", "--tensor-parallel-size", "--pp-size",
             "--pipeline-parallel-size", "--dp-size", "--data-parallel-size", "--attn-dp-size", "--ep-size", "--context-length",
             "--load-format", "--nnodes", "--node-rank", "--dist-init-addr", "--disaggregation-mode", "--disaggregation-transfer-backend",
             "--disaggregation-bootstrap-port")


def is_sglang(ctx: Context) -> bool:
    return ctx.profile.serving.engine == ENGINE


def parallel_args(rp: RolePlan) -> list[str]:
    """The role's TP x PP x DP (+ EP) in SGLang's terms (see the module docstring)."""
    if rp.expert and rp.data > 1:  # wide EP: attention DP inside one TP group over all GPUs
        width = rp.tensor * rp.data
        return ["--tp-size", str(width), "--attn-dp-size", str(rp.data), "--ep-size", str(width)] + (
            ["--pp-size", str(rp.pipeline)] if rp.pipeline > 1 else [])
    out = ["--tp-size", str(rp.tensor)]
    if rp.pipeline > 1:
        out += ["--pp-size", str(rp.pipeline)]
    if rp.data > 1:  # full replicas of the model inside one server (SGLang's DP controller)
        out += ["--dp-size", str(rp.data)]
    if rp.expert:  # experts sharded over the TP ranks instead of tensor-sliced
        out += ["--ep-size", str(rp.tensor)]
    return out


def engine_args(ctx: Context, rp: RolePlan) -> list[str]:
    """``sglang.launch_server`` arguments from profile and plan (escaped like vLLM's)."""
    from .vllm import literal, model_arg, prequantized_fp8, profile_role

    s, m = ctx.profile.serving, ctx.profile.model
    args = ["--model-path", model_arg(m), "--served-model-name", m.served_name,
            "--host", "0.0.0.0", "--port", str(s.port)]  # SGLang binds 127.0.0.1 by default: unreachable from other pods
    args += parallel_args(rp)
    args += ["--context-length", str(m.max_context), "--max-running-requests", str(rp.max_num_seqs),
             # SGLang's share of GPU memory for weights + KV pool (vLLM's gpu-memory-utilization),
             # split N ways on a time-sliced GPU like vLLM's (compiler/render/gpushare.py).
             "--mem-fraction-static", f"{gpushare.memory_utilization(ctx):g}"]
    if not s.prefix_caching:
        args.append("--disable-radix-cache")  # the radix (prefix) cache is on by default
    if s.kv_cache_dtype == "fp8":
        args += ["--kv-cache-dtype", "fp8_e4m3"]  # SGLang names the FP8 format; e4m3 is the H100/L40S one
    if m.precision == "fp8" and not prequantized_fp8(m):
        args += ["--quantization", "fp8"]  # online FP8 of 16-bit weights
    if m.scheme == "s3":
        args += ["--load-format", "runai_streamer"]  # what SGLang resolves s3:// to anyway; stated so the rules see it
    args.append("--enable-metrics")  # /metrics (queue, latency, tokens) for KEDA, alerts, dashboards and the picker
    role = profile_role(ctx, rp)
    if s.disaggregated and role.kv_role:
        args += ["--disaggregation-mode", rp.role, "--disaggregation-transfer-backend", TRANSFER_BACKEND,
                 "--disaggregation-bootstrap-port", str(BOOTSTRAP_PORT)]
    return [literal(a) for a in args]


def multinode_args(node_rank: str) -> list[str]:
    """Every node runs the same server with its rank; LWS injects the group size, the leader's
    address and the worker index (expanded by the kubelet)."""
    return ["--nnodes", "$(LWS_GROUP_SIZE)", "--node-rank", node_rank, "--dist-init-addr", f"$(LWS_LEADER_ADDRESS):{DIST_PORT}"]


def command(ctx: Context, rp: RolePlan, position: str) -> tuple[list[str], list[str]]:
    """(command, args) of a pod at ``position`` (single | leader | worker)."""
    from .vllm import LEADER, WORKER, extra_args

    args = engine_args(ctx, rp)
    if position == LEADER:
        args += multinode_args("0")
    elif position == WORKER:
        args += multinode_args("$(LWS_WORKER_INDEX)")
    return list(LAUNCH), args + extra_args(ctx)


def _env(ctx: Context, rp: RolePlan, env: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """vLLM's variables out, SGLang's in; the profile's own entries (by name) stay last and win."""
    s = ctx.profile.serving
    own = {e.name for e in s.env} | {e.name for e in s.secret_env}
    out = [e for e in env if not (e["name"].startswith("VLLM_") and e["name"] not in own)]
    add: list[dict[str, Any]] = [{"name": "SGLANG_CACHE_DIR", "value": "/cache/sglang"}]  # JIT caches: the root filesystem is read-only
    if s.disaggregated or rp.multi_node:
        # The address SGLang advertises to peers (bootstrap, KV managers): the pod's own IP.
        add.append({"name": "SGLANG_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
    if s.disaggregated:
        add.append({"name": "SGLANG_DISAGGREGATION_NIXL_BACKEND", "value": s.nixl_backend})
    names = {e["name"] for e in out}
    head = [e for e in add if e["name"] not in names]
    split = next((i for i, e in enumerate(out) if e["name"] in own), len(out))
    return out[:split] + head + out[split:]


def _ports(ctx: Context, rp: RolePlan, position: str, ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from .vllm import LEADER, WORKER

    out = [p for p in ports if not p["name"].startswith(("nixl-", "dist", "ray", "dp-rpc"))]
    if position == WORKER and not any(p["name"] == "http" for p in out):
        # rank >= 1 nodes serve /health and /metrics on --port
        out.insert(0, {"name": "http", "containerPort": ctx.profile.serving.port, "protocol": "TCP"})
    if position == LEADER:
        out.append({"name": "dist", "containerPort": DIST_PORT, "protocol": "TCP"})
    if ctx.profile.serving.disaggregated and rp.role == "prefill" and position != WORKER:
        out.append({"name": "bootstrap", "containerPort": BOOTSTRAP_PORT, "protocol": "TCP"})
    return out


def _probes(ctx: Context, rp: RolePlan, position: str, c: dict[str, Any]) -> None:
    """SGLang's /health runs a one-token generation that may take 20 s: its probes wait 25 s.
    Workers (rank >= 1) answer /health from SGLang's own health server once their schedulers
    are up, so they get probes of their own (readiness on /health: they serve no /v1/models)."""
    from .vllm import WORKER
    from .vllm import _probes as vllm_probes

    if position == WORKER:
        c.update(vllm_probes(ctx, rp))
        c["readinessProbe"]["httpGet"]["path"] = "/health"
        c["livenessProbe"]["httpGet"]["path"] = "/health"
    for key in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.get(key) or {}
        if (probe.get("httpGet") or {}).get("path") in ("/health", "/health_generate"):
            probe["timeoutSeconds"] = HEALTH_TIMEOUT_SECONDS


def adapt(ctx: Context, rp: RolePlan, position: str, template: dict[str, Any]) -> dict[str, Any]:
    """Turn the engine container of a pod template into SGLang's (called by
    :func:`compiler.render.vllm.pod_template` before the P/D decoration)."""
    if not is_sglang(ctx):
        return template
    template["metadata"]["labels"][ENGINE_LABEL] = ENGINE
    c = template["spec"]["containers"][0]
    c["name"] = CONTAINER
    c["env"] = _env(ctx, rp, c.get("env") or [])
    c["ports"] = _ports(ctx, rp, position, c.get("ports") or [])
    _probes(ctx, rp, position, c)
    return template


#: The llm-d router's core-metrics-extractor picks the engine's metric names by this pod label
#: (engineLabelKey default; plugins/datalayer/extractor/metrics/README.md: built-in ``sglang``).
ENGINE_LABEL = "llm-d.ai/engine-type"
CONTAINER = "sglang"
