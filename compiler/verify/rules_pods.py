"""What the rules read from workloads: the pods a Deployment or LeaderWorkerSet creates (with the
labels the controllers add), their containers, resources, ports and vLLM engine flags.

LeaderWorkerSet pods: the leader is built from ``leaderTemplate`` (``workerTemplate`` when absent),
workers from ``workerTemplate``; the controller adds ``leaderworkerset.sigs.k8s.io/name`` and
``leaderworkerset.sigs.k8s.io/worker-index`` ("0" on the leader). One representative worker (index
"1") stands for all ``size - 1`` workers, which share one template.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

from ..render.meta import COMPONENT_LABEL
from .rules_base import RuleInput, namespace_of, objects_of, ref

GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"  # + MIG profile: a slice under the GPU Operator's mixed strategy
EFA = "vpc.amazonaws.com/efa"
LWS_NAME = "leaderworkerset.sigs.k8s.io/name"
LWS_WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
COMPONENT = COMPONENT_LABEL

_FLAGS = {  # vLLM's spellings, then SGLang's (--tp-size is SGLang's whole TP group, attention DP included)
    "tensor": ("--tensor-parallel-size", "-tp", "--tp-size"),
    "pipeline": ("--pipeline-parallel-size", "-pp", "--pp-size"),
    "data": ("--data-parallel-size", "-dp", "--dp-size"),
}


@dataclass(frozen=True)
class PodView:
    """One kind of pod a workload creates. ``count`` is how many per replica (LWS group)."""

    workload: dict[str, Any]
    position: str  # pod | leader | worker
    template: dict[str, Any]
    labels: dict[str, str]
    count: int

    @property
    def spec(self) -> dict[str, Any]:
        return self.template.get("spec") or {}

    @property
    def namespace(self) -> str:
        return namespace_of(self.workload)

    @property
    def ref(self) -> str:
        return ref(self.workload)

    @property
    def role(self) -> str:
        return self.labels.get(COMPONENT, "")

    def containers(self) -> list[dict[str, Any]]:
        """Containers running beside each other: app containers and restartable init (sidecar) ones."""
        init = [c for c in self.spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
        return list(self.spec.get("containers") or ()) + init

    def resource(self, name: str) -> int:
        """Sum of a countable extended resource over the containers (limit, else request)."""
        total = 0
        for c in self.spec.get("containers") or ():
            res = c.get("resources") or {}
            val = (res.get("limits") or {}).get(name, (res.get("requests") or {}).get(name))
            with contextlib.suppress(ValueError):
                total += int(str(val)) if val is not None else 0
        return total

    @cached_property
    def gpus(self) -> int:
        """GPU devices the pod gets: ``nvidia.com/gpu`` (whole GPUs, time-sliced shares, MIG slices of
        the single strategy) plus ``nvidia.com/mig-<profile>`` slices of the mixed strategy."""
        return self.resource(GPU) + sum(self.resource(r) for r in self.mig_resources())

    def mig_resources(self) -> list[str]:
        """``nvidia.com/mig-<profile>`` resources the containers ask for, sorted."""
        names = {str(k) for c in self.spec.get("containers") or () for part in ("limits", "requests")
                 for k in ((c.get("resources") or {}).get(part) or {}) if str(k).startswith(MIG_PREFIX)}
        return sorted(names)

    @property
    def efa(self) -> int:
        return self.resource(EFA)

    def port_names(self) -> set[str]:
        return {p["name"] for c in self.containers() for p in c.get("ports") or () if p.get("name")}

    def port_numbers(self) -> set[int]:
        return {int(p["containerPort"]) for c in self.containers() for p in c.get("ports") or () if "containerPort" in p}


def _labels(template: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}


def lws_size(obj: dict[str, Any]) -> int:
    return int((obj.get("spec", {}).get("leaderWorkerTemplate") or {}).get("size", 1))


def pods_of(obj: dict[str, Any]) -> list[PodView]:
    """The pods of one Deployment or LeaderWorkerSet (others: none)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Deployment":
        t = spec.get("template") or {}
        return [PodView(obj, "pod", t, _labels(t), 1)]
    if obj.get("kind") != "LeaderWorkerSet":
        return []
    lwt = spec.get("leaderWorkerTemplate") or {}
    size = lws_size(obj)
    worker = lwt.get("workerTemplate") or {}
    leader = lwt.get("leaderTemplate") or worker
    name = str((obj.get("metadata") or {}).get("name", ""))
    out = [PodView(obj, "leader", leader, {**_labels(leader), LWS_NAME: name, LWS_WORKER_INDEX: "0"}, 1)]
    if size > 1:
        out.append(PodView(obj, "worker", worker, {**_labels(worker), LWS_NAME: name, LWS_WORKER_INDEX: "1"}, size - 1))
    return out


def workloads(inp: RuleInput) -> list[dict[str, Any]]:
    return objects_of(inp, "Deployment", "LeaderWorkerSet")


def all_pods(inp: RuleInput) -> list[PodView]:
    pods = inp.memo.get("pods")
    if pods is None:  # the same views for every rule of this input (their GPU counts are kept)
        pods = inp.memo["pods"] = [p for w in workloads(inp) for p in pods_of(w)]
    return list(pods)


def gpus_per_replica(obj: dict[str, Any]) -> int:
    """GPUs of one replica: a pod, or a whole LWS group (leader + size-1 workers)."""
    return sum(p.gpus * p.count for p in pods_of(obj))


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of every pod template in any workload kind, for image checks."""
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Pod":
        yield "spec", spec
    elif kind == "CronJob":
        yield "spec.jobTemplate.spec.template.spec", ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec") or {}
    elif kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        for key in ("leaderTemplate", "workerTemplate"):
            if key in lwt:
                yield f"spec.leaderWorkerTemplate.{key}.spec", (lwt[key] or {}).get("spec") or {}
    elif isinstance(spec.get("template"), dict):
        yield "spec.template.spec", spec["template"].get("spec") or {}


# --- vLLM engine flags ----------------------------------------------------------------------

def argv(container: dict[str, Any]) -> list[str]:
    return [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]


def flag(container: dict[str, Any], *names: str) -> str | None:
    """The value of a vLLM flag in a container's command line (the last occurrence wins)."""
    return _flag(argv(container), names)


def _flag(tokens: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the last occurrence of a flag (argparse: the last one wins)."""
    found = None
    prefixes = tuple(n + "=" for n in names)
    last = len(tokens) - 1
    for i, tok in enumerate(tokens):
        if tok in names and i < last:
            found = tokens[i + 1]
        if tok.startswith(prefixes):
            found = tok.split("=", 1)[1]
    return found


def is_engine(container: dict[str, Any]) -> bool:
    """Does this container run the vLLM engine (not e.g. a Ray worker that only joins a cluster)?"""
    tokens = argv(container)
    if any(_flag(tokens, names) is not None for names in _FLAGS.values()):
        return True
    if any(a == "vllm" and b == "serve" for a, b in pairwise(tokens)):
        return True
    if any("vllm.entrypoints" in t or t == "sglang.launch_server" for t in tokens):
        return True
    return not container.get("command") and "vllm" in str(container.get("image", "")) and bool(container.get("args"))


def parallelism(container: dict[str, Any]) -> dict[str, int] | None:
    """{tensor, pipeline, data} from the flags (default 1); None when a value is not a number."""
    tokens = argv(container)
    out = {}
    for key, names in _FLAGS.items():
        raw = _flag(tokens, names)
        try:
            out[key] = int(raw) if raw is not None else 1
        except ValueError:
            return None
    return out


def kv_transfer_config(container: dict[str, Any]) -> dict[str, Any] | None:
    """vLLM's ``--kv-transfer-config``; for SGLang the same shape read from
    ``--disaggregation-transfer-backend`` and its NIXL plugin (``SGLANG_DISAGGREGATION_NIXL_BACKEND``,
    default UCX), so the connector and EFA rules read both engines alike."""
    tokens = argv(container)
    backend = _flag(tokens, ("--disaggregation-transfer-backend",))
    if backend is not None and _flag(tokens, ("--disaggregation-mode",)) not in (None, "null"):
        env = {str(e.get("name")): e.get("value") for e in container.get("env") or ()}
        plugins = [str(env.get("SGLANG_DISAGGREGATION_NIXL_BACKEND") or "UCX")] if backend == "nixl" else []
        return {"kv_connector": backend, "kv_role": _flag(tokens, ("--disaggregation-mode",)),
                "kv_connector_extra_config": {"backends": plugins} if plugins else {}}
    raw = _flag(tokens, ("--kv-transfer-config",))
    if raw is None:
        return None
    try:
        cfg = json.loads(raw.replace("$$", "$"))  # the kubelet turns $$ into $
    except ValueError:
        return None
    return cfg if isinstance(cfg, dict) else None


def engine_containers(pod: PodView) -> list[dict[str, Any]]:
    return [c for c in pod.spec.get("containers") or () if is_engine(c)]


# --- autoscaling ----------------------------------------------------------------------------

def scale_target(so: dict[str, Any]) -> tuple[str, str, str]:
    """(namespace, kind, name) a ScaledObject scales (KEDA defaults the kind to Deployment)."""
    t = (so.get("spec") or {}).get("scaleTargetRef") or {}
    return namespace_of(so), str(t.get("kind") or "Deployment"), str(t.get("name") or "")


def target_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return namespace_of(obj), str(obj.get("kind")), str((obj.get("metadata") or {}).get("name", ""))


def max_replicas(inp: RuleInput, obj: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """(the most replicas a workload can reach, the ScaledObject that sets it if any)."""
    key = target_key(obj)
    for so in objects_of(inp, "ScaledObject"):
        if scale_target(so) == key:
            return int((so.get("spec") or {}).get("maxReplicaCount", 100)), so  # KEDA's default is 100
    return int((obj.get("spec") or {}).get("replicas", 1)), None


def role_path(role: str, key: str) -> tuple[str | int, ...]:
    """The profile field of a serving role (mirrors the planner's blame paths)."""
    if role in ("prefill", "decode"):
        sub = {"tensor": "tensor", "max": "maxReplicas"}[key]
        return ("serving", "disaggregation", role, sub)
    return {"tensor": ("serving", "parallelism", "tensor"), "max": ("autoscaling", "maxReplicas")}[key]
