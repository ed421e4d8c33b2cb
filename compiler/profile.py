"""Typed view of a merged, validated profile: what plan and render read.

Built once per environment from :class:`~compiler.resolve.Resolved`; frozen dataclasses so no
stage can change what another sees. Field names follow the schema (snake_case).
"""

from __future__ import annotations

from dataclasses import dataclass

from .profile_hybrid import CapacityBlock, Hybrid
from .profile_path import Path

BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5}


@dataclass(frozen=True)
class Image:
    """The serving image and its pull policy."""

    repository: str
    tag: str
    digest: str | None
    pull_policy: str
    engine_version: str | None = None  # declared vLLM version of an image the table does not list
    capabilities: tuple[str, ...] = ()  # declared extras, e.g. libfabric

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")

    @property
    def version(self) -> tuple[int, ...] | None:
        """``v0.11.2`` -> (0, 11, 2); None when the tag is not a version."""
        t = self.tag.removeprefix("v").split("-")[0]
        parts = t.split(".")
        return tuple(int(p) for p in parts) if parts and all(p.isdigit() for p in parts) else None


@dataclass(frozen=True)
class Architecture:
    """Declared attention shape of the model (overrides the catalog's)."""

    layers: int | None
    kv_heads: int | None
    head_dim: int | None
    kv_bytes_per_token: int | None


@dataclass(frozen=True)
class Model:
    """The model served: id, source, size and precision."""

    id: str
    source: str
    served_name: str
    parameters_b: float
    active_parameters_b: float
    precision: str
    max_context: int
    architecture: Architecture | None

    @property
    def scheme(self) -> str:
        return self.source.split("://", 1)[0]

    @property
    def weight_gb(self) -> float:
        return self.parameters_b * BYTES_PER_PARAM[self.precision]


@dataclass(frozen=True)
class Measured:
    """A measured operating point (concurrency and latencies) that replaces the estimate."""

    concurrency: int
    e2e_seconds: float
    ttft_seconds: float | None


@dataclass(frozen=True)
class Workload:
    """The traffic to serve: token shapes, rate and latency objectives."""

    input_tokens: int
    output_tokens: int
    target_rps: float
    ttft_seconds: float | None
    e2e_seconds: float
    pattern: str
    measured: tuple[Measured, ...]


@dataclass(frozen=True)
class Role:
    """One serving role: ``serve`` (tier1/2, and tier3 without disaggregation), ``prefill`` or ``decode``."""

    name: str
    tensor: int
    pipeline: int
    data: int
    min_replicas: int | None
    max_replicas: int | None
    max_num_seqs: int | None
    kv_role: str | None  # kv_producer / kv_consumer when disaggregated
    expert: bool = False  # expert parallel (--enable-expert-parallel)


@dataclass(frozen=True)
class EnvVar:
    """A plain environment variable of the serving container."""

    name: str
    value: str


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable taken from a key of an existing Secret."""

    name: str
    secret_name: str
    key: str


@dataclass(frozen=True)
class CompileCache:
    """Where the EFS-backed torch.compile cache comes from (exactly one is set)."""

    file_system_id: str | None  # render a StorageClass (EFS CSI access points) and a PVC
    storage_class: str | None  # an existing EFS StorageClass: render the PVC
    claim_name: str | None  # an existing ReadWriteMany PVC


@dataclass(frozen=True)
class GpuSharing:
    """``serving.gpuSharing``: whole GPUs (none), one MIG slice per replica, or time-sliced GPUs."""

    mode: str = "none"  # none | mig | timeSlicing
    mig_profile: str | None = None
    mig_strategy: str = "mixed"  # single | mixed (ClusterPolicy mig.strategy)
    replicas: int | None = None  # timeSlicing: pods per GPU


@dataclass(frozen=True)
class Serving:
    """How the model is served: engine, image, roles and engine settings."""

    engine: str
    image: Image
    roles: tuple[Role, ...]
    gpus_per_node: int | None
    multinode_backend: str
    startup_policy: str
    gpu_memory_utilization: float
    max_num_seqs: int | None
    prefix_caching: bool
    kv_cache_dtype: str
    extra_args: tuple[str, ...]
    env: tuple[EnvVar, ...]
    secret_env: tuple[SecretEnv, ...]
    cpu: int
    memory_gi: int
    shm_gi: int
    startup_budget_seconds: int | None
    period_seconds: int
    readiness_path: str
    liveness_path: str
    port: int
    termination_grace_seconds: int | None
    compile_cache: CompileCache | None  # None: the torch.compile cache stays on the pod's emptyDir
    service_account: str
    kv_cache_aware: bool
    endpoint_picker: str
    endpoint_picker_port: int
    disaggregated: bool
    nixl_backend: str
    side_channel_port: int
    gpu_allocation: str = "devicePlugin"  # devicePlugin (nvidia.com/gpu) | dra (ResourceClaimTemplate, compiler/render/dra.py)
    gpu_sharing: GpuSharing = GpuSharing()


@dataclass(frozen=True)
class Reservation:
    """A capacity reservation (or Capacity Block) a pool launches into."""

    id: str | None
    tags: tuple[tuple[str, str], ...]
    owner_id: str | None
    block: CapacityBlock | None = None  # an EC2 Capacity Block for ML (compiler.profile_hybrid)


@dataclass(frozen=True)
class Pool:
    """A capacity pool: its role, instance choices and capacity types."""

    name: str
    role: str
    capacity_types: tuple[str, ...]
    instance_types: tuple[str, ...]
    instance_families: tuple[str, ...]
    weight: int
    limit_gpus: int | None
    limit_cpu: int | None
    limit_memory_gi: int | None
    reservations: tuple[Reservation, ...]
    efa: bool
    consolidate_after: str
    index: int  # position in capacity.pools (for locating errors)


@dataclass(frozen=True)
class Capacity:
    """Where the GPUs come from: provisioner, cluster, node role and pools."""

    provisioner: str
    cluster_name: str
    node_role: str
    ami_alias: str
    root_volume_gi: int | None
    soci: bool
    pools: tuple[Pool, ...]
    prices: tuple[tuple[str, float], ...] = ()  # on-demand USD/h overrides by instance type
    spot_price_factor: float | None = None
    kubernetes_version: str | None = None  # the cluster's minor version (required with managedNodeGroup)
    subnets: tuple[str, ...] = ()  # managedNodeGroup: subnets of the node groups
    autoscaler_role_arn: str | None = None  # managedNodeGroup: Cluster Autoscaler's Pod Identity role
    hybrid: Hybrid | None = None  # on-premises servers on EKS Hybrid Nodes (compiler.profile_hybrid)


@dataclass(frozen=True)
class Autoscaling:
    """Replica bounds and the KEDA scaling settings."""

    enabled: bool
    min_replicas: int | None
    max_replicas: int | None
    polling_interval: int
    cooldown_period: int
    queue_weight: float
    formula: str | None
    target: float | None
    activation_target: float
    server_address: str
    aws_managed_prometheus: bool


@dataclass(frozen=True)
class Monitoring:
    """Dashboards, alerts and the metrics they read."""

    enabled: bool
    namespace: str
    selector_labels: tuple[tuple[str, str], ...]
    alerts: bool
    dcgm: bool
    interval: str
    dashboards: bool = False
    dashboard_labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Prometheus:
    """The one Prometheus of a cluster: KEDA's serverAddress, the monitors' selector labels and the
    namespace it scrapes from all come from here (``platform.prometheus``)."""

    install: bool  # kube-prometheus-stack installed by the platform; False: brought by the user
    server_address: str
    namespace: str
    selector_labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Destination:
    """A cluster an environment is delivered to."""

    name: str
    server: str
    environment: str
    region: str | None = None


@dataclass(frozen=True)
class GitOps:
    """How the output is delivered: engine, repository, revision and path."""

    engine: str
    repo_url: str
    revision: str
    path: str
    project: str
    controller_namespace: str
    destinations: tuple[Destination, ...]


@dataclass(frozen=True)
class Profile:
    """One environment of a profile, merged, validated and typed: the input of plan and render."""

    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    tier: str
    env: str
    source: str  # display path of the profile file
    model: Model
    workload: Workload
    serving: Serving
    capacity: Capacity
    autoscaling: Autoscaling
    monitoring: Monitoring
    network_policy: bool
    gateway_namespace: str
    gitops: GitOps
    environments: tuple[str, ...]
    prometheus: Prometheus
    path: Path  # routing, fallback, identity (compiler.profile_path)
