"""Profile-level checks the planner makes before anything renders, so ``validate`` refuses what the
verifier's rules would (accepted by the early stages means verified): the image's engine version,
``extraArgs`` against that version and the generated flags, the NIXL transport against the image
and the pools, EFA pools' instance types, the autoscaling formula, and label domains on EKS Auto
Mode. The rules in :mod:`compiler.verify` check the same invariants on the rendered objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import engine as engine_table
from ..catalog import InstanceType
from ..profile import Profile
from . import sglang_checks

Finding = tuple[list[str | int], str]

#: Flags mcompile generates from profile fields (extraArgs restating them with another value wins
#: silently in vLLM and breaks what the other objects assume).
GENERATED = {"--port": "serving.port", "--max-model-len": "model.maxContext", "--served-model-name": "model.servedName",
             "--tensor-parallel-size": "parallelism.tensor", "--pipeline-parallel-size": "parallelism.pipeline",
             "--data-parallel-size": "parallelism.data", "--load-format": "model.source (s3:// streams with runai_streamer)",
             "--kv-transfer-config": "serving.disaggregation", "--enable-expert-parallel": "parallelism.expert",
             "--no-enable-expert-parallel": "parallelism.expert"}


def _generated_values(p: Profile, flag: str) -> set[str | None]:
    """The value(s) mcompile generates for ``flag`` across the roles (None: generated without a value,
    or not generated at all when the set is empty)."""
    if p.serving.engine == "sglang":
        return sglang_checks.generated_values(p, flag)
    s, m = p.serving, p.model
    single = {"--port": str(s.port), "--max-model-len": str(m.max_context), "--served-model-name": m.served_name}
    if flag in single:
        return {single[flag]}
    if flag == "--load-format":
        return {"runai_streamer"} if m.scheme == "s3" else set()
    key = {"--tensor-parallel-size": "tensor", "--pipeline-parallel-size": "pipeline", "--data-parallel-size": "data"}.get(flag)
    if key:
        return {str(getattr(r, key)) for r in s.roles}
    return {"<generated>"}


def _extra_args(p: Profile, eng: engine_table.EngineVersion) -> list[Finding]:
    out: list[Finding] = []
    extra = list(p.serving.extra_args)
    generated = sglang_checks.GENERATED if eng.engine == "sglang" else GENERATED
    for i, a in enumerate(extra):
        if not a.startswith("--"):
            continue
        flag = a.split("=", 1)[0]
        if flag not in eng.flags:
            out.append((["serving", "extraArgs", i], (f"{eng.label} has no {flag} (the server exits at start); remove it or use an image "
                                                     "whose version has it")))
            continue
        if flag not in generated:
            continue
        value = a.split("=", 1)[1] if "=" in a else (extra[i + 1] if i + 1 < len(extra) and not extra[i + 1].startswith("--") else None)
        gen = _generated_values(p, flag)
        if gen and gen != {value}:
            out.append((["serving", "extraArgs", i], (f"{flag} {value or ''} contradicts the generated {flag} {', '.join(sorted(v or '' for v in gen))} "
                                                     f"(from {generated[flag]}); set the profile field instead")))
    return out


def _transport(p: Profile, eng: engine_table.EngineVersion, caps: frozenset[str], launch: Mapping[str, Sequence[InstanceType]]) -> list[Finding]:
    s = p.serving
    if not s.disaggregated:
        return []
    out: list[Finding] = []
    conn = eng.connector(eng.disagg_connector)
    need = conn.needed(s.nixl_backend) if conn else None
    if need and need not in caps:
        stock = engine_table.STOCK_IMAGES.get(eng.engine, "")
        out.append((["serving", "image"], (f"NIXL backend {s.nixl_backend} needs {need} (EFA userspace) in the image, and {s.image.repository}:"
                                          f"{s.image.tag} is not known to carry it (stock {stock} does not); use an EFA-enabled build of "
                                          f"{eng.label} and declare serving.image.engineVersion and capabilities: [{need}]")))
    if s.nixl_backend == "LIBFABRIC" and not any(pool.efa and any(t.efa for t in launch[pool.name]) for pool in p.capacity.pools):
        out.append((["serving", "disaggregation", "backend"], ("NIXL's LIBFABRIC backend needs EFA, and no pool has efa: true on EFA instance "
                                                              "types; enable EFA on the pool or use backend UCX")))
    return out


def _efa_pools(p: Profile, launch: Mapping[str, Sequence[InstanceType]]) -> list[Finding]:
    out: list[Finding] = []
    for pool in p.capacity.pools:
        no_efa = sorted(t.name for t in launch[pool.name] if t.efa == 0)
        if pool.efa and no_efa:
            field = "instanceTypes" if pool.instance_types else "instanceFamilies"
            out.append((["capacity", "pools", pool.index, field], (f"pool {pool.name} is marked efa but may launch {', '.join(no_efa)}, which have "
                                                                  "no EFA interface; list only EFA-capable instance types")))
    return out


def _formula(p: Profile) -> list[Finding]:
    if not p.autoscaling.formula:
        return []
    from ..verify.rules_formula import (  # lazy: verify imports the pipeline, which imports plan
        FormulaError,
        parse,
    )

    try:
        parse(p.autoscaling.formula)
    except FormulaError as e:
        return [(["autoscaling", "formula"], f"formula does not parse: {e}")]
    return []


def _labels(p: Profile) -> list[Finding]:
    if p.capacity.provisioner != "autoMode":
        return []
    return [(["metadata", "labels", key], (f"label {key} on EKS Auto Mode, whose nodes carry eks.amazonaws.com/* labels only; use "
                                          f"eks.amazonaws.com/{key.split('/', 1)[1]} or drop it"))
            for key, _ in p.labels if key.startswith("karpenter.k8s.aws/")]


def features_used(p: Profile, launch: Mapping[str, Sequence[InstanceType]]) -> set[str]:
    """The engine features (capability-table names) the profile's rendering relies on."""
    s = p.serving
    used = set()
    if p.model.scheme == "s3":
        used.add("s3-streaming")
    if s.disaggregated:
        used.add("disaggregation")
        if s.nixl_backend == "LIBFABRIC":
            used.add("libfabric")
    node_gpus = max((t.gpus for ts in launch.values() for t in ts), default=1)
    for r in s.roles:
        gpus = r.tensor * r.pipeline * r.data
        if gpus > (s.gpus_per_node or node_gpus) or (s.gpus_per_node and gpus > s.gpus_per_node):
            used.add("multi-node")
        if r.data > 1:
            used.add("data-parallel")
        if r.expert:
            used.add("expert-parallel")
        if r.pipeline > 1:
            used.add("pipeline-parallel")
    return used


def profile_findings(p: Profile, launch: Mapping[str, Sequence[InstanceType]]) -> list[Finding]:
    """Every problem the rendered objects would show, found on the profile."""
    img = p.serving.image
    found = engine_table.of_profile(p.serving)
    name, stock = engine_table.ENGINE_NAMES[p.serving.engine], engine_table.STOCK_IMAGES[p.serving.engine]
    out: list[Finding] = sglang_checks.findings(p, found) if p.serving.engine == "sglang" else []
    if found.engine is None and img.capabilities:
        missing = sorted(features_used(p, launch) - set(img.capabilities))
        if missing:
            out.append((["serving", "image", "capabilities"], (f"{img.repository}:{img.tag} is outside the engine capability table and declares "
                                                              f"{', '.join(img.capabilities)}, but the profile uses {', '.join(missing)}; "
                                                              "use an image that has them (and declare them) or stop using them")))
    elif found.engine is None:
        what = f"declared engineVersion {img.engine_version} is not" if img.engine_version else f"{img.repository}:{img.tag} is not an image"
        out.append((["serving", "image", "engineVersion" if img.engine_version else "tag"],
                    (f"{what} in the engine capability table (compiler/engine/: {name} {', '.join(engine_table.versions(p.serving.engine))}), so its "
                    f"flags cannot be checked; use {stock}:v{engine_table.versions(p.serving.engine)[-1]}, set serving.image.engineVersion to the "
                    f"{name} version the image runs, or declare serving.image.capabilities")))
    else:
        out += _extra_args(p, found.engine) + _transport(p, found.engine, found.capabilities, launch)
    return out + _efa_pools(p, launch) + _formula(p) + _labels(p)
