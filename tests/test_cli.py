"""The command surface: validate, explain, schema, exit codes."""

from __future__ import annotations

import json

from .clirun import mcompile, mcompile_proc


def test_validate_shipped_profiles(repo) -> None:
    r = mcompile("validate", "profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml", cwd=repo)
    assert r.code == 0, r.stderr
    # Every environment of every profile and the platform of every cluster (the fleet stage), as build.
    lines = r.stdout.splitlines()
    assert [line.split("; ")[0] for line in lines] == [
        "profiles/tier1.yaml: ok (prod, staging",
        "profiles/tier2.yaml: ok (dev, prod",
        "profiles/tier3.yaml: ok (prod",
        "platform: ok (dev-use1, prod-use1, prod-use1-hpc, prod-usw2, staging-use1",
    ]
    assert all(line.endswith(" files verified)") for line in lines), lines
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
    assert by_path["$.autoscaling.minReplicas"] == "profiles/tier2.yaml:65:19 (environment prod)"
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


def test_version(repo) -> None:
    from compiler import __version__

    r = mcompile_proc("--version", cwd=repo)
    assert r.code == 0 and r.stdout == f"mcompile {__version__}\n" and __version__[0].isdigit()


def test_read_only_commands_do_not_say_nothing_written(repo, tmp_path) -> None:
    r = mcompile("validate", "profiles/tier2.yaml", "--set", "autoscaling.minReplicas=-1", cwd=repo)
    assert r.code == 2 and r.stderr.splitlines()[-1] == "mcompile: 1 error"
    r = mcompile("explain", "profiles/tier2.yaml", "-e", "prod", "--set", "autoscalng.minReplicas=1", cwd=repo)
    assert r.code == 2 and r.stderr.splitlines()[-1] == "mcompile: 1 error"
    r = mcompile("build", str(repo / "profiles/tier2.yaml"), "--out", str(tmp_path / "out"), "--set", "autoscaling.minReplicas=-1")
    assert r.code == 2 and r.stderr.splitlines()[-1] == "mcompile: 1 error, nothing written"


def test_explain_lists_leaves_in_profile_order(repo) -> None:
    r = mcompile("explain", "profiles/tier2.yaml", "--env", "prod", cwd=repo)
    tops = []
    for line in r.stdout.splitlines()[1:]:
        top = line.split(" = ")[0].removeprefix("$.").split(".")[0].split("[")[0]
        if top not in tops:
            tops.append(top)
    assert tops[:6] == ["apiVersion", "kind", "metadata", "tier", "model", "workload"]
    assert tops.index("serving") < tops.index("capacity") < tops.index("autoscaling")


def test_typos_and_missing_keys_of_every_layer_in_one_round(repo, tmp_path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text((repo / "profiles/tier2.yaml").read_text().replace("\nworkload:", "\nwrkload:", 1))
    r = mcompile("validate", str(p), "--set", "autoscalng.minReplicas=3")
    assert r.code == 2
    messages = [line.split(": ", 2)[-1] for line in r.stderr.splitlines()[:-1]]
    assert "unknown key 'wrkload' (did you mean 'workload'?)" in messages
    assert "unknown key 'autoscalng' (did you mean 'autoscaling'?)" in messages
    assert "missing required key 'workload'" in messages  # shown now, not after the typo is fixed


def test_set_selector_typo_gets_a_suggestion(repo) -> None:
    r = mcompile("validate", "profiles/tier2.yaml", "--set", "capacity.pools[brst].weight=3", "--set", "serving.imge.tag=x", cwd=repo)
    assert r.code == 2
    assert "no item named 'brst' in capacity.pools (items: baseline, burst) (did you mean [burst]?)" in r.stderr
    assert "unknown key 'imge' (did you mean 'image'?)" in r.stderr


def test_validate_json(repo, tmp_path) -> None:
    r = mcompile("validate", "profiles/tier1.yaml", "--format", "json", cwd=repo)
    doc = json.loads(r.stdout)
    assert r.code == 0 and doc["ok"] is True and doc["errors"] == []
    text = mcompile("validate", "profiles/tier1.yaml", cwd=repo).stdout  # "...: ok (prod, staging; N files verified)"
    files = int(text.split("; ")[1].split(" ")[0])
    assert doc["profiles"] == [{"profile": "profiles/tier1.yaml", "environments": ["prod", "staging"], "files": files}]
    r = mcompile("validate", "profiles/tier2.yaml", "--format", "json", "--set", "autoscaling.minReplicas=-1", cwd=repo)
    doc = json.loads(r.stdout)
    assert r.code == 2 and doc["ok"] is False
    assert [(e["file"], e["line"], e["path"]) for e in doc["errors"]] == [("--set", 1, "$.autoscaling.minReplicas")]
    assert "out of range" in doc["errors"][0]["message"]


def test_crd_sources_chosen_explicitly_must_be_usable(repo, tmp_path) -> None:
    r = mcompile("validate", "profiles/tier1.yaml", "--crds", "/nonexistent", cwd=repo)
    assert r.code == 2 and "--crds:1:1: $: --crds: not found: /nonexistent" in r.stderr
    (tmp_path / "none").mkdir()
    r = mcompile("validate", "profiles/tier1.yaml", "--crds", str(tmp_path / "none"), cwd=repo)
    assert r.code == 2 and "no CustomResourceDefinition" in r.stderr
    import os
    import subprocess
    import sys

    env = {**os.environ, "MCOMPILE_CRDS": "/nonexistent"}
    p = subprocess.run([sys.executable, "-m", "compiler", "validate", str(repo / "profiles/tier1.yaml")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "$MCOMPILE_CRDS: not found: /nonexistent" in p.stderr
    env.pop("MCOMPILE_CRDS")
    p = subprocess.run([sys.executable, "-m", "compiler", "validate", "profiles/tier1.yaml"], cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert p.returncode == 0 and "CRDs from the development checkout " in p.stderr, p.stderr
    p = subprocess.run([sys.executable, "-m", "compiler", "validate", str(repo / "profiles/tier1.yaml")], cwd=tmp_path, env={**env, "XDG_CACHE_HOME": str(tmp_path)},
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0 and "no CRD files found" in p.stderr and "development checkout" not in p.stderr.split("looked in")[0]


def test_unwritable_output_directory_is_a_usage_error(repo) -> None:
    """An --out that cannot be created (here inside /proc, unwritable even for root) is exit 2 with
    a located message, not an internal error."""
    r = mcompile("build", "profiles/tier1.yaml", "--out", "/proc/mcompile-out", cwd=repo)
    assert r.code == 2, r.stderr
    assert "/proc/mcompile-out:1:1: $: cannot write the output directory:" in r.stderr
    assert "internal error" not in r.stderr
