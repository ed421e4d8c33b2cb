"""The planner's typed result: what render reads and what ``mcompile plan`` prints."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Diagnostic
from .sharing import SharingPlan


@dataclass(frozen=True)
class RolePlan:
    """The planned shape and replica counts of one serving role."""

    role: str  # serve | prefill | decode
    tensor: int
    pipeline: int
    data: int
    gpus_per_pod: int
    pods_per_replica: int  # LeaderWorkerSet size; 1 = single-pod replica (Deployment)
    sizing_type: str  # instance type the numbers below assume
    gpu_memory_gb: float
    weights_per_gpu_gb: float
    overhead_gb: float
    kv_budget_gb: float  # per GPU
    kv_bytes_per_token: float  # per GPU
    kv_tokens: int  # tokens of KV cache per replica
    max_num_seqs: int
    concurrency: int  # per-replica concurrency cap chosen for the SLO
    e2e_seconds: float  # (estimated or measured) latency at that concurrency
    ttft_seconds: float
    rps_per_replica: float
    replicas: int  # needed at the target RPS
    min_replicas: int
    max_replicas: int
    keda_target: int
    startup_budget_seconds: int
    termination_grace_seconds: int
    measured: bool  # sized from measured points, not the formula
    expert: bool = False  # expert parallel (--enable-expert-parallel)
    topology: str = ""  # the layout and why (compiler/plan/topology.py)

    @property
    def gpus_per_replica(self) -> int:
        return self.gpus_per_pod * self.pods_per_replica

    @property
    def multi_node(self) -> bool:
        return self.pods_per_replica > 1


@dataclass(frozen=True)
class PoolPlan:
    """The planned limits and node counts of one capacity pool."""

    name: str
    limit_gpus: int
    limit_cpu: int
    limit_memory_gi: int
    nodes_at_target: int
    price_per_hour: float  # per node, after the spot factor for spot-only pools
    cost_per_hour: float  # at the target load
    cost_per_hour_max: float  # with every role at maxReplicas in this pool


@dataclass(frozen=True)
class BlockPlan:
    """An EC2 Capacity Block for ML of a pool, priced for its whole window (compiler/plan/reservations.py)."""

    pool: str
    id: str
    instance_type: str
    instance_count: int
    gpus_per_instance: int
    start: str
    end: str
    hours: float
    price_per_gpu_hour: float  # user-supplied (capacityBlock.pricePerGpuHour)
    cost_per_hour: float  # instances x GPUs x price, paid whether used or not
    total_cost: float  # for the whole window
    drain_from: str  # Karpenter starts draining: end - 30 min (EC2) - 10 min (Karpenter)


@dataclass(frozen=True)
class HybridPlan:
    """The on-premises replicas on EKS Hybrid Nodes (compiler/plan/hybrid.py)."""

    nodes: int
    gpus_per_node: int
    gpu: str
    gpu_memory_gb: float
    gpus_per_pod: int
    pods_per_node: int
    replicas: int
    weights_per_gpu_gb: float
    kv_budget_gb: float
    kv_tokens: int  # per replica
    max_num_seqs: int  # the cloud cap, lowered to what the on-premises KV cache holds


@dataclass(frozen=True)
class Plan:
    """The capacity plan of one environment: roles, pools and cost."""

    roles: tuple[RolePlan, ...]
    pools: tuple[PoolPlan, ...]
    cost_per_hour: float
    cost_per_month: float
    cost_per_million_output_tokens: float
    capacity_rps: float  # what the planned replicas serve at the chosen concurrency
    warnings: tuple[Diagnostic, ...]
    capacity_blocks: tuple[BlockPlan, ...] = ()
    hybrid: HybridPlan | None = None
    sharing: SharingPlan | None = None  # serving.gpuSharing: the slice each replica runs on (compiler/plan/sharing.py)

    def role(self, name: str) -> RolePlan:
        for r in self.roles:
            if r.role == name:
                return r
        raise KeyError(name)

    def pool(self, name: str) -> PoolPlan:
        for p in self.pools:
            if p.name == name:
                return p
        raise KeyError(name)
