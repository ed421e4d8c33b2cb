"""compiler/workers.py: the workers fork from a frozen heap, and an internal error in a worker
comes back to the parent (exit 3) instead of hanging the pool."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .shipped import only_tiers

REPO = Path(__file__).resolve().parents[1]
TIERS = ["profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user repository with the three tiers' profiles and nothing built."""
    shutil.copytree(REPO / "profiles", tmp_path / "profiles", ignore=only_tiers)
    return tmp_path


def test_workers_fork_from_a_frozen_heap_and_the_parent_unfreezes_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's objects are frozen while the workers fork (their collections then copy none of
    its pages) and collectable again afterwards, even when the pool fails: a caller that builds
    many times in one process (tests, an editor integration) keeps nothing frozen for good."""
    import dataclasses
    import gc

    from compiler import build as build_mod
    from compiler.verify import make_verifier

    real = build_mod.build_one
    monkeypatch.setattr(build_mod, "build_one", lambda t, v: dataclasses.replace(real(t, v), display=str(gc.get_freeze_count())))
    targets = [build_mod.target_for(REPO / p, REPO / "out", (), ()) for p in TIERS]
    before = gc.get_freeze_count()
    counts = [int(o.display) for o in build_mod.build_all(targets, make_verifier(), jobs=2)]
    assert counts[0] == before  # profile 0 runs in this process, before the fork
    assert all(c > before for c in counts[1:])  # the workers see the parent's heap frozen
    assert gc.get_freeze_count() == before

    # the workers cannot start (e.g. out of processes): the parent is unfrozen all the same (a worker
    # raising is the next test)
    import multiprocessing

    class NoPool:
        def Pool(self, n):  # (multiprocessing's name)
            raise OSError("cannot start worker processes")

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: NoPool())
    with pytest.raises(OSError, match="cannot start worker processes"):
        build_mod.build_all(targets, make_verifier(), jobs=2)
    assert gc.get_freeze_count() == before


WORKER_RAISES = """
import sys
from compiler import build
real = build.build_one
class RenderBug(Exception):  # its __init__ differs from its args: it does not unpickle in the parent
    def __init__(self, family, detail):
        super().__init__(f"{family}: {detail}")
def build_one(target, verifier):
    if target.display.endswith("tier2.yaml"):
        raise RenderBug("a render family", "a bug")
    return real(target, verifier)
build.build_one = build_one
sys.argv = ["mcompile", "build", "--no-cache", "--jobs", "2", *sys.argv[1:]]
from compiler.cli import main
main()
"""


def test_an_internal_error_in_a_worker_exits_3_and_never_hangs(project: Path) -> None:
    """A worker that raises (an internal error, not bad input) must not hang the pool: CPython's
    Pool.terminate, which ``with Pool`` runs when ``imap`` re-raises, can wait forever while tasks
    are still queued. Many profiles keep tasks queued when the error comes back; the timeout turns
    a hang into a failure. An exception that cannot be unpickled in the parent (this one) killed
    the pool's result thread and hung the parent for good. The parent reports the error once,
    naming the profile (exit 3), and writes nothing."""
    text = (project / "profiles/tier1.yaml").read_text()
    many = ["profiles/tier1.yaml", "profiles/tier2.yaml"]
    for i in range(22):  # 24 tasks for 2 workers: most still queued when the error comes back
        (project / f"profiles/many-{i}.yaml").write_text(text.replace("name: qwen3-32b\n", f"name: many-{i}\n", 1))
        many.append(f"profiles/many-{i}.yaml")
    r = subprocess.run([sys.executable, "-c", WORKER_RAISES, *many], check=False, cwd=project, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "MCOMPILE_DEBUG": ""})
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("internal error") == 1
    assert "RenderBug: a render family: a bug (while building profiles/tier2.yaml)" in r.stderr
    assert not any((project / "out").rglob("*.yaml"))  # nothing written

    debug = subprocess.run([sys.executable, "-c", WORKER_RAISES, *TIERS], check=False, cwd=project, capture_output=True, text=True,
                           timeout=120, env={**os.environ, "MCOMPILE_DEBUG": "1"})
    assert debug.returncode != 0
    worker = debug.stderr.partition("(in the worker)")[2]
    assert ", in build_one\n" in worker and "RenderBug: a render family: a bug\n" in worker  # where it was raised
