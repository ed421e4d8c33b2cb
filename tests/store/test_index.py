"""The output index: a scope is clean only if its manifest entry and every file are as planned."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from compiler.store.index import OutIndex
from compiler.store.writer import write_scopes
from compiler.types import OutputFile

FILES = {"a": [OutputFile("a/x.yaml", b"x: 1\n"), OutputFile("a/y/z.yaml", b"z: 2\n")], "b": [OutputFile("b/w.yaml", b"w: 3\n")]}


def planned(files=FILES):
    return [(s, {f.path: hashlib.sha256(f.content).hexdigest() for f in fs}) for s, fs in files.items()]


def written(tmp_path: Path) -> tuple[Path, OutIndex]:
    out = tmp_path / "out"
    write_scopes(out, list(FILES.items()))
    index = OutIndex.load(tmp_path / "index.json", out.resolve())
    index.record(planned(), list(FILES))
    index.save()
    return out, OutIndex.load(tmp_path / "index.json", out.resolve())


def test_unchanged_scopes_are_clean_from_stat_alone(tmp_path, monkeypatch) -> None:
    _, index = written(tmp_path)
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read a file")))
    assert index.clean(planned()) == {"a", "b"}
    assert not index.others(["a", "b"]) and index.others(["a"])


def test_a_touched_file_with_the_same_bytes_is_clean_and_its_stat_recorded(tmp_path) -> None:
    out, index = written(tmp_path)
    os.utime(out / "a" / "x.yaml", ns=(1, 1))
    assert index.clean(planned()) == {"a", "b"}
    assert index.changed and index.files["a/x.yaml"][1] == 1


def test_changed_missing_or_replanned_files_make_their_scope_dirty(tmp_path) -> None:
    out, index = written(tmp_path)
    (out / "a" / "x.yaml").write_bytes(b"x: 9\n")  # same size
    assert index.clean(planned()) == {"b"}
    (out / "b" / "w.yaml").unlink()
    assert index.clean(planned()) == set()
    _, index = written(tmp_path / "again")
    other = {**FILES, "b": [OutputFile("b/w.yaml", b"w: 4\n")]}
    assert index.clean(planned(other)) == {"a"}


def test_a_rewritten_manifest_or_a_pending_stage_trusts_nothing(tmp_path) -> None:
    out, index = written(tmp_path)
    manifest = out / ".mcompile" / "manifest.json"
    manifest.write_bytes(manifest.read_bytes())  # new mtime/ctime: someone rewrote it
    assert index.clean(planned()) == set()
    out, index = written(tmp_path / "stage")
    (out / ".mcompile" / "stage" / "0123").mkdir(parents=True)
    assert index.clean(planned()) == set()


def test_a_damaged_or_foreign_index_is_empty(tmp_path) -> None:
    out, _ = written(tmp_path)
    raw = (tmp_path / "index.json").read_bytes()
    (tmp_path / "index.json").write_bytes(raw[:-5])
    assert OutIndex.load(tmp_path / "index.json", out.resolve()).clean(planned()) == set()
    (tmp_path / "index.json").write_bytes(raw)
    assert OutIndex.load(tmp_path / "index.json", tmp_path / "elsewhere").clean(planned()) == set()


def test_a_sharded_record_never_vouches_for_the_absence_of_other_scopes(tmp_path) -> None:
    _, index = written(tmp_path)
    index.record(planned({"a": FILES["a"]}), ["a"], exact=False)
    assert index.others(["a"])
