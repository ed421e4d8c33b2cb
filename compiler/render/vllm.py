"""The vLLM pod: engine arguments, container and pod template, shared by the Deployment
(:mod:`.serving`) and the LeaderWorkerSet (:mod:`.lws`) renderers.

Everything that must hold for vLLM to start and stay up in a real cluster lives here once:
flags from the profile and the plan, probes sized to the model-load budget, GPU/EFA resources,
``/dev/shm``, ``enableServiceLinks: false`` (a Service named ``vllm`` injects ``VLLM_PORT`` and
crash-loops vLLM), GPU/burst tolerations, node placement on this profile's pools, graceful
draining and a hardened security context.

Strings from the profile are data. They go into argv elements and env values verbatim, never
into a shell script, with one escape: the kubelet expands ``$(VAR)`` in ``command``, ``args``
and env ``value``; ``$$`` is its escape for a literal ``$``, so every ``$`` from the profile is
doubled (:func:`literal`) and reaches the container unchanged.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..catalog import instance_types
from ..plan.model import RolePlan
from ..profile import Model, Role
from . import cache, dra, gpushare, meta, nodegroups, pd, security, sglang
from .meta import Context

#: Writable scratch: the root filesystem is read-only, so HOME and every cache live here.
CACHE_DIR = "/cache"
MODELS_DIR = "/models"
CONTAINER = "vllm"
#: Endpoints are removed from Services/the InferencePool while the pod sleeps in preStop, so
#: no new request arrives when vLLM gets SIGTERM and drains the in-flight ones.
PRESTOP_SECONDS = 15
#: torch.distributed rendezvous port of a multi-node (mp) group, on the leader.
MASTER_PORT = 29500
RAY_PORT = 6379
#: Data-parallel coordination (ZMQ) port on the leader of a multi-node DP group: vLLM 0.28.0's
#: default (vllm/config/parallel.py: data_parallel_rpc_port), stated so the leader declares it.
DP_RPC_PORT = 29550

LWS_WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
LWS_GROUP_KEY = "leaderworkerset.sigs.k8s.io/group-key"
PROFILE_LABEL, POOL_LABEL, BURST_TAINT = meta.PROFILE_LABEL, meta.POOL_LABEL, meta.BURST_TAINT_KEY  # keys spelled in meta.py
GPU = "nvidia.com/gpu"
EFA = "vpc.amazonaws.com/efa"

#: Pod positions: a single-pod replica, or the leader/a worker of a multi-node group.
SINGLE, LEADER, WORKER = "single", "leader", "worker"


# --- roles ---------------------------------------------------------------------------------

def profile_role(ctx: Context, rp: RolePlan) -> Role:
    return next(r for r in ctx.profile.serving.roles if r.name == rp.role)


def is_lws_role(ctx: Context, rp: RolePlan) -> bool:
    """Multi-node replicas and every disaggregated role run as a LeaderWorkerSet."""
    return ctx.profile.serving.disaggregated or rp.multi_node


def entry_role(ctx: Context) -> RolePlan:
    """The role clients talk to: decode when prefill/decode are split, else the only role."""
    for want in ("decode", "serve"):
        for rp in ctx.plan.roles:
            if rp.role == want:
                return rp
    return ctx.plan.roles[0]


def http_selector(ctx: Context, rp: RolePlan) -> dict[str, str]:
    """Labels of the pods that serve HTTP for a role: every pod, or only LWS leaders (index 0)."""
    sel = meta.selector(ctx, rp.role)
    if is_lws_role(ctx, rp):
        sel[LWS_WORKER_INDEX] = "0"
    return sel


def efa_interfaces(ctx: Context, rp: RolePlan) -> int:
    """EFA devices per pod: all of the sizing instance's interfaces when a pool enables EFA."""
    if not any(p.efa for p in ctx.profile.capacity.pools):
        return 0
    it = instance_types().get(rp.sizing_type)
    return it.efa if it else 0


# --- arguments ----------------------------------------------------------------------------

def literal(s: str) -> str:
    """Escape the kubelet's ``$(VAR)`` expansion: ``$$`` becomes ``$``."""
    return s.replace("$", "$$")


def prequantized_fp8(model: Model) -> bool:
    """An FP8 checkpoint (id or weights location ending in ``-FP8``/``_fp8``) carries its own
    ``quantization_config``; ``--quantization fp8`` would then be redundant at best and a hard
    error at worst (vLLM rejects a method that differs from the config's, e.g. compressed-tensors)."""
    names = (model.id, model.source.rstrip("/").rsplit("/", 1)[-1])
    return any(n.lower().endswith(("-fp8", "_fp8")) for n in names)


def model_arg(model: Model) -> str:
    """s3:// is streamed as-is (runai_streamer), hf://org/name becomes the repo id, pvc://claim/path
    the path under the read-only mount."""
    scheme, rest = model.source.split("://", 1)
    if scheme == "s3":
        return model.source
    if scheme == "hf":
        return rest
    path = rest.split("/", 1)[1].strip("/") if "/" in rest else ""
    return f"{MODELS_DIR}/{path}" if path else MODELS_DIR


def engine_args(ctx: Context, rp: RolePlan) -> list[str]:
    """``vllm serve`` arguments: model first, then flags from profile and plan (escaped)."""
    s, m = ctx.profile.serving, ctx.profile.model
    args = [model_arg(m), "--served-model-name", m.served_name, "--port", str(s.port),
            "--tensor-parallel-size", str(rp.tensor)]
    if rp.pipeline > 1:
        args += ["--pipeline-parallel-size", str(rp.pipeline)]
    if rp.data > 1:
        args += ["--data-parallel-size", str(rp.data)]
    if rp.expert:  # MoE experts sharded over the DP x TP ranks instead of tensor-sliced (wide EP)
        args.append("--enable-expert-parallel")
    # --max-num-seqs caps each engine; with data parallel every DP rank is an engine with its own
    # scheduler, so the replica's cap is split over the ranks.
    args += ["--max-model-len", str(m.max_context), "--max-num-seqs", str(max(1, math.ceil(rp.max_num_seqs / rp.data))),
             "--gpu-memory-utilization", f"{gpushare.memory_utilization(ctx):g}"]  # split N ways on a time-sliced GPU
    # Prefix caching is on by default in vLLM V1: turning it off needs the explicit negation.
    args.append("--enable-prefix-caching" if s.prefix_caching else "--no-enable-prefix-caching")
    if s.kv_cache_dtype == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    if m.precision == "fp8" and not prequantized_fp8(m):
        args += ["--quantization", "fp8"]  # dynamic FP8 of 16-bit weights
    if m.scheme == "s3":
        args += ["--load-format", "runai_streamer"]
    role = profile_role(ctx, rp)
    if s.disaggregated and role.kv_role:
        args += ["--kv-transfer-config", kv_transfer_config(role.kv_role, s.nixl_backend)]
    return [literal(a) for a in args]


def kv_transfer_config(kv_role: str, backend: str) -> str:
    """Compact, key-sorted JSON so the output is byte-stable. NixlConnector ignores kv_role (the
    P/D proxy decides who prefills); the backend is what matters: LIBFABRIC on EFA, because UCX
    silently falls back to TCP there."""
    cfg = {"kv_connector": "NixlConnector", "kv_role": kv_role, "kv_connector_extra_config": {"backends": [backend]}}
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"))


def extra_args(ctx: Context) -> list[str]:
    """``serving.extraArgs``, appended last so they can override anything above."""
    return [literal(a) for a in ctx.profile.serving.extra_args]


# --- container ----------------------------------------------------------------------------

def _env(ctx: Context, rp: RolePlan, position: str) -> list[dict[str, Any]]:
    """Defaults, then role-specific variables, then the profile's (overriding by name, no
    duplicates). HOME moves to the cache volume: the image runs as root with HOME=/root on a
    read-only root filesystem, and Triton, FlashInfer/DeepGEMM JIT and other ``~/.x`` writers
    must land somewhere writable."""
    s = ctx.profile.serving
    fixed: dict[str, dict[str, Any]] = {}

    def put(name: str, value: str | None = None, field_path: str | None = None) -> None:
        fixed[name] = {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}} if field_path else {"name": name, "value": value}

    put("VLLM_NO_USAGE_STATS", "1")
    put("HOME", CACHE_DIR)
    put("XDG_CACHE_HOME", CACHE_DIR)
    put("HF_HOME", f"{CACHE_DIR}/huggingface")
    put("VLLM_CACHE_ROOT", f"{CACHE_DIR}/vllm")
    put("TRITON_CACHE_DIR", f"{CACHE_DIR}/triton")
    if position != SINGLE:
        put("VLLM_HOST_IP", field_path="status.podIP")
    if s.disaggregated:
        put("VLLM_NIXL_SIDE_CHANNEL_HOST", field_path="status.podIP")
        put("VLLM_NIXL_SIDE_CHANNEL_PORT", str(s.side_channel_port))
    if efa_interfaces(ctx, rp):
        put("FI_PROVIDER", "efa")
        put("FI_EFA_USE_DEVICE_RDMA", "1")
    for e in s.env:  # the profile may override any default above, by name
        fixed[e.name] = {"name": e.name, "value": literal(e.value)}
    for se in s.secret_env:  # never inline secret values
        fixed[se.name] = {"name": se.name, "valueFrom": {"secretKeyRef": {"name": se.secret_name, "key": se.key}}}
    return list(fixed.values())


def _resources(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    s = ctx.profile.serving
    res = {"cpu": str(s.cpu), "memory": f"{s.memory_gi}Gi", gpushare.resource_name(ctx): str(rp.gpus_per_pod)}  # a MIG slice: nvidia.com/mig-<profile>
    efa = efa_interfaces(ctx, rp)
    if efa:
        res[EFA] = str(efa)
    return {"requests": dict(res), "limits": dict(res)}


def _probes(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    s = ctx.profile.serving
    period = s.period_seconds

    def http(path: str, failures: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}

    return {
        # /health answers once the weights are loaded: the budget covers download + load.
        "startupProbe": http("/health", max(1, math.ceil(rp.startup_budget_seconds / period))),
        "readinessProbe": http(s.readiness_path, 3),
        "livenessProbe": http(s.liveness_path, 3),
    }


def needs_shm(rp: RolePlan) -> bool:
    """NCCL and vLLM's multi-process executor exchange tensors through /dev/shm (64 MiB by default)."""
    return rp.gpus_per_pod > 1 or rp.multi_node


def _mounts(ctx: Context, rp: RolePlan) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}, {"name": "cache", "mountPath": CACHE_DIR}]
    mounts += cache.volume_mounts(ctx)  # EFS torch.compile cache, nested under /cache: listed after it
    if needs_shm(rp):
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if ctx.profile.model.scheme == "pvc":
        mounts.append({"name": "models", "mountPath": MODELS_DIR, "readOnly": True})
    return mounts


def _volumes(ctx: Context, rp: RolePlan) -> list[dict[str, Any]]:
    s, m = ctx.profile.serving, ctx.profile.model
    vols: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]
    vols += cache.volumes(ctx)
    if needs_shm(rp):
        vols.append({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{s.shm_gi}Gi"}})
    if m.scheme == "pvc":
        claim = m.source.split("://", 1)[1].split("/", 1)[0]
        vols.append({"name": "models", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}})
    return vols


def _ports(ctx: Context, rp: RolePlan, position: str) -> list[dict[str, Any]]:
    s = ctx.profile.serving
    ports: list[dict[str, Any]] = []
    if position != WORKER:
        ports.append({"name": "http", "containerPort": s.port, "protocol": "TCP"})
    if position == LEADER:
        name, port = ("ray", RAY_PORT) if s.multinode_backend == "ray" else ("dist", MASTER_PORT)
        ports.append({"name": name, "containerPort": port, "protocol": "TCP"})
        if rp.data > 1 and s.multinode_backend == "mp":
            ports.append({"name": "dp-rpc", "containerPort": DP_RPC_PORT, "protocol": "TCP"})
    if s.disaggregated:
        # Each rank listens on base + dp_rank*tp + tp_rank; declare the whole range of the replica.
        for i in range(rp.tensor * rp.data):
            ports.append({"name": f"nixl-{i}", "containerPort": s.side_channel_port + i, "protocol": "TCP"})
    return ports


def container(ctx: Context, rp: RolePlan, position: str, command: list[str], args: list[str]) -> dict[str, Any]:
    s = ctx.profile.serving
    add = ["IPC_LOCK"] if efa_interfaces(ctx, rp) else []  # EFA/NCCL pin (mlock) their buffers
    c: dict[str, Any] = {
        "name": CONTAINER,
        "image": s.image.ref,
        "imagePullPolicy": s.image.pull_policy,
        "command": command,
        "args": args,
        "env": _env(ctx, rp, position),
        "ports": _ports(ctx, rp, position),
        "resources": _resources(ctx, rp),
        "volumeMounts": _mounts(ctx, rp),
        "securityContext": security.container_security_context(add),
        "lifecycle": {"preStop": {"sleep": {"seconds": prestop_seconds(rp)}}},
    }
    for key in ("args", "ports"):
        if not c[key]:
            del c[key]
    if position != WORKER:  # headless workers serve no HTTP; the leader's probes cover the group
        c.update(_probes(ctx, rp))
    return c


def waivers(ctx: Context, rp: RolePlan) -> list[security.Waiver]:
    """The checkov findings a role's workload knowingly accepts (see :mod:`.security`); each
    condition mirrors the render decision that causes the finding."""
    s = ctx.profile.serving
    out = [security.ROOT_USER, security.HIGH_UID]
    if efa_interfaces(ctx, rp):
        out.append(security.IPC_LOCK)
    if is_lws_role(ctx, rp) and rp.multi_node and not sglang.is_sglang(ctx):  # a workerTemplate without probes exists
        out += [security.WORKER_LIVENESS, security.WORKER_READINESS]
    out += security.image_waivers(s.image)
    if s.secret_env:
        out.append(security.SECRET_ENV)
    return out


def workload_annotations(ctx: Context, rp: RolePlan) -> dict[str, str]:
    """Annotations of the object that owns a role's pod template (Deployment or LeaderWorkerSet)."""
    return security.skip_annotations(waivers(ctx, rp))


def prestop_seconds(rp: RolePlan) -> int:
    return min(PRESTOP_SECONDS, max(1, rp.termination_grace_seconds // 2))


# --- pod ----------------------------------------------------------------------------------

def tolerations() -> list[dict[str, Any]]:
    return [
        {"key": GPU, "operator": "Exists", "effect": "NoSchedule"},
        {"key": BURST_TAINT, "operator": "Equal", "value": "true", "effect": "NoSchedule"},  # may burst
    ]


def _affinity(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    preferred = [
        {"weight": max(1, min(100, p.weight)), "preference": {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": [p.name]}]}}
        for p in ctx.profile.capacity.pools if p.role == "baseline"
    ]
    aff: dict[str, Any] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}} if preferred else {}
    if efa_interfaces(ctx, rp):
        # EFA RDMA does not cross Availability Zones: NCCL inside a group and NIXL between prefill
        # and decode need every pod of this deployment in one zone.
        term = {"labelSelector": {"matchLabels": {meta.NAME_LABEL: meta.APP, meta.INSTANCE_LABEL: ctx.name}},
                "topologyKey": "topology.kubernetes.io/zone"}
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    elif rp.multi_node:
        # Keep each group in one zone (cross-AZ tensor traffic is slow and billed); groups stay free.
        term = {"labelSelector": {"matchLabels": meta.selector(ctx, rp.role)}, "matchLabelKeys": [LWS_GROUP_KEY],
                "topologyKey": "topology.kubernetes.io/zone"}
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    return aff


def _spread(ctx: Context, rp: RolePlan, deployment: bool) -> list[dict[str, Any]]:
    """Soft spreading (ScheduleAnyway: GPUs are scarce, a skew must never leave pods Pending)."""
    keys = ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    if efa_interfaces(ctx, rp) or rp.multi_node:
        keys = keys[1:]  # zone placement is pinned by pod affinity instead
    out = []
    for key in keys:
        c: dict[str, Any] = {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
                             "labelSelector": {"matchLabels": meta.selector(ctx, rp.role)}}
        if deployment:
            c["matchLabelKeys"] = ["pod-template-hash"]  # only the new ReplicaSet counts during a rollout
        out.append(c)
    return out


def pod_template(ctx: Context, rp: RolePlan, position: str = SINGLE, command: list[str] | None = None,
                 args: list[str] | None = None, *, deployment: bool = False) -> dict[str, Any]:
    """A PodTemplateSpec. ``command``/``args`` default to ``vllm serve <engine args> <extra args>``.

    The vllm/vllm-openai image's ENTRYPOINT is ``["vllm", "serve"]`` (older images used
    ``python3 -m vllm.entrypoints.openai.api_server``); setting the command explicitly makes the
    pod independent of which one an image (or an ECR mirror) ships."""
    if command is None and sglang.is_sglang(ctx):
        command, args = sglang.command(ctx, rp, position)  # SGLang's launch line (compiler/render/sglang.py)
    if command is None:
        command = ["vllm", "serve"]
    if args is None:
        args = engine_args(ctx, rp) + extra_args(ctx)
    s = ctx.profile.serving
    spec: dict[str, Any] = {
        "serviceAccountName": s.service_account,
        # Pod Identity injects its own projected token volume for S3; the API token is not needed.
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": rp.termination_grace_seconds,
        "securityContext": security.pod_security_context(),
        "nodeSelector": {PROFILE_LABEL: ctx.name},
        "tolerations": tolerations(),
        "topologySpreadConstraints": _spread(ctx, rp, deployment),
        "containers": [container(ctx, rp, position, command, args)],
        "volumes": _volumes(ctx, rp),
    }
    aff = _affinity(ctx, rp)
    if aff:
        spec["affinity"] = aff
    dra.claim_gpus(ctx, rp, spec)  # DRA: the GPUs come from a ResourceClaimTemplate (compiler/render/dra.py)
    return pd.decorate(ctx, rp, position, sglang.adapt(ctx, rp, position, {
        "metadata": {
            "labels": meta.labels(ctx, rp.role),
            # Karpenter must not consolidate a node while the model downloads/loads (or serves).
            "annotations": {"karpenter.sh/do-not-disrupt": "true", **nodegroups.pod_annotations(ctx)},
        },
        "spec": spec,
    }))  # SGLang's container (compiler/render/sglang.py); P/D: role label, routing sidecar on decode (compiler/render/pd.py)
