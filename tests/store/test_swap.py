"""Tests for :mod:`compiler.store.swap`: whole-directory commits, carried files, crash recovery.

Real directories, real ``renameat2``. A "crash" at a given step is an exception raised from the
step after it (nothing later in the build runs); the next build must then repair out/.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from compiler.store import swap, writer
from compiler.store.paths import sha
from compiler.store.writer import OutputFile, write_outputs, write_scopes

pytestmark = pytest.mark.skipif(not swap.exchange_supported(Path.cwd()), reason="filesystem without RENAME_EXCHANGE")

STAGE = ".mcompile/stage"


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def _files(**named: str) -> list[OutputFile]:
    return [OutputFile(path, text.encode()) for path, text in named.items()]


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _ino(path: Path) -> int:
    return os.lstat(path).st_ino


V1 = {"p/chart/Chart.yaml": "v1", "p/chart/templates/a.yaml": "a1", "p/old/x.yaml": "x", "p/same.yaml": "same"}
V2 = {"p/chart/Chart.yaml": "v2", "p/chart/templates/a.yaml": "a2", "p/new/y.yaml": "y", "p/same.yaml": "same"}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write_outputs(out, _files(**V1), scope="p")
    return out


# --- which scopes are swapped ----------------------------------------------------------------


@pytest.mark.parametrize(("paths", "users", "expected"), [
    (["p/a", "p/b/c"], {"p": {"s"}}, "p"),
    (["p/a", "q/b"], {"p": {"s"}, "q": {"s"}}, None),  # two top-level directories
    (["top.yaml"], {"top.yaml": {"s"}}, None),  # a file at the top of out/
    (["p/a"], {"p": {"s", "other"}}, None),  # another scope writes under p/ too
    ([".mcompile/x"], {".mcompile": {"s"}}, None),
    ([], {}, None),
])
def test_swap_top(paths: list[str], users: dict, expected: str | None) -> None:
    assert swap.swap_top(paths, "s", users) == expected


def test_plan_names_the_directory_it_swaps(out: Path) -> None:
    plans = writer._plan_many(out, [("p", _files(**V2)), ("q", _files(**{"q/a": "a", "top.yaml": "t"}))], writer.MANIFEST_NAME, False)
    assert [p.swap_top for p in plans] == ["p", None]


# --- a commit replaces the directory as a whole ----------------------------------------------


def test_rebuild_swaps_the_whole_directory_and_leaves_no_stage(out: Path) -> None:
    before = _ino(out / "p")
    summary = write_outputs(out, _files(**V2), scope="p")
    assert _ino(out / "p") != before  # a new directory took its place
    assert summary.written == ["p/chart/Chart.yaml", "p/chart/templates/a.yaml", "p/new/y.yaml"]
    assert summary.deleted == ["p/old/x.yaml"] and summary.unchanged == ["p/same.yaml"]
    tree = _tree(out)
    assert {k: v.decode() for k, v in tree.items() if k.startswith("p/")} == V2
    assert not (out / "p/old").exists()  # emptied by our delete: not carried
    assert os.listdir(out / STAGE) == []
    assert not (out / ".mcompile/rescued").exists()
    assert json.loads((out / ".mcompile/manifest.json").read_text())["scopes"]["p"] == {k: sha(v.encode()) for k, v in V2.items()}


def test_no_op_build_touches_nothing(out: Path) -> None:
    before = {p: os.lstat(out / p) for p in ["p", *V1]}
    summary = write_outputs(out, _files(**V1), scope="p")
    assert summary.written == [] and summary.deleted == []
    for path, st in before.items():
        assert (os.lstat(out / path).st_ino, os.lstat(out / path).st_mtime_ns) == (st.st_ino, st.st_mtime_ns), path


def test_unchanged_files_keep_inode_mtime_and_mode(out: Path) -> None:
    os.chmod(out / "p/same.yaml", 0o600)
    st = os.lstat(out / "p/same.yaml")
    write_outputs(out, _files(**V2), scope="p")
    now = os.lstat(out / "p/same.yaml")
    assert (now.st_ino, now.st_mtime_ns, stat.S_IMODE(now.st_mode)) == (st.st_ino, st.st_mtime_ns, 0o600)
    assert stat.S_IMODE(os.lstat(out / "p/chart/Chart.yaml").st_mode) == 0o644


def test_everything_the_tool_does_not_own_is_carried_over(out: Path) -> None:
    (out / "p/README.md").write_text("hand written")
    (out / "p/chart/NOTES.hand").write_text("more")
    (out / "p/old/keep.txt").write_text("keeps p/old alive")
    (out / "p/empty/deeper").mkdir(parents=True)
    (out / "p/link").symlink_to("chart/Chart.yaml")
    (out / "p/dirlink").symlink_to("chart")
    (out / "p/dangling").symlink_to("nowhere")
    os.mkfifo(out / "p/fifo")
    os.chmod(out / "p/chart", 0o750)
    (out / "p/chart/Chart.yaml").write_text("edited by hand")  # owned, still produced: regenerated
    (out / "p/old/x.yaml").write_text("edited by hand")  # owned, no longer produced: kept
    inodes = {p: _ino(out / p) for p in ["p/README.md", "p/link", "p/dirlink", "p/fifo", "p/old/x.yaml"]}
    summary = write_outputs(out, _files(**V2), scope="p")
    assert summary.kept == ["p/old/x.yaml"] and summary.deleted == []
    assert summary.notes == ["p/old/x.yaml: modified by hand, left in place"]
    for path, ino in inodes.items():
        assert _ino(out / path) == ino, path  # the same file, not a copy
    assert (out / "p/README.md").read_text() == "hand written" and (out / "p/chart/NOTES.hand").read_text() == "more"
    assert (out / "p/old/x.yaml").read_text() == "edited by hand" and (out / "p/old/keep.txt").exists()
    assert (out / "p/empty/deeper").is_dir()
    assert os.readlink(out / "p/link") == "chart/Chart.yaml" and (out / "p/link").read_text() == "v2"
    assert os.readlink(out / "p/dirlink") == "chart" and os.readlink(out / "p/dangling") == "nowhere"
    assert stat.S_ISFIFO(os.lstat(out / "p/fifo").st_mode)
    assert stat.S_IMODE(os.lstat(out / "p/chart").st_mode) == 0o750
    assert os.listdir(out / STAGE) == [] and not (out / ".mcompile/rescued").exists()


def test_first_build_renames_a_fresh_directory_into_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(out, _files(**V2), scope="p")
    assert {k: v.decode() for k, v in _tree(out).items() if k.startswith("p/")} == V2
    assert os.listdir(out / STAGE) == []


def test_many_scopes_each_swapped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_scopes(out, [("a", _files(**{"a/x": "1"})), ("b", _files(**{"b/x": "1"}))])
    inodes = {d: _ino(out / d) for d in "ab"}
    write_scopes(out, [("a", _files(**{"a/x": "2"})), ("b", _files(**{"b/x": "1"}))])
    assert _ino(out / "a") != inodes["a"] and _ino(out / "b") == inodes["b"]  # b had nothing to do
    assert (out / "a/x").read_text() == "2"


# --- fallbacks: file by file ---------------------------------------------------------------


def test_scope_over_two_directories_is_committed_file_by_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs(out, _files(**{"p/a": "1", "q/b": "1"}), scope="s")
    inodes = {d: _ino(out / d) for d in "pq"}
    write_outputs(out, _files(**{"p/a": "2", "q/b": "2"}), scope="s")
    assert {d: _ino(out / d) for d in "pq"} == inodes and (out / "p/a").read_text() == "2"


def test_filesystem_without_exchange_falls_back_to_file_by_file(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(swap, "_RENAMEAT2", [None])  # as on a kernel or libc without renameat2
    assert not swap.exchange_supported(out)
    before = _ino(out / "p")
    write_outputs(out, _files(**V2), scope="p")
    assert _ino(out / "p") == before and (out / "p/chart/Chart.yaml").read_text() == "v2"
    assert not (out / "p/old").exists() and not os.path.lexists(out / STAGE / "probe")


def test_unlinkable_entry_falls_back_and_leaves_no_stage(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (out / "p/README.md").write_text("hand written")

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")  # e.g. fs.protected_hardlinks, another owner

    monkeypatch.setattr(swap.os, "link", refuse)
    before = _ino(out / "p")
    write_outputs(out, _files(**V2), scope="p")
    assert _ino(out / "p") == before and (out / "p/README.md").read_text() == "hand written"
    assert (out / "p/chart/Chart.yaml").read_text() == "v2" and os.listdir(out / STAGE) == []


# --- crashes and recovery ------------------------------------------------------------------


def _crash_at(monkeypatch: pytest.MonkeyPatch, name: str, after: int = 0) -> None:
    """Make ``swap.<name>`` die after ``after`` successful calls."""
    real, calls = getattr(swap, name), []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) > after:
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(swap, name, dying)


@pytest.mark.parametrize(("step", "after", "live"), [
    ("commit", 0, "old"),  # staged and durable, never swapped
    ("discard", 0, "new"),  # swapped, the old tree still in the stage
])
def test_crash_leaves_old_or_new_tree_and_next_build_repairs(out: Path, monkeypatch: pytest.MonkeyPatch, step: str, after: int, live: str) -> None:
    (out / "p/README.md").write_text("hand written")
    manifest = (out / ".mcompile/manifest.json").read_bytes()
    _crash_at(monkeypatch, step, after)
    with pytest.raises(Crash):
        write_outputs(out, _files(**V2), scope="p")
    monkeypatch.undo()
    expect = {**(V1 if live == "old" else V2), "p/README.md": "hand written"}
    assert {k: v.decode() for k, v in _tree(out).items() if k.startswith("p/")} == expect
    assert (out / ".mcompile/manifest.json").read_bytes() == manifest  # the manifest goes last
    assert len(os.listdir(out / STAGE)) == 1  # the leftover
    summary = write_outputs(out, _files(**V2), scope="p")
    assert {k: v.decode() for k, v in _tree(out).items() if k.startswith("p/")} == {**V2, "p/README.md": "hand written"}
    assert os.listdir(out / STAGE) == [] and summary.notes == [] and not (out / ".mcompile/rescued").exists()


def test_crash_while_staging_leaves_the_live_tree_untouched(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = swap.write_files

    def half(root: Path, files, **kw):  # the first new file lands, then the process dies
        if root.name != "tree":  # the journal
            return real(root, files, **kw)
        real(root, files[:1], **kw)
        (root / ".a.yaml.mcompile-tmp-0123456789abcdef").write_bytes(b"a")  # mid-way through another
        (root / "stray.txt").write_bytes(b"")  # and something that is in no journal
        raise Crash("staging")

    monkeypatch.setattr(swap, "write_files", half)
    with pytest.raises(Crash):
        write_outputs(out, _files(**V2), scope="p")
    monkeypatch.undo()
    assert {k: v.decode() for k, v in _tree(out).items() if k.startswith("p/")} == V1
    write_outputs(out, _files(**V2), scope="p")
    assert {k: v.decode() for k, v in _tree(out).items() if k.startswith("p/")} == V2
    # The temp file is ours (deleted); the other is in no journal and not live: kept, not deleted.
    assert _tree(out / ".mcompile/rescued") == {"p/stray.txt": b""}


def test_file_replaced_during_the_build_is_rescued_never_deleted(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (out / "p/README.md").write_text("v1 of the notes")
    real_commit = swap.commit

    def edit_then_commit(staged, sync=True):  # someone saves README.md (a new inode) after staging
        tmp = out / "p/.README.md.swp"
        tmp.write_text("v2 of the notes")
        os.replace(tmp, out / "p/README.md")
        return real_commit(staged, sync)

    monkeypatch.setattr(swap, "commit", edit_then_commit)
    summary = write_outputs(out, _files(**V2), scope="p")
    assert summary.notes == ["p/README.md: changed while mcompile was writing; saved as .mcompile/rescued/p/README.md"]
    assert (out / ".mcompile/rescued/p/README.md").read_text() == "v2 of the notes"
    assert (out / "p/README.md").read_text() == "v1 of the notes"


def test_stage_without_journal_is_rescued_whole(out: Path) -> None:
    stray = out / STAGE / "0123456789abcdef" / "tree" / "sub"
    stray.mkdir(parents=True)
    (stray / "f.txt").write_text("who knows")
    summary = write_outputs(out, _files(**V2), scope="p")
    assert summary.notes == ["0123456789abcdef/sub/f.txt: changed while mcompile was writing; saved as .mcompile/rescued/0123456789abcdef/sub/f.txt"]
    assert (out / ".mcompile/rescued/0123456789abcdef/sub/f.txt").read_text() == "who knows"
    assert os.listdir(out / STAGE) == []


def test_rescue_never_overwrites_an_earlier_rescue(tmp_path: Path) -> None:
    root = tmp_path
    for text in ("first", "second"):
        entry = root / "x.txt"
        entry.write_text(text)
        swap._rescue(root, entry, "p", "x.txt")
    assert (root / ".mcompile/rescued/p/x.txt").read_text() == "first"
    assert (root / ".mcompile/rescued/p/x.txt.1").read_text() == "second"


def test_leftover_probe_is_cleaned(out: Path) -> None:
    for name in ("a", "b"):
        (out / STAGE / "probe" / name).mkdir(parents=True)
    assert swap.recover(out) == []
    assert os.listdir(out / STAGE) == []
