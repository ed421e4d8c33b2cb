"""Stage 5 — render: a typed profile and its plan to Kubernetes objects (plain dicts), one
module per resource family, always in the same order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..plan.model import Plan
from ..profile import Profile
from .meta import Context

Renderer = Callable[[Context], list[dict[str, Any]]]


def families() -> list[tuple[str, Renderer]]:
    """(family, renderer) in output order. Imported lazily so a family module stays independent."""
    from . import (
        autoscaling,
        bifrost,
        cache,
        dashboards,
        dra,
        gateway,
        hybrid,
        identity,
        lws,
        monitoring,
        network,
        nodegroups,
        nodepools,
        picker,
        routing,
        serving,
    )

    return [
        ("network", network.render_namespace),
        ("nodepools", nodepools.render),
        ("nodegroups", nodegroups.render),
        ("dra", dra.render),
        ("serving", serving.render),
        ("hybrid", hybrid.render),
        ("cache", cache.render),
        ("lws", lws.render),
        ("routing", routing.render),
        ("picker", picker.render),
        ("gateway", gateway.render),
        ("bifrost", bifrost.render),
        ("identity", identity.render),
        ("autoscaling", autoscaling.render),
        ("monitoring", monitoring.render),
        ("dashboards", dashboards.render),
        ("network", network.render),
    ]


def render(profile: Profile, plan: Plan) -> list[dict[str, Any]]:
    ctx = Context(profile, plan)
    out: list[dict[str, Any]] = []
    for _family, fn in families():
        out.extend(fn(ctx))
    return out
