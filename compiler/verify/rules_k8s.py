"""Kubernetes matching semantics the rules need, written from the API definitions (not from what
our renderers happen to emit): label selectors, node-selector requirements, taints and
tolerations, resource quantities.

Node selection against a Karpenter NodePool is a satisfiability question (the node does not exist
yet): :class:`Domain` is the set of values a label of a future node may take, narrowed by every
requirement of the pool and then of the pod; the pod can land on the pool when no key ends up
with an empty domain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# --- requirement operators ------------------------------------------------------------------

def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def op_matches(op: str, values: Iterable[Any], value: str | None) -> bool:
    """One requirement (``In``/``NotIn``/``Exists``/``DoesNotExist``/``Gt``/``Lt``) against one
    label value (``None``: the label is absent). Unknown operators never match."""
    vals = [str(v) for v in values or ()]
    if op == "In":
        return value is not None and value in vals
    if op == "NotIn":
        return value is None or value not in vals
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        have, bound = _int(value) if value is not None else None, _int(vals[0]) if vals else None
        if have is None or bound is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def selector_matches(sel: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """metav1.LabelSelector semantics: ``{}`` matches everything, ``None`` nothing; matchLabels
    and every matchExpression must hold."""
    if sel is None:
        return False
    for key, val in (sel.get("matchLabels") or {}).items():
        if labels.get(key) != str(val):
            return False
    return all(op_matches(e.get("operator", ""), e.get("values") or (), labels.get(e.get("key", "")))
               for e in sel.get("matchExpressions") or ())


def map_selector_matches(sel: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A plain map selector (Service ``spec.selector``, pod ``nodeSelector``)."""
    return all(labels.get(k) == str(v) for k, v in sel.items())


# --- taints and tolerations -----------------------------------------------------------------

HARD_EFFECTS = ("NoSchedule", "NoExecute")


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """core/v1 Toleration.ToleratesTaint: an empty effect matches every effect, an empty key with
    ``Exists`` matches every taint, ``Equal`` (the default operator) compares values."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    op = toleration.get("operator") or "Equal"
    if not key:
        return op == "Exists"
    if key != taint.get("key"):
        return False
    if op == "Exists":
        return True
    return op == "Equal" and str(toleration.get("value") or "") == str(taint.get("value") or "")


def untolerated(tolerations: Iterable[Mapping[str, Any]], taints: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The NoSchedule/NoExecute taints no toleration covers (PreferNoSchedule never blocks)."""
    tols = list(tolerations)
    return [t for t in taints if t.get("effect") in HARD_EFFECTS and not any(tolerates(x, t) for x in tols)]


# --- label domains of a node that does not exist yet ----------------------------------------

@dataclass(frozen=True)
class Domain:
    """The values one label of a future node may take. ``values`` None means any string."""

    values: frozenset[str] | None = None
    excluded: frozenset[str] = frozenset()
    gt: int | None = None
    lt: int | None = None
    absent_ok: bool = True  # the node may lack the label
    present_ok: bool = True  # the node may carry the label

    def restrict(self, op: str, values: Iterable[Any]) -> Domain:
        # Domain(...) rather than dataclasses.replace: called per pod x pool x requirement
        values_, excluded, gt, lt, absent_ok, present_ok = self.values, self.excluded, self.gt, self.lt, self.absent_ok, self.present_ok
        vals = frozenset(str(v) for v in values or ())
        if op == "In":
            return Domain(vals if values_ is None else values_ & vals, excluded, gt, lt, False, present_ok)
        if op == "NotIn":
            return Domain(values_, excluded | vals, gt, lt, absent_ok, present_ok)
        if op == "Exists":
            return Domain(values_, excluded, gt, lt, False, present_ok)
        if op == "DoesNotExist":
            return Domain(values_, excluded, gt, lt, absent_ok, False)
        bound = _int(next(iter(vals))) if len(vals) == 1 else None
        if op == "Gt" and bound is not None:
            return Domain(values_, excluded, bound if gt is None else max(gt, bound), lt, False, present_ok)
        if op == "Lt" and bound is not None:
            return Domain(values_, excluded, gt, bound if lt is None else min(lt, bound), False, present_ok)
        return self  # unknown operator or malformed bound: the API server rejects it, not us

    def _value_ok(self, v: str) -> bool:
        if v in self.excluded:
            return False
        if self.gt is None and self.lt is None:
            return True
        n = _int(v)
        return n is not None and (self.gt is None or n > self.gt) and (self.lt is None or n < self.lt)

    def has_value(self) -> bool:
        if not self.present_ok:
            return False
        if self.values is not None:
            return any(self._value_ok(v) for v in self.values)
        if self.gt is not None and self.lt is not None:
            blocked = sum(1 for v in self.excluded if (n := _int(v)) is not None and self.gt < n < self.lt)
            return self.lt - self.gt - 1 > blocked
        return True

    def empty(self) -> bool:
        return not (self.absent_ok or self.has_value())


def fixed(value: str) -> Domain:
    return Domain(values=frozenset({value}), absent_ok=False)


ABSENT = Domain(present_ok=False)


def first_conflict(domains: Mapping[str, Domain], requirements: Iterable[tuple[str, str, Iterable[Any]]],
                   unmentioned: Callable[[str], Domain]) -> str | None:
    """Narrow ``domains`` by every (key, op, values) in turn; the first key left with no possible
    value, or None when all hold together. ``unmentioned(key)`` is the domain of a key the node
    side says nothing about."""
    narrowed = dict(domains)
    for key, op, values in requirements:
        start = narrowed[key] if key in narrowed else unmentioned(key)
        narrowed[key] = start.restrict(op, values)
        if narrowed[key].empty():
            return key
    return None


# --- quantities -----------------------------------------------------------------------------

_QTY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: Any) -> float | None:
    """A Kubernetes resource quantity in base units (``"500m"`` -> 0.5, ``"1Gi"`` -> 2**30)."""
    m = _QTY.match(str(value).strip())
    if not m or m.group(2) not in _SUFFIX:
        return None
    try:
        return float(m.group(1)) * _SUFFIX[m.group(2)]
    except ValueError:
        return None
