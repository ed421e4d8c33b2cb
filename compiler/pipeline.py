"""The whole pipeline as one readable function per step (Tanka's process.go is the model):

    resolve (load -> merge -> validate) -> profile -> plan -> render -> verify -> emit
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .plan import plan as make_plan
from .profile_read import from_resolved
from .render import render
from .render.gitops import render_gitops
from .render.meta import Context
from .resolve import Request, Resolved, resolve, resolve_all
from .types import Compiled

__all__ = ["Compiled", "compile_all", "compile_env", "compile_resolved", "render_delivery"]


def compile_resolved(r: Resolved) -> Compiled:
    profile = from_resolved(r)
    plan = make_plan(profile, r.merged)
    return Compiled(r, profile, plan, tuple(render(profile, plan)))


def compile_env(req: Request) -> Compiled:
    return compile_resolved(resolve(req))


def compile_all(req: Request) -> list[Compiled]:
    return [compile_resolved(r) for r in resolve_all(req)]


def render_delivery(compiled: Sequence[Compiled]) -> dict[str, list[dict[str, Any]]]:
    """The profile's GitOps objects (every environment at once), by output directory."""
    return render_gitops([Context(c.profile, c.plan) for c in compiled])
