"""Planner findings reach every command: validate and build print the plan's warnings (located,
tagged with their environments), and --strict turns them into errors (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

from tests.clirun import mcompile

REPO = Path(__file__).resolve().parents[1]
#: 400 RPS in dev, where maxReplicas is 1: the planner warns that the cap cannot serve it.
WARN = ("--set", "workload.targetRPS=400")


def test_validate_prints_warnings_and_still_passes() -> None:
    r = mcompile("validate", str(REPO / "profiles" / "tier2.yaml"), *WARN)
    assert r.code == 0, r.stderr
    assert "$.autoscaling.maxReplicas: [dev] warning: serve: maxReplicas 1 cannot serve 400 RPS" in r.stderr
    assert "tier2.yaml: ok" in r.stdout


def test_validate_strict_makes_warnings_errors() -> None:
    r = mcompile("validate", "--strict", str(REPO / "profiles" / "tier2.yaml"), *WARN)
    assert r.code == 2
    assert "warning: serve: maxReplicas 1 cannot serve 400 RPS" in r.stderr and "ok" not in r.stdout


def test_build_prints_warnings_and_strict_refuses_writing_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = mcompile("build", "--out", str(out), str(REPO / "profiles" / "tier2.yaml"), *WARN)
    assert r.code == 0, r.stderr
    assert "[dev] warning: serve: maxReplicas 1 cannot serve 400 RPS" in r.stderr
    strict_out = tmp_path / "strict"
    r = mcompile("build", "--strict", "--out", str(strict_out), str(REPO / "profiles" / "tier2.yaml"), *WARN)
    assert r.code == 2 and "cannot serve 400 RPS" in r.stderr
    assert not strict_out.exists() or not any(strict_out.rglob("*.yaml"))


def test_shipped_profiles_are_strict_clean(tmp_path: Path) -> None:
    profiles = [str(p) for p in sorted((REPO / "profiles").glob("*.yaml"))]
    r = mcompile("validate", "--strict", *profiles)
    assert r.code == 0 and "warning" not in r.stderr, r.stderr
    r = mcompile("build", "--strict", "--out", str(tmp_path / "out"), *profiles)
    assert r.code == 0 and "warning" not in r.stderr, r.stderr
