"""The files users copy: workflows and the pre-commit hook parse and call real commands."""

from __future__ import annotations

from pathlib import Path

import yaml

from .clirun import mcompile

REPO = Path(__file__).resolve().parents[1]


def test_workflows_parse_and_call_real_commands() -> None:
    ci = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    steps = [s.get("run", "") for s in ci["jobs"]["test"]["steps"]]
    assert any("scripts/test" in s for s in steps) and any("mcompile check" in s for s in steps)
    reusable = yaml.safe_load((REPO / ".github/workflows/mcompile.yml").read_text())
    assert "workflow_call" in reusable[True]  # YAML 1.1 reads the key `on` as true
    runs = "\n".join(s.get("run", "") for s in reusable["jobs"]["check"]["steps"])
    for command in ("mcompile crds pull", "mcompile check", "mcompile diff --base", "--format markdown"):
        assert command in runs
    for sub in (["crds", "pull", "--help"], ["check", "--help"], ["diff", "--help"]):
        assert mcompile(*sub).code == 0


def test_pre_commit_hook_runs_check() -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "mcompile check" and hook["pass_filenames"] is False
