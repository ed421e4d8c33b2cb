"""Tests for :mod:`compiler.store.lazy`: writing scopes from the build cache holds one scope's
bytes at a time, reads each entry before anything is written, and writes the same tree."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from compiler.store import lazy, swap
from compiler.store.incremental import write_changed
from compiler.store.writer import write_scopes
from compiler.types import OutputFile

pytestmark = pytest.mark.skipif(not swap.exchange_supported(Path.cwd()), reason="filesystem without RENAME_EXCHANGE")


class Cached:
    """A scope as ``cache.run.Scope`` has it for a cache hit: digests, bytes read from its entry."""

    def __init__(self, name: str, files: list[OutputFile], reads: list[str]) -> None:
        self.name, self._files, self.reads = name, files, reads
        self.digests = {f.path: hashlib.sha256(f.content).hexdigest() for f in files}
        self.entry = object()
        self.loaded: list[OutputFile] | None = None

    def files(self) -> list[OutputFile]:
        if self.loaded is None:
            self.reads.append(self.name)
            self.loaded = list(self._files)
        return self.loaded


def _files(name: str) -> list[OutputFile]:
    return [OutputFile(f"{name}/{d}/f{i}.yaml", f"{name} {i}\n".encode()) for i in range(3) for d in ("chart", "deploy")]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name != "lock"}


def test_one_scopes_bytes_at_a_time_each_entry_read_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boxes: list[lazy.Box] = []
    real_init, real_stage = lazy.Box.__init__, swap.stage

    def init(self, *args) -> None:
        boxes.append(self)
        real_init(self, *args)

    held: list[int] = []

    def stage(*args, **kwargs):
        result = real_stage(*args, **kwargs)
        held.append(sum(b._files is not None for b in boxes))  # bytes held while this scope is staged
        return result

    monkeypatch.setattr(lazy.Box, "__init__", init)
    monkeypatch.setattr(swap, "stage", stage)
    (tmp_path / "out" / "c").mkdir(parents=True)  # an existing directory: staged, not renamed whole
    reads: list[str] = []
    scopes = [Cached(n, _files(n), reads) for n in ("a", "b", "c")]
    write_changed(tmp_path / "out", scopes, None)
    assert reads == ["a", "b", "c", "a", "b", "c"]  # all checked first, then each read again to be written
    assert len(boxes) == 3 and all(b._files is None for b in boxes) and all(s.loaded is None for s in scopes)
    assert held == [1, 1, 1]
    write_scopes(tmp_path / "ref", [(n, _files(n)) for n in ("a", "b", "c")])
    assert _tree(tmp_path / "out") == _tree(tmp_path / "ref")


def test_a_damaged_entry_is_found_before_anything_is_written(tmp_path: Path) -> None:
    class Damaged(Cached):
        def files(self) -> list[OutputFile]:
            raise ValueError("checksum mismatch")

    reads: list[str] = []
    with pytest.raises(ValueError, match="checksum mismatch"):
        write_changed(tmp_path / "out", [Cached("a", _files("a"), reads), Damaged("b", _files("b"), reads)], None)
    assert not (tmp_path / "out" / "a").exists()


def test_box_reads_once_and_release_frees() -> None:
    loads: list[int] = []
    dropped: list[int] = []
    files = lazy.lazy_files({"a/x": "d"}, lambda: (loads.append(1), [OutputFile("a/x", b"x")])[1], lambda: dropped.append(1))
    assert files[0].content == b"x" and files[0].content == b"x" and loads == [1] and dropped == [1]
    lazy.release(files)
    assert files[0].content == b"x" and loads == [1, 1]
