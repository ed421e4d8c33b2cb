"""``build``/``check --shard K/N``: a stable assignment, and N shards merged equal one unsharded build."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from bench.fleet import write_fleet
from compiler.build import parse_shard, shard_of

from .clirun import mcompile

N = 3


def tree(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "lock" and "/stage/" not in p.as_posix()}


def test_parse_shard() -> None:
    assert parse_shard("1/1") == (1, 1) and parse_shard("3/8") == (3, 8)
    for bad in ("0/3", "4/3", "3", "a/b", "-1/3", "1/0", ""):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_assignment_is_stable_when_profiles_are_added_or_reordered() -> None:
    names = [f"profiles/p{i:04d}.yaml" for i in range(200)]
    first = {n: shard_of(n, 8) for n in names[:120]}
    assert {n: shard_of(n, 8) for n in reversed(names)} | first == {n: shard_of(n, 8) for n in names}  # added ones move nobody
    assert set(first.values()) == set(range(1, 9))  # every shard gets work
    counts = [list(first.values()).count(k) for k in range(1, 9)]
    assert max(counts) <= 3 * min(counts)  # spread, not all on one machine


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> tuple[Path, list[str], dict[str, str]]:
    """Six generated profiles and their unsharded, uncached build."""
    root = tmp_path_factory.mktemp("shards")
    paths = [p.relative_to(root).as_posix() for p in write_fleet(root / "profiles", 6)]
    r = mcompile("build", *paths, "--no-cache", "--out", "ref", "--jobs", "1", cwd=root)
    assert r.code == 0, r.stderr
    assert len({shard_of(p, N) for p in paths}) > 1  # the test shards for real
    return root, paths, tree(root / "ref")


def test_shards_on_separate_machines_merge_into_the_unsharded_bytes(fleet) -> None:
    root, paths, ref = fleet
    merged = root / "merged-cache"
    for k in range(1, N + 1):
        r = mcompile("build", *paths, "--shard", f"{k}/{N}", "--out", f"out-{k}", "--cache-dir", f"cache-{k}", "--jobs", "1", cwd=root)
        assert r.code == 0, r.stderr
        mine = {mcompile_name(root, p) for p in paths if shard_of(p, N) == k}
        assert {line.split(":")[0] for line in r.stdout.splitlines()} == mine  # only its profiles; no _platform
        assert not (root / f"out-{k}" / "_platform").exists()
        shutil.copytree(root / f"cache-{k}", merged, dirs_exist_ok=True)  # what downloading every shard's artifact does
    r = mcompile("build", *paths, "--out", "out", "--cache-dir", str(merged), "--timings", "--jobs", "1", cwd=root)
    assert r.code == 0, r.stderr
    assert re.search(rf"cache: {len(paths)} hits, 0 misses", r.stderr), r.stderr  # the final run compiles nothing
    assert tree(root / "out") == ref


def test_shards_into_one_output_directory_then_the_unsharded_run(fleet) -> None:
    root, paths, ref = fleet
    for k in range(1, N + 1):
        assert mcompile("build", *paths, "--shard", f"{k}/{N}", "--out", "one", "--jobs", "1", cwd=root).code == 0
    assert mcompile("build", *paths, "--out", "one", "--jobs", "1", cwd=root).code == 0
    assert tree(root / "one") == {k: v for k, v in ref.items()}
    for k in range(1, N + 1):  # and each shard's check passes on the merged tree
        r = mcompile("check", *paths, "--shard", f"{k}/{N}", "--out", "one", "--jobs", "1", cwd=root)
        assert r.code == 0, r.stdout + r.stderr
    victim = next(p for p in paths if shard_of(p, N) == 2)
    name = mcompile_name(root, victim)
    (root / "one" / name / "plan.json").write_text("{}\n")
    codes = {k: mcompile("check", *paths, "--shard", f"{k}/{N}", "--out", "one", "--jobs", "1", cwd=root).code for k in range(1, N + 1)}
    assert codes == {k: 1 if k == 2 else 0 for k in range(1, N + 1)}


def mcompile_name(root: Path, path: str) -> str:
    m = re.search(r"^metadata:\s*\n\s+name:\s*(\S+)", (root / path).read_text(), re.MULTILINE)
    assert m
    return m.group(1)


def test_the_reusable_shard_workflow_runs_real_commands(tmp_path) -> None:
    """The matrix workflow's own scripts, run with bash and the real mcompile on the shipped profiles:
    every shard's check, then the final check over the merged caches, all pass on a built out/."""
    import os
    import subprocess
    import sys

    import yaml

    from .clirun import mcompile as run_cli

    repo = Path(__file__).resolve().parents[1]
    flow = yaml.safe_load((repo / ".github/workflows/mcompile-shards.yml").read_text())
    assert "workflow_call" in flow[True] and flow["jobs"]["shard"]["strategy"]["matrix"]["k"]
    shutil.copytree(repo / "profiles", tmp_path / "profiles")
    assert run_cli("build", *sorted(f"profiles/{p.name}" for p in (tmp_path / "profiles").glob("*.yaml")), "--no-cache", cwd=tmp_path).code == 0
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(tmp_path / "gh-out"),
           "PROFILES": "profiles/*.yaml", "OUT": "out", "N": "2"}

    def step(job: str, name: str, **extra: str) -> None:
        script = next(s["run"] for s in flow["jobs"][job]["steps"] if s.get("name", "").startswith(name))
        p = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True, timeout=600, check=False)
        assert p.returncode == 0, p.stdout + p.stderr

    plan = flow["jobs"]["plan"]["steps"][0]["run"]
    subprocess.run(["bash", "-e", "-c", plan], env=env, check=True)
    assert (tmp_path / "gh-out").read_text().strip() == "shards=[1, 2]"
    for k in ("1", "2"):
        step("shard", "Check shard", K=k)
        if (tmp_path / "mcompile-cache").exists():  # a shard may hold none of the three profiles
            shutil.copytree(tmp_path / "mcompile-cache", tmp_path / "merged", dirs_exist_ok=True)  # upload + download-artifact
            shutil.rmtree(tmp_path / "mcompile-cache")
    (tmp_path / "merged").rename(tmp_path / "mcompile-cache")
    step("merge", "The whole out/")
