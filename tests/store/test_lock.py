"""Tests for :mod:`compiler.store.lock`: one process writes out/ at a time; the process holding
the lock (a build, from its first staged file) may take it again, another process may not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.store.lock import OutputLocked, held, hold


def _other_process_is_refused(root: Path) -> bool:
    pid = os.fork()
    if pid == 0:
        try:
            with hold(root):
                os._exit(1)
        except OutputLocked:
            os._exit(0)
        os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_lock_is_reentrant_in_the_process_that_holds_it_only(tmp_path: Path) -> None:
    root = tmp_path / "out"
    with hold(root):
        assert held(root)
        with hold(root):  # the writer inside a build's hold
            assert held(root)
        assert held(root)  # the inner exit did not release it
        assert _other_process_is_refused(root)
    assert not held(root)
    assert not _other_process_is_refused(root)  # released


def test_a_forked_child_does_not_count_as_the_holder(tmp_path: Path) -> None:
    root = tmp_path / "out"
    with hold(root):
        pid = os.fork()
        if pid == 0:
            os._exit(0 if not held(root) else 1)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_lock_held_elsewhere_is_reported(tmp_path: Path) -> None:
    import fcntl

    root = tmp_path / "out"
    (root / ".mcompile").mkdir(parents=True)
    fd = os.open(root / ".mcompile/lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputLocked, match="being written by another mcompile process"), hold(root):
            pass
    finally:
        os.close(fd)
