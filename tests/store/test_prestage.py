"""Tests for :mod:`compiler.store.prestage`: workers stage their scopes, the parent commits them
with the writer's rules; a crash or a refusal leaves out/ as it was, a foreign file survives."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compiler.build import Outcome
from compiler.store import prestage, swap
from compiler.store.incremental import write_changed
from compiler.store.writer import WritePlanError, write_scopes
from compiler.types import OutputFile

pytestmark = pytest.mark.skipif(not swap.exchange_supported(Path.cwd()), reason="filesystem without RENAME_EXCHANGE")

STAGE = ".mcompile/stage"


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@dataclass
class S:
    """A planned scope as the build cache hands it to ``write_changed``: digests, bytes on demand
    (none once a worker staged them and the outcome came back without them)."""

    name: str
    digests: dict[str, str]
    content: list[OutputFile] = field(default_factory=list)

    def files(self) -> list[OutputFile]:
        return self.content


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(name: str, version: str, n: int = 4) -> list[OutputFile]:
    return [OutputFile(f"{name}/{d}/f{i}.yaml", f"{name} {version} {i}\n".encode()) for i in range(n) for d in ("chart", "kustomize/base")]


def _outcome(name: str, files: list[OutputFile]) -> Outcome:
    return Outcome(name, name, name, (), (), tuple(files), digests=tuple((f.path, _sha(f.content)) for f in files))


def _worker_built(pre: prestage.Prestage, name: str, files: list[OutputFile]) -> S:
    """What the parent gets back from a worker: the scope without bytes when they were staged."""
    back = pre.put(_outcome(name, files))
    return S(name, dict(back.digests), list(back.files))


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root`` with its mode (directories too), lock excluded."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for p in sorted(root.rglob("*")):
        if p.name == "lock":
            continue
        st = os.lstat(p)
        out[p.relative_to(root).as_posix()] = (st.st_mode, p.read_bytes() if stat.S_ISREG(st.st_mode) else None)
    return out


def _profiles(tree: dict) -> dict:
    return {k: v for k, v in tree.items() if not k.startswith(".mcompile")}


def test_staged_build_equals_the_writer_alone_byte_for_byte_and_mode_for_mode(tmp_path: Path) -> None:
    scoped = [(n, _files(n, "v1")) for n in ("a", "b", "c")]
    serial, staged = tmp_path / "serial", tmp_path / "staged"
    write_scopes(serial, scoped)
    with prestage.staging(staged) as pre:
        assert pre is not None
        planned = [_worker_built(pre, n, files) for n, files in scoped]
        assert all(s.content == [] for s in planned)  # the parent holds no bytes
        assert (pre.base / "x").parent.is_dir() and any(pre.base.iterdir())
        summaries = write_changed(staged, planned, None)
    assert [(s, len(w.written)) for s, w in summaries] == [("a", 8), ("b", 8), ("c", 8)]
    assert _tree(staged) == _tree(serial)
    assert os.listdir(staged / STAGE) == []  # the prestage is gone, nothing else left


def test_a_changed_scope_is_staged_file_by_file_and_keeps_what_the_tool_does_not_own(tmp_path: Path) -> None:
    out, ref = tmp_path / "out", tmp_path / "ref"
    for root in (out, ref):
        write_scopes(root, [("a", _files("a", "v1"))])
        (root / "a/NOTES.md").write_text("kept by hand\n")
    v2 = _files("a", "v1")[:4] + _files("a", "v2")[4:]  # half the files change
    write_scopes(ref, [("a", v2)])
    same = os.lstat(out / v2[0].path).st_ino
    with prestage.staging(out) as pre:
        assert pre is not None
        scope = _worker_built(pre, "a", v2)
        assert sorted(p.name for p in (pre.base).rglob("*.yaml")) == ["f2.yaml", "f2.yaml", "f3.yaml", "f3.yaml"]  # only what differs
        [(_, summary)] = write_changed(out, [scope], None)
    assert len(summary.written) == 4 and len(summary.unchanged) == 4
    assert _profiles(_tree(out)) == _profiles(_tree(ref))
    assert os.lstat(out / v2[0].path).st_ino == same  # unchanged output is carried, not rewritten


def test_foreign_directory_appearing_after_staging_is_never_deleted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with prestage.staging(out) as pre:
        assert pre is not None
        scope = _worker_built(pre, "a", _files("a", "v1"))
        (out / "a").mkdir()
        (out / "a/NOTES.md").write_text("someone else's\n")  # out/a/ appears before the commit
        write_changed(out, [scope], None)
    assert (out / "a/NOTES.md").read_text() == "someone else's\n"
    assert (out / "a/chart/f0.yaml").read_bytes() == b"a v1 0\n"


def test_file_changed_on_disk_after_the_worker_looked_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_scopes(out, [("a", _files("a", "v1"))])
    before = _tree(out)
    with prestage.staging(out) as pre:
        assert pre is not None
        scope = _worker_built(pre, "a", _files("a", "v1")[:7] + _files("a", "v2")[7:])  # one file differs
        edited = out / "a/chart/f0.yaml"  # identical when the worker looked: not staged
        edited.write_bytes(b"edited\n")
        before[edited.relative_to(out).as_posix()] = (before["a/chart/f0.yaml"][0], b"edited\n")
        with pytest.raises(WritePlanError, match="a/chart/f0.yaml: changed on disk while mcompile was building"):
            write_changed(out, [scope], None)
    assert _tree(out) == before


def test_crash_while_a_worker_stages_leaves_out_as_before_and_the_next_build_repairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, ref = tmp_path / "out", tmp_path / "ref"
    write_scopes(out, [("a", _files("a", "v1")), ("b", _files("b", "v1"))])
    write_scopes(ref, [("a", _files("a", "v2")), ("b", _files("b", "v2"))])
    before = _tree(out)
    real, calls = os.write, []

    def dying(fd: int, data) -> int:  # the third file a worker writes is cut short, then the process dies
        calls.append(1)
        if len(calls) == 3:
            real(fd, bytes(data)[:3])
            raise Crash("killed")
        return real(fd, data)

    monkeypatch.setattr(prestage.os, "write", dying)
    with pytest.raises(Crash), prestage.staging(out) as pre:
        assert pre is not None
        _worker_built(pre, "a", _files("a", "v2"))
    monkeypatch.undo()
    assert _profiles(_tree(out)) == _profiles(before)
    assert (out / ".mcompile/manifest.json").read_bytes() == before[".mcompile/manifest.json"][1]
    # A kill leaves its prestage (no finally ran): the next build removes it whole, rescues nothing.
    leftover = out / STAGE / "pre-0123456789abcdef" / "0123456789abcdef"
    leftover.mkdir(parents=True)
    (leftover / "half.yaml").write_bytes(b"a v")
    with prestage.staging(out) as pre:
        assert pre is not None
        planned = [_worker_built(pre, n, _files(n, "v2")) for n in ("a", "b")]
        write_changed(out, planned, None)
    assert _tree(out) == _tree(ref)
    assert not (out / ".mcompile/rescued").exists() and os.listdir(out / STAGE) == []


def test_refused_build_removes_the_prestage_and_what_it_created(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="refused"), prestage.staging(out) as pre:
        assert pre is not None and (out / ".mcompile/lock").exists()
        _worker_built(pre, "a", _files("a", "v1"))
        raise RuntimeError("refused")  # e.g. the fleet stage's InputError after every profile built
    assert not out.exists()


def test_stale_marker_for_other_digests_is_not_used(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with prestage.staging(out) as pre:
        assert pre is not None
        _worker_built(pre, "a", _files("a", "v1"))
        assert pre.find("a", {f.path: _sha(f.content) for f in _files("a", "v2")}) is None
        assert pre.find("b", {}) is None
        with pytest.raises(RuntimeError, match="neither staged nor kept"):  # never written from a partial list
            write_changed(out, [S("a", {f.path: _sha(f.content) for f in _files("a", "v2")})], None)
    assert not (out / "a").exists()


def test_early_writeback_finishes_before_the_durable_flush_and_leaves_no_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from compiler.store import durable

    calls: list[tuple[str, str]] = []
    real = durable._syncfs

    def syncfs(root: Path) -> bool:
        name = threading.current_thread().name
        calls.append(("start", name))
        if name == "mcompile-writeback":
            time.sleep(0.2)  # a slow disk: the commit must still wait for it
        calls.append(("end", name))
        return real(root)

    monkeypatch.setattr(durable, "_syncfs", syncfs)
    scoped = [(n, _files(n, "v1")) for n in ("a", "b")]
    out = tmp_path / "out"
    with prestage.staging(out) as pre:
        assert pre is not None
        planned = [_worker_built(pre, n, files) for n, files in scoped]
        pre.flush_early()
        assert pre.flushing is not None and pre.flushing.is_alive()
        write_changed(out, planned, None)
        assert pre.flushing is None
    assert calls[:2] == [("start", "mcompile-writeback"), ("end", "mcompile-writeback")]
    assert ("start", threading.current_thread().name) in calls[2:]  # the durable flush itself is still made
    assert not any(t.name == "mcompile-writeback" for t in threading.enumerate())
    assert _profiles(_tree(out)) == _profiles(_tree(_serial(tmp_path, scoped)))


def _serial(tmp_path: Path, scoped: list) -> Path:
    serial = tmp_path / "serial"
    write_scopes(serial, scoped)
    return serial


def test_new_trees_are_indexed_with_the_workers_stats_which_are_the_files_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler.store import index as index_mod
    from compiler.store.index import OutIndex

    scoped = [(n, _files(n, "v1")) for n in ("a", "b")]
    out = tmp_path / "out"
    statted: list[str] = []
    real = index_mod._stat

    def counting(path: Path | str) -> tuple[int, int, int, int] | None:
        statted.append(str(path))
        return real(path)

    monkeypatch.setattr(index_mod, "_stat", counting)
    index = OutIndex.load(tmp_path / "index.json", out.resolve())
    with prestage.staging(out) as pre:
        assert pre is not None
        write_changed(out, [_worker_built(pre, n, files) for n, files in scoped], index)
    assert not [p for p in statted if "/a/" in p or "/b/" in p]  # no lstat per file: the workers' fstat
    for _, files in scoped:
        for f in files:
            st = os.lstat(out / f.path)
            assert index.files[f.path] == [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, _sha(f.content)]
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read a file")))
    again = OutIndex.load(tmp_path / "index.json", out.resolve())
    assert again.clean([(n, {f.path: _sha(f.content) for f in files}) for n, files in scoped]) == {"a", "b"}


def test_what_arrived_is_used_for_the_same_digests_only_and_a_later_unstaged_outcome_drops_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    files = _files("a", "v1")
    with prestage.staging(out) as pre:
        assert pre is not None
        back = pre.put(_outcome("a", files))
        pre.arrived(back)
        digests = dict(back.digests)
        found = pre.find("a", digests)
        assert found is not None and found is pre.found["a"][1] and found.complete
        other = {**digests, "a/chart/f0.yaml": _sha(b"other")}
        assert pre.find("a", other) is None  # the marker on disk is for other digests
        pre.arrived(_outcome("a", files))  # the same scope built again, not staged this time
        assert "a" not in pre.found
        os.unlink(pre.base / (pre._dir("a").name + ".json"))
        assert pre.find("a", digests) is None  # read from disk again
    assert pre.found == {}


def _shape(root: Path) -> list[tuple[str, str]]:
    """Every path under ``root`` (symlinks not followed) with its kind."""
    if not os.path.lexists(root):
        return []
    out = [(".", "link" if root.is_symlink() else "dir" if root.is_dir() else "file")]
    if root.is_dir() and not root.is_symlink():
        for p in sorted(root.rglob("*")):
            out.append((p.relative_to(root).as_posix(), "link" if p.is_symlink() else "dir" if p.is_dir() else "file"))
    return out


def _layouts(base: Path) -> dict[str, Path]:
    """Trees remove_tree may meet: gone, empty, what a build leaves, deeper, a symlink, a file."""
    outside = base / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "f").write_text("x")
    made = {}
    for name in ("missing", "empty", "flat", "deep", "link", "file", "inner-link"):
        made[name] = base / name
    made["empty"].mkdir()
    made["flat"].mkdir()
    (made["flat"] / "a.json").write_text("{}")
    (made["flat"] / "0123abcd").mkdir()
    (made["deep"] / "x" / "y").mkdir(parents=True)
    (made["deep"] / "x" / "y" / "f").write_text("f")
    (made["deep"] / "g").write_text("g")
    made["link"].symlink_to(outside, target_is_directory=True)
    made["file"].write_text("a file")
    made["inner-link"].mkdir()
    (made["inner-link"] / "to-outside").symlink_to(outside, target_is_directory=True)
    return made


def test_remove_tree_leaves_what_shutil_rmtree_leaves(tmp_path: Path) -> None:
    """The reference is ``shutil.rmtree(path, ignore_errors=True)``: the same paths are gone and
    the same survive (a symlink is never followed: nothing outside the tree is touched)."""
    import shutil

    results = {}
    for how, remove in (("ours", prestage.remove_tree), ("shutil", lambda p: shutil.rmtree(p, ignore_errors=True))):
        base = tmp_path / how
        made = _layouts(base)
        for path in made.values():
            remove(path)
        results[how] = {name: _shape(path) for name, path in made.items()} | {"outside": _shape(base / "outside")}
    assert results["ours"] == results["shutil"]
    assert results["ours"]["outside"] == [(".", "dir"), ("keep", "dir"), ("keep/f", "file")]
    assert results["ours"]["flat"] == results["ours"]["deep"] == [] and results["ours"]["link"] == [(".", "link")]


def test_new_directories_are_renamed_in_without_probing_for_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build that only adds directories needs RENAME_NOREPLACE, not RENAME_EXCHANGE: the probe
    (three directories made and removed) runs only once a live directory is to be swapped; where
    the filesystem cannot exchange, new directories are still renamed in whole and a changed one is
    written file by file, with the same result as the writer alone."""
    probes: list[Path] = []
    real = swap.exchange_supported
    monkeypatch.setattr(swap, "exchange_supported", lambda root: probes.append(root) or real(root))
    out, serial = tmp_path / "out", tmp_path / "serial"
    scoped = [(n, _files(n, "v1")) for n in ("a", "b")]
    write_scopes(serial, scoped)
    with prestage.staging(out) as pre:
        assert pre is not None
        planned = [_worker_built(pre, n, files) for n, files in scoped]
        staged_a = pre.base / next(p.name for p in pre.base.iterdir() if p.is_dir())
        inode = os.lstat(staged_a).st_ino
        write_changed(out, planned, None)
    assert out not in probes and _tree(out) == _tree(serial)
    assert inode in {os.lstat(out / n).st_ino for n in ("a", "b")}  # renamed into place whole
    monkeypatch.setattr(swap, "exchange_supported", lambda root: probes.append(root) or False)  # as on a filesystem without it
    v2 = [(n, _files(n, "v2")) for n in ("a", "b", "c")]
    write_scopes(serial, v2)
    with prestage.staging(out) as pre:
        assert pre is not None
        write_changed(out, [_worker_built(pre, n, files) for n, files in v2], None)
    assert probes.count(out) == 1 and _tree(out) == _tree(serial)
