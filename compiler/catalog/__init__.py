"""Instance and model catalogs (package data) for the capacity planner."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import datafile

_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class MigProfile:
    """One MIG profile of a GPU model, e.g. H100 ``1g.10gb``: 1 of 7 compute slices, 10 GB, 7 per GPU."""

    name: str
    compute_slices: int  # of 7
    memory_gb: float
    per_gpu: int


@dataclass(frozen=True)
class Gpu:
    """A GPU model's figures the planner uses (memory, bandwidth, compute, FP8)."""

    name: str
    memory_gb: float
    bandwidth_gbs: float
    tflops: float
    fp8: bool
    mig: tuple[MigProfile, ...] = ()  # empty: the GPU has no MIG


@dataclass(frozen=True)
class InstanceType:
    """An EC2 GPU instance type of the catalog: its GPUs, CPUs, memory and price."""

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
    """A catalog model's attention shape (what its KV cache costs per token)."""

    layers: int | None
    kv_heads: int | None
    head_dim: int | None
    kv_bytes_per_token: int | None  # 16-bit KV, all layers
    mla: bool


@lru_cache(maxsize=1)
def instance_types() -> dict[str, InstanceType]:
    doc = datafile.load(_DIR / "instances.yaml")
    gpus = {n: Gpu(n, float(g["memoryGB"]), float(g["bandwidthGBs"]), float(g["tflops"]), bool(g["fp8"]), _mig(g.get("mig") or {}))
            for n, g in doc["gpus"].items()}
    return {
        n: InstanceType(n, n.split(".")[0], gpus[t["gpu"]], t["gpus"], t["vcpu"], t["memoryGi"], t["efa"], float(t["price"]))
        for n, t in doc["types"].items()
    }


def _mig(profiles: dict[str, int]) -> tuple[MigProfile, ...]:
    """``{"1g.10gb": 7}`` -> MigProfile("1g.10gb", 1, 10.0, 7): compute slices and GB from the name."""
    out = []
    for name, count in profiles.items():
        g, m = name.split(".", 1)
        out.append(MigProfile(name, int(g.removesuffix("g")), float(m.removesuffix("gb")), int(count)))
    return tuple(out)


def types_of_family(family: str) -> list[InstanceType]:
    return [t for t in instance_types().values() if t.family == family]


@lru_cache(maxsize=1)
def _models() -> dict[str, ModelShape]:
    doc = datafile.load(_DIR / "models.yaml")
    return {k.lower(): ModelShape(v.get("layers"), v.get("kvHeads"), v.get("headDim"), v.get("kvBytesPerToken"), bool(v.get("mla"))) for k, v in doc.items()}


def model_shape(model_id: str) -> ModelShape | None:
    return _models().get(model_id.lower())
