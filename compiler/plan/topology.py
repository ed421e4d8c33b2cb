"""Which parallel layout a serving role runs, whether the pinned engine supports it, and why.

A role runs TP x PP x DP ranks, optionally with expert parallel (EP: MoE experts sharded over the
DP x TP ranks). What the engine can run comes from the capability table (:mod:`compiler.engine`):
with prefill/decode disaggregation the KV connector decides, e.g. vLLM's NixlConnector supports
data and expert parallel but not pipeline parallel > 1. An unsupported layout is an error that
proposes the layout the planner would choose instead (:func:`choose`):

* MoE models (active < total parameters) across nodes: wide EP, TP=1 x DP=all GPUs of the replica
  with expert parallel (the llm-d wide-EP pattern): experts are sharded over every GPU, attention
  runs data-parallel, and MLA's KV cache (replicated across TP) becomes one independent cache per
  GPU instead of one per TP group;
* dense models: TP within a node, DP across nodes (each node a full copy when it fits).

The planner never swaps a layout silently: what the profile pins is what renders.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine import Connector, EngineVersion
from ..profile import Model, Role

#: The connector every disaggregated vLLM role renders (see compiler/render/vllm.py); each table row
#: names its own (``EngineVersion.disagg_connector``: SGLang's transfer backend ``nixl``).
CONNECTOR = "NixlConnector"


@dataclass(frozen=True)
class Layout:
    """Tensor, pipeline and data parallel sizes, and expert parallelism."""

    tensor: int
    pipeline: int
    data: int
    expert: bool

    def describe(self) -> str:
        base = f"TP={self.tensor} x PP={self.pipeline} x DP={self.data}"
        return base + (" + EP" if self.expert else "")


def is_moe(model: Model) -> bool:
    return model.active_parameters_b < model.parameters_b


def choose(model: Model, gpus: int, gpus_per_node: int) -> Layout:
    """The layout the planner proposes for ``gpus`` GPUs per replica on nodes of ``gpus_per_node``."""
    if is_moe(model) and gpus > 1:
        return Layout(1, 1, gpus, True)
    tensor = min(gpus, gpus_per_node)
    return Layout(tensor, 1, max(1, gpus // tensor), False)


def problems(role: Role, model: Model, engine: EngineVersion, disaggregated: bool) -> list[tuple[str, str]]:
    """(field, message) for every part of the role's layout the engine cannot run."""
    out: list[tuple[str, str]] = []
    if role.expert and not is_moe(model):
        out.append(("expert", (f"expert parallel needs a mixture-of-experts model, but {model.id} is dense "
                               "(activeParametersB = parametersB); remove expert")))
    ep_flag = "--ep-size" if engine.engine == "sglang" else "--enable-expert-parallel"
    if role.expert and ep_flag not in engine.flags:
        out.append(("expert", f"{engine.label} has no {ep_flag}"))
    conn: Connector | None = engine.connector(engine.disagg_connector) if disaggregated else None
    if conn is not None:
        v = f"{engine.disagg_connector} in {engine.label}"
        if role.pipeline > 1 and not conn.pipeline_parallel:
            out.append(("pipeline", (f"{v} does not support pipeline parallel > 1 (the KV handshake only covers PP rank 0; "
                                     "vLLM issues #40674, #52913)")))
        if role.data > 1 and not conn.data_parallel:
            out.append(("data", f"{v} does not support data parallel"))
        if role.expert and not conn.expert_parallel:
            out.append(("expert", f"{v} does not support expert parallel"))
    return out


def explain(role: Role, model: Model, gpus_per_pod: int, pods: int, engine: EngineVersion | None, disaggregated: bool) -> str:
    """One sentence on the role's layout and why it suits the engine and the model."""
    lay = Layout(role.tensor, role.pipeline, role.data, role.expert)
    where = f"{pods} node{'s' if pods > 1 else ''} x {gpus_per_pod} GPUs"
    why = []
    if role.expert:
        why.append(f"experts sharded over {role.data * role.tensor} ranks")
    if role.data > 1:
        why.append(f"attention data-parallel: {role.data} independent KV caches")
    if role.pipeline > 1:
        why.append(f"{role.pipeline} pipeline stages")
    if disaggregated and engine is not None:
        conn = engine.connector(engine.disagg_connector)
        if conn is not None:
            sup = [n for n, ok in (("DP", conn.data_parallel), ("EP", conn.expert_parallel), ("PP", conn.pipeline_parallel)) if ok]
            no = [n for n, ok in (("PP", conn.pipeline_parallel),) if not ok]
            why.append(f"{engine.disagg_connector} ({engine.label}) supports {', '.join(sup) or 'TP only'}" + (f", not {', '.join(no)}" if no else ""))
    return f"{lay.describe()} on {where}" + (f": {'; '.join(why)}" if why else "")
