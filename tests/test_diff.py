"""mcompile diff: both sides rendered fully, a per-resource report with field-level changes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from compiler.diff import _internal_kustomize, render_tree

from .clirun import mcompile

REPO = Path(__file__).resolve().parents[1]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args], cwd=cwd, check=True, capture_output=True)


def test_diff_against_git_ref_reports_fields(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    _git(tmp_path, "init", "-q")
    assert mcompile("build", "profiles/tier2.yaml", cwd=tmp_path).code == 0
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "base")
    assert mcompile("diff", "--base", "HEAD", cwd=tmp_path).code == 0
    p = tmp_path / "profiles" / "tier2.yaml"
    p.write_text(p.read_text().replace("    autoscaling: {minReplicas: 2}", "    autoscaling: {minReplicas: 3}\n    network: {policy: false}"))
    assert mcompile("build", "profiles/tier2.yaml", cwd=tmp_path).code == 0
    r = mcompile("diff", "--base", "HEAD", cwd=tmp_path)
    assert r.code == 1, r.stderr
    assert "llama-70b/prod:\n" in r.stdout
    assert "  ~ ScaledObject inference-llama/llama-70b\n" in r.stdout and "      spec.minReplicaCount: 2 -> 3\n" in r.stdout
    assert "  - NetworkPolicy inference-llama/llama-70b-allow-http\n" in r.stdout
    assert "llama-70b/dev" not in r.stdout  # dev did not change
    md = mcompile("diff", "--base", "HEAD", "--format", "markdown", cwd=tmp_path).stdout
    assert re.match(r"<!-- mcompile-diff -->\n### mcompile diff\n\n\*\*0 added, 5 removed, \d+ changed\*\*", md)
    assert re.search(r"<details><summary><b>llama-70b/prod</b>: 0 added, 5 removed, \d+ changed</summary>", md)
    row = next(line for line in md.splitlines() if line.startswith("| changed | ScaledObject inference-llama/llama-70b | "))
    assert "`spec.minReplicaCount`: `2` → `3`" in row
    # the plan summary: GPUs, replicas and monthly cost of llama-70b/prod, before -> after, first
    plan_row = next(line for line in md.splitlines() if line.startswith("| llama-70b/prod | "))
    assert md.index(plan_row) < md.index("<details>")
    assert "8 (max 16) → 12 (max 24)" in plan_row and "serve 2..4 → serve 3..6" in plan_row


def test_diff_against_directory_and_new_profile(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    assert mcompile("build", "profiles/tier2.yaml", cwd=tmp_path).code == 0
    shutil.copytree(tmp_path / "out", tmp_path / "old")
    assert mcompile("build", "profiles/tier1.yaml", cwd=tmp_path).code == 0
    r = mcompile("diff", "--base", "old", cwd=tmp_path)
    assert r.code == 1
    assert "qwen3-32b/prod:\n  + " in r.stdout and "llama-70b" not in r.stdout
    assert "Summary: " in r.stdout and " 0 removed, 0 changed" in r.stdout


def test_internal_kustomize_matches_kubectl(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    p = tmp_path / "profiles" / "tier2.yaml"
    p.write_text(p.read_text().replace("  dev:\n", "  dev:\n    network: {policy: false}\n"))
    assert mcompile("build", "profiles/tier2.yaml", "profiles/tier3.yaml", cwd=tmp_path).code == 0
    via_kubectl = {k: o for k, o in render_tree(tmp_path / "out").items() if "/deploy/" not in k[0] and "/platform/" not in k[0]}
    overlays = sorted((tmp_path / "out").glob("*/kustomize/overlays/*"))
    ours = {}
    from compiler.emit.variance import object_key

    for o in overlays:
        for obj in _internal_kustomize(o):
            ours[(f"{o.parts[-4]}/{o.name}", *object_key(obj))] = obj
    assert ours == via_kubectl and len(ours) > 20


def test_gitops_objects_and_plan_are_diffed(tmp_path: Path) -> None:
    """A changed Argo CD destination is an ApplicationSet change; the plan shows cost before -> after."""
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    assert mcompile("build", "profiles/tier2.yaml", cwd=tmp_path).code == 0
    shutil.copytree(tmp_path / "out", tmp_path / "old")
    p = tmp_path / "profiles" / "tier2.yaml"
    p.write_text(p.read_text().replace("https://prod-usw2.eks.acme.internal", "https://prod-usw2b.eks.acme.internal")
                 .replace("    autoscaling: {minReplicas: 2}", "    autoscaling: {minReplicas: 3}"))
    assert mcompile("build", "profiles/tier2.yaml", cwd=tmp_path).code == 0
    r = mcompile("diff", "--base", "old", "--format", "json", cwd=tmp_path)
    assert r.code == 1, r.stderr
    doc = json.loads(r.stdout)
    appsets = [c for c in doc["changes"] if c["kind"] == "ApplicationSet"]
    assert sorted((c["scope"], c["name"], c["change"]) for c in appsets) == [
        ("llama-70b/deploy/argocd", "llama-70b", "changed"), ("llama-70b/deploy/argocd", "llama-70b-gpu-operator", "changed")]
    assert all(any(f["after"] == "https://prod-usw2b.eks.acme.internal" for f in c["fields"]) for c in appsets)
    env = next(e for e in doc["plan"]["environments"] if e["scope"] == "llama-70b/prod")
    assert (env["before"]["gpus"], env["after"]["gpus"]) == (8, 12)
    assert env["after"]["costPerMonth"] > env["before"]["costPerMonth"] > 0
    total = doc["plan"]["total"]
    assert round(total["after"]["costPerMonth"] - total["before"]["costPerMonth"], 2) == round(env["after"]["costPerMonth"] - env["before"]["costPerMonth"], 2)
    changed = {(c["scope"], c["kind"], c["name"]) for c in doc["changes"] if c["change"] == "changed"}
    assert {("llama-70b/prod", "ScaledObject", "llama-70b"), ("llama-70b/prod", "NodePool", "llama-70b-burst")} <= changed
    assert doc["warnings"] == [] and doc["summary"]["changed"] == len(changed)
    text = mcompile("diff", "--base", "old", cwd=tmp_path).stdout
    assert "llama-70b/deploy/argocd:\n  ~ ApplicationSet argocd/llama-70b\n" in text
    assert "  llama-70b/prod: GPUs 8 (max 16) -> 12 (max 24); replicas serve 2..4 -> serve 3..6; $" in text


def test_base_without_output_is_a_warning(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "profiles only")
    assert mcompile("build", "profiles/tier1.yaml", cwd=tmp_path).code == 0
    r = mcompile("diff", "--base", "HEAD", cwd=tmp_path)
    assert r.code == 1
    assert r.stdout.startswith("warning: --base HEAD: out/ does not exist at HEAD; every object is reported as added\n")
    (tmp_path / "repo-root").mkdir()
    r = mcompile("diff", "--base", "repo-root", "--format", "markdown", cwd=tmp_path)
    assert "> **Warning:** --base repo-root: the directory holds no mcompile output" in r.stdout
    assert "mcompile: warning: --base repo-root" in r.stderr
