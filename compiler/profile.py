"""Typed view of a merged, validated profile: what plan and render read.

Built once per environment from :class:`~compiler.resolve.Resolved`; frozen dataclasses so no
stage can change what another sees. Field names follow the schema (snake_case).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .fleet.charts import PROMETHEUS_STACK_ADDRESS, PROMETHEUS_STACK_NAMESPACE, PROMETHEUS_STACK_SELECTOR
from .profile_hybrid import CapacityBlock, Hybrid
from .profile_hybrid import capacity_block as _capacity_block
from .profile_hybrid import hybrid as _hybrid
from .profile_path import Path
from .profile_path import from_values as path_from_values
from .resolve import Resolved, tier_defaults

BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5}


@dataclass(frozen=True)
class Image:
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
    layers: int | None
    kv_heads: int | None
    head_dim: int | None
    kv_bytes_per_token: int | None


@dataclass(frozen=True)
class Model:
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
    concurrency: int
    e2e_seconds: float
    ttft_seconds: float | None


@dataclass(frozen=True)
class Workload:
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
    name: str
    value: str


@dataclass(frozen=True)
class SecretEnv:
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
class Serving:
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


@dataclass(frozen=True)
class Reservation:
    id: str | None
    tags: tuple[tuple[str, str], ...]
    owner_id: str | None
    block: CapacityBlock | None = None  # an EC2 Capacity Block for ML (compiler.profile_hybrid)


@dataclass(frozen=True)
class Pool:
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
    name: str
    server: str
    environment: str
    region: str | None = None


@dataclass(frozen=True)
class GitOps:
    engine: str
    repo_url: str
    revision: str
    path: str
    project: str
    controller_namespace: str
    destinations: tuple[Destination, ...]


@dataclass(frozen=True)
class Profile:
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


def from_resolved(r: Resolved) -> Profile:
    """Every default comes from ``compiler/defaults/*.yaml`` (merged as the lowest layer); values
    nobody can default (cluster name, node role, repository, destinations) are required by
    ``validate.required_values`` before this runs."""
    v = _fill(r.values, tier_defaults(r.values["tier"]))
    prom = _prometheus(v.get("platform", {}).get("prometheus", {}))
    return Profile(
        name=v["metadata"]["name"],
        namespace=v["metadata"]["namespace"],
        labels=tuple(sorted(v["metadata"].get("labels", {}).items())),
        tier=v["tier"],
        env=r.env,
        source=r.display,
        model=_model(v["model"]),
        workload=_workload(v["workload"]),
        serving=_serving(v["serving"], v["metadata"]["name"], v.get("autoscaling", {})),
        capacity=_capacity(v["capacity"]),
        autoscaling=_autoscaling(v.get("autoscaling", {}), prom),
        monitoring=_monitoring(v.get("monitoring", {}), prom),
        network_policy=v["network"]["policy"],
        gateway_namespace=v["network"]["gatewayNamespace"],
        gitops=_gitops(v["gitops"]),
        environments=r.environments,
        prometheus=prom,
        path=path_from_values(v),
    )


def _fill(values: Any, defaults: Any) -> Any:
    """``values`` with every mapping key it lacks taken from the tier defaults (a key an explicit
    ``null`` deleted falls back to its default); lists are values, never filled item by item."""
    if not isinstance(values, dict) or not isinstance(defaults, dict):
        return values
    out = {k: _fill(v, defaults.get(k)) for k, v in values.items()}
    for k, d in defaults.items():
        out.setdefault(k, d)
    return out


def _model(m: dict[str, Any]) -> Model:
    a = m.get("architecture")
    arch = Architecture(a.get("layers"), a.get("kvHeads"), a.get("headDim"), a.get("kvBytesPerToken")) if a else None
    return Model(m["id"], m["source"], m.get("servedName", m["id"]), float(m["parametersB"]), float(m.get("activeParametersB", m["parametersB"])), m["precision"], m["maxContext"], arch)


def _workload(w: dict[str, Any]) -> Workload:
    slo = w["slo"]
    measured = tuple(Measured(p["concurrency"], float(p["e2eSeconds"]), p.get("ttftSeconds")) for p in w.get("measured", []))
    return Workload(w["inputTokens"], w["outputTokens"], float(w["targetRPS"]), slo.get("ttftSeconds"), float(slo["e2eSeconds"]), w["pattern"], measured)


def _serving(s: dict[str, Any], name: str, autoscaling: dict[str, Any]) -> Serving:
    par = s["parallelism"]
    dis = s.get("disaggregation", {})
    disaggregated = bool(dis.get("enabled"))

    def role(rname: str, r: dict[str, Any], kv_role: str | None) -> Role:
        return Role(rname, r.get("tensor", par["tensor"]), r.get("pipeline", par["pipeline"]), r.get("data", par["data"]),
                    r.get("minReplicas", autoscaling.get("minReplicas")), r.get("maxReplicas", autoscaling.get("maxReplicas")),
                    r.get("maxNumSeqs", s.get("maxNumSeqs")), kv_role, bool(r.get("expert", par.get("expert", False))))

    roles = (role("prefill", dis.get("prefill", {}), "kv_producer"), role("decode", dis.get("decode", {}), "kv_consumer")) if disaggregated else (role("serve", {}, None),)
    res, probes, mn, routing = s.get("resources", {}), s.get("probes", {}), s.get("multiNode", {}), s.get("routing", {})
    img = s["image"]
    return Serving(
        engine=s["engine"],
        image=Image(img["repository"], img["tag"], img.get("digest"), img["pullPolicy"], img.get("engineVersion"),
                    tuple(img.get("capabilities", ()))),
        roles=roles,
        gpus_per_node=s.get("gpusPerNode"),
        multinode_backend=mn.get("backend", "mp"),
        startup_policy=mn.get("startupPolicy", "LeaderCreated"),
        gpu_memory_utilization=float(s["gpuMemoryUtilization"]),
        max_num_seqs=s.get("maxNumSeqs"),
        prefix_caching=bool(s["prefixCaching"]),
        kv_cache_dtype=s["kvCacheDtype"],
        extra_args=tuple(s.get("extraArgs", ())),
        env=tuple(EnvVar(e["name"], e["value"]) for e in s.get("env", [])),
        secret_env=tuple(SecretEnv(e["name"], e["secretName"], e["key"]) for e in s.get("secretEnv", [])),
        cpu=res["cpu"],
        memory_gi=res["memoryGi"],
        shm_gi=res["shmGi"],
        startup_budget_seconds=probes.get("startupBudgetSeconds"),
        period_seconds=probes["periodSeconds"],
        readiness_path=probes["readinessPath"],
        liveness_path=probes["livenessPath"],
        port=s["port"],
        termination_grace_seconds=s.get("terminationGracePeriodSeconds"),
        compile_cache=_compile_cache(s.get("compileCache", {})),
        service_account=s.get("serviceAccount", {}).get("name", name),
        kv_cache_aware=bool(routing["kvCacheAware"]),
        endpoint_picker=routing.get("endpointPicker", f"{name}-epp"),
        endpoint_picker_port=routing["endpointPickerPort"],
        disaggregated=disaggregated,
        nixl_backend=dis.get("backend", "LIBFABRIC"),
        side_channel_port=dis.get("sideChannelPort", 5600),
        gpu_allocation=s.get("gpuAllocation", "devicePlugin"),
    )


def _capacity(c: dict[str, Any]) -> Capacity:
    pools = []
    for i, p in enumerate(c["pools"]):
        lim = p.get("limits", {})
        res = tuple(Reservation(r.get("id"), tuple(sorted(r.get("tags", {}).items())), r.get("ownerID"), _capacity_block(r)) for r in p.get("reservations", []))
        pools.append(Pool(p["name"], p["role"], tuple(p["capacityType"]), tuple(p.get("instanceTypes", ())), tuple(p.get("instanceFamilies", ())),
                          p.get("weight", 100 if p["role"] == "baseline" else 50), lim.get("gpus"), lim.get("cpu"), lim.get("memoryGi"), res,
                          bool(p.get("efa", False)), p.get("consolidateAfter", "10m"), i))
    pricing = c.get("pricing", {})
    return Capacity(c["provisioner"], c["clusterName"], c["nodeRole"], c.get("amiAlias", "bottlerocket@v1.63.0"),
                    c.get("rootVolumeGi"), bool(c.get("soci", True)), tuple(pools),
                    tuple(sorted((k, float(v)) for k, v in pricing.get("onDemandPerHour", {}).items())), pricing.get("spotPriceFactor"),
                    c.get("kubernetesVersion"), tuple(c.get("subnets", ())), c.get("clusterAutoscaler", {}).get("roleArn"),
                    _hybrid(c))


def _prometheus(p: dict[str, Any]) -> Prometheus:
    if p.get("install", True):
        return Prometheus(True, PROMETHEUS_STACK_ADDRESS, PROMETHEUS_STACK_NAMESPACE, tuple(sorted(PROMETHEUS_STACK_SELECTOR.items())))
    return Prometheus(False, p["serverAddress"], p["namespace"], tuple(sorted(p["selectorLabels"].items())))


def _autoscaling(a: dict[str, Any], prom: Prometheus) -> Autoscaling:
    return Autoscaling(bool(a["enabled"]), a.get("minReplicas"), a.get("maxReplicas"), a["pollingInterval"], a["cooldownPeriod"],
                       float(a["queueWeight"]), a.get("formula"), a.get("target"), float(a["activationTarget"]),
                       prom.server_address, bool(a.get("prometheus", {}).get("awsManagedPrometheus", False)))


def _monitoring(m: dict[str, Any], prom: Prometheus) -> Monitoring:
    d = m.get("dashboards", {})
    return Monitoring(bool(m["enabled"]), prom.namespace, prom.selector_labels, bool(m["alerts"]), bool(m["dcgm"]), m["interval"],
                      bool(d.get("enabled", False)), tuple(sorted(d.get("labels", {}).items())))


def _compile_cache(c: dict[str, Any]) -> CompileCache | None:
    if not c.get("enabled"):
        return None
    return CompileCache(c.get("fileSystemId"), c.get("storageClassName"), c.get("claimName"))


def _gitops(g: dict[str, Any]) -> GitOps:
    engine = g["engine"]
    dests = tuple(Destination(d["name"], d["server"], d["environment"], d.get("region")) for d in g["destinations"])
    return GitOps(engine, g["repoURL"], g["revision"], g["path"], g["project"],
                  g.get("controllerNamespace", "argocd" if engine == "argocd" else "flux-system"), dests)
