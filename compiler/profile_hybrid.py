"""Typed view of two capacity extensions of a profile: Capacity Blocks for ML on a pool's
reservations (``capacity.pools[].reservations[].capacityBlock``) and the on-premises pool on EKS
Hybrid Nodes (``capacity.hybrid``). :mod:`compiler.profile` calls the two readers below."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def parse_time(text: str) -> datetime:
    """``2027-01-04T11:30:00Z`` (the schema's pattern; seconds optional) -> aware UTC datetime."""
    fmt = "%Y-%m-%dT%H:%M:%SZ" if text.count(":") == 2 else "%Y-%m-%dT%H:%MZ"
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


@dataclass(frozen=True)
class CapacityBlock:
    """An EC2 Capacity Block for ML: one instance type, a count, a fixed window, a prepaid price."""

    instance_type: str
    instance_count: int
    start: str  # as written (RFC 3339, UTC)
    end: str
    price_per_gpu_hour: float

    @property
    def hours(self) -> float:
        return (parse_time(self.end) - parse_time(self.start)).total_seconds() / 3600


@dataclass(frozen=True)
class Taint:
    """A taint of the hybrid nodes that the serving pods tolerate."""

    key: str
    value: str | None
    effect: str


@dataclass(frozen=True)
class Hybrid:
    """On-premises GPU servers joined as EKS Hybrid Nodes: what the user declares about them."""

    nodes: int
    gpus_per_node: int
    gpu_name: str
    gpu_memory_gb: float
    cpu: int
    memory_gi: int
    replicas: int | None
    node_labels: tuple[tuple[str, str], ...]
    taints: tuple[Taint, ...]
    remote_pod_networks: tuple[str, ...]


def capacity_block(r: dict[str, Any]) -> CapacityBlock | None:
    b = r.get("capacityBlock")
    if not b:
        return None
    return CapacityBlock(b["instanceType"], int(b["instanceCount"]), b["start"], b["end"], float(b["pricePerGpuHour"]))


def hybrid(c: dict[str, Any]) -> Hybrid | None:
    h = c.get("hybrid")
    if not h:
        return None
    taints = tuple(Taint(t["key"], t.get("value"), t["effect"]) for t in h.get("taints", ()))
    return Hybrid(int(h["nodes"]), int(h["gpusPerNode"]), h["gpu"]["name"], float(h["gpu"]["memoryGB"]), int(h["cpu"]), int(h["memoryGi"]),
                  h.get("replicas"), tuple(sorted(h.get("nodeLabels", {}).items())), taints, tuple(h["remotePodNetworks"]))
