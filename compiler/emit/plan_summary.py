"""``out/<profile>/plan.json``: the capacity plan's headline figures per environment (GPUs,
replicas, monthly cost), so ``mcompile diff`` can say what a change costs before -> after from
two out/ trees alone (no profiles, no planner, any mcompile version of the base)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..plan import extras
from ..types import Compiled
from .jsonout import dumps_indented

FORMAT = "mcompile-plan/v1"


def plan_summary(compiled: Sequence[Compiled]) -> str:
    envs: dict[str, Any] = {}
    for c in compiled:
        p = c.plan
        envs[c.profile.env] = {
            "gpus": sum(r.min_replicas * r.gpus_per_replica for r in p.roles),
            "gpusMax": sum(r.max_replicas * r.gpus_per_replica for r in p.roles),
            "replicas": {r.role: {"min": r.min_replicas, "max": r.max_replicas, "needed": r.replicas} for r in p.roles},
            "costPerHour": round(p.cost_per_hour, 2),
            "costPerMonth": round(p.cost_per_month, 2),
            **extras.summary(p),  # capacityBlocks / onPremises, only when the profile uses them
        }
    doc = {"format": FORMAT, "profile": compiled[0].profile.name, "source": compiled[0].profile.source, "environments": envs}
    return dumps_indented(doc) + "\n"
