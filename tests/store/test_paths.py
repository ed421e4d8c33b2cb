"""Tests for :mod:`compiler.store.paths`: path syntax, unsafe parents, on-disk state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.store.paths import ABSENT, ParentCache, fingerprint, parent_problem, read_state, sha, syntax_problems


@pytest.mark.parametrize(("path", "problem"), [
    ("a/b.yaml", None),
    ("", "path must be a non-empty string"),
    ("/abs", "is absolute"),
    ("a//b", "has an empty segment"),
    ("a/../b", "is not normalised ('.' or '..' segment)"),
    ("./a", "is not normalised ('.' or '..' segment)"),
    ("a\\b", "contains a backslash"),
    ("a\0b", "contains a NUL byte"),
    ("a/" + "x" * 256, "has a segment longer than 255 bytes"),
    ("a/.b.yaml.mcompile-tmp-0123456789abcdef", "file name matches the writer's temporary-file pattern"),
])
def test_syntax_problems(path: str, problem: str | None) -> None:
    assert syntax_problems(path) == ([problem] if problem else [])


def test_parent_problems(tmp_path: Path) -> None:
    root = tmp_path / "out"
    (root / "d").mkdir(parents=True)
    (root / "f").write_text("x")
    (root / "in").symlink_to("d")
    (root / "esc").symlink_to(tmp_path)
    assert parent_problem(root, "d/x.yaml") is None and parent_problem(root, "new/deeper/x.yaml") is None
    assert parent_problem(root, "f/x.yaml") == "parent f is not a directory"
    assert parent_problem(root, "in/x.yaml") == "passes through symlink in"
    assert parent_problem(root, "esc/x.yaml") == "escapes the output directory through symlink esc"
    cache = ParentCache(root)
    assert cache.problem("f/a") == cache.problem("f/b") == "parent f is not a directory"
    assert list(cache.known) == ["f"]  # checked once per parent


def test_read_state_never_follows_or_opens_non_files(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"data")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("file")
    os.mkfifo(tmp_path / "fifo")  # opening it for reading would block
    assert read_state(tmp_path / "file") == ("file", b"data")
    assert read_state(tmp_path / "link") == ("symlink", None)
    assert read_state(tmp_path / "dir") == ("directory", None)
    assert read_state(tmp_path / "fifo") == ("special file", None)
    assert read_state(tmp_path / "missing") == (ABSENT, None)
    assert read_state(tmp_path / "file" / "below") == (ABSENT, None)
    assert fingerprint(tmp_path, "file") == "sha256:" + sha(b"data") and fingerprint(tmp_path, "link") == "symlink"
    assert sha(b"data") == "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7"


@pytest.mark.parametrize("path", ["a/b.yaml", "p-1/chart/templates/x_y.yaml", "a" * 255, "x/" + "b" * 255 + "/c"])
def test_plain_paths_have_no_problem(path: str) -> None:
    assert syntax_problems(path) == []


@pytest.mark.parametrize(("path", "reason"), [
    ("a/" + "b" * 256, "longer than 255 bytes"), ("a/../b", "not normalised"), ("a/./b", "not normalised"),
    ("a//b", "empty segment"), ("a/.b.mcompile-tmp-0123456789abcdef", "temporary-file pattern"), ("/a", "absolute"),
])
def test_paths_the_quick_check_lets_through_to_the_full_one(path: str, reason: str) -> None:
    assert any(reason in p for p in syntax_problems(path)), syntax_problems(path)
