"""build and check end to end on the shipped profiles: writing, ownership, staleness, determinism."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .clirun import mcompile
from .shipped import only_tiers

REPO = Path(__file__).resolve().parents[1]
TIERS = ["profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml"]
PROFILES = TIERS  # the project copies only the tiers (only_tiers): `check` without arguments checks every profile it finds


def tree(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "lock"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user repository: profiles/ and a built out/."""
    root = tmp_path_factory.mktemp("proj")
    shutil.copytree(REPO / "profiles", root / "profiles", ignore=only_tiers)
    r = mcompile("build", *PROFILES, cwd=root)
    assert r.code == 0, r.stderr
    return root


def test_build_writes_then_rebuild_writes_nothing(project: Path) -> None:
    files = tree(project / "out")
    assert len(files) > 100
    r = mcompile("build", *PROFILES, cwd=project)
    assert r.code == 0, r.stderr
    assert [line.split(": ", 1)[1].split(",")[:2] for line in r.stdout.splitlines()] == [["0 written", " 0 deleted"]] * (len(PROFILES) + 1)  # the profiles + _platform
    assert tree(project / "out") == files


def test_out_layout_has_one_chart_or_kustomization_per_synced_dir(project: Path) -> None:
    out = project / "out"
    for name in ("qwen3-32b", "llama-70b", "glm-5"):
        assert (out / name / "chart" / "Chart.yaml").is_file()
        assert (out / name / "kustomize" / "base" / "kustomization.yaml").is_file()
    for d in out.rglob("*"):
        if d.is_dir():
            markers = {(d / m).is_file() for m in ("Chart.yaml", "kustomization.yaml")}
            assert markers != {True}, f"{d} has both Chart.yaml and kustomization.yaml"
    synced_plain = [out / "llama-70b" / "deploy" / "argocd", *(out / "glm-5" / "deploy" / "flux").iterdir()]
    for d in synced_plain:
        assert all(p.suffix == ".yaml" and p.is_file() for p in d.iterdir()), d
    assert (out / ".mcompile" / "manifest.json").is_file()


def test_headers_name_the_profile_relative_to_the_repo(project: Path) -> None:
    text = (project / "out" / "llama-70b" / "kustomize" / "base" / "kustomization.yaml").read_text()
    assert text.startswith("# Source: profiles/tier2.yaml\n")
    assert str(project) not in "".join(p.read_text() for p in (project / "out").rglob("*.yaml"))


def test_check_clean_then_stale_then_extra(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project, work)
    assert mcompile("check", cwd=work).code == 0
    target = work / "out" / "llama-70b" / "kustomize" / "base" / "service-llama-70b.yaml"
    target.write_text(target.read_text().replace("port: 8000", "port: 8001"))
    r = mcompile("check", cwd=work)
    assert r.code == 1
    assert "llama-70b: changed: llama-70b/kustomize/base/service-llama-70b.yaml" in r.stdout
    assert "\n-      port: 8001\n+      port: 8000\n" in r.stdout  # the short unified diff
    # A profile change that drops objects leaves extra owned files until the next build.
    mcompile("build", *PROFILES, cwd=work)
    (work / "profiles" / "tier2.yaml").write_text((work / "profiles" / "tier2.yaml").read_text() + "network: {policy: false}\n")
    r = mcompile("check", "profiles/tier2.yaml", cwd=work)
    assert r.code == 1 and "llama-70b: extra: llama-70b/kustomize/base/networkpolicy-llama-70b-allow-http.yaml" in r.stdout
    r = mcompile("build", "profiles/tier2.yaml", cwd=work)
    assert r.code == 0 and " deleted" in r.stdout and not (work / "out/llama-70b/kustomize/base/networkpolicy-llama-70b-allow-http.yaml").exists()


def test_unowned_files_are_never_touched(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project, work)
    mine = work / "out" / "llama-70b" / "NOTES-by-hand.md"
    mine.write_text("mine\n")
    assert mcompile("build", *PROFILES, cwd=work).code == 0
    assert mine.read_text() == "mine\n"
    # An unowned file where mcompile wants to write: refused, nothing written.
    (work / "out" / "llama-70b" / "chart" / "values-dev.yaml").unlink()
    manifest = work / "out" / ".mcompile" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"llama-70b/chart/values-dev.yaml"', '"llama-70b/chart/values-dev-gone.yaml"'))
    (work / "out" / "llama-70b" / "chart" / "values-dev.yaml").write_text("by hand\n")
    before = tree(work / "out")
    r = mcompile("build", *PROFILES, cwd=work)
    assert r.code == 2 and "unowned" in r.stderr
    assert tree(work / "out") == before


def test_hand_edited_file_no_longer_produced_is_kept_and_reported(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project, work)
    base = work / "out" / "llama-70b" / "kustomize" / "base"
    edited = base / "networkpolicy-llama-70b-allow-http.yaml"
    edited.write_text(edited.read_text() + "# reviewed by hand\n")
    r = mcompile("build", *PROFILES, "--set", "network.policy=false", cwd=work)
    assert r.code == 0, r.stderr
    assert "llama-70b: " in r.stdout and r.stdout.split("llama-70b: ", 1)[1].splitlines()[0].endswith(", 1 kept")
    assert "mcompile: llama-70b/kustomize/base/networkpolicy-llama-70b-allow-http.yaml: modified by hand, left in place" in r.stderr
    assert edited.read_text().endswith("# reviewed by hand\n")
    assert not (base / "networkpolicy-llama-70b-default-deny.yaml").exists()


def test_bad_input_leaves_out_byte_identical(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project, work)
    before = tree(work / "out")
    (work / "profiles" / "tier2.yaml").write_text((work / "profiles" / "tier2.yaml").read_text().replace("tensor: 4", "tensor: 3"))
    r = mcompile("build", *PROFILES, cwd=work)
    assert r.code == 2 and "profiles/tier2.yaml:" in r.stderr and "Traceback" not in r.stderr
    assert tree(work / "out") == before


def test_two_profiles_may_not_render_the_same_object(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project, work)
    (work / "profiles" / "tier1.yaml").write_text((work / "profiles" / "tier1.yaml").read_text().replace("inference-qwen3", "inference-llama"))
    r = mcompile("build", *PROFILES, cwd=work)
    assert r.code == 2
    # Both land on cluster prod-use1: the per-cluster collision check of the fleet stage names both.
    assert ("Namespace inference-llama on cluster prod-use1 is also rendered by qwen3-32b (profiles/tier1.yaml)" in r.stderr
            or "Namespace inference-llama on cluster prod-use1 is also rendered by llama-70b (profiles/tier2.yaml)" in r.stderr), r.stderr


def _build_proc(cwd: Path, out: str, profiles: list[str], seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    p = subprocess.run([sys.executable, "-m", "compiler", "build", *profiles, "--out", out], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stderr


def test_output_is_byte_identical_across_runs_cwd_and_hash_seed(project: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(project / "profiles", a / "profiles")
    shutil.copytree(project / "profiles", b / "profiles")
    _build_proc(a, "out", PROFILES, "0")
    _build_proc(b / "profiles", "../out", [p.removeprefix("profiles/") for p in PROFILES], "4242")
    assert tree(a / "out") == tree(b / "out") == tree(project / "out")
    _build_proc(a, "out", PROFILES, "77")  # a second run: nothing changes
    assert tree(a / "out") == tree(project / "out")


# --- parallel builds (--jobs) ------------------------------------------------------------------

def test_jobs_give_byte_identical_files_in_the_same_order() -> None:
    from compiler.build import build_files, target_for
    from compiler.verify import make_verifier

    targets = [target_for(REPO / p, REPO / "out", (), ()) for p in TIERS]
    serial = build_files(targets, make_verifier(), jobs=1)
    parallel = build_files(targets, make_verifier(), jobs=2)
    assert [s for s, _ in serial] == ["qwen3-32b", "llama-70b", "glm-5", "_platform"]
    assert serial == parallel


def test_jobs_really_use_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from compiler import build as build_mod
    from compiler.verify import make_verifier

    real = build_mod.build_one
    monkeypatch.setattr(build_mod, "build_one", lambda t, v: dataclasses.replace(real(t, v), display=str(os.getpid())))
    targets = [build_mod.target_for(REPO / p, REPO / "out", (), ()) for p in TIERS]
    pids = [o.display for o in build_mod.build_all(targets, make_verifier(), jobs=2)]
    assert pids[0] == str(os.getpid())  # the first profile warms the caches the workers inherit
    assert str(os.getpid()) not in pids[1:]
    assert [o.name for o in build_mod.build_all(targets, make_verifier(), jobs=1)] == ["qwen3-32b", "llama-70b", "glm-5"]


def test_cli_jobs_1_and_default_write_the_same_tree(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project / "profiles", work / "profiles")
    r = mcompile("build", *PROFILES, "--jobs", "1", "--timings", cwd=work)
    assert r.code == 0, r.stderr
    assert "timings (s, one process): resolve" in r.stderr
    assert tree(work / "out") == tree(project / "out")


def test_parallel_build_collects_every_profiles_errors(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project, work)
    before = tree(work / "out")
    (work / "profiles" / "tier2.yaml").write_text((work / "profiles" / "tier2.yaml").read_text().replace("tensor: 4", "tensor: 3"))
    (work / "profiles" / "tier3.yaml").write_text((work / "profiles" / "tier3.yaml").read_text().replace("targetRPS: 2", "targetRPS: -2"))
    r = mcompile("build", *PROFILES, "--jobs", "2", cwd=work)
    assert r.code == 2
    assert "profiles/tier2.yaml:" in r.stderr and "profiles/tier3.yaml:" in r.stderr
    assert tree(work / "out") == before


# --------------------------------------------------------------------------- the fleet: orphans, placeholders

PLACEHOLDERS = ("my-cluster", "example.invalid", "KarpenterNodeRole\n", "kubernetes.default.svc", "cluster: in-cluster", "$CLUSTER_NAME")


def test_no_placeholder_anywhere_in_out(project: Path) -> None:
    found = [(p.relative_to(project).as_posix(), word) for p in sorted((project / "out").rglob("*")) if p.is_file()
             for word in PLACEHOLDERS if word in p.read_text(errors="replace")]
    assert found == []
    # ... and the committed out/ of this repository too.
    committed = [(p.as_posix(), w) for p in sorted((REPO / "out").rglob("*.yaml")) for w in PLACEHOLDERS if w in p.read_text()]
    assert committed == []


def test_deleted_profile_is_reported_by_check_then_pruned_and_unowned_files_survive(project: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    shutil.copytree(project, work)
    mine = work / "out" / "glm-5" / "NOTES.md"  # written by hand: nobody owns it
    mine.write_text("kept\n")
    (work / "out" / "_platform" / "README.md").write_text("mine too\n")
    (work / "profiles" / "tier3.yaml").unlink()
    rest = ["profiles/tier1.yaml", "profiles/tier2.yaml"]
    r = mcompile("check", *rest, cwd=work)
    assert r.code == 1
    assert "glm-5: orphaned: out/ holds output owned for 'glm-5', which is not part of this build" in r.stdout
    assert "_platform: extra: _platform/prod-use1-hpc/flux/kustomization-mcompile-platform.yaml" in r.stdout  # its cluster too
    r = mcompile("build", *rest, cwd=work)
    assert r.code == 0, r.stderr
    assert "glm-5: pruned (not part of this build" in r.stdout
    assert not list((work / "out" / "glm-5").rglob("*.yaml"))  # every owned file gone
    assert not (work / "out" / "_platform" / "prod-use1-hpc").exists()
    assert mine.read_text() == "kept\n" and (work / "out" / "_platform" / "README.md").read_text() == "mine too\n"
    assert '"glm-5"' not in (work / "out" / ".mcompile" / "manifest.json").read_text()
    r = mcompile("check", *rest, cwd=work)
    assert r.code == 0, r.stdout


def _entries(out: Path) -> dict[str, tuple[int, str]]:
    """Every file and directory under ``out`` with its mode (files with their hash), lock excluded."""
    found = {}
    for p in sorted(out.rglob("*")):
        if p.name != "lock":
            st = os.lstat(p)
            found[p.relative_to(out).as_posix()] = (st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
    return found


def test_workers_staging_their_profiles_give_the_tree_the_writer_alone_gives(project: Path, tmp_path: Path) -> None:
    """--jobs 2 (each worker stages its profile, store/prestage.py; the parent renames the
    directories into place) against the serial reference: every profile built in this process
    and written by the writer from bytes (no prestage). Same files, bytes, directories, modes."""
    from compiler.build import build_files, target_for, write_files
    from compiler.verify import make_verifier

    work = tmp_path / "w"
    shutil.copytree(project / "profiles", work / "profiles")
    r = mcompile("build", *PROFILES, "--jobs", "2", "--no-cache", cwd=work)
    assert r.code == 0, r.stderr
    ref = tmp_path / "ref"
    shutil.copytree(project / "profiles", ref / "profiles")
    targets = [target_for(ref / p, ref / "out", (), ()) for p in PROFILES]
    write_files(ref / "out", build_files(targets, make_verifier(), jobs=1))
    staged, alone = _entries(work / "out"), _entries(ref / "out")
    assert len(staged) > 300 and staged == alone
    assert os.listdir(work / "out" / ".mcompile" / "stage") == []  # nothing of the prestage is left


#: Modules that compiling and writing a profile (into a fresh out/, the user cache warm) does not
#: load, whatever the command-line library loads: each is imported where the rare path that needs
#: it runs (an unknown key's or a refused ``--set`` selector's hint, a prestage tree that is not
#: what a build leaves, a profile that libyaml's fast path leaves to ruamel), or not at all (the
#: standard library typer and click bring along). The chain is run as ``mcompile build`` runs it,
#: without the CLI.
NOT_ON_A_WARM_BUILD = ("shutil", "difflib", "bz2", "lzma", "zlib", "ruamel", "subprocess", "platform", "uuid", "locale", "gettext",
                       "textwrap", "traceback", "shlex", "heapq", "logging", "email", "urllib.request")

_CHAIN = """
import json, sys
from pathlib import Path
from compiler.build import Timings, target_for
from compiler.cache.run import run_cached
from compiler.cache.verifier import LazyVerifier
from compiler.store.incremental import index_for, write_changed
from compiler.store.prestage import staging
out = Path("out")
with staging(out):
    staged = run_cached([target_for(Path(sys.argv[1]), out, (), ())], LazyVerifier((), "1.33", ()), None, 1, Timings(), None, False, [], True)
    write_changed(out, staged.scopes, index_for(None, out), prune=True)
print(json.dumps(sorted(sys.modules)))
"""


def test_a_warm_build_imports_only_what_it_uses(repo: Path, tmp_path: Path) -> None:
    """Run the build chain twice (the first fills the user cache) and list what the second loaded."""
    shutil.copytree(repo / "profiles", tmp_path / "profiles")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
    for run in ("fills the user cache", "warm"):
        shutil.rmtree(tmp_path / "out", ignore_errors=True)
        p = subprocess.run([sys.executable, "-c", _CHAIN, "profiles/tier3.yaml"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert p.returncode == 0, (run, p.stderr)
    modules = set(__import__("json").loads(p.stdout))
    assert {"compiler.render", "compiler.verify.crds", "compiler.store.swap"} <= modules  # it did compile and write
    assert (tmp_path / "out" / "glm-5" / "chart" / "Chart.yaml").is_file()
    assert sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_ON_A_WARM_BUILD)) == []
