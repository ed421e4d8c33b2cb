"""Memory fit: weights per GPU, KV bytes per token, KV budget, sequences that fit.

    weights/GPU   = params x bytes/param / (TP x PP)
                  = (experts / (DP x TP) + dense / TP) x bytes/param / PP   (expert parallel)
                    where dense (attention, embeddings, shared experts) is bounded by the active
                    parameters and experts = params - active: a stated, conservative assumption
    KV/token      = 2 x layers x KV heads x head dim x KV bytes   (GQA; sharded over min(TP, KV heads) x PP)
                  = catalog MLA figure x KV bytes / 2              (MLA; replicated over TP, sharded over PP)
    KV budget/GPU = GPU memory x gpu-memory-utilization - weights/GPU - OVERHEAD_GB
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import InstanceType, ModelShape, model_shape
from ..profile import BYTES_PER_PARAM, Model

#: Per-GPU memory vLLM needs besides weights and KV: CUDA context, activations, CUDA graphs,
#: NCCL buffers. A stated constant, not a measurement; measured profiles should tune it down.
OVERHEAD_GB = 3.0

#: Used (with a warning) when neither the profile nor the catalog knows the model's shape:
#: Llama-3-70B's GQA shape, conservative for smaller dense models.
FALLBACK_SHAPE = ModelShape(layers=80, kv_heads=8, head_dim=128, kv_bytes_per_token=None, mla=False)


@dataclass(frozen=True)
class Fit:
    """How a model fits a pod's GPUs: weights, KV budget and KV tokens per replica."""

    weights_per_gpu_gb: float
    kv_budget_gb: float
    kv_bytes_per_token_per_gpu: float
    kv_tokens_per_replica: int  # over all data-parallel ranks
    kv_tokens_per_rank: int

    @property
    def fits(self) -> bool:
        return self.kv_budget_gb > 0


def shape_of(model: Model) -> tuple[ModelShape, bool]:
    """(shape, known): the profile's architecture, else the catalog, else the fallback."""
    a = model.architecture
    if a and (a.kv_bytes_per_token or (a.layers and a.kv_heads and a.head_dim)):
        return ModelShape(a.layers, a.kv_heads, a.head_dim, a.kv_bytes_per_token, bool(a.kv_bytes_per_token)), True
    found = model_shape(model.id)
    return (found, True) if found else (FALLBACK_SHAPE, False)


def kv_bytes_per_token_per_gpu(shape: ModelShape, kv_dtype: str, tensor: int, pipeline: int) -> float:
    kv_bytes = 1 if kv_dtype == "fp8" else 2
    if shape.kv_bytes_per_token:
        return shape.kv_bytes_per_token * kv_bytes / 2 / pipeline
    if shape.layers is None or shape.kv_heads is None or shape.head_dim is None:
        raise ValueError(f"model shape needs kvBytesPerToken or layers, kvHeads and headDim: {shape}")
    total = 2 * shape.layers * shape.kv_heads * shape.head_dim * kv_bytes
    return total / (min(tensor, shape.kv_heads) * pipeline)


def weights_per_gpu(model: Model, tensor: int, pipeline: int, data: int, expert: bool) -> float:
    """GB of weights on each GPU. With expert parallel the experts are sharded over every rank of
    the replica (DP x TP) and only the dense part is replicated per data-parallel rank."""
    per_param = BYTES_PER_PARAM[model.precision]
    if not expert:
        return model.parameters_b * per_param / (tensor * pipeline)
    dense = model.active_parameters_b
    experts = max(0.0, model.parameters_b - dense)
    return (experts / (data * tensor) + dense / tensor) * per_param / pipeline


def fit(model: Model, shape: ModelShape, kv_dtype: str, gpu_memory_gb: float, utilization: float, tensor: int, pipeline: int, data: int,
        expert: bool = False) -> Fit:
    weights = weights_per_gpu(model, tensor, pipeline, data, expert)
    budget = gpu_memory_gb * utilization - weights - OVERHEAD_GB
    per_token = kv_bytes_per_token_per_gpu(shape, kv_dtype, tensor, pipeline)
    rank_tokens = int(budget * 1e9 // per_token) if budget > 0 else 0
    return Fit(weights, budget, per_token, rank_tokens * data, rank_tokens)


def suggestions(model: Model, shape: ModelShape, kv_dtype: str, utilization: float, tensor: int, pipeline: int, types: list[InstanceType], all_types: list[InstanceType]) -> list[str]:
    """What would make a model that does not fit, fit (more TP, FP8, a bigger GPU)."""
    out = []
    mem = min((t.gpu.memory_gb for t in types), default=0.0)
    for tp in (2, 4, 8, 16):
        if tp > tensor and fit(model, shape, kv_dtype, mem, utilization, tp, pipeline, 1).fits and any(t.gpus >= tp for t in types):
            out.append(f"tensor parallel {tp}")
            break
    for pp in (2, 4, 8):
        if pp > pipeline and fit(model, shape, kv_dtype, mem, utilization, tensor, pp, 1).fits:
            out.append(f"pipeline parallel {pp} across nodes")
            break
    if BYTES_PER_PARAM[model.precision] > 1:
        fp8 = Model(model.id, model.source, model.served_name, model.parameters_b, model.active_parameters_b, "fp8", model.max_context, model.architecture)
        if fit(fp8, shape, kv_dtype, mem, utilization, tensor, pipeline, 1).fits:
            out.append("FP8 weights")
    bigger = sorted({t.name for t in all_types if t.gpus >= tensor * pipeline and fit(model, shape, kv_dtype, t.gpu.memory_gb, utilization, tensor, pipeline, 1).fits})
    if bigger:
        out.append("a bigger GPU (" + ", ".join(bigger[:3]) + ")")
    return out
