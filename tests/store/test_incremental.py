"""Writing and checking only what changed, with the same results as the writer alone."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.store import incremental
from compiler.store.incremental import check_changed, index_for, write_changed
from compiler.types import OutputFile


@dataclass
class S:
    name: str
    content: list[OutputFile]

    @property
    def digests(self) -> dict[str, str]:
        return {f.path: hashlib.sha256(f.content).hexdigest() for f in self.content}

    def files(self) -> list[OutputFile]:
        return self.content


def scopes(v: bytes = b"1") -> list[S]:
    return [S("a", [OutputFile("a/x.yaml", b"x: " + v + b"\n")]), S("b", [OutputFile("b/y.yaml", b"y: 1\n")])]


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "lock"}


def test_a_no_op_never_calls_the_writer_and_one_change_writes_one_scope(tmp_path, monkeypatch) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = write_changed(out, scopes(), index_for(cache, out))
    assert [(s, len(w.written)) for s, w in first] == [("a", 1), ("b", 1)]
    real = incremental.write_scopes
    monkeypatch.setattr(incremental, "write_scopes", lambda *a, **k: pytest.fail("writer called on a no-op"))
    again = write_changed(out, scopes(), index_for(cache, out))
    assert [(s, w.written, w.unchanged) for s, w in again] == [("a", [], ["a/x.yaml"]), ("b", [], ["b/y.yaml"])]
    calls = []
    monkeypatch.setattr(incremental, "write_scopes", lambda root, scoped, **k: calls.append([s for s, _ in scoped]) or real(root, scoped, **k))
    changed = write_changed(out, scopes(b"2"), index_for(cache, out))
    assert calls == [["a"]] and [len(w.written) for _, w in changed] == [1, 0]
    reference = tmp_path / "ref"
    write_changed(reference, scopes(b"2"), None)
    assert tree(out) == tree(reference)


def test_a_scope_left_out_is_pruned_as_the_writer_does(tmp_path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    write_changed(out, scopes(), index_for(cache, out))
    result = write_changed(out, scopes()[:1], index_for(cache, out))
    assert [(s, w.deleted) for s, w in result] == [("a", []), ("b", ["b/y.yaml"])]
    assert not (out / "b" / "y.yaml").exists()


def test_a_shard_never_prunes_other_scopes(tmp_path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    write_changed(out, scopes(), index_for(cache, out))
    write_changed(out, scopes(b"3")[:1], index_for(cache, out), prune=False)
    assert (out / "b" / "y.yaml").exists() and (out / "a" / "x.yaml").read_bytes() == b"x: 3\n"


def test_check_reports_stale_scopes_and_orphans(tmp_path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    write_changed(out, scopes(), index_for(cache, out))
    results, orphans = check_changed(out, scopes(), index_for(cache, out))
    assert [r.ok for r in results] == [True, True] and orphans == []
    results, orphans = check_changed(out, scopes(b"2")[:1], index_for(cache, out))
    assert results[0].changed == ["a/x.yaml"] and orphans == ["b"]


def test_the_tree_is_swept_for_temp_files_only_when_a_write_may_have_been_interrupted(tmp_path, monkeypatch) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    write_changed(out, scopes(), index_for(cache, out))
    stray = out / "a" / ".x.yaml.mcompile-tmp-0123456789abcdef"
    stray.write_bytes(b"half")
    write_changed(out, scopes(b"2"), index_for(cache, out))  # the last write finished: no walk of out/
    assert stray.exists()

    class Crash(BaseException):
        pass

    def dying(*args, **kwargs):
        raise Crash("killed while writing")

    monkeypatch.setattr(incremental, "write_scopes", dying)
    with pytest.raises(Crash):
        write_changed(out, scopes(b"3"), index_for(cache, out))
    monkeypatch.undo()
    result = dict(write_changed(out, scopes(b"3"), index_for(cache, out)))  # the mark of the interrupted write
    assert not stray.exists() and result["a"].removed_temp == ["a/.x.yaml.mcompile-tmp-0123456789abcdef"]
    stray.write_bytes(b"half")
    write_changed(out, scopes(b"4"), index_for(cache, out))
    assert stray.exists()  # that write finished and removed its mark
