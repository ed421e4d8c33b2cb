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
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/instance": ctx.name, "app.kubernetes.io/component": component}


def labels(ctx: Context, component: str) -> dict[str, str]:
    out = dict(ctx.profile.labels)
    out.update(selector(ctx, component))
    out["app.kubernetes.io/part-of"] = ctx.name
    out["app.kubernetes.io/managed-by"] = MANAGED_BY
    out["mcompile.io/environment"] = ctx.profile.env
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
    ann = {"argocd.argoproj.io/sync-wave": wave}
    ann.update(annotations or {})
    meta["annotations"] = ann
    return meta
