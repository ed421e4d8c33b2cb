"""Object identity conventions shared by every resource family: names, labels, selectors,
annotations. Every rendered object gets its metadata from here so the families agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan.model import Plan, RolePlan
from ..profile import Profile

MANAGED_BY = "mcompile"
VERSION_LABEL = "app.kubernetes.io/version"
APP = "vllm"

#: Label keys (the only place they are spelled).
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ENV_LABEL = "mcompile.io/environment"
PROFILE_LABEL = "mcompile.io/profile"
POOL_LABEL = "mcompile.io/pool"
CLUSTER_LABEL = "mcompile.io/cluster"
BURST_TAINT_KEY = "mcompile.io/burst"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"

#: Argo CD sync waves (quoted strings): namespace first, then cluster capacity, then workloads.
WAVE_NAMESPACE = "-20"
WAVE_PLATFORM = "-10"
WAVE_WORKLOAD = "0"


@dataclass(frozen=True)
class Context:
    """What every renderer reads: the typed profile and its capacity plan."""

    profile: Profile
    plan: Plan

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def namespace(self) -> str:
        return self.profile.namespace

    def roles(self) -> tuple[RolePlan, ...]:
        return self.plan.roles


def object_name(ctx: Context, *parts: str) -> str:
    """``llama-70b`` + ``("decode",)`` -> ``llama-70b-decode``."""
    return "-".join((ctx.name,) + tuple(p for p in parts if p))


def selector(ctx: Context, component: str) -> dict[str, str]:
    """Immutable selector labels of a workload (Deployment/LWS selectors never change)."""
    return {NAME_LABEL: APP, INSTANCE_LABEL: ctx.name, COMPONENT_LABEL: component}


def labels(ctx: Context, component: str) -> dict[str, str]:
    out = dict(ctx.profile.labels)
    out.update(selector(ctx, component))
    out[PART_OF_LABEL] = ctx.name
    out[MANAGED_BY_LABEL] = MANAGED_BY
    out[ENV_LABEL] = ctx.profile.env
    out[VERSION_LABEL] = version_label(ctx.profile.serving.image.tag)
    return out


def version_label(tag: str) -> str:
    """``app.kubernetes.io/version``: the serving image tag as a label value (at most 63
    characters, alphanumeric at both ends); the chart's ``<chart>.version`` template agrees."""
    return tag[:63].strip("-_.")


def metadata(ctx: Context, name: str, component: str, *, namespaced: bool = True, wave: str = WAVE_WORKLOAD, annotations: dict[str, str] | None = None, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = ctx.namespace
    meta["labels"] = {**labels(ctx, component), **(extra_labels or {})}
    ann = {SYNC_WAVE: wave}
    ann.update(annotations or {})
    meta["annotations"] = ann
    return meta
