"""Instance and model catalogs (package data) for the capacity planner."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import datafile

_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: float
    bandwidth_gbs: float
    tflops: float
    fp8: bool


@dataclass(frozen=True)
class InstanceType:
    name: str
    family: str
    gpu: Gpu
    gpus: int
    vcpu: int
    memory_gi: int
    efa: int
    price: float


@dataclass(frozen=True)
class ModelShape:
    layers: int | None
    kv_heads: int | None
    head_dim: int | None
    kv_bytes_per_token: int | None  # 16-bit KV, all layers
    mla: bool


@lru_cache(maxsize=1)
def instance_types() -> dict[str, InstanceType]:
    doc = datafile.load(_DIR / "instances.yaml")
    gpus = {n: Gpu(n, float(g["memoryGB"]), float(g["bandwidthGBs"]), float(g["tflops"]), bool(g["fp8"])) for n, g in doc["gpus"].items()}
    return {
        n: InstanceType(n, n.split(".")[0], gpus[t["gpu"]], t["gpus"], t["vcpu"], t["memoryGi"], t["efa"], float(t["price"]))
        for n, t in doc["types"].items()
    }


def types_of_family(family: str) -> list[InstanceType]:
    return [t for t in instance_types().values() if t.family == family]


@lru_cache(maxsize=1)
def _models() -> dict[str, ModelShape]:
    doc = datafile.load(_DIR / "models.yaml")
    return {k.lower(): ModelShape(v.get("layers"), v.get("kvHeads"), v.get("headDim"), v.get("kvBytesPerToken"), bool(v.get("mla"))) for k, v in doc.items()}


def model_shape(model_id: str) -> ModelShape | None:
    return _models().get(model_id.lower())
