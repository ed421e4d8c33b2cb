"""Concurrency and throughput per replica, from measured points or a roofline estimate.

Measured points win: the highest concurrency whose latency meets the SLO. Otherwise
    TTFT        = 2 x active params x input tokens / (GPUs x TFLOPS x MFU)
    TPOT(c)     = PP x (active weights/GPU + c x context x KV/token/GPU) / (HBM bandwidth x MBU)
    E2E(c)      = TTFT + output tokens x TPOT(c)
and the concurrency is the largest c with E2E(c) <= SLO. Estimates ignore prefill/decode
interference and queueing; they size a first deployment, measurements size the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..catalog import InstanceType
from ..profile import BYTES_PER_PARAM, Model, Workload

MFU = 0.4  # prefill: fraction of peak FLOPS reached
MBU = 0.6  # decode: fraction of HBM bandwidth reached
MAX_CONCURRENCY = 1024


@dataclass(frozen=True)
class Operating:
    """The operating point of a replica: concurrency, latencies and throughput."""

    concurrency: int
    e2e_seconds: float
    ttft_seconds: float
    rps_per_replica: float
    measured: bool
    meets_slo: bool


def _tflops(t: InstanceType, model: Model) -> float:
    low_precision = BYTES_PER_PARAM[model.precision] <= 1 and t.gpu.fp8
    return t.gpu.tflops * (2 if low_precision else 1)


def ttft(model: Model, wl: Workload, t: InstanceType, gpus: int) -> float:
    flops = 2 * model.active_parameters_b * 1e9 * wl.input_tokens
    return flops / (gpus * _tflops(t, model) * 1e12 * MFU)


def tpot(model: Model, wl: Workload, t: InstanceType, tensor: int, pipeline: int, kv_per_token_gpu: float, c: int) -> float:
    active = model.active_parameters_b * BYTES_PER_PARAM[model.precision] * 1e9 / (tensor * pipeline)
    context = wl.input_tokens + wl.output_tokens / 2
    return pipeline * (active + c * context * kv_per_token_gpu) / (t.gpu.bandwidth_gbs * 1e9 * MBU)


def from_measured(wl: Workload) -> Operating:
    points = sorted(wl.measured, key=lambda p: p.concurrency)
    ok = [p for p in points if p.e2e_seconds <= wl.e2e_seconds and (wl.ttft_seconds is None or p.ttft_seconds is None or p.ttft_seconds <= wl.ttft_seconds)]
    best, meets = (ok[-1], True) if ok else (min(points, key=lambda p: p.e2e_seconds), False)
    return Operating(best.concurrency, best.e2e_seconds, best.ttft_seconds or 0.0, best.concurrency / best.e2e_seconds, True, meets)


def estimate(role: str, model: Model, wl: Workload, t: InstanceType, tensor: int, pipeline: int, data: int, kv_per_token_gpu: float, max_seqs: int) -> Operating:
    """Largest per-replica concurrency meeting the SLO for ``role`` (serve, prefill, decode)."""
    gpus = tensor * pipeline
    first = ttft(model, wl, t, gpus)
    if role == "prefill":  # compute-bound: one prompt at a time per DP rank
        return Operating(data, first, first, data / first, False, wl.ttft_seconds is None or first <= wl.ttft_seconds)
    limit = max(1, min(max_seqs, MAX_CONCURRENCY))
    base = 0.0 if role == "decode" else first

    def e2e(c: int) -> float:
        per_rank = math.ceil(c / data)
        return base + wl.output_tokens * tpot(model, wl, t, tensor, pipeline, kv_per_token_gpu, per_rank)

    slo_ttft_ok = role == "decode" or wl.ttft_seconds is None or first <= wl.ttft_seconds
    if e2e(1) > wl.e2e_seconds or not slo_ttft_ok:
        return Operating(1, e2e(1), first, 1 / e2e(1), False, False)
    lo, hi = 1, limit
    while lo < hi:  # e2e grows with c: binary search the largest c within the SLO
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if e2e(mid) <= wl.e2e_seconds else (lo, mid - 1)
    return Operating(lo, e2e(lo), first, lo / e2e(lo), False, True)
