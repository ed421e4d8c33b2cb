"""Rules about what the engine really runs: the image is one the capability table knows (or the
profile declares its engine version), every ``vllm serve`` / ``sglang.launch_server`` flag and
``VLLM_*`` / ``SGLANG_*`` variable exists in that version, the KV connector supports the layout and transport, the image carries what the
transport needs, and ``serving.extraArgs`` do not contradict the generated arguments."""

from __future__ import annotations

from typing import Any

from ..engine import ENGINE_NAMES, STOCK_IMAGES, EngineVersion, of_profile
from ..render import sglang as sglang_render
from .rules_base import RuleInput, Violation
from .rules_pods import (
    PodView,
    all_pods,
    argv,
    engine_containers,
    kv_transfer_config,
    parallelism,
)

IMAGE = ("serving", "image")
EXTRA = ("serving", "extraArgs")
#: Generated flags extraArgs must not restate with another value (argparse: the last one wins,
#: silently undoing what the planner and the other objects assume).
GENERATED = ("--port", "--load-format", "--tensor-parallel-size", "--pipeline-parallel-size", "--data-parallel-size",
             "--max-model-len", "--served-model-name", "--kv-transfer-config", "--enable-expert-parallel", "--no-enable-expert-parallel")


def _engine(inp: RuleInput) -> tuple[EngineVersion | None, frozenset[str]]:
    found = of_profile(inp.profile.serving)
    return found.engine, found.capabilities


def engine_image(inp: RuleInput) -> list[Violation]:
    """``engine-image``: the image runs a vLLM version in the capability table, so its flags can be
    checked; an image outside the table must declare ``engineVersion`` (and ``capabilities``)."""
    img = inp.profile.serving.image
    eng, _ = _engine(inp)
    if eng is not None or img.capabilities or not all_pods(inp):
        return []  # declared capabilities stand in for the table (compiler/plan/checks.py checks them)
    from ..engine import versions

    engine = inp.profile.serving.engine
    name, vs = ENGINE_NAMES[engine], versions(engine)
    why = f"declared engineVersion {img.engine_version} is not in the table" if img.engine_version else "the image is not in the table"
    return [Violation("engine-image", f"image/{img.repository}:{img.tag}",
                      f"{why} (compiler/engine/: {name} {', '.join(vs)}), so its flags cannot be checked; use {STOCK_IMAGES[engine]}:v"
                      f"{vs[-1]} or set serving.image.engineVersion to the {name} version the image runs", IMAGE + (("engineVersion",) if img.engine_version else ("tag",)))]


def _serve_args(c: dict[str, Any]) -> list[str]:
    tokens = argv(c)
    for i in range(len(tokens) - 1):
        if tokens[i] == "vllm" and tokens[i + 1] == "serve":
            return tokens[i + 2:]
        if tokens[i] == "-m" and tokens[i + 1] == "sglang.launch_server":
            return tokens[i + 2:]
    return []


def _flags(args: list[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def engine_flags(inp: RuleInput) -> list[Violation]:
    """``engine-flags``: every ``vllm serve`` flag and ``VLLM_*`` env var exists in the image's vLLM
    version (an unknown flag makes vLLM exit at start), and the KV connector supports the layout
    (PP/DP/EP) and the transport backend, whose image capability the image has."""
    eng, caps = _engine(inp)
    if eng is None:
        return []
    out: list[Violation] = []
    extra = set(inp.profile.serving.extra_args)
    seen: set[tuple[str, str]] = set()
    prefix = "SGLANG_" if eng.engine == "sglang" else "VLLM_"
    run = "python3 -m sglang.launch_server" if eng.engine == "sglang" else "vllm serve"
    for pod in all_pods(inp):
        for c in engine_containers(pod):
            for flag in _flags(_serve_args(c)):
                if flag not in eng.flags and (pod.ref, flag) not in seen:
                    seen.add((pod.ref, flag))
                    path = EXTRA if any(a.split("=", 1)[0] == flag for a in extra) else IMAGE
                    out.append(Violation("engine-flags", pod.ref, f"{pod.position} runs `{run} {flag}`, which {eng.label} does not have "
                                         "(it exits at start); remove it or use an image whose version has it", path))
            for e in c.get("env") or ():
                name = str(e.get("name", ""))
                if name.startswith(prefix) and name not in eng.env and (pod.ref, name) not in seen and not _profile_env(inp, name):
                    seen.add((pod.ref, name))
                    out.append(Violation("engine-flags", pod.ref, f"env {name} is not a variable {eng.label} reads", IMAGE))
            out += _connector(inp, pod, c, eng, caps, seen)
    return out


def _profile_env(inp: RuleInput, name: str) -> bool:
    return any(e.name == name for e in inp.profile.serving.env)


def _connector(inp: RuleInput, pod: PodView, c: dict[str, Any], eng: EngineVersion, caps: frozenset[str], seen: set[tuple[str, str]]) -> list[Violation]:
    cfg = kv_transfer_config(c)
    if not cfg:
        return []
    name = str(cfg.get("kv_connector", ""))
    conn = eng.connector(name)
    key = (pod.ref, "connector")
    if key in seen:
        return []
    seen.add(key)
    dis = ("serving", "disaggregation")
    if conn is None:
        return [Violation("engine-flags", pod.ref, f"KV connector {name!r} is not in {eng.label}'s table", dis)]
    out = []
    par = parallelism(c) or {"tensor": 1, "pipeline": 1, "data": 1}
    args = _serve_args(c)
    data = par["data"] > 1 or "--attn-dp-size" in args
    checks = (("pipeline parallel > 1", par["pipeline"] > 1, conn.pipeline_parallel, "pipeline"),
              ("data parallel", data, conn.data_parallel, "data"),
              ("expert parallel", "--enable-expert-parallel" in args or "--ep-size" in args, conn.expert_parallel, "expert"))
    role = pod.role if pod.role in ("prefill", "decode") else ""
    for what, used, supported, field in checks:
        if used and not supported:
            out.append(Violation("engine-flags", pod.ref, f"{name} in {eng.label} does not support {what}; use a layout it supports "
                                 "(mcompile plan proposes one)", dis + ((role, field) if role else ())))
    backends = (cfg.get("kv_connector_extra_config") or {}).get("backends") or ["UCX"]
    for b in backends:
        if b not in conn.backends:
            out.append(Violation("engine-flags", pod.ref, f"{name} has no backend {b!r} in {eng.label} ({', '.join(conn.backends)})",
                                 dis + ("backend",)))
        need = conn.needed(str(b))
        if need and need not in caps:
            out.append(Violation("engine-flags", pod.ref, f"NIXL backend {b} needs {need} (EFA userspace) in the image, and "
                                 f"{inp.profile.serving.image.repository}:{inp.profile.serving.image.tag} is not known to carry it (stock "
                                 f"{STOCK_IMAGES[eng.engine]} does not); use an EFA-enabled build of {eng.label} and declare "
                                 f"serving.image.engineVersion and capabilities: [{need}]", IMAGE))
    return out


def extra_args_conflict(inp: RuleInput) -> list[Violation]:
    """``extra-args-conflict``: ``serving.extraArgs`` restating a generated flag (port, load format,
    parallelism, model length, served name, KV transfer, expert parallel) with another value wins
    silently in vLLM and breaks what the Services, probes, planner and other objects assume."""
    extra = list(inp.profile.serving.extra_args)
    if not extra:
        return []
    out = []
    pods = all_pods(inp)
    generated = sglang_render.GENERATED if inp.profile.serving.engine == "sglang" else GENERATED
    for i, a in enumerate(extra):
        flag = a.split("=", 1)[0]
        if flag not in generated:
            continue
        mine = a.split("=", 1)[1] if "=" in a else (extra[i + 1] if i + 1 < len(extra) and not extra[i + 1].startswith("--") else None)
        for pod in pods:
            for c in engine_containers(pod):
                gen = _serve_args(c)[: len(_serve_args(c)) - len(extra)]
                if flag in gen:
                    j = gen.index(flag)
                    theirs = gen[j + 1] if j + 1 < len(gen) and not gen[j + 1].startswith("--") else None
                    if theirs != mine:
                        out.append(Violation("extra-args-conflict", pod.ref, f"serving.extraArgs sets {flag} {mine or ''} but mcompile generates "
                                             f"{flag} {theirs or ''} from the profile; set the profile field instead of overriding it", EXTRA))
                        break
            else:
                continue
            break
    return out
