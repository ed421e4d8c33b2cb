"""The whole pipeline as one readable function per step (Tanka's process.go is the model):

    resolve (load -> merge -> validate) -> profile -> plan -> render -> verify -> emit
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .plan import plan as make_plan
from .plan.model import Plan
from .profile import Profile, from_resolved
from .render import render
from .resolve import Request, Resolved, resolve, resolve_all


@dataclass(frozen=True)
class Compiled:
    """One environment of one profile, rendered."""

    resolved: Resolved
    profile: Profile
    plan: Plan
    objects: tuple[dict[str, Any], ...]


def compile_resolved(r: Resolved) -> Compiled:
    profile = from_resolved(r)
    plan = make_plan(profile, r.merged)
    return Compiled(r, profile, plan, tuple(render(profile, plan)))


def compile_env(req: Request) -> Compiled:
    return compile_resolved(resolve(req))


def compile_all(req: Request) -> list[Compiled]:
    return [compile_resolved(r) for r in resolve_all(req)]
