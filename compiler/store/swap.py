"""Whole-directory commits: a profile's output directory is replaced in one atomic step.

The per-file writer (``durable.py``) keeps every *file* old or new across a crash, but a build
killed half-way through a profile would leave ``out/<profile>/`` part old, part new: a chart
whose templates disagree with its values, synced by Argo CD in that state. Here a scope whose
files all live under one top-level directory ``out/<top>/`` that no other scope touches is
committed like this (Linux, ``renameat2(2)``):

1. a journal ``.mcompile/stage/<id>/journal.json`` is written: the directory, and every
   fingerprint of a file this build may leave behind (the new bytes, and the old bytes of
   files it replaces or deletes);
2. the new tree is staged in ``.mcompile/stage/<id>/tree``: new files are written, files that
   stay (unchanged output, hand-written files, symlinks, anything this tool does not own) are
   *hard-linked* from the live tree -- same inode, same bytes, same mode -- and empty
   directories and directory modes are carried over;
3. after one ``syncfs`` (journal and tree are durable), ``renameat2(RENAME_EXCHANGE)`` swaps the staged tree and ``out/<top>``
   (a plain no-replace rename when ``out/<top>`` did not exist): readers see the old
   directory or the new one, never a mix;
4. the old tree, now in the stage, is discarded by :func:`discard`, which is also how the next
   build cleans up after a crash at any point: an entry is deleted only if the live tree holds
   the same inode at the same path, or its fingerprint is in the journal (bytes this tool wrote
   or was replacing); anything else -- a file someone changed in the old tree while the build
   ran -- is moved to ``.mcompile/rescued/<top>/``, never deleted.

Anything else (no ``renameat2``, a filesystem without ``RENAME_EXCHANGE``, a scope spread over
several top-level directories, a file that cannot be hard-linked) falls back to per-file
commits, reported by :func:`stage` returning ``None``.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .durable import TMP_RE, fsync_dir, write_files
from .manifest import STATE_DIR
from .paths import ABSENT, fingerprint, sha
from .prestage import PREFIX, StagedFile, digest_of

__all__ = ["RESCUE_DIR", "STAGE_DIR", "Rescued", "Staged", "discard", "exchange_supported", "place", "recover", "stage", "swap_top"]

STAGE_DIR = f"{STATE_DIR}/stage"
RESCUE_DIR = f"{STATE_DIR}/rescued"
JOURNAL_FORMAT = "mcompile-swap/v1"
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


@dataclass(frozen=True)
class _Rel:
    path: str  # relative to the staged tree
    content: bytes


@dataclass(frozen=True)
class Rescued:
    """An entry of a discarded stage that nobody could vouch for, moved rather than deleted."""

    path: str  # where it lived, relative to the output directory
    saved_as: str  # where it is now, relative to the output directory

    @property
    def note(self) -> str:
        return f"{self.path}: changed while mcompile was writing; saved as {self.saved_as}"


@dataclass(frozen=True)
class Staged:
    """A staged tree, ready to be exchanged with ``root/top``."""

    root: Path
    top: str
    stage: Path  # .mcompile/stage/<id>: journal.json and tree/


def swap_top(paths: Iterable[str], scope: str, users: Mapping[str, set[str]]) -> str | None:
    """The one top-level directory holding every path of ``scope`` (planned and previously
    owned), if no other scope has a path under it (``users``: top-level name -> scopes); else
    None, and the scope is committed file by file."""
    tops = {p.split("/", 1)[0] if "/" in p else None for p in paths}
    if len(tops) != 1 or None in tops:
        return None
    (top,) = tops
    return top if top is not None and top != STATE_DIR and users.get(top, {scope}) == {scope} else None


_RENAMEAT2: list[object] = []


def _renameat2() -> object | None:
    if not _RENAMEAT2:
        import ctypes  # a build that renames no directory does not load it

        try:
            _RENAMEAT2.append(getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None))
        except OSError:
            _RENAMEAT2.append(None)
    return _RENAMEAT2[0]


def _rename2(src: Path, dst: Path, flags: int) -> None:
    fn = _renameat2()
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:  # type: ignore[operator]
        import ctypes

        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), os.fspath(src))


def exchange_supported(root: Path) -> bool:
    """True if ``root``'s filesystem swaps two directories atomically (probed once per build)."""
    if _renameat2() is None:
        return False
    probe = root / STAGE_DIR / "probe"
    try:
        for name in ("a", "b"):
            (probe / name).mkdir(parents=True, exist_ok=True)
        _rename2(probe / "a", probe / "b", _RENAME_EXCHANGE)
        return True
    except OSError:
        return False
    finally:
        for name in ("a", "b", ""):
            with suppress(OSError):
                os.rmdir(probe / name)


def _stage_dir(root: Path, top: str) -> Path:
    return root / STAGE_DIR / sha(top.encode("utf-8", "surrogateescape"))[:16]


def stage(root: Path, top: str, new: Sequence[Any], drop: Iterable[str], expected: Mapping[str, str]) -> Staged | None:
    """Stage the next ``root/top``: ``new`` files (``OutputFile``, or ``StagedFile``: bytes a
    worker already wrote to the prestage, renamed in) are added, ``drop`` paths are left out, and
    every other entry of the live tree (unchanged output included) is hard-linked. ``expected`` holds the fingerprints the plan saw on disk; the journal lists them for
    the paths this build replaces or drops, with the new bytes' fingerprints.
    Returns None (after removing the partial stage) when the live tree cannot be staged."""
    where = _stage_dir(root, top)
    ours: dict[str, set[str]] = {}
    for f in new:
        ours.setdefault(f.path, set()).add(f"sha256:{digest_of(f)}")
    paths = [f.path for f in new]
    for path in [*paths, *drop]:
        if expected.get(path, ABSENT) != ABSENT:
            ours.setdefault(path, set()).add(expected[path])
    journal = {"format": JOURNAL_FORMAT, "top": top, "ours": {p: sorted(v) for p, v in sorted(ours.items())}}
    tree = where / "tree"
    skip = set(paths) | set(drop)
    try:  # the journal first; the caller's sync_trees makes all of it durable before the swap
        where.mkdir(parents=True, exist_ok=True)
        write_files(where, [_Rel("journal.json", (json.dumps(journal, sort_keys=True) + "\n").encode("utf-8"))], durable=False)
        os.mkdir(tree)
        _carry(root / top, tree, top, skip)
        staged = [f for f in new if isinstance(f, StagedFile) and f.source is not None]
        _move_in(tree, [(f.source, f.path.split("/", 1)[1]) for f in staged if f.source is not None])
        rest = [f for f in new if not (isinstance(f, StagedFile) and f.source is not None)]
        write_files(tree, [_Rel(f.path.split("/", 1)[1], f.content) for f in sorted(rest, key=lambda f: f.path)], durable=False)
    except OSError:
        discard(root, where)
        return None
    return Staged(root, top, where)


def _move_in(tree: Path, moves: Sequence[tuple[str, str]]) -> None:
    """Rename staged files into ``tree`` (atomic each: a file there is always whole)."""
    made: set[str] = set()
    for source, rel in moves:
        target = os.path.join(tree, rel)
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        os.rename(source, target)


def _carry(live: Path, tree: Path, top: str, skip: set[str]) -> None:
    """Hard-link every non-directory entry of ``live`` (files, symlinks, special files) not in
    ``skip`` into ``tree``, and carry empty directories and directory modes. A directory left
    empty only because its files are in ``skip`` is not carried (our deletes prune it)."""
    try:
        st = os.lstat(live)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise OSError(errno.ENOTDIR, "not a directory", os.fspath(live))
    _carry_dir(live, tree, top, skip, stat.S_IMODE(st.st_mode))


def _carry_dir(src: Path, dest: Path, rel: str, skip: set[str], mode: int) -> None:
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    made = not entries
    if made:
        dest.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        path = f"{rel}/{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            _carry_dir(Path(entry.path), dest / entry.name, path, skip, stat.S_IMODE(entry.stat(follow_symlinks=False).st_mode))
        elif path not in skip:
            if not made:  # one mkdir per directory, not per file
                dest.mkdir(parents=True, exist_ok=True)
                made = True
            os.link(entry.path, dest / entry.name, follow_symlinks=False)
    if made or dest.is_dir():
        os.chmod(dest, mode)  # last: a read-only directory is filled before it is closed


def place(tree: Path, live: Path) -> bool:
    """Rename a complete, durable new tree to ``live``, which must not exist (no journal or
    stage needed: until the rename the tree is not output, after it the whole of it is); False
    (nothing changed) if the filesystem refuses or ``live`` appeared meanwhile."""
    try:
        _rename2(tree, live, _RENAME_NOREPLACE)
    except OSError:
        return False
    return True


def commit(staged: Staged, sync: bool = True) -> bool:
    """Swap the staged tree into place; False (nothing changed) if the filesystem refuses.
    ``sync=False``: the caller makes the rename durable (one flush for many swaps)."""
    live, tree = staged.root / staged.top, staged.stage / "tree"
    try:
        _rename2(tree, live, _RENAME_EXCHANGE if os.path.lexists(live) else _RENAME_NOREPLACE)
    except OSError:
        return False
    if sync:
        fsync_dir(staged.root)
        fsync_dir(staged.stage)
    return True


def recover(root: Path) -> list[Rescued]:
    """Discard every stage an earlier (interrupted) build left; returns what was rescued."""
    base = root / STAGE_DIR
    rescued: list[Rescued] = []
    with suppress(FileNotFoundError):
        for name in sorted(os.listdir(base)):
            if not name.startswith(PREFIX) and stat.S_ISDIR(os.lstat(base / name).st_mode):  # prestages: prestage.py
                rescued += discard(root, base / name)
    return rescued


def discard(root: Path, where: Path, sync: bool = True) -> list[Rescued]:
    """Remove a stage (a staged tree never committed, or the old tree after a commit); entries
    that are neither live (same inode at the same path) nor in the journal are rescued."""
    journal = _read_journal(where / "journal.json")
    top = journal.get("top") if isinstance(journal.get("top"), str) else None
    ours: dict[str, Any] = journal["ours"] if isinstance(journal.get("ours"), dict) else {}
    rescued: list[Rescued] = []
    if os.path.lexists(where / "tree"):
        _discard_dir(root, where / "tree", "", top, ours, where.name, rescued)
    for name in sorted(os.listdir(where)) if where.is_dir() else ():
        if name == "journal.json" or TMP_RE.fullmatch(name):  # the journal, or an interrupted write of it
            os.unlink(where / name)
        elif stat.S_ISDIR(os.lstat(where / name).st_mode):  # the empty directories of a probe
            with suppress(OSError):
                os.rmdir(where / name)
    with suppress(OSError):
        os.rmdir(where)
    if sync:
        fsync_dir(where.parent)
    return rescued


def _discard_dir(root: Path, directory: Path, rel: str, top: str | None, ours: Mapping, name: str, rescued: list[Rescued]) -> None:
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            _discard_dir(root, Path(entry.path), path, top, ours, name, rescued)
            continue
        live = f"{top}/{path}" if top else None
        if TMP_RE.fullmatch(entry.name) or (live and (
            _same_inode(Path(entry.path), root / live) or fingerprint(directory, entry.name) in ours.get(live, ())
        )):
            os.unlink(entry.path)
        else:
            rescued.append(_rescue(root, Path(entry.path), top or name, path))
    with suppress(OSError):
        os.rmdir(directory)


def _read_journal(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == JOURNAL_FORMAT else {}


def _same_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _rescue(root: Path, entry: Path, top: str, rel: str) -> Rescued:
    """Move an entry nobody can vouch for to ``.mcompile/rescued/<top>/<rel>`` (never over
    another file)."""
    dest = root / RESCUE_DIR / top / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = dest, 0
    while os.path.lexists(candidate):
        n += 1
        candidate = dest.with_name(f"{dest.name}.{n}")
    os.rename(entry, candidate)
    return Rescued(f"{top}/{rel}", candidate.relative_to(root).as_posix())
