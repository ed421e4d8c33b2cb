"""Two builds into one out/ at once are serialised or refused, never interleaved.

The writer plans and writes under an exclusive, non-blocking ``flock`` on ``out/.mcompile/lock``
(``compiler/emit/writer.py``); a second writer gets ``OutputLocked``, which the CLI prints as a
located message and exits 2. Checked four ways: a build while the test itself holds the lock
(refused, nothing written), the same for two real build processes; pairs of real ``python -m compiler build`` processes started together
with the same inputs (each exits 0 or 2 with the lock message, the result is a clean build); and
pairs with different inputs (the result is exactly one of the two clean builds, never a blend).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .clirun import mcompile
from .conftest import crd_args
from .test_crash import MANIFEST, PROFILES, _project, temps, tree

GITIGNORE = ".mcompile/.gitignore"  # the state dir's own, written once

ATTEMPTS = 6
LOCKED = "is being written by another mcompile process"


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[str, dict[str, bytes]]:
    """The clean NEW and OLD builds (see test_crash; OLD from old-profiles/), built in process."""
    base = tmp_path_factory.mktemp("conc")
    out = {}
    for name, old in (("new", False), ("old", True)):
        root = _project(base / name, old=old)
        profiles = PROFILES
        if old:  # headers (and the chart version) name the profile by path: OLD ones live in old-profiles/
            (root / "profiles").rename(root / "old-profiles")
            profiles = [p.replace("profiles/", "old-profiles/") for p in PROFILES]
        r = mcompile("build", *profiles, *crd_args(), cwd=root)
        assert r.code == 0, r.stderr
        out[name] = tree(root / "out")
    assert out["new"] != out["old"]
    return out


def _start(project: Path, profiles_dir: str = "profiles") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "compiler", "build", *(p.replace("profiles/", f"{profiles_dir}/") for p in PROFILES),
         "--out", "out", *crd_args()],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    stdout, stderr = proc.communicate(timeout=300)
    assert "Traceback" not in stdout + stderr and "internal error" not in stderr, stderr
    assert proc.returncode in (0, 2), stdout + stderr
    if proc.returncode == 2:  # refused: only because of the lock, located at out/
        lines = stderr.splitlines()
        assert any(line.startswith("out:1:1: $: ") and LOCKED in line for line in lines), stderr
        assert lines[-1].startswith("mcompile: 1 error, nothing written"), stderr
    return proc.returncode, stderr


def test_build_while_the_lock_is_held_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path / "p", old=False)
    (root / "out" / ".mcompile").mkdir(parents=True)
    fd = os.open(root / "out" / ".mcompile" / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = mcompile("build", *PROFILES, *crd_args(), cwd=root)
    finally:
        os.close(fd)
    assert r.code == 2, r.stdout + r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("out:1:1: $: ")] == [next(line for line in r.stderr.splitlines() if LOCKED in line)]
    assert tree(root / "out") == {}
    r = mcompile("build", *PROFILES, *crd_args(), cwd=root)  # the lock released: fine
    assert r.code == 0, r.stderr


def test_real_builds_are_refused_while_another_process_holds_the_lock(clean, tmp_path: Path) -> None:
    """The refusal path with real processes (free-running builds rarely collide: the write phase
    is ~0.1 s of a ~4 s build): two builds while the lock is held both exit 2, writing nothing."""
    root = _project(tmp_path / "p", old=False)
    r = mcompile("build", *PROFILES, *crd_args(), cwd=root)
    assert r.code == 0, r.stderr
    before = tree(root / "out")
    fd = os.open(root / "out" / ".mcompile" / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        builds = [_start(root), _start(root)]
        codes = [_finish(b)[0] for b in builds]
    finally:
        os.close(fd)
    assert codes == [2, 2]
    assert tree(root / "out") == before == clean["new"]


@pytest.mark.parametrize("attempt", range(ATTEMPTS))
def test_two_builds_at_once_are_serialised_or_refused(attempt: int, clean, tmp_path: Path) -> None:
    """Same inputs: whatever the interleaving, out/ ends as one clean build. Different inputs
    (odd attempts: OLD profiles in the second process): out/ ends as exactly one of the two."""
    rng = random.Random(f"conc-{attempt}")
    root = _project(tmp_path / "p", old=False)
    shutil.copytree(_project(tmp_path / "o", old=True) / "profiles", root / "old-profiles")
    if attempt % 3 == 2:  # start over an existing build too, not only an empty out/
        r = mcompile("build", *PROFILES, *crd_args(), cwd=root)
        assert r.code == 0, r.stderr
    different = attempt % 2 == 1
    first = _start(root)
    time.sleep(rng.uniform(0, 0.15))
    second = _start(root, "old-profiles" if different else "profiles")
    codes = [_finish(first)[0], _finish(second)[0]]
    assert 0 in codes  # whoever got the lock wrote; a refusal only ever means "someone else is writing"
    final = tree(root / "out")
    assert not temps(final)
    candidates = [clean["new"], clean["old"]] if different else [clean["new"]]
    files = {p: d for p, d in final.items() if p not in (MANIFEST, GITIGNORE)}
    matches = [c for c in candidates if files == {p: d for p, d in c.items() if p not in (MANIFEST, GITIGNORE)}]
    print(f"attempt {attempt}: exit codes {codes}, {'different' if different else 'same'} inputs")
    assert len(matches) == 1, f"out/ is a blend of two builds (exit codes {codes})"
    listed = {path: digest for entries in json.loads(final[MANIFEST])["scopes"].values() for path, digest in entries.items()}
    assert listed == {p: hashlib.sha256(d).hexdigest() for p, d in files.items()}  # the manifest describes out/
