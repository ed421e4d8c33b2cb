"""Profile-level checks for ``serving.engine: sglang`` (called by :mod:`.checks`), so ``validate``
refuses what SGLang cannot run before anything renders. Facts: compiler/engine/sglang-0.5.23.yaml
and the module docstring of :mod:`compiler.render.sglang`.

Refused, each with a located error:

* ``serving.multiNode.backend: ray``: mcompile runs SGLang's native multi-node mode
  (``--nnodes``/``--node-rank``/``--dist-init-addr``); its Ray mode needs the ``sglang[ray]``
  extra and a Ray cluster nothing here starts;
* ``serving.compileCache``: it shares vLLM's torch.compile directory (``$VLLM_CACHE_ROOT``), which
  SGLang never reads, so the EFS volume would be paid for and unused;
* an ``s3://`` model on an image not declared to carry the ``runai-model-streamer[s3]`` package
  (the ``sglang[runai]`` extra, not a default dependency): SGLang would fail to import the streamer.
"""

from __future__ import annotations

from ..engine import ImageEngine
from ..profile import Profile

Finding = tuple[list[str | int], str]

#: Flags mcompile generates for SGLang from profile fields (compiler/render/sglang.py).
GENERATED = {"--port": "serving.port", "--host": "the pod network (0.0.0.0)", "--model-path": "model.source",
             "--served-model-name": "model.servedName", "--context-length": "model.maxContext",
             "--tp-size": "parallelism.tensor (x data with expert parallel)", "--tensor-parallel-size": "parallelism.tensor",
             "--pp-size": "parallelism.pipeline", "--pipeline-parallel-size": "parallelism.pipeline",
             "--dp-size": "parallelism.data", "--data-parallel-size": "parallelism.data", "--attn-dp-size": "parallelism.data + expert",
             "--ep-size": "parallelism.expert", "--load-format": "model.source (s3:// streams with runai_streamer)",
             "--nnodes": "the LeaderWorkerSet size", "--node-rank": "the LeaderWorkerSet worker index",
             "--dist-init-addr": "the LeaderWorkerSet leader", "--disaggregation-mode": "serving.disaggregation",
             "--disaggregation-transfer-backend": "serving.disaggregation", "--disaggregation-bootstrap-port": "serving.disaggregation"}


def _parallel(p: Profile, flag: str) -> set[str | None]:
    out: set[str | None] = set()
    for r in p.serving.roles:
        wide = r.expert and r.data > 1
        value = {"--tp-size": r.tensor * (r.data if wide else 1), "--pp-size": r.pipeline if r.pipeline > 1 else None,
                 "--dp-size": r.data if r.data > 1 and not wide else None, "--attn-dp-size": r.data if wide else None,
                 "--ep-size": (r.tensor * r.data if wide else r.tensor) if r.expert else None}[flag]
        if value is not None:
            out.add(str(value))
    return out


def generated_values(p: Profile, flag: str) -> set[str | None]:
    """The value(s) the SGLang render generates for ``flag`` (empty: not generated)."""
    flag = {"--tensor-parallel-size": "--tp-size", "--pipeline-parallel-size": "--pp-size", "--data-parallel-size": "--dp-size"}.get(flag, flag)
    s, m = p.serving, p.model
    single = {"--port": str(s.port), "--host": "0.0.0.0", "--context-length": str(m.max_context), "--served-model-name": m.served_name}
    if flag in single:
        return {single[flag]}
    if flag == "--load-format":
        return {"runai_streamer"} if m.scheme == "s3" else set()
    if flag in ("--tp-size", "--pp-size", "--dp-size", "--attn-dp-size", "--ep-size"):
        return _parallel(p, flag)
    return {"<generated>"}


def findings(p: Profile, found: ImageEngine) -> list[Finding]:
    s = p.serving
    out: list[Finding] = []
    if s.multinode_backend == "ray":
        out.append((["serving", "multiNode", "backend"], ("SGLang runs multi-node groups natively (--nnodes, --node-rank, --dist-init-addr "
                                                         "from the LeaderWorkerSet); its Ray mode needs sglang[ray] and a Ray cluster nothing "
                                                         "starts here: use backend mp")))
    if s.compile_cache is not None:
        out.append((["serving", "compileCache"], ("the compile cache is vLLM's torch.compile directory ($VLLM_CACHE_ROOT), which SGLang "
                                                  "never reads: the EFS volume would be unused; remove serving.compileCache for engine sglang")))
    if p.model.scheme == "s3" and found.engine is not None and "s3-streaming" not in found.capabilities:
        out.append((["model", "source"], (f"SGLang streams s3:// models with runai-model-streamer[s3] (the sglang[runai] extra), and "
                                          f"{s.image.repository}:{s.image.tag} is not known to carry it; use hf:// or pvc://, or an image built "
                                          "with sglang[runai] that declares serving.image.engineVersion and capabilities: [s3-streaming]")))
    return out
