"""The torch.compile cache on Amazon EFS (``serving.compileCache``).

vLLM compiles the model with torch.compile on first start (about a minute, longer with many CUDA
graph sizes) and keeps the artefacts under ``$VLLM_CACHE_ROOT/torch_compile_cache/<hash>/
rank_<r>_<dp>/`` (vllm-project/vllm ``vllm/compilation/backends.py``). With an emptyDir every
pod compiles again; a ReadWriteMany volume on EFS lets later pods (scale-out, restarts, other
nodes) reuse the artefacts.

Where the volume comes from, exactly one of:

* ``fileSystemId`` (an existing EFS file system): a StorageClass for the EFS CSI driver
  (``efs.csi.aws.com``) with dynamic provisioning through access points (``provisioningMode:
  efs-ap``; kubernetes-sigs/aws-efs-csi-driver ``examples/kubernetes/dynamic_provisioning``)
  and a ReadWriteMany PVC of that class;
* ``storageClassName`` (an EFS StorageClass the cluster already has): the PVC only;
* ``claimName`` (an existing ReadWriteMany PVC): nothing is rendered.

The volume is mounted at ``torch_compile_cache`` under ``VLLM_CACHE_ROOT`` with a ``subPath``
keyed by the model and the engine version (image tag, and digest when pinned): two engine
versions or two models never read each other's artefacts, whatever vLLM's own hash covers.
The rest of ``VLLM_CACHE_ROOT`` (and HOME, Hugging Face, Triton) stays on the pod's emptyDir.

The EFS CSI driver itself (EKS add-on ``aws-efs-csi-driver``, with an IAM role that may create
access points) belongs to the cluster platform.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .meta import Context, metadata

COMPONENT = "compile-cache"
VOLUME = "compile-cache"
EFS_PROVISIONER = "efs.csi.aws.com"
#: ``VLLM_CACHE_ROOT`` (see ``compiler/render/vllm.py``) + the directory vLLM's compiler backend uses.
MOUNT_PATH = "/cache/vllm/torch_compile_cache"
#: EFS is elastic and the driver ignores the size, but a PVC must request one.
STORAGE_REQUEST = "100Gi"
#: Access point root directories live under this path of the file system, one per PVC.
BASE_PATH = "/mcompile"


def _slug(text: str, limit: int) -> str:
    """A path segment: lower-case ``[a-z0-9._-]``, plus a short hash of the exact text so two
    names that slug alike (``Org/Model`` vs ``org-model``) never share a directory."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "x"
    return f"{slug[:limit]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def cache_key(ctx: Context) -> str:
    """``<model>/<engine>-<tag>[-<digest>]``: the subPath of this profile's artefacts."""
    s = ctx.profile.serving
    engine = f"{s.engine}-{s.image.tag}"
    if s.image.digest:
        engine += "-" + s.image.digest.split(":", 1)[-1][:16]
    return f"{_slug(ctx.profile.model.id, 80)}/{_slug(engine, 80)}"


def storage_class_name(ctx: Context) -> str:
    """Cluster-scoped: namespace and profile make it unique per cluster."""
    return f"{ctx.namespace}-{ctx.name}-compile-cache"


def claim_name(ctx: Context) -> str | None:
    cc = ctx.profile.serving.compile_cache
    if cc is None:
        return None
    return cc.claim_name or f"{ctx.name}-compile-cache"


# --- the hook for the pod spec (compiler/render/vllm.py) ---------------------------------------

def volume_mounts(ctx: Context) -> list[dict[str, Any]]:
    """Mounts for the vLLM container (after the ``/cache`` emptyDir: it is nested under it)."""
    if ctx.profile.serving.compile_cache is None:
        return []
    return [{"name": VOLUME, "mountPath": MOUNT_PATH, "subPath": cache_key(ctx)}]


def volumes(ctx: Context) -> list[dict[str, Any]]:
    claim = claim_name(ctx)
    return [{"name": VOLUME, "persistentVolumeClaim": {"claimName": claim}}] if claim else []


# --- objects -------------------------------------------------------------------------------

def storage_class(ctx: Context, file_system_id: str) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": metadata(ctx, storage_class_name(ctx), COMPONENT, namespaced=False),
        "provisioner": EFS_PROVISIONER,
        "parameters": {
            "provisioningMode": "efs-ap",
            "fileSystemId": file_system_id,
            "directoryPerms": "700",
            "basePath": BASE_PATH,
            "subPathPattern": "${.PVC.namespace}/${.PVC.name}",
            "ensureUniqueDirectory": "false",
        },
        "mountOptions": ["tls"],  # encrypt NFS traffic in transit
        # Delete removes the access point, not its directory (deleteAccessPointRootDir defaults to
        # false): a re-created claim of the same name finds its artefacts again.
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def claim(ctx: Context, class_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(ctx, f"{ctx.name}-compile-cache", COMPONENT),
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": class_name,
            "resources": {"requests": {"storage": STORAGE_REQUEST}},
        },
    }


def render(ctx: Context) -> list[dict[str, Any]]:
    cc = ctx.profile.serving.compile_cache
    if cc is None or cc.claim_name:
        return []
    if cc.file_system_id:
        return [storage_class(ctx, cc.file_system_id), claim(ctx, storage_class_name(ctx))]
    assert cc.storage_class, "validate guarantees exactly one source"
    return [claim(ctx, cc.storage_class)]
