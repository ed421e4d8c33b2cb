"""GPU sharing (``serving.gpuSharing``): what one slice of a GPU is, whether the profile may share
GPUs at all, and the sizing view the rest of the planner works on.

A *slice* is what one replica gets:

    MIG <g>g.<m>gb     m GB of memory (hardware-isolated), g of the GPU's 7 compute slices, and the
                       share of memory bandwidth that its memory slices carry (m / GPU memory);
                       per_gpu slices per GPU (catalog, from the GPU Operator's mig-parted config)
    time-slicing x N   GPU memory / N, compute and bandwidth / N (every replica busy: the
                       contended case), N slices per GPU; vLLM gets --gpu-memory-utilization
                       u / N so the N engines on one GPU together stay within u of its memory

The planner sizes a shared profile on :func:`slice_view` of the pools' instance types (a p5.48xlarge
with 1g.10gb is 56 "GPUs" of 10 GB): the memory fit, KV budget, max-num-seqs, latency estimate,
pods per node and cost then follow unchanged; NodePool ``nvidia.com/gpu`` limits are converted back
to physical GPUs (:func:`physical_gpus`). Refusals (located, exit 2): sharing on EKS Auto Mode or
on Bottlerocket (both run their own NVIDIA device plugin, so the GPU Operator's MIG manager and
time-slicing config never reach the node), with tensor/pipeline/data parallel > 1 or
disaggregation, MIG on a GPU without MIG or without that profile, and a slice too small for the
model's weights, runtime overhead and one ``maxContext`` sequence of KV cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..catalog import Gpu, InstanceType, MigProfile
from ..profile import GpuSharing, Pool, Profile
from . import memory

if TYPE_CHECKING:  # model.py imports SharingPlan from here
    from .model import PoolPlan

ErrorAt = Callable[[list[str | int], str], None]

GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"  # + profile, with the mixed strategy (GPU Operator "GPU Operator with MIG")
#: Node labels the GPU Operator reads: the MIG manager applies the mig-parted layout named by
#: ``nvidia.com/mig.config``; the device plugin's config manager picks the config key named by
#: ``nvidia.com/device-plugin.config`` (GPU Operator docs "GPU Operator with MIG", "Time-Slicing GPUs").
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
SHARING_PATH: list[str | int] = ["serving", "gpuSharing"]


@dataclass(frozen=True)
class SharingPlan:
    """What a shared profile runs on; None in :class:`~compiler.plan.model.Plan` for whole GPUs."""

    mode: str  # mig | timeSlicing
    gpu: str  # GPU model the slices are cut from
    resource: str  # what each serving pod requests, one of it
    slices_per_gpu: int
    slice_memory_gb: float
    compute_fraction: float  # of one GPU's FLOPS
    bandwidth_fraction: float  # of one GPU's memory bandwidth
    gpu_memory_utilization: float  # the --gpu-memory-utilization vLLM gets (of the memory it sees)
    mig_profile: str | None = None
    mig_strategy: str | None = None
    mig_layout: str | None = None  # value of nvidia.com/mig.config on the nodes
    device_plugin_config: str | None = None  # value of nvidia.com/device-plugin.config on the nodes

    @property
    def node_labels(self) -> dict[str, str]:
        if self.mig_layout:
            return {MIG_CONFIG_LABEL: self.mig_layout}
        return {DEVICE_PLUGIN_CONFIG_LABEL: self.device_plugin_config} if self.device_plugin_config else {}

    def describe(self) -> str:
        if self.mode == "mig":
            return (f"MIG {self.mig_profile} ({self.mig_strategy} strategy): {self.slices_per_gpu} slices per {self.gpu}, "
                    f"{self.slice_memory_gb:g} GB and {self.compute_fraction:.0%} of the compute each; pods request {self.resource}")
        return (f"time-slicing x{self.slices_per_gpu} on {self.gpu}: {self.slice_memory_gb:g} GB per pod "
                f"(--gpu-memory-utilization {self.gpu_memory_utilization:g}), no memory or fault isolation; pods request {self.resource}")


def mig_layout(profile: str) -> str:
    """The mig-parted layout that puts ``profile`` on every GPU of a node (the GPU Operator's
    naming: ``all-1g.10gb``)."""
    return f"all-{profile}"


def time_slicing_config(replicas: int) -> str:
    """Key of the device-plugin config that time-slices every GPU ``replicas`` ways."""
    return f"ts-{replicas}"


def _mig_of(gpu: Gpu, name: str) -> MigProfile | None:
    return next((m for m in gpu.mig if m.name == name), None)


def utilization(sh: GpuSharing, base: float) -> float:
    """--gpu-memory-utilization: the whole budget on a MIG slice (vLLM sees the slice's memory),
    the budget split N ways on a time-sliced GPU (vLLM sees the whole GPU), rounded down. vLLM
    0.28.0 documents the value as "a per-instance limit ... if you have two vLLM instances running
    on the same GPU, you can set the GPU memory utilization to 0.5 for each" (vllm/config/cache.py)."""
    if sh.mode == "timeSlicing" and sh.replicas:
        return math.floor(base / sh.replicas * 1000) / 1000
    return base


def slice_gpu(gpu: Gpu, sh: GpuSharing) -> tuple[Gpu, int] | None:
    """(the slice as a GPU, slices per GPU), or None when ``gpu`` cannot be shared that way."""
    if sh.mode == "mig":
        mig = _mig_of(gpu, sh.mig_profile or "")
        if mig is None:
            return None
        frac = mig.memory_gb / gpu.memory_gb
        return Gpu(f"{gpu.name} {mig.name}", mig.memory_gb, gpu.bandwidth_gbs * frac, gpu.tflops * mig.compute_slices / 7, gpu.fp8), mig.per_gpu
    if sh.mode == "timeSlicing" and sh.replicas:
        n = sh.replicas
        return Gpu(f"{gpu.name} /{n}", gpu.memory_gb / n, gpu.bandwidth_gbs / n, gpu.tflops / n, gpu.fp8), n
    return None


def slice_view(t: InstanceType, sh: GpuSharing) -> InstanceType:
    """``t`` as the planner should size it: each slice a GPU (unchanged for whole GPUs or a GPU
    that cannot be shared that way, which :func:`check` refuses)."""
    found = slice_gpu(t.gpu, sh)
    if found is None:
        return t
    gpu, per = found
    return replace(t, gpu=gpu, gpus=t.gpus * per)


def whole_node_limits(pp: PoolPlan, pool: Pool, per_gpu: int, types: Sequence[InstanceType]) -> PoolPlan:
    """A shared pool's limits, sized in slices, as Karpenter counts them: ``nvidia.com/gpu`` in
    physical GPUs, and GPUs, CPU and memory rounded up to whole nodes of the largest type (a pod
    needs a slice, Karpenter launches a whole node: a limit between two nodes stops the next
    launch). Limits the profile pins stay as given."""
    biggest = max(types, key=lambda t: (t.gpus, t.vcpu, t.memory_gi))
    nodes = math.ceil(math.ceil(pp.limit_gpus / per_gpu) / biggest.gpus)
    return replace(pp, limit_gpus=pool.limit_gpus or nodes * biggest.gpus, limit_cpu=pool.limit_cpu or max(pp.limit_cpu, nodes * biggest.vcpu),
                   limit_memory_gi=pool.limit_memory_gi or max(pp.limit_memory_gi, nodes * biggest.memory_gi))


def _pool_field(pool: Pool) -> list[str | int]:
    return ["capacity", "pools", pool.index, "instanceTypes" if pool.instance_types else "instanceFamilies"]


def check(p: Profile, types_by_pool: dict[str, list[InstanceType]], error: ErrorAt) -> SharingPlan | None:
    """Refusals for ``serving.gpuSharing`` (each located); the plan of the slices when it is sound."""
    sh, s, cap = p.serving.gpu_sharing, p.serving, p.capacity
    if sh.mode == "none":
        return None
    found = len(_refusals(p, error))
    if sh.mode == "mig" and not sh.mig_profile:
        error(SHARING_PATH + ["migProfile"], "required with mode mig: the MIG profile of each slice (e.g. 1g.10gb on H100)")
        return None
    if sh.mode == "timeSlicing" and not sh.replicas:
        error(SHARING_PATH + ["replicas"], "required with mode timeSlicing: how many pods share one GPU (2..16)")
        return None
    gpus: dict[str, Gpu] = {}
    for pool in cap.pools:
        for t in types_by_pool.get(pool.name, []):
            if sh.mode == "mig" and not t.gpu.mig:
                error(_pool_field(pool), f"MIG needs GPUs with Multi-Instance GPU (A100, H100, H200): pool {pool.name} may launch {t.name} "
                      f"({t.gpu.name}), which has no MIG; use p4d/p5/p5e/p5en types, or timeSlicing")
                found += 1
                break
            gpus.setdefault(t.gpu.name, t.gpu)
    if found:
        return None
    if len(gpus) != 1:
        error(SHARING_PATH + ["mode"], f"GPU sharing sizes one slice for every node, but the pools launch {', '.join(sorted(gpus))}: "
              "restrict the pools to instance types of one GPU model")
        return None
    (gpu,) = gpus.values()
    sliced = slice_gpu(gpu, sh)
    if sliced is None:
        names = ", ".join(m.name for m in gpu.mig)
        error(SHARING_PATH + ["migProfile"], f"{gpu.name} has no MIG profile {sh.mig_profile}; its profiles are {names} "
              "(compiler/catalog/instances.yaml)")
        return None
    part, per = sliced
    util = utilization(sh, s.gpu_memory_utilization)
    if not _fits(p, part, gpu, per, error):
        return None
    if sh.mode == "mig":
        return SharingPlan("mig", gpu.name, MIG_RESOURCE_PREFIX + (sh.mig_profile or "") if sh.mig_strategy == "mixed" else GPU_RESOURCE,
                           per, part.memory_gb, round(part.tflops / gpu.tflops, 4), round(part.bandwidth_gbs / gpu.bandwidth_gbs, 4), util,
                           sh.mig_profile, sh.mig_strategy, mig_layout(sh.mig_profile or ""))
    return SharingPlan("timeSlicing", gpu.name, GPU_RESOURCE, per, round(part.memory_gb, 3), round(1 / per, 4), round(1 / per, 4), util,
                       device_plugin_config=time_slicing_config(per))


def _refusals(p: Profile, error: ErrorAt) -> list[str]:
    """Where sharing cannot work at all, whatever the slice."""
    sh, s, cap = p.serving.gpu_sharing, p.serving, p.capacity
    out = []
    what = "MIG" if sh.mode == "mig" else "GPU time-slicing"
    if cap.provisioner == "autoMode":
        out.append("auto")
        error(SHARING_PATH + ["mode"], f"{what} is not possible on EKS Auto Mode: it runs its own NVIDIA driver and device plugin, which "
              "no GPU Operator MIG manager or time-slicing config reaches; use provisioner karpenter (with an al2023 AMI) for shared GPUs")
    elif cap.provisioner != "karpenter":
        out.append("provisioner")
        error(SHARING_PATH + ["mode"], f"{what} is compiled for Karpenter NodePools (their template labels select the layout, a NodeOverlay "
              f"tells Karpenter the slices), not for provisioner {cap.provisioner}; use provisioner karpenter")
    elif s.gpu_allocation == "dra":
        out.append("dra")
        error(SHARING_PATH + ["mode"], f"{what} works through the GPU Operator's device plugin, but serving.gpuAllocation is dra (GPUs claimed "
              "through the NVIDIA DRA driver); use gpuAllocation devicePlugin")
    elif cap.ami_alias.split("@", 1)[0] == "bottlerocket":
        out.append("bottlerocket")
        error(["capacity", "amiAlias"], f"{what} is configured through the GPU Operator's device plugin and MIG manager, but Bottlerocket "
              f"({cap.ami_alias}) runs its own NVIDIA device plugin, so the operator's plugin stays off on its nodes; use an al2023@... AMI alias")
    for role in s.roles:
        ranks = role.tensor * role.pipeline * role.data
        if ranks > 1 or s.disaggregated:
            out.append("parallel")
            key = "tensor" if role.tensor > 1 else ("pipeline" if role.pipeline > 1 else "data")
            path: list[str | int] = ["serving", "parallelism", key] if role.name == "serve" else ["serving", "disaggregation", "enabled"]
            error(path, f"{what} gives each replica one slice of one GPU, but {role.name} runs tensor {role.tensor} x pipeline {role.pipeline} "
                  f"x data {role.data}" + (" disaggregated" if s.disaggregated else "") + ": a parallel replica needs whole GPUs (MIG slices "
                  "have no GPU-to-GPU peer-to-peer, and time-sliced shares requested together may be one physical GPU); set gpuSharing.mode "
                  "none or parallelism 1")
            break
    return out


def _fits(p: Profile, part: Gpu, gpu: Gpu, per: int, error: ErrorAt) -> bool:
    """The slice must hold the weights, the runtime overhead and the KV cache of one maxContext
    sequence (vLLM refuses to start otherwise)."""
    s, m, sh = p.serving, p.model, p.serving.gpu_sharing
    shape, _ = memory.shape_of(m)
    f = memory.fit(m, shape, s.kv_cache_dtype, part.memory_gb, s.gpu_memory_utilization, 1, 1, 1)
    if f.fits and f.kv_tokens_per_rank >= m.max_context:
        return True
    kv_gb = m.max_context * f.kv_bytes_per_token_per_gpu / 1e9
    need = f.weights_per_gpu_gb + memory.OVERHEAD_GB + kv_gb
    have = part.memory_gb * s.gpu_memory_utilization
    detail = (f"needs {need:.1f} GB (weights {f.weights_per_gpu_gb:.1f} + overhead {memory.OVERHEAD_GB:g} + KV for maxContext {m.max_context}: "
              f"{kv_gb:.1f}), has {have:.1f} GB at gpu-memory-utilization {s.gpu_memory_utilization:g}")
    if sh.mode == "mig":
        bigger = [x.name for x in gpu.mig if x.memory_gb * s.gpu_memory_utilization >= need]
        error(SHARING_PATH + ["migProfile"], f"MIG slice {sh.mig_profile} ({part.memory_gb:g} GB) is too small for {m.id} ({m.precision}): {detail}"
              + (f"; profiles of {gpu.name} that fit: {', '.join(bigger)}" if bigger else f"; no {gpu.name} MIG profile fits: use whole GPUs"))
    else:
        most = max((n for n in range(2, (sh.replicas or 2) + 1) if gpu.memory_gb / n * s.gpu_memory_utilization >= need), default=0)
        error(SHARING_PATH + ["replicas"], f"time-slicing {gpu.name} {per} ways leaves {part.memory_gb:.1f} GB per pod, too small for {m.id} "
              f"({m.precision}): {detail}" + (f"; at most {most} replicas fit" if most else "; no time-slicing of this GPU fits: use whole GPUs"))
    return False


def sized_types(types_by_pool: dict[str, list[InstanceType]], sh: GpuSharing) -> dict[str, list[InstanceType]]:
    return {name: [slice_view(t, sh) for t in ts] for name, ts in types_by_pool.items()}

