"""``hybrid-placement`` (compiler/verify/rules_hybrid.py) and the on-premises hop of
``path-references``: silent on the shipped tier2-hybrid (and every shipped profile, see
tests/verify/test_rules.py); each broken placement or hop, reproduced on the real rendered objects,
fires it, blaming a profile field the merge can locate."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from compiler.verify.rules import RULES, check_rules
from compiler.verify.rules_base import RuleInput
from compiler.verify.rules_hybrid import hybrid_placement
from compiler.verify.rules_path import path_references
from tests.verify.test_rules import compiled, find, objects

PROFILE = "tier2-hybrid"
ONPREM = "llama-70b-hybrid-onprem"


def _pod(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objs, "Deployment", ONPREM)["spec"]["template"]["spec"]


def _base_url(objs: list[dict[str, Any]], url: str) -> None:
    cm = find(objs, "ConfigMap", "llama-70b-hybrid-bifrost")
    cfg = json.loads(cm["data"]["config.json"])
    cfg["providers"]["openai"]["network_config"]["base_url"] = url
    cm["data"]["config.json"] = json.dumps(cfg)


CLOUD_URL = "http://llama-70b-hybrid.inference-llama-hybrid.svc.cluster.local:8000"
FIXTURES: list[tuple[str, Callable[[list[dict[str, Any]]], None], str, str]] = [
    ("missing-node-label", lambda o: _pod(o)["nodeSelector"].pop("topology.kubernetes.io/zone"), f"Deployment/{ONPREM}",
     "topology.kubernetes.io/zone=onprem-fra1"),
    ("untolerated-taint", lambda o: _pod(o).update(tolerations=[]), f"Deployment/{ONPREM}", "taint site/onprem:NoSchedule"),
    ("too-many-gpus", lambda o: _pod(o)["containers"][0]["resources"]["limits"].update({"nvidia.com/gpu": "16"}), f"Deployment/{ONPREM}",
     "request 16 nvidia.com/gpu"),
    ("efa-on-hybrid", lambda o: _pod(o)["containers"][0]["resources"]["limits"].update({"vpc.amazonaws.com/efa": "1"}), f"Deployment/{ONPREM}",
     "exists only on EC2"),
    ("too-many-replicas", lambda o: find(o, "Deployment", ONPREM)["spec"].update(replicas=5), f"Deployment/{ONPREM}", "5 replicas x 4 GPUs"),
    ("pod-too-big", lambda o: _pod(o)["containers"][0]["resources"]["requests"].update(memory="4096Gi"), f"Deployment/{ONPREM}", "a server has"),
    ("hop-to-cloud-pods", lambda o: _base_url(o, CLOUD_URL), "Service/llama-70b-hybrid", "selects no pod placed on hybrid nodes"),
]


@pytest.mark.parametrize("case", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_each_broken_placement_is_refused(case: tuple[str, Callable[[list[dict[str, Any]]], None], str, str]) -> None:
    _, mutate, blamed, text = case
    c = compiled(PROFILE, "prod", ("capacity.hybrid.taints=[{key: site/onprem, effect: NoSchedule}]",))
    objs = [dict(o) for o in c.objects]
    objs = json.loads(json.dumps(objs))  # private deep copy
    assert hybrid_placement(RuleInput(tuple(objs), c.profile, c.plan)) == []
    mutate(objs)
    found = hybrid_placement(RuleInput(tuple(objs), c.profile, c.plan))
    assert any(v.obj == blamed and text in v.message for v in found), found
    for v in found:  # located at a profile field
        src = c.resolved.merged.source(v.profile_path)
        assert src is not None and src.line >= 1, v.profile_path


def test_hop_to_a_missing_service_breaks_the_path_and_strands_the_pods() -> None:
    c = compiled(PROFILE, "prod")
    objs = objects(PROFILE)
    _base_url(objs, "http://llama-70b-hybrid-gone.inference-llama-hybrid.svc.cluster.local:8000")
    path = path_references(RuleInput(tuple(objs), c.profile, c.plan))
    assert any("provider URL http://llama-70b-hybrid-gone" in v.message for v in path), path
    stranded = hybrid_placement(RuleInput(tuple(objs), c.profile, c.plan))
    assert any(v.obj == f"Deployment/{ONPREM}" and "behind no Service the fallback gateway calls" in v.message for v in stranded)


def test_hybrid_pods_are_not_judged_against_nodepools() -> None:
    """``schedulable`` skips pods on hybrid nodes; no NodePool can host them (compute-type excluded)."""
    c = compiled(PROFILE, "prod")
    assert hybrid_placement in RULES and hybrid_placement.__doc__
    assert check_rules(c.objects, c.profile, c.plan) == []
    objs = objects(PROFILE)
    cloud = find(objs, "Deployment", "llama-70b-hybrid")["spec"]["template"]["spec"]
    cloud["nodeSelector"]["eks.amazonaws.com/compute-type"] = "hybrid"  # a cloud pod sent on-premises
    found = check_rules(objs, c.profile, c.plan)
    assert any(v.rule == "hybrid-placement" and v.obj == "Deployment/llama-70b-hybrid" for v in found), found


def test_hybrid_pods_without_a_hybrid_pool_are_refused() -> None:
    c = compiled("tier2", "prod")
    objs = objects("tier2")
    find(objs, "Deployment", "llama-70b")["spec"]["template"]["spec"]["nodeSelector"]["eks.amazonaws.com/compute-type"] = "hybrid"
    found = hybrid_placement(RuleInput(tuple(objs), c.profile, c.plan))
    assert any("declares no capacity.hybrid" in v.message for v in found), found
