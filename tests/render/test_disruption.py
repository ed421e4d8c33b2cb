"""Group-aware disruption, replayed: node drains against the rendered LeaderWorkerSets and PDBs.

A small simulator with the Kubernetes eviction rules (policy/v1): an eviction of a pod matched by
more than one PDB is refused; otherwise it is allowed when the pod is unhealthy
(``unhealthyPodEvictionPolicy: AlwaysAllow``) or the PDB's healthy pods minus one stay at or above
its desired healthy count (``expected - maxUnavailable``). LeaderWorkerSet semantics: each group
is ``size`` pods labelled with ``group-index`` / ``worker-index``, one 8-GPU pod per node, and
evicting any pod restarts the whole group (RecreateGroupOnPodRestart): all its pods turn unready
until it reloads. Groups scale from 0 upward, so the floor is groups ``0..min-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import pytest

from compiler.verify.rules_k8s import selector_matches
from tests.shipped import compile_tier

NAME, GROUP, WORKER = ("leaderworkerset.sigs.k8s.io/name", "leaderworkerset.sigs.k8s.io/group-index",
                       "leaderworkerset.sigs.k8s.io/worker-index")


@dataclass
class Cluster:
    pdbs: list[dict[str, Any]]
    pods: dict[str, dict[str, str]]  # node -> pod labels (one pod per node)
    down: set[tuple[str, str]] = field(default_factory=set)  # (lws, group) restarting

    def healthy(self, node: str) -> bool:
        labels = self.pods[node]
        return (labels[NAME], labels[GROUP]) not in self.down

    def evict(self, node: str) -> bool:
        labels = self.pods[node]
        matching = [p for p in self.pdbs if selector_matches(p["spec"]["selector"], labels)]
        assert len(matching) <= 1, f"pod on {node} matches {len(matching)} PDBs: the eviction API refuses it"
        if matching and self.healthy(node):
            pdb = matching[0]
            covered = [n for n, lab in self.pods.items() if selector_matches(pdb["spec"]["selector"], lab)]
            healthy = sum(self.healthy(n) for n in covered)
            if healthy - 1 < len(covered) - int(pdb["spec"]["maxUnavailable"]):
                return False
        self.down.add((labels[NAME], labels[GROUP]))  # RecreateGroupOnPodRestart
        return True

    def serving_groups(self, lws: str) -> int:
        groups = {lab[GROUP] for lab in self.pods.values() if lab[NAME] == lws}
        return sum((lws, g) not in self.down for g in groups)


def cluster(objects: tuple[dict[str, Any], ...], groups: dict[str, int]) -> Cluster:
    pods = {}
    for lws in (o for o in objects if o["kind"] == "LeaderWorkerSet"):
        name, lwt = lws["metadata"]["name"], lws["spec"]["leaderWorkerTemplate"]
        for g in range(groups[name]):
            for w in range(int(lwt["size"])):
                tmpl = lwt.get("leaderTemplate") if w == 0 and lwt.get("leaderTemplate") else lwt["workerTemplate"]
                pods[f"{name}-g{g}-w{w}"] = {**tmpl["metadata"]["labels"], NAME: name, GROUP: str(g), WORKER: str(w)}
    return Cluster([o for o in objects if o["kind"] == "PodDisruptionBudget"], pods)


def minimums(objects: tuple[dict[str, Any], ...]) -> dict[str, int]:
    scaled = {o["spec"]["scaleTargetRef"]["name"]: int(o["spec"]["minReplicaCount"]) for o in objects if o["kind"] == "ScaledObject"}
    return {o["metadata"]["name"]: scaled.get(o["metadata"]["name"], int(o["spec"].get("replicas", 1)))
            for o in objects if o["kind"] == "LeaderWorkerSet"}


def drain_all_orders(objects: tuple[dict[str, Any], ...], extra: int) -> list[str]:
    """Drain every pair of nodes concurrently (both before any group recovers), in every order, with
    ``extra`` groups above each role's minimum; return the broken invariants."""
    mins = minimums(objects)
    broken = []
    base = cluster(objects, {k: v + extra for k, v in mins.items()})
    for a, b in permutations(sorted(base.pods), 2):
        c = cluster(objects, {k: v + extra for k, v in mins.items()})
        c.evict(a)
        c.evict(b)
        for lws, m in mins.items():
            if c.serving_groups(lws) < m:
                broken.append(f"drain {a} + {b}: {lws} serves {c.serving_groups(lws)} < {m} groups")
        per_role: dict[str, int] = {}
        for lws, _g in c.down:
            per_role[lws] = per_role.get(lws, 0) + 1
        broken += [f"drain {a} + {b}: {lws} has {n} groups down at once" for lws, n in per_role.items() if n > 1]
    return broken


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_tier3_drains_keep_the_minimum_and_one_group_at_a_time(extra: int) -> None:
    objects = compile_tier("tier3").objects
    assert minimums(objects) == {"glm-5-prefill": 1, "glm-5-decode": 1}
    assert drain_all_orders(objects, extra) == []


def test_tier3_a_single_drain_of_a_floor_group_waits_and_a_surplus_group_goes() -> None:
    objects = compile_tier("tier3").objects
    c = cluster(objects, {"glm-5-prefill": 2, "glm-5-decode": 1})
    assert c.evict("glm-5-decode-g0-w1") is False  # the only decode group: the drain waits
    assert c.evict("glm-5-prefill-g0-w0") is False  # floor group of prefill
    assert c.evict("glm-5-prefill-g1-w1") is True  # the surplus group goes ...
    assert c.evict("glm-5-prefill-g1-w0") is True  # ... its other pod is already down (unhealthy)
    assert c.serving_groups("glm-5-prefill") == 1 and c.serving_groups("glm-5-decode") == 1


def test_the_old_role_wide_budget_breaks_both_invariants() -> None:
    """The previous design (one maxUnavailable: 1 PDB over every pod of a role) fails the replay:
    the simulator can tell the difference."""
    objects = compile_tier("tier3").objects
    old = []
    for o in objects:
        if o["kind"] != "PodDisruptionBudget":
            old.append(o)
        elif not o["metadata"]["name"].endswith("-floor"):
            sel = {"matchLabels": o["spec"]["selector"]["matchLabels"]}
            old.append({**o, "spec": {**o["spec"], "selector": sel, "maxUnavailable": 1}})
    broken = drain_all_orders(tuple(old), 0)
    assert any("serves 0 < 1 groups" in b for b in broken)


def test_every_lws_pod_is_covered_by_exactly_one_budget() -> None:
    objects = compile_tier("tier3").objects
    c = cluster(objects, {k: v + 2 for k, v in minimums(objects).items()})
    for node, labels in c.pods.items():
        assert sum(selector_matches(p["spec"]["selector"], labels) for p in c.pdbs) == 1, node
