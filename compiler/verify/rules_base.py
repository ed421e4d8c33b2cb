"""The result and input types of the semantic rules (:mod:`compiler.verify.rules`).

Kept apart from the rule modules so each of them can import these without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
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

    @cached_property
    def by_kind(self) -> dict[str, list[int]]:
        """Positions of the objects of each kind (every rule asks for a few kinds)."""
        out: dict[str, list[int]] = {}
        for index, obj in enumerate(self.objects):
            kind = obj.get("kind") if isinstance(obj, dict) else None
            if isinstance(kind, str):
                out.setdefault(kind, []).append(index)
        return out

    @cached_property
    def memo(self) -> dict[str, Any]:
        """What rules derive from this input and share (e.g. the NodePool views), by name."""
        return {}


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
    if len(kinds) == 1:
        return [inp.objects[i] for i in index.get(kinds[0], ())]
    return [inp.objects[i] for i in sorted(i for kind in set(kinds) for i in index.get(kind, ()))]
