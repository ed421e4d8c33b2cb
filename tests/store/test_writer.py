"""Tests for :mod:`compiler.store.writer` against real temporary directories."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.store import writer
from compiler.store.paths import sha
from compiler.store.writer import (
    OutputFile,
    OutputLocked,
    WritePlanError,
    apply,
    plan_writes,
    summary_line,
    write_outputs,
)

MANIFEST = ".mcompile/manifest.json"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def _files(**named: str) -> list[OutputFile]:
    """``_files(**{"a/b.yaml": "x"})`` -> OutputFiles with UTF-8 content."""
    return [OutputFile(path, text.encode()) for path, text in named.items()]


def _build(out: Path, files: list[OutputFile], scope: str = "tier2", **kw) -> writer.WriteSummary:
    return apply(plan_writes(out, files, scope=scope, **kw))


def _manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST).read_text())


def _tree(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())


# --- first build, manifest, modes ----------------------------------------------------------


def test_first_build_writes_files_and_canonical_manifest(out: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        summary = _build(out, _files(**{"b.yaml": "b\n", "a/x.yaml": "x\n"}))
    finally:
        os.umask(old_umask)
    assert summary.written == ["a/x.yaml", "b.yaml"] and summary.deleted == [] and summary.unchanged == []
    assert (out / "a/x.yaml").read_bytes() == b"x\n"
    assert stat.S_IMODE((out / "b.yaml").stat().st_mode) == 0o644
    text = (out / MANIFEST).read_text()
    digest = sha(b"x\n")
    assert text.startswith('{\n  "format": "mcompile-manifest/v1",\n  "scopes": {\n    "tier2": {\n')
    assert f'      "a/x.yaml": "{digest}",\n' in text and text.endswith("}\n")
    assert str(out) not in text and str(out.parent) not in text
    assert _manifest(out)["scopes"]["tier2"] == {"a/x.yaml": digest, "b.yaml": sha(b"b\n")}


def test_manifest_is_deterministic_regardless_of_input_order(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    files = _files(**{"z.yaml": "z", "a/b.yaml": "b", "m.yaml": "m"})
    _build(one, files)
    _build(two, list(reversed(files)))
    assert (one / MANIFEST).read_bytes() == (two / MANIFEST).read_bytes()


def test_summary_line() -> None:
    summary = writer.WriteSummary(written=["a", "b"], deleted=[], unchanged=["c"], kept=[])
    assert summary_line(summary) == "2 written, 0 deleted, 1 unchanged"
    kept = writer.WriteSummary(written=[], deleted=["d"], unchanged=[], kept=["e"])
    assert summary_line(kept) == "0 written, 1 deleted, 0 unchanged, 1 kept"


def test_output_file_requires_bytes() -> None:
    with pytest.raises(TypeError):
        OutputFile("a.yaml", "text")  # type: ignore[arg-type]


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../x", "not normalised"),
        ("a/../../x", "not normalised"),
        ("./a", "not normalised"),
        ("/etc/x", "is absolute"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a\\b", "backslash"),
        ("a\0b", "NUL"),
        ("", "non-empty"),
        (".mcompile/x", "state directory"),
        (".mcompile", "state directory"),
        ("d/.x.yaml.mcompile-tmp-0123456789abcdef", "temporary-file pattern"),
        ("x" * 256, "255 bytes"),
    ],
)
def test_bad_paths_rejected_before_anything_is_written(out: Path, path: str, reason: str) -> None:
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, [OutputFile(path, b"x"), OutputFile("ok.yaml", b"y")], scope="s")
    assert any(reason in p for p in err.value.problems), err.value.problems
    assert not out.exists()


def test_all_problems_reported_together_and_sorted(out: Path) -> None:
    files = [OutputFile("../up", b""), OutputFile("/abs", b""), OutputFile("a", b""), OutputFile("a", b"")]
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, files, scope="s")
    problems = err.value.problems
    assert len(problems) >= 3 and problems == sorted(problems)
    assert "a: planned more than once" in problems
    assert "refusing to write outputs" in str(err.value)


@pytest.mark.parametrize(
    ("paths", "needle"),
    [
        (["a", "a/b"], "a: overlaps with a/b"),
        (["x/y", "x/y/z/w"], "x/y: overlaps with x/y/z/w"),
        (["A.yaml", "a.yaml"], "only in letter case"),
        (["Dir/a", "dir/b"], "only in letter case"),
    ],
)
def test_overlapping_paths_rejected(out: Path, paths: list[str], needle: str) -> None:
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, [OutputFile(p, b"") for p in paths], scope="s")
    assert any(needle in p for p in err.value.problems), err.value.problems


def test_symlink_escaping_out_dir_rejected(tmp_path: Path, out: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out.mkdir()
    (out / "link").symlink_to(outside)
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, _files(**{"link/x.yaml": "evil"}), scope="s")
    assert err.value.problems == ["link/x.yaml: escapes the output directory through symlink link"]
    assert list(outside.iterdir()) == []


def test_symlink_inside_out_dir_also_rejected(out: Path) -> None:
    (out / "real").mkdir(parents=True)
    (out / "alias").symlink_to(out / "real")
    with pytest.raises(WritePlanError, match="passes through symlink alias"):
        plan_writes(out, _files(**{"alias/x.yaml": "x"}), scope="s")


def test_symlinked_state_dir_rejected(tmp_path: Path, out: Path) -> None:
    out.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (out / ".mcompile").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(WritePlanError, match="escapes the output directory"):
        plan_writes(out, _files(a="a"), scope="s")


def test_final_symlink_is_replaced_not_followed(tmp_path: Path, out: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("precious")
    out.mkdir()
    (out / "x.yaml").symlink_to(target)
    with pytest.raises(WritePlanError, match="would overwrite unowned file"):
        plan_writes(out, _files(**{"x.yaml": "new"}), scope="s")
    _build(out, _files(**{"x.yaml": "new"}), force=True)
    assert not (out / "x.yaml").is_symlink() and (out / "x.yaml").read_text() == "new"
    assert target.read_text() == "precious"


def test_parent_that_is_a_file_and_directory_in_the_way(out: Path) -> None:
    out.mkdir()
    (out / "f").write_text("file")
    (out / "d").mkdir()
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, _files(**{"f/x": "1", "d": "2"}), scope="s", force=True)
    assert err.value.problems == ["d: exists as a directory", "f/x: parent f is not a directory"]


def test_out_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(WritePlanError, match="not a directory"):
        plan_writes(tmp_path / "file", _files(a="a"), scope="s")


def test_bad_manifest_name_and_scope(out: Path) -> None:
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, _files(a="a"), scope="", manifest_name="../m.json")
    joined = "\n".join(err.value.problems)
    assert "manifest name '../m.json'" in joined and "scope ''" in joined


# --- ownership -----------------------------------------------------------------------------


def test_unowned_file_refused_and_untouched(out: Path) -> None:
    out.mkdir()
    (out / "hand.yaml").write_text("mine")
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, _files(**{"hand.yaml": "generated", "new.yaml": "n"}), scope="s")
    assert err.value.problems == ["hand.yaml: would overwrite unowned file (not in .mcompile/manifest.json; use force)"]
    assert (out / "hand.yaml").read_text() == "mine" and not (out / "new.yaml").exists()


def test_force_overwrites_unowned_and_takes_ownership(out: Path) -> None:
    out.mkdir()
    (out / "hand.yaml").write_text("mine")
    summary = _build(out, _files(**{"hand.yaml": "generated"}), force=True)
    assert summary.written == ["hand.yaml"] and (out / "hand.yaml").read_text() == "generated"
    assert "hand.yaml" in _manifest(out)["scopes"]["tier2"]


def test_identical_unowned_file_is_adopted_not_refused(out: Path) -> None:
    out.mkdir()
    (out / "same.yaml").write_text("same")
    summary = _build(out, _files(**{"same.yaml": "same"}))
    assert summary.unchanged == ["same.yaml"] and summary.written == []
    assert "same.yaml" in _manifest(out)["scopes"]["tier2"]


def test_scopes_share_out_dir_without_touching_each_other(out: Path) -> None:
    _build(out, _files(**{"a/x.yaml": "a"}), scope="a")
    _build(out, _files(**{"b/x.yaml": "b"}), scope="b")
    _build(out, [], scope="b")  # b now produces nothing: only b's files go
    assert _tree(out) == [".mcompile/.gitignore", ".mcompile/lock", ".mcompile/manifest.json", "a/x.yaml"]
    assert sorted(_manifest(out)["scopes"]) == ["a"]


@pytest.mark.parametrize("force", [False, True])
def test_file_owned_by_other_scope_refused_even_with_force(out: Path, force: bool) -> None:
    _build(out, _files(**{"shared.yaml": "a"}), scope="a")
    with pytest.raises(WritePlanError) as err:
        plan_writes(out, _files(**{"shared.yaml": "b"}), scope="b", force=force)
    assert err.value.problems == ["shared.yaml: owned by scope 'a'"]
    assert (out / "shared.yaml").read_text() == "a"


# --- incremental builds --------------------------------------------------------------------


def test_unchanged_files_not_rewritten(out: Path) -> None:
    files = _files(**{"a.yaml": "a", "d/b.yaml": "b"})
    _build(out, files)
    before = {p: os.stat(out / p) for p in ["a.yaml", "d/b.yaml", MANIFEST]}
    summary = _build(out, files)
    assert summary.written == [] and summary.unchanged == ["a.yaml", "d/b.yaml"]
    for path, st in before.items():
        now = os.stat(out / path)
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), path


def test_changed_file_replaced_atomically(out: Path) -> None:
    _build(out, _files(**{"a.yaml": "old", "b.yaml": "same"}))
    inode = os.stat(out / "a.yaml").st_ino
    summary = _build(out, _files(**{"a.yaml": "new", "b.yaml": "same"}))
    assert summary.written == ["a.yaml"] and summary.unchanged == ["b.yaml"]
    assert (out / "a.yaml").read_text() == "new" and os.stat(out / "a.yaml").st_ino != inode
    assert not [p for p in _tree(out) if "mcompile-tmp" in p]


def test_owned_file_no_longer_produced_is_deleted_and_empty_dirs_pruned(out: Path) -> None:
    _build(out, _files(**{"d/e/f.yaml": "f", "d/g/h.yaml": "h", "top.yaml": "t"}))
    (out / "d/g/hand.txt").write_text("unowned")
    (out / "empty").mkdir()
    summary = _build(out, _files(**{"top.yaml": "t"}))
    assert summary.deleted == ["d/e/f.yaml", "d/g/h.yaml"]
    assert not (out / "d/e").exists()
    assert (out / "d/g/hand.txt").read_text() == "unowned"  # its dir is not empty, so it stays
    assert (out / "empty").is_dir()  # was empty before, not emptied by us
    assert _manifest(out)["scopes"]["tier2"] == {"top.yaml": sha(b"t")}
    _build(out, [])
    assert out.is_dir() and not (out / "top.yaml").exists()
    assert _manifest(out)["scopes"] == {}


def test_hand_modified_owned_file_is_kept(out: Path) -> None:
    _build(out, _files(**{"x.yaml": "x", "y.yaml": "y"}))
    (out / "y.yaml").write_text("edited by a human")
    plan = plan_writes(out, _files(**{"x.yaml": "x"}), scope="tier2")
    assert plan.to_delete == () and plan.kept == ("y.yaml",)
    assert plan.notes == ("y.yaml: modified by hand, left in place",)
    summary = apply(plan)
    assert summary.kept == ["y.yaml"] and summary.deleted == []
    assert (out / "y.yaml").read_text() == "edited by a human"
    assert "y.yaml" not in _manifest(out)["scopes"]["tier2"]
    with pytest.raises(WritePlanError, match="would overwrite unowned file"):
        plan_writes(out, _files(**{"x.yaml": "x", "y.yaml": "y"}), scope="tier2")


def test_owned_file_already_gone_is_just_forgotten(out: Path) -> None:
    _build(out, _files(**{"x.yaml": "x", "y.yaml": "y"}))
    (out / "y.yaml").unlink()
    summary = _build(out, _files(**{"x.yaml": "x"}))
    assert summary.deleted == [] and summary.kept == []
    assert list(_manifest(out)["scopes"]["tier2"]) == ["x.yaml"]


def test_hand_edited_owned_file_still_produced_is_regenerated(out: Path) -> None:
    _build(out, _files(**{"x.yaml": "x"}))
    (out / "x.yaml").write_text("tweak")
    assert _build(out, _files(**{"x.yaml": "x"})).written == ["x.yaml"]
    assert (out / "x.yaml").read_text() == "x"


# --- manifest safety -----------------------------------------------------------------------


def test_corrupt_manifest_is_an_error(out: Path) -> None:
    (out / ".mcompile").mkdir(parents=True)
    (out / MANIFEST).write_text("{not json")
    with pytest.raises(WritePlanError, match="not valid JSON"):
        plan_writes(out, _files(a="a"), scope="s")


def test_manifest_listing_escaping_path_is_an_error(tmp_path: Path, out: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / ".mcompile").mkdir(parents=True)
    manifest = {"format": "mcompile-manifest/v1", "scopes": {"s": {"../victim.txt": sha(b"keep me")}}}
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(WritePlanError, match="listed path '../victim.txt'"):
        plan_writes(out, [], scope="s")
    assert victim.read_text() == "keep me"


def test_manifest_written_last(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _build(out, _files(**{"gone.yaml": "g"}))
    order: list[str] = []
    real_replace, real_unlink = os.replace, os.unlink
    monkeypatch.setattr(writer.os, "replace", lambda s, d: (order.append(f"write {Path(d).name}"), real_replace(s, d))[1])
    monkeypatch.setattr(writer.os, "unlink", lambda p: (order.append(f"unlink {Path(p).name}"), real_unlink(p))[1])
    _build(out, _files(**{"a.yaml": "a", "b.yaml": "b"}))
    assert order == ["write a.yaml", "write b.yaml", "unlink gone.yaml", "write manifest.json"]


def test_crash_mid_apply_leaves_manifest_and_next_build_repairs(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _build(out, _files(**{"a.yaml": "a1"}))
    manifest_before = (out / MANIFEST).read_bytes()
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("disk on fire")
        return real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", flaky_replace)
    files = _files(**{"a.yaml": "a2", "b.yaml": "b", "c.yaml": "c"})
    with pytest.raises(OSError, match="disk on fire"):
        _build(out, files)
    assert (out / MANIFEST).read_bytes() == manifest_before
    assert (out / "a.yaml").read_text() == "a2" and not (out / "b.yaml").exists()
    assert not [p for p in _tree(out) if "mcompile-tmp" in p]
    monkeypatch.setattr(writer.os, "replace", real_replace)
    summary = _build(out, files)  # b/c are written now; a2 is already there and owned
    assert summary.written == ["b.yaml", "c.yaml"] and summary.unchanged == ["a.yaml"]


def test_stray_temp_files_removed_at_start_of_apply(out: Path) -> None:
    (out / "sub").mkdir(parents=True)
    stray = out / "sub" / ".x.yaml.mcompile-tmp-0123456789abcdef"
    stray.write_text("half written")
    lookalike = out / "sub" / ".x.yaml.mcompile-tmp-NOTOURS"
    lookalike.write_text("not ours")
    summary = _build(out, _files(**{"a.yaml": "a"}))
    assert summary.removed_temp == ["sub/.x.yaml.mcompile-tmp-0123456789abcdef"]
    assert not stray.exists() and lookalike.exists()


def test_plan_goes_stale_when_disk_changes(out: Path) -> None:
    plan = plan_writes(out, _files(**{"a.yaml": "a"}), scope="s")
    out.mkdir()
    (out / "a.yaml").write_text("a human got here first")
    with pytest.raises(WritePlanError, match="changed on disk since the plan"):
        apply(plan)
    assert (out / "a.yaml").read_text() == "a human got here first"


def test_plan_goes_stale_when_manifest_changes(out: Path) -> None:
    plan = plan_writes(out, _files(**{"a.yaml": "a"}), scope="s")
    _build(out, _files(**{"b.yaml": "b"}), scope="other")
    with pytest.raises(WritePlanError, match="manifest.json: changed since the plan"):
        apply(plan)
    assert not (out / "a.yaml").exists()


# --- locking -------------------------------------------------------------------------------


def test_lock_held_in_process_refuses_apply(out: Path) -> None:
    plan = plan_writes(out, _files(a="a"), scope="s")
    (out / ".mcompile").mkdir(parents=True)
    fd = os.open(out / ".mcompile/lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutputLocked, match="another mcompile process"):
            apply(plan)
        with pytest.raises(OutputLocked):
            write_outputs(out, _files(a="a"), scope="s")
        assert not (out / "a").exists()
    finally:
        os.close(fd)
    assert apply(plan).written == ["a"]


def test_lock_held_by_other_process_refuses_apply(out: Path) -> None:
    (out / ".mcompile").mkdir(parents=True)
    holder = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(out / ".mcompile/lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        with pytest.raises(OutputLocked, match="lock .* is held"):
            _build(out, _files(a="a"))
    finally:
        proc.communicate("")
    assert _build(out, _files(a="a")).written == ["a"]


def test_write_outputs_plans_and_applies(out: Path) -> None:
    summary = write_outputs(out, _files(**{"x/y.yaml": "y"}), scope="s")
    assert summary.written == ["x/y.yaml"] and (out / "x/y.yaml").read_text() == "y"


# --- several scopes under one lock (a fleet writes thousands) --------------------------------

def test_write_scopes_equals_writing_each_scope_in_turn(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    scoped = [("one", _files(**{"one/x.yaml": "1", "one/d/y.yaml": "2"})), ("two", _files(**{"two/z.yaml": "3"}))]
    for out in (a, b):
        write_outputs(out, _files(**{"one/old.yaml": "gone"}), scope="one")
    for scope, files in scoped:
        write_outputs(a, files, scope=scope)
    results = writer.write_scopes(b, scoped)
    assert [s for s, _ in results] == ["one", "two"]
    assert results[0][1].written == ["one/d/y.yaml", "one/x.yaml"] and results[0][1].deleted == ["one/old.yaml"]
    assert results[1][1].written == ["two/z.yaml"]
    assert _tree(a) == _tree(b)
    assert all((a / p).read_bytes() == (b / p).read_bytes() for p in _tree(a) if not p.endswith("lock"))
    again = writer.write_scopes(b, scoped)
    assert [summary_line(s) for _, s in again] == ["0 written, 0 deleted, 2 unchanged", "0 written, 0 deleted, 1 unchanged"]


def test_write_scopes_refuses_everything_when_one_scope_is_bad(out: Path) -> None:
    (out / "two").mkdir(parents=True)
    (out / "two" / "z.yaml").write_text("by hand\n")
    with pytest.raises(WritePlanError, match="two/z.yaml: would overwrite unowned file"):
        writer.write_scopes(out, [("one", _files(**{"one/x.yaml": "1"})), ("two", _files(**{"two/z.yaml": "3"}))])
    assert _tree(out) == [".mcompile/lock", "two/z.yaml"]  # the lock, as write_outputs leaves it


def test_write_scopes_refuses_a_path_planned_by_two_scopes(out: Path) -> None:
    with pytest.raises(WritePlanError, match="shared.yaml: planned by scopes 'one' and 'two'"):
        writer.write_scopes(out, [("one", _files(**{"shared.yaml": "1"})), ("two", _files(**{"shared.yaml": "2"}))])
    assert _tree(out) == [".mcompile/lock"]


def test_many_files_are_made_durable_with_one_syncfs(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux: one syncfs(2) for the files' data, one for the directories, instead of an fsync
    per file (elsewhere every file is fsync'd, as before)."""
    from compiler.store import durable

    syncs, fsyncs = [], []
    real_syncfs, real_fsync = durable._syncfs, os.fsync
    monkeypatch.setattr(durable, "_syncfs", lambda root: (syncs.append(root), real_syncfs(root))[1])
    monkeypatch.setattr(durable.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    files = _files(**{f"d{i % 10}/f{i}.yaml": str(i) for i in range(50)})
    assert len(write_outputs(out, files, scope="s").written) == 50
    assert sorted(p for p in _tree(out) if not p.startswith(".mcompile")) == sorted(f.path for f in files)
    if sys.platform.startswith("linux"):
        assert durable._syncfs_available()
        assert len(syncs) == 2  # file data before the renames, then the 10 directories' entries
        assert len(fsyncs) == 2  # the manifest and its directory only
    else:
        assert len(fsyncs) >= 50


# --- the state directory in version control ----------------------------------------------


def test_state_dir_gitignore_keeps_lock_and_stage_out_of_commits(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    out = tmp_path / "out"
    write_outputs(out, _files(**{"p/a.yaml": "a"}), scope="p")
    (out / ".mcompile/stage/0123456789abcdef").mkdir(parents=True)
    (out / ".mcompile/stage/0123456789abcdef/journal.json").write_text("{}")
    status = subprocess.run(["git", "status", "--porcelain", "-uall"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert sorted(line[3:] for line in status.stdout.splitlines()) == [
        "out/.mcompile/.gitignore", "out/.mcompile/manifest.json", "out/p/a.yaml",
    ]


def test_state_dir_gitignore_edited_by_the_user_is_left_alone(out: Path) -> None:
    _build(out, _files(**{"a.yaml": "a"}))
    (out / ".mcompile/.gitignore").write_text("lock\n")
    _build(out, _files(**{"a.yaml": "b"}))
    assert (out / ".mcompile/.gitignore").read_text() == "lock\n"
