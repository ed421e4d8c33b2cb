"""mcompile diff: both sides rendered fully, a per-resource report with field-level changes."""

from __future__ import annotations

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
    assert md.startswith("### mcompile diff\n\n| environment | change | object | fields |")
    row = next(line for line in md.splitlines() if line.startswith("| llama-70b/prod | changed | ScaledObject inference-llama/llama-70b | "))
    assert "`spec.minReplicaCount`: `2` → `3`" in row


def test_diff_against_directory_and_new_profile(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    assert mcompile("build", "profiles/tier2.yaml", cwd=tmp_path).code == 0
    shutil.copytree(tmp_path / "out", tmp_path / "old")
    assert mcompile("build", "profiles/tier1.yaml", "profiles/tier2.yaml", cwd=tmp_path).code == 0  # the fleet: both
    r = mcompile("diff", "--base", "old", cwd=tmp_path)
    assert r.code == 1
    assert "qwen3-32b/prod:\n  + " in r.stdout and "llama-70b" not in r.stdout
    assert "Summary: " in r.stdout and " 0 removed, 0 changed" in r.stdout


def test_internal_kustomize_matches_kubectl(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    p = tmp_path / "profiles" / "tier2.yaml"
    p.write_text(p.read_text().replace("  dev:\n", "  dev:\n    network: {policy: false}\n"))
    assert mcompile("build", "profiles/tier2.yaml", "profiles/tier3.yaml", cwd=tmp_path).code == 0
    via_kubectl = render_tree(tmp_path / "out")
    overlays = sorted((tmp_path / "out").glob("*/kustomize/overlays/*"))
    ours = {}
    from compiler.emit.variance import object_key

    for o in overlays:
        for obj in _internal_kustomize(o):
            ours[(f"{o.parts[-4]}/{o.name}", *object_key(obj))] = obj
    assert ours == via_kubectl and len(ours) > 20
