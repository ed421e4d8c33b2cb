"""Stage types: the data that flows between the pipeline stages (low level: no stage logic).

    Resolved (resolve.py) -> Compiled (one environment of one profile, rendered)
    Compiled* -> ProfileOutcome (a profile verified and emitted, picklable for worker processes)
    ProfileOutcome* -> fleet stage -> platform files + diagnostics
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .plan.model import Plan
from .profile import Profile
from .resolve import Resolved

#: (apiVersion, kind, namespace, name) of a rendered object.
ObjectKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Compiled:
    """One environment of one profile, rendered."""

    resolved: Resolved
    profile: Profile
    plan: Plan
    objects: tuple[dict[str, Any], ...]
