"""The command surface: validate, explain, schema, exit codes."""

from __future__ import annotations

import json

from .clirun import mcompile, mcompile_proc


def test_validate_shipped_profiles(repo) -> None:
    r = mcompile("validate", "profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml", cwd=repo)
    assert r.code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "profiles/tier1.yaml: ok (prod, staging; 52 objects verified)",
        "profiles/tier2.yaml: ok (dev, prod; 70 objects verified)",
        "profiles/tier3.yaml: ok (prod; 48 objects verified)",
    ]
    assert r.stderr == "mcompile: not schema-checked (no public CRD): NodeClass (eks.amazonaws.com/v1)\n"


def test_validate_reports_verifier_findings_located(repo, tmp_path) -> None:
    """A --set that breaks an invariant across objects is caught by validate with the profile line."""
    r = mcompile("validate", str(repo / "profiles/tier2.yaml"), "--env", "prod", "--set", "capacity.pools[baseline].limits.gpus=4", "--set", "capacity.pools[burst].limits.gpus=8", "--set", "autoscaling.maxReplicas=4")
    assert r.code == 2
    assert "pool-gpu-limits" in r.stderr and "--set:1:" in r.stderr


def test_allow_kind_syntax_is_checked(repo) -> None:
    r = mcompile("validate", "profiles/tier1.yaml", "--allow-kind", "Widget", cwd=repo)
    assert r.code == 2 and "expected apiVersion/Kind" in r.stderr


def test_explain_shows_every_leaf_with_its_source(repo) -> None:
    r = mcompile("explain", "profiles/tier2.yaml", "--env", "prod", cwd=repo)
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()[1:]
    assert lines and all("  # " in line for line in lines)
    by_path = {line.split(" = ")[0]: line.split("  # ")[-1] for line in lines}
    assert by_path["$.autoscaling.minReplicas"] == "profiles/tier2.yaml:63:19 (environment prod)"
    assert by_path["$.serving.engine"].startswith("compiler/defaults/common.yaml:")
    assert by_path["$.model.id"] == "profiles/tier2.yaml:12:3 (profile)"
    assert "$.environments" not in " ".join(by_path)


def test_explain_subtree_and_set(repo) -> None:
    r = mcompile("explain", "profiles/tier2.yaml", "serving.image", "--env", "dev", "--set", "serving.image.tag=v0.28.1", cwd=repo)
    assert r.code == 0, r.stderr
    assert [line.split("  #")[0].strip() for line in r.stdout.splitlines()[1:]] == [
        '$.serving.image.repository = "vllm/vllm-openai"',
        '$.serving.image.tag = "v0.28.1"',
        '$.serving.image.pullPolicy = "IfNotPresent"',
    ]
    assert r.stdout.splitlines()[2].endswith("# --set:1:19 (--set)")


def test_explain_needs_env_when_several(repo) -> None:
    r = mcompile("explain", "profiles/tier2.yaml", cwd=repo)
    assert r.code == 2
    assert "choose one with --env" in r.stderr


def test_schema_json_and_markdown(repo) -> None:
    r = mcompile("schema")
    assert json.loads(r.stdout)["title"] == "mcompile InferenceProfile"
    md = mcompile("schema", "--markdown").stdout
    assert "| `capacity.pools` | array |" in md and "merged by `name`" in md


def test_usage_error_exits_2_and_unimplemented_is_explicit(repo) -> None:
    assert mcompile_proc("validate", "--bogus", cwd=repo).code == 2
    r = mcompile_proc("--help", cwd=repo)
    assert r.code == 0 and "Exit codes: 0 ok, 1 check/diff found differences, 2 input" in r.stdout
