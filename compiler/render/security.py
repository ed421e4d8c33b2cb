"""Security posture of the serving pods, and the few scanner findings they knowingly accept.

Every vLLM pod gets the same hardening (:func:`pod_security_context`,
:func:`container_security_context`): seccomp ``RuntimeDefault``, no privilege escalation, not
privileged, every Linux capability dropped (``IPC_LOCK`` alone added back on EFA), a read-only
root filesystem with emptyDirs for ``/tmp`` and the caches, no API token mounted, CPU/memory/GPU
requests equal to limits, and probes on every pod that serves HTTP.

What a GPU inference pod genuinely cannot satisfy is not silently dropped: each such checkov check
is suppressed *on the object* (the Deployment or LeaderWorkerSet) with an annotation
``checkov.io/skip<N>: <CHECK_ID>=<reason>``, so the exception travels with the manifest, shows up
in every scanner report as "skipped" with its reason, and disappears as soon as the profile no
longer needs it (e.g. :data:`TAG_ONLY` once ``serving.image.digest`` is set). :data:`CATALOGUE` is
the complete list; tests/test_checkov.py fails on any skip whose reason is not in it.

checkov splits the annotation value at ``=``: a reason must not contain one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..profile import Image

SKIP_PREFIX = "checkov.io/skip"


@dataclass(frozen=True)
class Waiver:
    """One accepted finding: the checkov check, the control in plain words, and why."""

    check: str
    control: str
    reason: str


ROOT_USER = Waiver(
    "CKV_K8S_23", "run as non-root",
    "the vllm/vllm-openai image runs as root and ships no non-root user; compensated by no privilege "
    "escalation, all capabilities dropped, a read-only root filesystem and seccomp RuntimeDefault")
HIGH_UID = Waiver(
    "CKV_K8S_40", "run as a high UID",
    "the vllm/vllm-openai image runs as UID 0 and ships no non-root user (see CKV_K8S_23)")
IPC_LOCK = Waiver(
    "CKV_K8S_25", "no capability added",
    "IPC_LOCK: EFA RDMA (libfabric for NCCL and NIXL) pins its buffers with mlock; it is the only "
    "capability added back after dropping ALL")
WORKER_LIVENESS = Waiver(
    "CKV_K8S_8", "liveness probe",
    "headless LeaderWorkerSet workers run no HTTP server; the leader's probes cover the group and "
    "RecreateGroupOnPodRestart restarts the whole group when a worker exits")
WORKER_READINESS = Waiver(
    "CKV_K8S_9", "readiness probe",
    "headless LeaderWorkerSet workers receive no traffic (Services select leaders only); the leader "
    "turns ready once every worker has joined")
TAG_ONLY = Waiver(
    "CKV_K8S_43", "image pinned by digest",
    "the profile pins the image by tag only; set its digest (serving.image.digest, routing.picker.image.digest, "
    "fallback.image.digest) to pin it by digest")
PULL_IF_NOT_PRESENT = Waiver(
    "CKV_K8S_15", "image pull policy Always",
    "pullPolicy IfNotPresent with a tag-pinned image (serving.image.pullPolicy); setting "
    "the image's digest makes the pull policy irrelevant")
SECRET_ENV = Waiver(
    "CKV_K8S_35", "secrets as files, not env",
    "serving.secretEnv: the engine reads these credentials (e.g. HF_TOKEN) from environment "
    "variables; they come from an existing Secret by reference, never from the manifests")

API_TOKEN = Waiver(
    "CKV_K8S_38", "service-account token not mounted",
    "the endpoint picker watches its InferencePool and the pool's pods through the Kubernetes API "
    "(read-only Role in its namespace); it cannot work without a token")

#: Every waiver mcompile may emit, in annotation order.
CATALOGUE: tuple[Waiver, ...] = (ROOT_USER, HIGH_UID, IPC_LOCK, WORKER_LIVENESS, WORKER_READINESS,
                                 TAG_ONLY, PULL_IF_NOT_PRESENT, SECRET_ENV, API_TOKEN)


def pod_security_context() -> dict[str, Any]:
    """No ``runAsNonRoot``/``runAsUser``: the vLLM image runs as root and would refuse to start
    (or lose its file permissions) otherwise; see :data:`ROOT_USER`."""
    return {"seccompProfile": {"type": "RuntimeDefault"}}


def container_security_context(add: Iterable[str] = ()) -> dict[str, Any]:
    caps: dict[str, Any] = {"drop": ["ALL"]}
    added = list(add)
    if added:
        caps["add"] = added
    return {"privileged": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": caps}


def pinned_waivers(digest: str | None) -> list[Waiver]:
    """A request-path image (pulled IfNotPresent): both image waivers unless pinned by digest."""
    return [] if digest else [TAG_ONLY, PULL_IF_NOT_PRESENT]


def image_waivers(image: Image) -> list[Waiver]:
    """A digest satisfies both image checks; a tag alone needs both waivers (Always pull too only
    when the profile chose another policy)."""
    if image.digest:
        return []
    return [TAG_ONLY] + ([] if image.pull_policy == "Always" else [PULL_IF_NOT_PRESENT])


def skip_annotations(waivers: Iterable[Waiver]) -> dict[str, str]:
    """``checkov.io/skip1: CKV_K8S_23=<reason>``, numbered in :data:`CATALOGUE` order."""
    chosen = set(waivers)
    unknown = chosen - set(CATALOGUE)
    if unknown:
        raise ValueError(f"waivers not in the catalogue: {sorted(w.check for w in unknown)}")
    chosen_in_order = [w for w in CATALOGUE if w in chosen]
    return {f"{SKIP_PREFIX}{i}": f"{w.check}={w.reason}" for i, w in enumerate(chosen_in_order, start=1)}
