"""Stage types: the data that flows between the pipeline stages (low level: no stage logic, and
no stage imported: a build whose profiles are all cache hits makes Requests without loading one).

    Request -> Resolved (resolve.py) -> Compiled (one environment of one profile, rendered)
    Compiled* -> ProfileOutcome (a profile verified and emitted, picklable for worker processes)
    ProfileOutcome* -> fleet stage -> platform files + diagnostics
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: a build whose profiles are all cache hits never loads the stages
    from .plan.model import Plan
    from .profile import Profile
    from .resolve import Resolved

@dataclass(frozen=True)
class Request:
    """What the user asked for: one profile, one environment, extra layers."""

    profile: Path
    display: str  # how the profile is named in messages ("profiles/tier2.yaml")
    env: str | None = None
    overrides: tuple[Path, ...] = ()
    sets: tuple[str, ...] = ()


#: (apiVersion, kind, namespace, name) of a rendered object.
ObjectKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Compiled:
    """One environment of one profile, rendered."""

    resolved: Resolved
    profile: Profile
    plan: Plan
    objects: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class OutputFile:
    """One generated file (what emit produces and the store writes): a POSIX path relative to
    the output directory, and its bytes."""

    path: str
    content: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not isinstance(self.content, bytes):
            raise TypeError("OutputFile needs a str path and bytes content")
