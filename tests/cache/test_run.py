"""The build cache end to end (real CLI, real profiles, real CRDs): the same bytes with and without
it, and every key input invalidates. Each test would pass with a wrong key only if it read a
stale entry, and then its output (or its exit code) would differ from an uncached build."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import compiler

from ..clirun import mcompile, mcompile_proc
from ..conftest import find_crd_dirs
from ..shipped import REPO


def tree(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "lock" and ".mcompile/stage" not in p.as_posix()}


def hits(stderr: str) -> tuple[int, int]:
    m = re.search(r"cache: (\d+) hits, (\d+) misses", stderr)
    assert m, stderr
    return int(m.group(1)), int(m.group(2))


@pytest.fixture()
def project(tmp_path) -> Path:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    return tmp_path


def profiles(project: Path) -> list[str]:
    return sorted(p.relative_to(project).as_posix() for p in (project / "profiles").glob("*.yaml"))


def build(project: Path, *extra: str, out: str = "out") -> str:
    r = mcompile("build", *profiles(project), "--out", out, "--timings", "--jobs", "1", *extra, cwd=project)
    assert r.code == 0, r.stderr
    return r.stderr


def reference(project: Path, *extra: str) -> dict[str, str]:
    """An uncached build of the same inputs, in its own output directory."""
    shutil.rmtree(project / "ref", ignore_errors=True)
    build(project, "--no-cache", *extra, out="ref")
    return tree(project / "ref")


def test_cached_builds_equal_an_uncached_build_for_every_shipped_profile(project) -> None:
    n = len(profiles(project))
    ref = reference(project)
    assert not (project / ".mcompile-cache").exists()  # --no-cache reads and writes none
    assert hits(build(project)) == (0, n)  # cold: compiled and stored
    assert tree(project / "out") == ref
    shutil.rmtree(project / "out")
    assert hits(build(project)) == (n, 0)  # warm, fresh out/: every file from the cache
    assert tree(project / "out") == ref
    r = mcompile("build", *profiles(project), cwd=project)  # no-op
    assert r.code == 0 and all(", 0 deleted" in line and line.split(": ")[1].startswith("0 written") for line in r.stdout.splitlines()), r.stdout
    assert tree(project / "out") == ref
    assert (project / ".mcompile-cache" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_one_changed_profile_is_the_only_one_compiled(project) -> None:
    n = len(profiles(project))
    build(project)
    p = project / "profiles" / "tier1.yaml"
    p.write_text(p.read_text().replace("maxReplicas: 2}", "maxReplicas: 3}"))
    assert hits(build(project)) == (n - 1, 1)
    assert tree(project / "out") == reference(project)


def test_a_changed_crd_file_invalidates(project, monkeypatch) -> None:
    dirs = []
    for i, d in enumerate(find_crd_dirs()):
        shutil.copytree(d, project / f"crds{i}")
        dirs.append(project / f"crds{i}")
    monkeypatch.setenv("MCOMPILE_CRDS", os.pathsep.join(map(str, dirs)))
    build(project)
    crd = next(dirs[0].rglob("karpenter.sh_nodepools.yaml"))
    crd.write_text(crd.read_text().replace("kind: NodePool\n", "kind: RenamedPool\n"))
    r = mcompile_proc("build", *profiles(project), cwd=project)  # a new process: no CRDs loaded in memory before the edit
    assert r.code == 2 and "no CRD for karpenter.sh/v1 NodePool" in r.stderr, r.stderr


def test_a_changed_override_invalidates(project) -> None:
    override = project / "o.yaml"
    override.write_text("autoscaling: {cooldownPeriod: 420}\n")
    build(project, "-f", "o.yaml")
    assert any(b"cooldownPeriod: 420" in p.read_bytes() for p in (project / "out").rglob("*.yaml"))
    override.write_text("autoscaling: {cooldownPeriod: 480}\n")
    assert hits(build(project, "-f", "o.yaml"))[0] == 0
    assert tree(project / "out") == reference(project, "-f", "o.yaml")
    assert any(b"cooldownPeriod: 480" in p.read_bytes() for p in (project / "out").rglob("*.yaml"))


def test_a_set_flag_is_part_of_the_key(project) -> None:
    build(project, "--set", "autoscaling.cooldownPeriod=420")
    assert hits(build(project, "--set", "autoscaling.cooldownPeriod=480"))[0] == 0
    assert tree(project / "out") == reference(project, "--set", "autoscaling.cooldownPeriod=480")


def test_the_tool_version_and_mcompile_environment_invalidate(project, monkeypatch) -> None:
    n = len(profiles(project))
    build(project)
    monkeypatch.setattr(compiler, "__version__", "99.0.0", raising=False)
    assert hits(build(project)) == (0, n)
    monkeypatch.setenv("MCOMPILE_SOME_FUTURE_SWITCH", "on")
    assert hits(build(project)) == (0, n)
    assert hits(build(project)) == (n, 0)


def test_a_changed_defaults_file_invalidates(project) -> None:
    """A copy of the package run as `python -m compiler`: editing its tier defaults changes the
    output of the next build over the same cache."""
    pkg = project / "pkg"
    shutil.copytree(REPO / "compiler", pkg / "compiler", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "schemas", pkg / "schemas")
    env = {**os.environ, "PYTHONPATH": str(pkg)}

    def run() -> None:
        p = subprocess.run([sys.executable, "-m", "compiler", "build", *profiles(project), "--jobs", "1"], cwd=project, env=env,
                           capture_output=True, text=True, timeout=300, check=False)
        assert p.returncode == 0, p.stderr

    run()
    assert not any(b"cooldownPeriod: 301" in p.read_bytes() for p in (project / "out").rglob("*.yaml"))
    defaults = pkg / "compiler" / "defaults" / "common.yaml"
    defaults.write_text(defaults.read_text().replace("cooldownPeriod: 300", "cooldownPeriod: 301"))
    run()
    assert any(b"cooldownPeriod: 301" in p.read_bytes() for p in (project / "out").rglob("*.yaml"))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "payload", "partial-copy", "stray-temp"])
def test_damaged_entries_are_ignored_and_rebuilt(project, damage) -> None:
    n = len(profiles(project))
    ref = reference(project)
    build(project)
    entries = [p for p in (project / ".mcompile-cache" / "v1").rglob("*") if p.is_file() and p.parent.parent.name in ("profile", "fleet")]
    assert len(entries) == n + 1
    for e in entries:
        data = e.read_bytes()
        if damage == "garbage":
            e.write_bytes(os.urandom(len(data)))
        elif damage == "truncated":
            e.write_bytes(data[: len(data) // 2])
        elif damage == "payload":  # the header is intact: found only when the bytes are read
            e.write_bytes(data[:-10] + bytes(b ^ 1 for b in data[-10:]))
        elif damage == "partial-copy":  # a concurrent non-atomic copy caught half-way
            e.write_bytes(data[: len(data) - 1000])
        else:  # a writer killed before its rename: the temporary file beside an intact entry
            (e.parent / f".{e.name}.0123456789abcdef.tmp").write_bytes(data[:100])
    shutil.rmtree(project / "out")
    stderr = build(project)
    assert tree(project / "out") == ref
    if damage == "stray-temp":
        assert hits(stderr) == (n, 0)
    else:
        assert hits(stderr)[1] == n and "corrupt ignored" in stderr, stderr  # every profile compiled again
        assert hits(build(project, out="out2")) == (n, 0)  # rebuilt entries are intact again
        assert tree(project / "out2") == {k.replace("out/", "out2/"): v for k, v in ref.items()}


def test_a_hand_edit_that_keeps_size_and_mtime_is_still_seen(project) -> None:
    build(project)
    target = project / "out" / "llama-70b" / "chart" / "values.yaml"
    st = target.stat()
    data = target.read_bytes()
    target.write_bytes(data.replace(b"a", b"b", 1))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert mcompile("check", *profiles(project), cwd=project).code == 1
    r = mcompile("build", *profiles(project), cwd=project)
    assert "llama-70b: 1 written" in r.stdout, r.stdout
    assert target.read_bytes() == data


def test_an_unusable_cache_directory_only_costs_time(project) -> None:
    ref = reference(project)
    r = mcompile("build", *profiles(project), "--cache-dir", "/proc/no-such-cache", cwd=project)
    assert r.code == 0, r.stderr
    assert tree(project / "out") == ref
