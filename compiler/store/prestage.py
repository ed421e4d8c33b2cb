"""Workers stage their own profile's files while the build runs; the parent only commits them.

A build (``mcompile build``) opens a *prestage* before its workers start (:func:`staging`): it
takes the output lock (held until the build ends, so no other build touches ``out/`` meanwhile),
removes what an interrupted build's prestage left, and creates ``.mcompile/stage/pre-<token>/``.
Each worker, once its profile compiled, verified and emitted, writes that scope's files there
(:meth:`Prestage.put`) -- every file when ``out/<profile>/`` does not exist yet, else only the
files whose bytes differ from what is on disk -- then a marker listing the scope's planned
digests and the staged paths, and hands the parent an outcome *without* the files' bytes. So the
files are written by all workers at once, and the parent never holds every profile's contents.

Nothing here is visible output: the prestage lives in the writer's state directory, is never
synced by Argo CD / Flux, and the writer still plans every scope against the manifest and the
disk before anything is committed (:mod:`compiler.store.writer`): a refused build removes the
prestage and leaves ``out/`` as it was. When a scope is committed, its staged files are
*renamed* into the swap stage (``swap.stage``): a fresh profile directory as one rename of the
whole tree, an existing one file by file (each file complete: renames are atomic). Files in the
prestage are written directly (no temp + rename each): they are only ever seen whole, after they
are renamed, and an interrupted build's prestage is deleted whole (bytes this tool wrote, never
live), never rescued. The usual single ``syncfs`` before the swaps makes them durable.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .durable import writeback
from .lazy import LazyFile
from .lock import OutputLocked, hold
from .manifest import LOCK_NAME, MANIFEST_NAME, STATE_DIR
from .paths import ParentCache, parent_problem, read_state, sha, syntax_problems
from .preflight import forget_checked, precheck

__all__ = ["PREFIX", "Found", "Prestage", "StagedFile", "active", "current", "digest_of", "remove_stale", "same_bytes", "staged_tree", "staging"]

#: Names of prestage directories in ``.mcompile/stage/`` (swap stages are 16 hex digits).
PREFIX = "pre-"
_STAGE = f"{STATE_DIR}/stage"
_ACTIVE: list[Prestage] = []


@dataclass(frozen=True)
class StagedFile:
    """A planned file whose bytes a worker staged (``source``), or, when it found the same bytes
    on disk, did not (``source`` None: the writer must find them unchanged, else refuses)."""

    path: str
    digest: str  # sha256 hex of the planned bytes
    source: str | None  # a string, not a Path: 100,000 of them in a fleet

    @property
    def content(self) -> bytes:
        if self.source is None:
            raise FileNotFoundError(f"{self.path}: not staged")
        with open(self.source, "rb") as fh:
            return fh.read()


def digest_of(f: Any) -> str:
    """sha256 hex of a planned file's bytes (a staged or lazy file knows it without its bytes)."""
    return f.digest if isinstance(f, StagedFile | LazyFile) else sha(f.content)


def same_bytes(f: Any, data: bytes) -> bool:
    """``data`` (read from disk) are the planned file's bytes."""
    return sha(data) == f.digest if isinstance(f, StagedFile | LazyFile) else data == f.content


def staged_tree(files: Any) -> Path | None:
    """The prestaged directory when it holds exactly ``files`` (all staged by one worker into a
    fresh directory: it is the whole next ``out/<top>/``), else None."""
    bases = set()
    for f in files:
        if not isinstance(f, StagedFile) or f.source is None:
            return None
        rest = "/" + f.path.split("/", 1)[1]
        text = f.source
        if not text.endswith(rest):
            return None
        bases.add(text[: -len(rest)])
    return Path(bases.pop()) if len(bases) == 1 else None


@dataclass(frozen=True)
class Found:
    """One scope's prestage: its files and whether ``tree`` is the whole next ``out/<top>/``."""

    files: list[StagedFile]
    where: Path  # pre-<token>/<scope hash>: the files at where/<path below the top directory>
    complete: bool  # every planned file was staged (out/<top>/ did not exist)
    stats: dict[str, list[int]] = field(default_factory=dict)  # a new tree's: path -> the staged file's stat (index.py)


class Prestage:
    """``root/.mcompile/stage/pre-<token>/``: one directory per scope and a marker beside it."""

    def __init__(self, root: Path, base: Path) -> None:
        self.root, self.base = root, base
        self.flushing: threading.Thread | None = None
        self.found: dict[str, tuple[dict[str, str], Found]] = {}  # scope -> (digests, its prestage): read by arrived()

    def arrived(self, outcome: Any) -> None:
        """In the parent, as each worker's outcome comes in (``build.build_all``), while the other
        workers still run: the commit's work that needs only this scope -- its marker read
        (:meth:`find`) and its paths checked (``preflight.precheck``). Both are used later only
        for the same scope with the same planned files."""
        name = outcome.name
        if name is None:
            return
        self.found.pop(name, None)  # an earlier attempt's (a retried build stages again)
        if outcome.files or not outcome.digests or outcome.errors or outcome.emit_errors:
            return  # not staged
        digests = dict(outcome.digests)
        if (found := self.find(name, digests)) is not None:
            self.found[name] = (digests, found)
        precheck(name, list(digests), MANIFEST_NAME)

    def flush_early(self) -> None:
        """In the parent, once every worker staged its files: write them back to disk in a
        background thread (one ``syncfs``, which releases the GIL) while the parent runs the
        fleet stage and plans the writes. The writer's one durability flush before the first
        commit (``sync_trees``) joins it first (:meth:`settle`) and then finds little to write."""
        if self.flushing is None:
            self.flushing = threading.Thread(target=writeback, args=(self.root,), name="mcompile-writeback", daemon=True)
            self.flushing.start()

    def settle(self) -> None:
        """Wait for :meth:`flush_early`'s thread (before a flush that must be durable, a fork, or
        removing the prestage)."""
        if self.flushing is not None:
            self.flushing.join()
            self.flushing = None

    def _dir(self, scope: str) -> Path:
        return self.base / sha(scope.encode("utf-8", "surrogateescape"))[:16]

    def put(self, outcome: Any) -> Any:
        """Stage a built profile's files (in the worker); the outcome without its bytes, or as
        it was when it has none or they cannot be staged (the parent then writes them)."""
        name, files = outcome.name, outcome.files
        if name is None or not files or outcome.errors or outcome.emit_errors or not outcome.digests:
            return outcome  # (no digests: a caller that wants the bytes, not scopes; see cache/run.py)
        if [p for p, _ in outcome.digests] != [f.path for f in files]:
            return outcome  # digests of other files: not this outcome's to stage
        tops = {f.path.split("/", 1)[0] for f in files}
        if len(tops) != 1 or any("/" not in f.path for f in files):
            return outcome  # only a scope under one directory (every profile) is committed whole
        where = self._dir(name)
        try:
            stats: dict[str, list[int]] = {}
            staged = self._write(where, files, tops.pop(), stats)
            digests = dict(outcome.digests)  # (path, sha256) of these files, taken when they were built (cache/run.py)
            marker = {"scope": name, "digests": digests, "staged": staged, "stats": stats}
            with open(f"{where}.json", "w", encoding="utf-8") as fh:  # last: the scope is complete
                fh.write(json.dumps(marker))  # (json.dump streams through json's pure-Python encoder: ~1.4 ms a profile)
        except (OSError, ValueError):
            remove_tree(where)
            return outcome
        return replace(outcome, files=())

    def _write(self, where: Path, files: Any, top: str, stats: dict[str, list[int]]) -> list[str]:
        """Write ``files`` (all under ``top/``) to ``where/<path below top>``, every one when
        ``out/<top>`` does not exist, else those whose bytes differ from the disk's. ``stats``
        gets, for a new tree (renamed into place whole, its files untouched), each file's
        ``(size, mtime_ns, ctime_ns, inode)`` once it is complete: the output index records them
        without an ``lstat`` of every file in the parent (``index.OutIndex.record``)."""
        remove_tree(where)  # a retried build (a damaged cache entry) stages again
        with suppress(FileNotFoundError):
            os.unlink(f"{where}.json")
        live = os.path.lexists(self.root / top)
        parents = ParentCache(self.root)
        made: set[str] = set()
        staged = []
        base = os.fspath(where)
        for f in files:
            if syntax_problems(f.path):
                raise ValueError(f.path)  # the writer refuses it, with the reason
            if live and not parents.problem(f.path) and read_state(self.root / f.path)[1] == f.content:
                continue  # already on disk: the writer finds it unchanged
            target = os.path.join(base, f.path.split("/", 1)[1])
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(f.content)
                while view:
                    view = view[os.write(fd, view):]
                os.fchmod(fd, 0o644)
                if not live:
                    st = os.fstat(fd)
                    stats[f.path] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
            finally:
                os.close(fd)
            staged.append(f.path)
        return staged

    def find(self, scope: str, digests: Mapping[str, str]) -> Found | None:
        """The scope's prestage if a worker staged exactly these planned files, else None."""
        if (kept := self.found.get(scope)) is not None and kept[0] == dict(digests):
            return kept[1]
        where = self._dir(scope)
        try:
            with open(f"{where}.json", encoding="utf-8") as fh:
                marker = json.load(fh)
        except (OSError, ValueError):
            return None
        if not isinstance(marker, dict) or marker.get("scope") != scope or marker.get("digests") != dict(digests):
            return None
        staged = set(marker.get("staged") or ())
        base = os.fspath(where)
        files = [StagedFile(p, d, base + "/" + p.split("/", 1)[1] if p in staged else None) for p, d in digests.items()]
        complete = staged == set(digests)
        stats = marker.get("stats")
        if not complete or not isinstance(stats, dict) or set(stats) != staged:
            stats = {}
        return Found(files, where, complete, stats)

    def clear(self) -> None:
        """Remove every staged file (before the manifest is written: nothing may outlive it)."""
        remove_tree(self.base)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """``shutil.rmtree(path, ignore_errors=True)``. What a build leaves here is usually nothing
    (the path was never made) or files and empty directories one level down (the markers, the
    directories of scopes renamed into place): those are removed with ``unlink``/``rmdir``, which
    never follow a symlink, without loading shutil (and the compression modules it imports);
    anything else (a symlink, a file, a fuller tree) goes to shutil."""
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            if os.path.lexists(path):
                _rmtree(path)
            return
        with os.scandir(path) as it:
            entries = list(it)
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                os.rmdir(entry.path)  # only an empty one: else OSError, and shutil removes the rest
            else:
                os.unlink(entry.path)
        os.rmdir(path)
    except OSError:
        _rmtree(path)


def _rmtree(path: str | os.PathLike[str]) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def current() -> Prestage | None:
    """The prestage of the build this process (or the parent it was forked from) runs, if any."""
    return _ACTIVE[-1] if _ACTIVE else None


def active(root: Path) -> Prestage | None:
    """The prestage this process opened for ``root``, if any."""
    return next((p for p in _ACTIVE if p.root == root), None)


def remove_stale(root: Path, keep: Path | None = None) -> None:
    """Delete prestages an interrupted build left (the caller holds the lock)."""
    with suppress(OSError):
        for entry in os.scandir(root / _STAGE):
            if entry.name.startswith(PREFIX) and (keep is None or entry.path != os.fspath(keep)):
                remove_tree(entry.path)


def _safe(root: Path) -> bool:
    """``root`` is (or can become) a plain directory whose state directory is safe to use."""
    if os.path.lexists(root) and not root.is_dir():
        return False
    return not any(parent_problem(root, rel) for rel in (LOCK_NAME, f"{_STAGE}/x/y"))


@contextmanager
def staging(out: Path, enabled: bool = True) -> Iterator[Prestage | None]:
    """Open a prestage for output directory ``out`` for the duration of a build (None when
    another process holds the lock, the directory is unsafe, or ``enabled`` is false: the build
    then runs as without it, and the writer reports what is wrong). On the way out it is removed;
    on a refused build (an exception), so is every directory it created and nothing else used."""
    root = Path(out).resolve()
    if not enabled or not _safe(root):
        yield None
        return
    created = [p for p in (root, root / STATE_DIR, root / LOCK_NAME, root / _STAGE) if not os.path.lexists(p)]
    lock = ExitStack()
    try:
        lock.enter_context(hold(root))
        remove_stale(root)
        base = root / _STAGE / f"{PREFIX}{os.urandom(8).hex()}"
        base.mkdir(parents=True)
    except (OutputLocked, OSError):
        lock.close()
        yield None  # the build runs as without a prestage; the writer reports the lock or the disk
        return
    pre = Prestage(root, base)
    _ACTIVE.append(pre)
    done = False
    try:
        yield pre
        done = True
    finally:
        _ACTIVE.remove(pre)
        pre.settle()
        pre.found.clear()
        forget_checked()
        pre.clear()
        for path in reversed(created if not done else ()):
            with suppress(OSError):
                os.unlink(path) if path == root / LOCK_NAME else os.rmdir(path)
        lock.close()
