"""Crash safety of ``mcompile build``: SIGKILL at random points never leaves a torn out/.

A temp project holds an OLD build in out/ (the shipped profiles with another team label, other
targetRPS and a few switches, so nearly every file differs and some files are added or deleted)
plus a hand-written file in every profile directory. Then ``python -m compiler build`` of the
shipped profiles runs as a subprocess and is killed with SIGKILL (with its whole process group:
the build forks workers) at a point drawn from a seeded ``random.Random``: either anywhere in the
build's measured duration, or after the write phase began (a temp file or a stage appeared).

What ``compiler/store/writer.py`` and ``swap.py`` guarantee, checked after every kill:

* every profile directory ``out/<profile>/`` is wholly OLD or wholly NEW (its set of files and
  every file's bytes), with its hand-written file in it either way: directories are swapped;
* the manifest (replaced last) is the OLD or the NEW one; when it is the NEW one, the whole tree
  already is the NEW build, with no leftover (temp file or stage) anywhere;
* nothing is ever rescued (no file changed behind the build's back, so none may look foreign);
* the next build repairs everything: it exits 0, the tree equals a clean NEW build byte for
  byte, and no leftover remains.

Runs are counted per outcome (untouched, some profile dirs new, complete).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import pytest

from .clirun import mcompile
from .conftest import crd_args

REPO = Path(__file__).resolve().parents[1]
PROFILES = ["profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml"]
RUNS = int(os.environ.get("MCOMPILE_CRASH_RUNS", "40"))
CHUNKS = 8  # the runs are split so pytest-xdist can spread them over the cores
SEED = 1618
TMP = re.compile(r"\..*\.mcompile-tmp-[0-9a-f]{16}", re.DOTALL)
MANIFEST = ".mcompile/manifest.json"
STAGE = ".mcompile/stage/"
RESCUED = ".mcompile/rescued/"
HAND = "NOTES.md"  # a hand-written file in every profile directory

#: The OLD build's inputs: each profile with another label (every object file changes), another
#: targetRPS, and switches that remove objects (so the NEW build adds files) or add them.
OLD_EDITS = {
    "tier1.yaml": [("    team: ml-platform\n", "    team: ml-platform-old\n"), ("  targetRPS: 6\n", "  targetRPS: 12\n")],
    "tier2.yaml": [("    team: ml-platform\n", "    team: ml-platform-old\n"), ("  targetRPS: 4\n", "  targetRPS: 9\n"),
                   ("  prod:\n", "  prod:\n    network: {policy: false}\n")],  # dev-only objects: files in its overlay
    "tier3.yaml": [("    team: ml-platform\n", "    team: ml-platform-old\n"), ("  targetRPS: 2\n", "  targetRPS: 5\n")],
}
OLD_APPEND = {"tier1.yaml": "monitoring: {alerts: false}\n"}


def tree(out: Path) -> dict[str, bytes]:
    """Every regular file under ``out`` (temp files included) except the lock, by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != "lock"}


def temps(files: dict[str, bytes]) -> list[str]:
    """Leftovers of an interrupted build: temp files and staged trees."""
    return [p for p in files if TMP.fullmatch(p.rsplit("/", 1)[-1]) or p.startswith(STAGE)]


def _project(root: Path, old: bool) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(REPO / "profiles", root / "profiles")
    if old:
        for name, edits in OLD_EDITS.items():
            path = root / "profiles" / name
            text = path.read_text()
            for a, b in edits:
                assert a in text, (name, a)
                text = text.replace(a, b, 1)
            path.write_text(text + OLD_APPEND.get(name, ""))
    return root


def _build_in_process(root: Path, *, add_hand_written: bool = False) -> None:
    r = mcompile("build", *PROFILES, *crd_args(), cwd=root)
    assert r.code == 0, r.stdout + r.stderr
    names = [_profile_dir(root / profile) for profile in PROFILES] + ["_platform"]  # the platform tree is swapped whole too
    for name in names if add_hand_written else ():
        (root / "out" / name / HAND).write_text(f"notes kept by hand in {name}\n")


def _profile_dir(profile: Path) -> str:
    """out/<metadata.name>/ of a profile."""
    for line in profile.read_text().splitlines():
        if line.startswith("  name: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(f"no metadata.name in {profile}")


class Builds:
    """The OLD and NEW trees, a project to copy per run (NEW profiles, OLD out/), the timings."""

    def __init__(self, base: Path) -> None:
        self.old_project = _project(base / "old", old=True)
        _build_in_process(self.old_project, add_hand_written=True)
        self.old = tree(self.old_project / "out")
        clean = _project(base / "new", old=False)
        _build_in_process(clean, add_hand_written=True)
        self.new = tree(clean / "out")
        changed = [p for p in self.new if self.old.get(p) != self.new[p]]
        assert len(changed) > 100 and set(self.old) - set(self.new) and set(self.new) - set(self.old)
        # Baseline: the subprocess build over the OLD tree, timed; it must produce the clean NEW tree.
        probe = self.copy(base / "probe")
        start = time.monotonic()
        proc = self.start(probe)
        first_temp = _wait_for_temp(probe / "out", proc)
        manifest_written = _wait_for_bytes(probe / "out" / MANIFEST, self.new[MANIFEST], proc)
        assert proc.wait(timeout=300) == 0
        self.duration = time.monotonic() - start
        # From the first temp file to the new manifest: the window in which a kill tears things.
        self.write_window = max(manifest_written - first_temp, 0.02) if first_temp and manifest_written else 0.2
        assert tree(probe / "out") == self.new

    def copy(self, dest: Path) -> Path:
        """A project with the NEW profiles over the OLD build's out/."""
        _project(dest, old=False)
        shutil.copytree(self.old_project / "out", dest / "out", symlinks=True)
        return dest

    @staticmethod
    def start(project: Path) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "compiler", "build", *PROFILES, "--out", "out", *crd_args()],
            cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )


def _wait_for_temp(out: Path, proc: subprocess.Popen, limit: float = 300) -> float | None:
    """Poll until the writer's first temp file appears (the write phase began); its time or None."""
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None:
        for dirpath, _, names in os.walk(out):
            if any(TMP.fullmatch(n) for n in names) or (dirpath.endswith("/.mcompile/stage") and names):
                return time.monotonic()
        time.sleep(0.001)
    return None


def _wait_for_bytes(path: Path, content: bytes, proc: subprocess.Popen, limit: float = 300) -> float | None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        with suppress(OSError):
            if path.read_bytes() == content:
                return time.monotonic()
        if proc.poll() is not None:
            return None
        time.sleep(0.0005)
    return None


def _kill(proc: subprocess.Popen) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the build and any worker it forked
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> Builds:
    return Builds(tmp_path_factory.mktemp("crash"))


def check_after_kill(b: Builds, out: Path) -> str:
    """The writer's guarantees on a killed build's out/; returns the outcome's name."""
    files = tree(out)
    leftovers = temps(files)
    real = {p: data for p, data in files.items() if p not in leftovers}
    assert not [p for p in real if p.startswith(RESCUED)], "a file was rescued, yet nobody changed one"
    assert set(real) <= set(b.old) | set(b.new), sorted(set(real) - set(b.old) - set(b.new))
    torn = [p for p, data in real.items() if data not in (b.old.get(p), b.new.get(p))]
    assert torn == [], f"files with neither their old nor their new bytes: {torn}"
    assert real.get(MANIFEST) in (b.old[MANIFEST], b.new[MANIFEST]), "manifest is neither the old nor the new one"
    dirs = sorted({p.split("/")[0] for p in b.new if not p.startswith(".mcompile/")})
    state = {}
    for d in dirs:
        mine = {p: data for p, data in real.items() if p.startswith(d + "/")}
        old = {p: data for p, data in b.old.items() if p.startswith(d + "/")}
        new = {p: data for p, data in b.new.items() if p.startswith(d + "/")}
        assert mine in (old, new), f"out/{d}/ is part old, part new: {sorted(p for p in set(mine) | set(new) if mine.get(p) != new.get(p))[:5]}"
        assert f"{d}/{HAND}" in mine, f"the hand-written out/{d}/{HAND} is missing"
        state[d] = "new" if mine == new and old != new else "old"
    if real[MANIFEST] == b.new[MANIFEST]:  # the manifest is replaced last: everything else is done
        assert real == b.new and not leftovers
        return "complete"
    if real == b.old and not leftovers:
        return "untouched"
    return f"{sum(s == 'new' for s in state.values())} of {len(dirs)} profile dirs new"


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_sigkill_at_random_points_never_tears_out_and_the_next_build_repairs_it(chunk: int, builds: Builds, tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-{chunk}")
    outcomes = []
    for run in range(chunk, RUNS, CHUNKS):
        project = builds.copy(tmp_path / f"run{run}")
        proc = builds.start(project)
        if rng.random() < 0.3:  # anywhere in the build (mostly before writing: nothing may change)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=rng.uniform(0, builds.duration * 1.1))
        elif _wait_for_temp(project / "out", proc) is not None:  # inside the write phase
            time.sleep(rng.uniform(0, builds.write_window * 1.1))
        finished = proc.poll() is not None
        _kill(proc)
        assert b"Traceback" not in proc.stderr.read()
        outcome = check_after_kill(builds, project / "out")
        outcomes.append(outcome if not finished else "finished")
        if outcome == "untouched":
            continue  # the repair of an untouched OLD tree is the baseline the fixture checked
        _build_in_process(project)
        repaired = tree(project / "out")
        assert not temps(repaired), temps(repaired)
        assert repaired == builds.new
    print(f"chunk {chunk}: {len(outcomes)} kills: " + ", ".join(f"{o} {outcomes.count(o)}" for o in sorted(set(outcomes))))
