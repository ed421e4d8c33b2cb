"""durable.py: atomic single and batch writes, temp clean-up, empty-directory pruning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.store.durable import TMP_RE, atomic_write, prune_empty_dirs, remove_stray_temps, write_files
from compiler.types import OutputFile


def test_atomic_write_replaces_the_bytes_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.yaml"
    atomic_write(target, b"one\n")
    atomic_write(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert [p.name for p in target.parent.iterdir()] == ["b.yaml"]


def test_write_files_writes_every_file_and_no_temp_survives_a_failure(tmp_path: Path) -> None:
    write_files(tmp_path, [OutputFile("x/1.yaml", b"1"), OutputFile("x/y/2.yaml", b"2")])
    assert (tmp_path / "x" / "1.yaml").read_bytes() == b"1" and (tmp_path / "x" / "y" / "2.yaml").read_bytes() == b"2"
    (tmp_path / "x" / "dir.yaml").mkdir()  # a directory where a file should go: the rename fails
    with pytest.raises(OSError):
        write_files(tmp_path, [OutputFile("x/1.yaml", b"new"), OutputFile("x/dir.yaml", b"d")])
    leftovers = [n for _, _, names in os.walk(tmp_path) for n in names if TMP_RE.fullmatch(n)]
    assert leftovers == []


def test_remove_stray_temps_removes_only_temp_files_outside_skipped_dirs(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "keep").mkdir()
    stray = tmp_path / "p" / ".f.yaml.mcompile-tmp-0123456789abcdef"
    stray.write_text("x")
    kept = tmp_path / "keep" / ".g.yaml.mcompile-tmp-0123456789abcdef"
    kept.write_text("y")
    (tmp_path / "p" / "f.yaml").write_text("real")
    assert remove_stray_temps(tmp_path, skip=["keep"]) == ["p/.f.yaml.mcompile-tmp-0123456789abcdef"]
    assert not stray.exists() and kept.exists() and (tmp_path / "p" / "f.yaml").exists()


def test_prune_empty_dirs_stops_at_non_empty_and_never_removes_root(tmp_path: Path) -> None:
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "other.yaml").write_text("x")
    prune_empty_dirs(tmp_path, ["a/b/c/gone.yaml"])
    assert not (tmp_path / "a" / "b").exists() and (tmp_path / "a" / "other.yaml").exists()
    prune_empty_dirs(tmp_path, ["only.yaml"])
    assert tmp_path.exists()
