"""The result and input types of the semantic rules (:mod:`compiler.verify.rules`).

Kept apart from the rule modules so each of them can import these without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..plan.model import Plan
from ..profile import Profile


@dataclass(frozen=True)
class Violation:
    """One broken cross-object invariant.

    ``obj`` is ``Kind/name`` of the object that shows the problem; ``message`` says what is wrong
    and what to change; ``profile_path`` names the profile field to blame (the caller turns it into
    ``file:line:col`` through the merge provenance, falling back to the nearest ancestor).
    """

    rule: str
    obj: str
    message: str
    profile_path: tuple[str | int, ...]


@dataclass(frozen=True)
class RuleInput:
    """Everything a rule may read: the rendered objects, the typed profile and its plan."""

    objects: tuple[dict[str, Any], ...]
    profile: Profile
    plan: Plan
    #: kind -> (render position, object) of that kind, built on first use by :func:`objects_of`
    #: (two dozen rules ask for a few kinds each: one pass over the objects instead of hundreds)
    by_kind: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict, init=False, compare=False, repr=False)


def ref(obj: dict[str, Any]) -> str:
    """``Kind/name`` of an object (``?`` for whatever is missing)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"


def namespace_of(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    return str(meta.get("namespace") or "")


def objects_of(inp: RuleInput, *kinds: str) -> list[dict[str, Any]]:
    """The objects of the given kinds, in render order (rules stay deterministic)."""
    index = inp.by_kind
    if not index:
        for i, o in enumerate(inp.objects):
            if isinstance(o, dict) and isinstance(o.get("kind"), str):
                index.setdefault(o["kind"], []).append((i, o))
        index[""] = []  # built (an empty render too)
    if len(kinds) == 1:
        return [o for _, o in index.get(kinds[0], ())]
    return [o for _, o in sorted((e for k in dict.fromkeys(kinds) for e in index.get(k, ())), key=lambda e: e[0])]
