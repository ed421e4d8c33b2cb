"""Semantic rules: invariants across rendered objects that no schema can express, each a small pure
function of (objects, profile, plan) returning :class:`Violation` s that blame a profile field.

Schemas say an object is well-formed; these say the objects work together in a real cluster:
vLLM's ranks match the GPUs, some NodePool can host every pod and has the GPUs for full scale,
EFA is coherent, KEDA formulas and targets are sound, selectors and ports line up, NodePools use
the right label domain, images are pinned. The rules read Kubernetes semantics (labels,
selectors, tolerations, requirements) from the objects, not incidental details of the renderers.

=====================  ==================================================================
rule                   module
=====================  ==================================================================
tp-pp-gpus             :func:`.rules_capacity.tp_pp_gpus`
gpus-fit-instance      :func:`.rules_capacity.gpus_fit_instance`
schedulable            :func:`.rules_capacity.schedulable_rule`
pool-gpu-limits        :func:`.rules_capacity.pool_gpu_limits`
efa-coherence          :func:`.rules_capacity.efa_coherence`
keda-formula-syntax    :func:`.rules_formula.keda_formula_syntax`
keda-formula-names     :func:`.rules_wiring.keda_formula_names`
keda-one-per-target    :func:`.rules_wiring.keda_one_per_target`
keda-no-replicas       :func:`.rules_wiring.keda_no_replicas`
ports-selectors        :func:`.rules_wiring.ports_selectors`
family-vs-type         :func:`.rules_nodepool.family_vs_type`
label-prefix           :func:`.rules_nodepool.label_prefix`
no-latest              :func:`.rules_wiring.no_latest`
consolidation          :func:`.rules_nodepool.consolidation`
pool-gpu-sizes         :func:`.rules_nodepool.pool_gpu_sizes`
engine-image           :func:`.rules_engine.engine_image`
engine-flags           :func:`.rules_engine.engine_flags`
extra-args-conflict    :func:`.rules_engine.extra_args_conflict`
path-references        :func:`.rules_path.path_references`
dra-claims             :func:`.rules_dra.dra_claims`
nodegroup-scaling      :func:`.rules_dra.nodegroup_scaling`
dra-placement          :func:`.rules_dra.dra_placement`
hybrid-placement       :func:`.rules_hybrid.hybrid_placement`
=====================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..plan.model import Plan
from ..profile import Profile
from .rules_base import RuleInput, Violation
from .rules_capacity import (
    efa_coherence,
    gpus_fit_instance,
    pool_gpu_limits,
    schedulable_rule,
    tp_pp_gpus,
)
from .rules_dra import dra_claims, dra_placement, nodegroup_scaling
from .rules_engine import engine_flags, engine_image, extra_args_conflict
from .rules_formula import keda_formula_syntax
from .rules_hybrid import hybrid_placement
from .rules_nodepool import consolidation, family_vs_type, label_prefix, pool_gpu_sizes
from .rules_path import path_references
from .rules_wiring import (
    keda_formula_names,
    keda_no_replicas,
    keda_one_per_target,
    no_latest,
    ports_selectors,
)

Rule = Callable[[RuleInput], list[Violation]]

#: Every rule, in report order.
RULES: list[Rule] = [
    tp_pp_gpus,
    gpus_fit_instance,
    schedulable_rule,
    pool_gpu_limits,
    efa_coherence,
    keda_formula_syntax,
    keda_formula_names,
    keda_one_per_target,
    keda_no_replicas,
    ports_selectors,
    family_vs_type,
    label_prefix,
    no_latest,
    consolidation,
    pool_gpu_sizes,
    engine_image,
    engine_flags,
    extra_args_conflict,
    path_references,
    dra_claims,
    nodegroup_scaling,
    dra_placement,
    hybrid_placement,
]


def check_rules(objects: Iterable[dict[str, Any]], profile: Profile, plan: Plan) -> list[Violation]:
    """All rules over one environment's objects: rule order, then object order (deterministic)."""
    inp = RuleInput(tuple(objects), profile, plan)
    out: list[Violation] = []
    for rule in RULES:
        for v in rule(inp):
            if v not in out:
                out.append(v)
    return out


__all__ = ["RULES", "Rule", "RuleInput", "Violation", "check_rules"]
