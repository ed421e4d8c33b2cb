"""Reading a merged, validated profile (:class:`~compiler.resolve.Resolved`) into the typed
:class:`~compiler.profile.Profile`: tier defaults filled in, every field converted once."""

from __future__ import annotations

from typing import Any

from .fleet.charts import PROMETHEUS_STACK_ADDRESS, PROMETHEUS_STACK_NAMESPACE, PROMETHEUS_STACK_SELECTOR
from .profile import (
    Architecture,
    Autoscaling,
    Capacity,
    CompileCache,
    Destination,
    EnvVar,
    GitOps,
    GpuSharing,
    Image,
    Measured,
    Model,
    Monitoring,
    Pool,
    Profile,
    Prometheus,
    Reservation,
    Role,
    SecretEnv,
    Serving,
    Workload,
)
from .profile_hybrid import capacity_block as _capacity_block
from .profile_hybrid import hybrid as _hybrid
from .profile_path import from_values as path_from_values
from .resolve import Resolved, tier_defaults


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
        gpu_sharing=_gpu_sharing(s.get("gpuSharing", {})),
    )


def _gpu_sharing(g: dict[str, Any]) -> GpuSharing:
    return GpuSharing(g.get("mode", "none"), g.get("migProfile"), g.get("migStrategy", "mixed"), g.get("replicas"))


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
