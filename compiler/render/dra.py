"""GPUs claimed through Dynamic Resource Allocation (``serving.gpuAllocation: dra``).

One ``ResourceClaimTemplate`` per serving role, of the built-in ``resource.k8s.io/v1`` API (GA and
on by default from Kubernetes 1.34; the profile must say the cluster runs 1.34 or newer,
:mod:`compiler.validate_nodegroups`): one request ``gpus`` for exactly the GPUs one pod of the role
uses, from the DeviceClass ``gpu.nvidia.com`` that the NVIDIA DRA driver for GPUs installs (its
chart's ``templates/deviceclass-gpu.yaml``, selector ``device.driver == 'gpu.nvidia.com'``; the
platform installs the driver, :data:`compiler.fleet.charts.NVIDIA_DRA_DRIVER`). Every pod gets
its own claim from the template, like a PVC from a volumeClaimTemplate (kubernetes.io "Dynamic
Resource Allocation": ``spec.resourceClaims[].resourceClaimTemplateName`` and the container's
``resources.claims[].name``).

:func:`claim_gpus` is the only change to the pod: it replaces the container's ``nvidia.com/gpu``
requests and limits with the claim. Everything else (tolerations of the GPU taint, pool placement,
probes) stays as on the device-plugin path.
"""

from __future__ import annotations

from typing import Any

from ..plan.model import RolePlan
from .meta import Context, metadata, object_name

API = "resource.k8s.io/v1"
KIND = "ResourceClaimTemplate"
COMPONENT = "dra"
#: The NVIDIA DRA driver's DeviceClass for whole GPUs (gpu.nvidia.com; mig.nvidia.com is for MIG slices).
DEVICE_CLASS = "gpu.nvidia.com"
#: Name of the pod's claim and of the template's request.
CLAIM = "gpus"
REQUEST = "gpus"
GPU_RESOURCE = "nvidia.com/gpu"
#: Before the workloads (a pod whose template does not exist yet waits for it).
WAVE = "-1"


def enabled(ctx: Context) -> bool:
    return ctx.profile.serving.gpu_allocation == "dra"


def template_name(ctx: Context, rp: RolePlan) -> str:
    return object_name(ctx, "" if rp.role == "serve" else rp.role, "gpus")


def claim_template(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    request = {"name": REQUEST, "exactly": {"deviceClassName": DEVICE_CLASS, "allocationMode": "ExactCount", "count": rp.gpus_per_pod}}
    return {"apiVersion": API, "kind": KIND, "metadata": metadata(ctx, template_name(ctx, rp), COMPONENT, wave=WAVE),
            "spec": {"spec": {"devices": {"requests": [request]}}}}


def claim_gpus(ctx: Context, rp: RolePlan, spec: dict[str, Any]) -> dict[str, Any]:
    """A pod spec whose containers that request ``nvidia.com/gpu`` claim them through DRA instead
    (unchanged on the device-plugin path)."""
    if not enabled(ctx):
        return spec
    claimed = False
    for c in spec.get("containers", []):
        res = c.get("resources") or {}
        if any(GPU_RESOURCE in (res.get(k) or {}) for k in ("requests", "limits")):
            for k in ("requests", "limits"):
                (res.get(k) or {}).pop(GPU_RESOURCE, None)
            res["claims"] = [{"name": CLAIM}]
            claimed = True
    if claimed:
        spec["resourceClaims"] = [{"name": CLAIM, "resourceClaimTemplateName": template_name(ctx, rp)}]
    return spec


def render(ctx: Context) -> list[dict[str, Any]]:
    if not enabled(ctx):
        return []
    return [claim_template(ctx, rp) for rp in ctx.plan.roles]
