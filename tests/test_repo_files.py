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


# --- the reusable workflow's scripts, run with bash against stand-ins for gh / pip -------------

WORKFLOW = REPO / ".github/workflows/mcompile.yml"


def _step(name: str) -> dict:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["check"]["steps"]
    return next(s for s in steps if s.get("name") == name)


def _run(step: dict, tmp_path: Path, env: dict[str, str], tools: dict[str, str]) -> tuple[int, str, str]:
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool, body in tools.items():
        (bin_dir / tool).write_text("#!/bin/bash\n" + body)
        (bin_dir / tool).chmod(0o755)
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    full = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(tmp_path / "out.txt"), "CALLS": str(tmp_path / "calls.txt"), **env}
    p = subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, env=full, capture_output=True, text=True, check=False)
    calls = (tmp_path / "calls.txt").read_text() if (tmp_path / "calls.txt").exists() else ""
    return p.returncode, p.stdout + p.stderr, calls


LOG = 'echo "$(basename "$0") $*" >> "$CALLS"\n'


def test_workflow_installs_a_pinned_mcompile_only(tmp_path: Path) -> None:
    step = _step("Install the pinned mcompile and the pinned CRDs")
    tools = {"python3": LOG, "mcompile": LOG}
    cases = [("", True, "mcompile==0.1.0"), ("git+https://github.com/acme/mcompile@v0.2.0", True, "@v0.2.0"),
             ("git+https://github.com/acme/mcompile@" + "a1" * 20, True, "a1a1"), ("git+https://github.com/acme/mcompile@main", False, ""),
             ("mcompile", False, ""), ("mcompile>=0.1", False, "")]
    for i, (spec, ok, installed) in enumerate(cases):
        d = tmp_path / str(i)
        d.mkdir()
        code, log, calls = _run(step, d, {"MCOMPILE_VERSION": "0.1.0", "MCOMPILE_SPEC": spec}, tools)
        assert (code == 0) == ok, (spec, log)
        if ok:
            assert "python3 -m pip install -q" in calls and installed in calls and "mcompile crds pull" in calls
        else:
            assert "must be pinned" in log and calls == ""
    assert "@main" not in WORKFLOW.read_text()


GH = LOG + 'if [ "$1 $2" = "api repos/acme/platform/issues/7/comments" ]; then echo "$FAKE_EXISTING"; fi\n'


def test_workflow_comments_once_and_only_when_something_changed(tmp_path: Path) -> None:
    step = _step("Post or update the diff comment")
    base = {"REPO": "acme/platform", "PR": "7", "CHECK_RC": "0"}

    def run(name: str, **env: str) -> tuple[str, str]:
        d = tmp_path / name
        d.mkdir()
        (d / "mcompile-diff.md").write_text("<!-- mcompile-diff -->\n### mcompile diff\n\n**1 changed**\n")
        (d / "mcompile-check.err").write_text("out/ is stale for llama-70b: run mcompile build profiles/tier2.yaml\n")
        code, log, calls = _run(step, d, {**base, "FAKE_EXISTING": "", **env}, {"gh": GH})
        assert code == 0, log
        writes = [c for c in calls.splitlines() if "-X" in c]
        return "\n".join(writes), (d / "body.md").read_text()

    writes, _ = run("new", CHANGED="true")
    assert writes == "gh api -X POST repos/acme/platform/issues/7/comments -F body=@body.md"
    writes, _ = run("update", CHANGED="true", FAKE_EXISTING="991")
    assert writes == "gh api -X PATCH repos/acme/platform/issues/comments/991 -F body=@body.md"  # one comment, updated
    writes, _ = run("quiet", CHANGED="false")
    assert writes == ""  # nothing changed: no comment
    writes, body = run("stale", CHANGED="false", CHECK_RC="1")
    assert writes.startswith("gh api -X POST")  # a failing check is still reported, with the diff
    assert body.splitlines()[:4] == ["<!-- mcompile-diff -->", "### mcompile diff", "",
                                     "> **mcompile check failed:** out/ is stale for llama-70b: run mcompile build profiles/tier2.yaml"]
    assert "**1 changed**" in body


def test_workflow_reports_the_diff_when_check_fails() -> None:
    check, diff, last = _step("out/ matches the profiles"), _step("Diff against the base branch"), _step("Fail when out/ is stale")
    assert check["run"].rstrip().splitlines()[-1].startswith("exit 0")  # the check's result waits for the diff
    assert diff["if"].startswith("always()") and "--json-file" in diff["run"]
    assert "always()" in last["if"] and 'exit "${CHECK_RC:-1}"' in last["run"]


def test_readme_counts_the_rules_and_lists_every_shipped_profile() -> None:
    import re

    from compiler.verify.rules import RULES

    readme = (REPO / "README.md").read_text()
    (count,) = re.findall(r"then (\d+) semantic rules across objects", readme)
    assert int(count) == len(RULES)
    for profile in sorted((REPO / "profiles").glob("*.yaml")):
        assert f"| `profiles/{profile.name}` |" in readme, f"{profile.name} is missing from the README's profile table"


def test_the_workflows_keep_the_user_cache_where_mcompile_writes_it(tmp_path: Path, monkeypatch) -> None:
    """Each job that installs mcompile restores ~/.cache/mcompile before it pulls the CRDs: the
    directory the compiled schema checks and CEL programs (schema_cache) and the pulled CRDs
    (crd_sources) live in when $XDG_CACHE_HOME is unset, as on a hosted runner; keyed by the
    installed version. Without it every CI run recompiles them (~1 s per run)."""
    from compiler import usercache
    from compiler.verify import crd_sources, schema_cache

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    usercache._writable.cache_clear()
    try:
        checks = schema_cache.cache_dir()
    finally:
        usercache._writable.cache_clear()
    jobs = 0
    for name in ("mcompile.yml", "mcompile-shards.yml"):
        workflow = yaml.safe_load((REPO / ".github/workflows" / name).read_text())
        for job in workflow["jobs"].values():
            steps = job["steps"]
            pulls = [i for i, s in enumerate(steps) if "mcompile crds pull" in s.get("run", "")]
            if not pulls:
                continue
            jobs += 1
            caches = [i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/cache@")]
            assert caches and caches[0] < pulls[0], f"{name}: no user cache restored before `crds pull`"
            step = steps[caches[0]]["with"]
            where = Path(step["path"].replace("~", str(tmp_path), 1))
            assert where == checks and crd_sources.user_cache_dir().is_relative_to(where)
            assert "inputs.mcompile-version" in step["key"]
    assert jobs == 3  # mcompile.yml's check, the shards and their final job
