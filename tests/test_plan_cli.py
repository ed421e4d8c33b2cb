"""mcompile plan (table, json, markdown) and the plan's effect on out/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from .clirun import mcompile

REPO = Path(__file__).resolve().parents[1]


def test_plan_json_is_the_plan(repo) -> None:
    r = mcompile("plan", "profiles/tier3.yaml", "--format", "json", cwd=repo)
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (doc["profile"], doc["environment"]) == ("glm-5", "prod")
    roles = {x["role"]: x for x in doc["roles"]}
    assert set(roles) == {"prefill", "decode"}
    assert roles["decode"]["pods_per_replica"] == 2 and roles["decode"]["gpus_per_pod"] == 8
    assert doc["cost_per_month"] == pytest.approx(doc["cost_per_hour"] * 720)
    assert doc["warnings"] == []


def test_plan_table_and_markdown(repo) -> None:
    table = mcompile("plan", "profiles/tier2.yaml", "--env", "prod", cwd=repo)
    assert table.code == 0 and "Capacity plan: llama-70b (prod)" in table.stdout and "max-num-seqs" in table.stdout
    md = mcompile("plan", "profiles/tier2.yaml", "--env", "prod", "--format", "markdown", cwd=repo).stdout
    assert md.startswith("## Capacity plan: llama-70b (prod)\n\n| | serve |")
    assert "| replicas (needed / min / max) | " in md and "**Total:** $" in md
    assert mcompile("plan", "profiles/tier2.yaml", "--env", "prod", "--format", "xml", cwd=repo).code == 2


def test_plan_refuses_a_model_that_does_not_fit(repo) -> None:
    r = mcompile("plan", "profiles/tier2.yaml", "--env", "prod", "--set", "model.precision=bf16", "--set", "capacity.pools[baseline].instanceTypes=[g5.12xlarge]", "--set", "capacity.pools[burst].instanceFamilies=[g5]", "--set", "serving.resources.memoryGi=160", cwd=repo)
    assert r.code == 2 and "does not fit 4 x A10G 24 GB (g5.12xlarge)" in r.stderr


def _objects(out: Path, env: str) -> dict:
    docs = [yaml.safe_load(p.read_text()) for p in sorted((out / "llama-70b" / "kustomize" / "base").glob("*.yaml")) if p.name != "kustomization.yaml"]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_rps_override_changes_replicas_and_pool_limits_in_out(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    assert mcompile("build", "profiles/tier2.yaml", cwd=tmp_path).code == 0
    before = _objects(tmp_path / "out", "prod")
    assert mcompile("build", "profiles/tier2.yaml", "--set", "workload.targetRPS=40", cwd=tmp_path).code == 0
    after = _objects(tmp_path / "out", "prod")
    so_b, so_a = before[("ScaledObject", "llama-70b")]["spec"], after[("ScaledObject", "llama-70b")]["spec"]
    assert so_a["maxReplicaCount"] > so_b["maxReplicaCount"]
    lim_b = int(before[("NodePool", "llama-70b-baseline")]["spec"]["limits"]["nvidia.com/gpu"])
    lim_a = int(after[("NodePool", "llama-70b-baseline")]["spec"]["limits"]["nvidia.com/gpu"])
    assert lim_a > lim_b and lim_a >= so_a["maxReplicaCount"] * 4
