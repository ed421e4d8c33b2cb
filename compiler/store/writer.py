"""The safe output writer: validate the whole plan, then write atomically under a lock.

Several profiles (scopes) share one ``out/`` directory. ``out/.mcompile/manifest.json`` records,
per scope, each file this tool wrote and its sha256. :func:`plan_writes` checks everything first
and raises :class:`WritePlanError` listing *every* problem, so nothing is written unless the whole
plan is valid; :func:`apply` executes a plan holding an exclusive ``flock`` on ``.mcompile/lock``.
:func:`write_scopes` plans and applies many scopes under one lock hold, reading and writing the
manifest once (a fleet of 1,000 profiles would otherwise rewrite a 5 MB manifest 1,000 times).

Crash safety. A scope whose files all live in one top-level directory that no other scope uses
(every profile: ``out/<profile>/``) is committed as a whole: ``swap.py`` stages the next tree and
swaps it in with one ``renameat2(RENAME_EXCHANGE)``, so the directory is wholly old or wholly new
at every instant. Other scopes, and filesystems that cannot swap, are committed file by file: each
file is written to ``.<name>.mcompile-tmp-<16 hex>`` beside its target, made durable (one
``syncfs`` for a batch: ``durable.py``) and ``os.replace``\\d, so it holds its old or new bytes.
The manifest is replaced *last*. A crash therefore leaves, at worst:

* a stage in ``.mcompile/stage/`` -- the next apply discards it (:func:`swap.recover`), deleting
  only entries that are live or listed in the stage's journal, rescuing anything else;
* a prestage ``.mcompile/stage/pre-*`` (files workers wrote for this build, ``prestage.py``) --
  never output, deleted whole by the next build that takes the lock;
* stray temp files -- the next :func:`apply` removes every file matching the temp pattern
  anywhere under ``out/`` (safe: the lock guarantees no other writer is running);
* files written but not yet recorded in the manifest -- the next build regenerates the same bytes,
  and a file whose bytes already equal the planned content is *adopted* (marked unchanged and
  recorded) rather than refused as unowned; if the inputs changed meanwhile, the build reports
  "would overwrite unowned file" and ``force=True`` resolves it;
* files deleted but still listed -- a listed file that is already gone is simply dropped.

Rules: owned files are regenerated freely; a file this scope owned but no longer produces is
deleted only if its bytes still match the recorded hash, otherwise it is *kept* ("modified by
hand, left in place") and dropped from the manifest; a file nobody owns is never overwritten
unless ``force=True``; a file owned by another scope is never touched. Directories are removed
only when they became empty through our own deletes. Files are written with mode 0644.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from ..types import OutputFile
from . import swap
from .durable import atomic_write, fsync_dir, prune_empty_dirs, remove_stray_temps, sync_dirs, sync_trees, write_files
from .lazy import release
from .lock import OutputLocked, hold
from .manifest import GITIGNORE, GITIGNORE_NAME, MANIFEST_NAME, STATE_DIR, render_manifest
from .paths import ABSENT, ParentCache, fingerprint, read_state, sha, syntax_problems
from .preflight import WritePlanError, preflight
from .prestage import StagedFile, active, digest_of, remove_stale, same_bytes, staged_tree

Planned = OutputFile | StagedFile

__all__ = [
    "MANIFEST_NAME",
    "OutputFile",
    "OutputLocked",
    "WritePlan",
    "WritePlanError",
    "WriteSummary",
    "apply",
    "locked",
    "plan_writes",
    "preflight",
    "summary_line",
    "write_outputs",
    "write_scopes",
]



@dataclass(frozen=True)
class WritePlan:
    """What :func:`apply` will do; every path is relative to ``out_dir`` and sorted."""

    out_dir: Path
    scope: str
    manifest_name: str
    to_write: tuple[Planned, ...]  # OutputFile, or StagedFile: bytes a worker staged (prestage.py)
    unchanged: tuple[str, ...]
    to_delete: tuple[str, ...]
    kept: tuple[str, ...]
    notes: tuple[str, ...]  # human-readable reasons for ``kept``
    manifest: bytes  # the manifest written last
    base_manifest: bytes | None  # the manifest as read while planning (None: there was none)
    expected: Mapping[str, str] = field(default_factory=dict)  # disk fingerprint per path at plan time
    swap_top: str | None = None  # the directory committed as a whole (see swap.py), or None: file by file


@dataclass(frozen=True)
class WriteSummary:
    """What :func:`apply` did."""

    written: list[str]
    deleted: list[str]
    unchanged: list[str]
    kept: list[str]
    removed_temp: list[str] = field(default_factory=list)  # leftovers of an interrupted build
    notes: list[str] = field(default_factory=list)  # files kept or rescued, and why


def plan_writes(
    out_dir: Path, files: Sequence[OutputFile], *, scope: str, manifest_name: str = MANIFEST_NAME, force: bool = False
) -> WritePlan:
    """Validate ``files`` against the disk and manifest and plan the writes for ``scope``.

    Raises :class:`WritePlanError` with every problem found. ``force=True`` allows overwriting
    files that exist but no scope owns (never files owned by another scope).
    """
    return _plan_many(Path(out_dir).resolve(), [(scope, files)], manifest_name, force)[0]


def _plan_many(
    root: Path, scoped: Sequence[tuple[str, Sequence[OutputFile]]], manifest_name: str, force: bool
) -> list[WritePlan]:
    """One plan per scope, all against the same manifest; every plan's ``manifest`` is the
    manifest with *all* the scopes updated (what is written once, last)."""
    problems, scopes, base = preflight(root, scoped, manifest_name)
    owners = {p: s for s, entries in scopes.items() for p in entries}
    parents = ParentCache(root)
    new_scopes = dict(scopes)
    parts = []
    for scope, files in scoped:
        part, more = _plan_scope(root, files, scope, scopes.get(scope, {}), owners, parents, force, manifest_name)
        problems += more
        parts.append(part)
        new_scopes[scope] = {f.path: digest_of(f) for f in files}
    if problems:
        raise WritePlanError(problems)
    manifest = render_manifest(new_scopes)
    users: dict[str, set[str]] = {}  # top-level name -> scopes with a path under it
    for scope, paths in [*scopes.items(), *((s, [f.path for f in files]) for s, files in scoped)]:
        for path in paths:
            users.setdefault(path.split("/", 1)[0], set()).add(scope)
    return [
        WritePlan(out_dir=root, scope=scope, manifest_name=manifest_name, manifest=manifest, base_manifest=base,
                  swap_top=swap.swap_top([*(f.path for f in files), *scopes.get(scope, {})], scope, users), **part)
        for (scope, files), part in zip(scoped, parts, strict=True)
    ]


def _plan_scope(
    root: Path, files: Sequence[Planned], scope: str, previous: Mapping[str, str], owners: Mapping[str, str],
    parents: ParentCache, force: bool, manifest_name: str,
) -> tuple[dict, list[str]]:
    """The WritePlan fields of one scope, and its problems."""
    problems: list[str] = []
    planned = {f.path for f in files}
    to_write: list[Planned] = []
    unchanged: list[str] = []
    to_delete: list[str] = []
    kept: dict[str, str] = {}  # path -> why it is left in place
    expected: dict[str, str] = {}
    gone: dict[str, bool] = {}  # top-level name -> absent (then so is every path under it: one lstat)
    for f in sorted(files, key=lambda f: f.path):
        if syntax_problems(f.path):
            continue
        owner = owners.get(f.path)
        if owner not in (None, scope):
            problems.append(f"{f.path}: owned by scope {owner!r}")
            continue
        if bad := parents.problem(f.path):
            problems.append(f"{f.path}: {bad}")
            continue
        top = f.path.split("/", 1)[0]
        if top not in gone:
            gone[top] = not os.path.lexists(root / top)
        absent = top != f.path and gone[top]
        kind, data = (ABSENT, None) if absent else read_state(root / f.path)
        if kind in ("directory", "special file"):
            problems.append(f"{f.path}: exists as a {kind}")
        elif data is not None and same_bytes(f, data):
            unchanged.append(f.path)
        elif kind != ABSENT and owner is None and not force:
            problems.append(f"{f.path}: would overwrite unowned file (not in {manifest_name}; use force)")
        elif isinstance(f, StagedFile) and f.source is None:  # it was on disk when the worker looked
            problems.append(f"{f.path}: changed on disk while mcompile was building; run again")
        else:
            to_write.append(f)
        expected[f.path] = f"sha256:{sha(data)}" if data is not None else kind
    for path, digest in sorted(previous.items()):
        if path in planned or syntax_problems(path):
            continue
        if bad := parents.problem(path):
            kept[path] = f"{path}: {bad}, left in place"
        elif (seen := fingerprint(root, path)) == f"sha256:{digest}":
            to_delete.append(path)
            expected[path] = seen
        elif seen != ABSENT:
            kept[path] = f"{path}: modified by hand, left in place"
    fields_ = {
        "to_write": tuple(to_write), "unchanged": tuple(unchanged), "to_delete": tuple(to_delete),
        "kept": tuple(kept), "notes": tuple(kept.values()), "expected": expected,
    }
    return fields_, problems


def _locked(root: Path) -> AbstractContextManager[None]:
    """Hold the exclusive, non-blocking ``flock`` on ``root/.mcompile/lock`` (``lock.py``)."""
    return hold(root)


def apply(plan: WritePlan) -> WriteSummary:
    """Execute ``plan``: clean temp leftovers, write, delete, prune empty dirs, manifest last.

    Raises :class:`OutputLocked` if another writer holds the lock, and :class:`WritePlanError` if
    the disk or manifest changed since the plan was made.
    """
    with _locked(plan.out_dir):
        return _apply_locked([plan])[0]


def write_outputs(
    out_dir: Path, files: Sequence[OutputFile], *, scope: str, manifest_name: str = MANIFEST_NAME, force: bool = False
) -> WriteSummary:
    """Plan and apply under one lock hold (no window for another writer between the two)."""
    return write_scopes(out_dir, [(scope, files)], manifest_name=manifest_name, force=force)[0][1]


def write_scopes(
    out_dir: Path, scoped: Sequence[tuple[str, Sequence[OutputFile]]], *, manifest_name: str = MANIFEST_NAME, force: bool = False,
    lock: bool = True, sweep: bool = True,
) -> list[tuple[str, WriteSummary]]:
    """:func:`write_outputs` for several scopes under one lock hold: every scope is planned (and
    every problem of every scope raised) before anything is written; the manifest is read once
    and written once, last. The result is the same as writing the scopes one after another.
    ``lock=False``: the caller holds :func:`locked` already. ``sweep=False``: the caller knows no
    earlier write was interrupted (``incremental.py``): temp files are looked for in the state
    directory only (the manifest's), not in the whole tree."""
    root = Path(out_dir).resolve()
    with _locked(root) if lock else nullcontext():
        plans = _plan_many(root, scoped, manifest_name, force)
        return [(p.scope, s) for p, s in zip(plans, _apply_locked(plans, sweep), strict=True)]


def locked(out_dir: Path) -> AbstractContextManager[None]:
    """Hold the output directory's write lock (raises :class:`OutputLocked` if another has it)."""
    return _locked(Path(out_dir).resolve())


def _apply_locked(plans: Sequence[WritePlan], sweep: bool = True) -> list[WriteSummary]:
    """Apply plans that share one manifest (the last plan's ``manifest`` holds every scope):
    repair what an interrupted build left, commit each busy scope (a whole-directory swap where
    possible, else file by file), then replace the manifest, last."""
    root, last = plans[0].out_dir, plans[-1]
    recovered = swap.recover(root)
    pre = active(root)
    remove_stale(root, keep=pre.base if pre else None)
    if sweep:
        removed_temp = remove_stray_temps(root, skip=[swap.RESCUE_DIR, *([pre.base.relative_to(root).as_posix()] if pre else [])])
    else:  # the manifest's own temp file is the only one written after BUSY is gone
        removed_temp = remove_stray_temps(root / STATE_DIR, skip=["stage", "rescued"]) if (root / STATE_DIR).is_dir() else []
        removed_temp = [f"{STATE_DIR}/{p}" for p in removed_temp]
    _verify_fresh(plans)
    busy = [p for p in plans if p.to_write or p.to_delete]
    eligible = [p for p in busy if p.swap_top]
    done = _commit_swaps(root, eligible) if eligible else {}
    if pre is not None:
        pre.settle()
    done.update(_commit_per_file(root, [p for p in busy if p.scope not in done]))
    if fingerprint(root, GITIGNORE_NAME) == ABSENT:  # the user's edits to it are theirs
        write_files(root, [OutputFile(GITIGNORE_NAME, GITIGNORE)], durable=False)  # not worth an fsync
    if pre is not None:
        pre.clear()  # what was staged is committed: nothing of it may outlive the manifest
    manifest_path = root / last.manifest_name
    if fingerprint(root, last.manifest_name) != f"sha256:{sha(last.manifest)}":
        atomic_write(manifest_path, last.manifest)
        fsync_dir(manifest_path.parent)
    summaries = []
    for plan in plans:
        deleted, kept, notes = done.get(plan.scope, ([], list(plan.kept), []))
        summaries.append(WriteSummary(
            written=sorted(f.path for f in plan.to_write), deleted=sorted(deleted), unchanged=sorted(plan.unchanged),
            kept=sorted(kept), removed_temp=removed_temp, notes=sorted({*plan.notes, *notes, *(r.note for r in recovered)}),
        ))
    return summaries


_Done = dict[str, tuple[list[str], list[str], list[str]]]  # scope -> (deleted, kept, notes)


def _commit_swaps(root: Path, plans: Sequence[WritePlan]) -> _Done:
    """Stage every scope's next directory, make all of them durable at once, swap each into
    place and discard the old trees. Scopes that cannot be staged or swapped are left out of the
    result (the caller commits them file by file): all but the new directories when the
    filesystem cannot exchange two directories (probed only when a live one is to be swapped; a
    new one is renamed with ``RENAME_NOREPLACE``, and one the filesystem refuses is left out)."""
    staged, fresh = [], []
    exchange: list[bool] = []
    for plan in plans:
        assert plan.swap_top is not None, "only swap-eligible plans are staged"
        whole = staged_tree(plan.to_write) if not plan.unchanged and not plan.to_delete else None
        if whole is not None and not os.path.lexists(root / plan.swap_top):
            fresh.append((plan, whole))  # a new directory a worker staged whole: renamed into place
            continue
        if not exchange:
            exchange.append(swap.exchange_supported(root))
        if not exchange[0]:
            continue
        st = swap.stage(root, plan.swap_top, plan.to_write, plan.to_delete, plan.expected)
        release(plan.to_write)  # written to the stage: the scope's bytes are not needed any more
        if st is not None:
            staged.append((plan, st))
    if (pre := active(root)) is not None:
        pre.settle()  # the early writeback of the workers' files (prestage.flush_early) is done
    sync_trees(root, [st.stage for _, st in staged] + [whole for _, whole in fresh])
    done: _Done = {}
    for plan, whole in fresh:
        assert plan.swap_top is not None
        if swap.place(whole, root / plan.swap_top):
            done[plan.scope] = ([], list(plan.kept), [])
    for plan, st in staged:  # the swaps are made durable together below, not one fsync each
        if not swap.commit(st, sync=False):
            swap.discard(root, st.stage, sync=False)
            continue
        rescued = swap.discard(root, st.stage, sync=False)
        moved = {r.path for r in rescued}
        done[plan.scope] = ([p for p in plan.to_delete if p not in moved], list(plan.kept), [r.note for r in rescued])
    if staged or fresh:  # every rename is durable before the manifest that describes the new trees is written
        sync_dirs(root, {root, root / swap.STAGE_DIR, *(st.stage for _, st in staged), *(w.parent for _, w in fresh)})
    return done


def _commit_per_file(root: Path, plans: Sequence[WritePlan]) -> _Done:
    """Replace each file atomically, delete what is no longer produced, prune empty directories."""
    touched: set[Path] = set()
    write_files(root, [f for plan in plans for f in plan.to_write])
    touched |= {(root / f.path).parent for plan in plans for f in plan.to_write}
    done: _Done = {}
    for plan in plans:
        deleted: list[str] = []
        kept = list(plan.kept)
        for path in plan.to_delete:
            if fingerprint(root, path) == plan.expected.get(path):
                os.unlink(root / path)
                deleted.append(path)
                touched.add((root / path).parent)
            else:
                kept.append(path)
        touched |= prune_empty_dirs(root, deleted)
        done[plan.scope] = (deleted, kept, [])
    sync_dirs(root, touched)
    return done


def _verify_fresh(plans: Sequence[WritePlan]) -> None:
    """Refuse a plan made against a disk or manifest that has changed since."""
    root = plans[0].out_dir
    problems = []
    if read_state(root / plans[0].manifest_name)[1] != plans[0].base_manifest:
        problems.append(f"{plans[0].manifest_name}: changed since the plan was made; plan again")
    parents = ParentCache(root)
    gone: dict[str, bool] = {}  # top-level name -> absent (then so is every path under it: one lstat)
    for plan in plans:
        for path, seen in plan.expected.items():
            top = path.split("/", 1)[0]
            if top not in gone:
                gone[top] = not os.path.lexists(root / top)
            if seen == ABSENT and top != path and gone[top]:
                continue
            if parents.problem(path) or fingerprint(root, path) != seen:
                problems.append(f"{path}: changed on disk since the plan was made; plan again")
    if problems:
        raise WritePlanError(problems)


def summary_line(summary: WriteSummary) -> str:
    """``"N written, N deleted, N unchanged"`` (plus ``", N kept"`` when files were left in place)."""
    line = f"{len(summary.written)} written, {len(summary.deleted)} deleted, {len(summary.unchanged)} unchanged"
    return line + (f", {len(summary.kept)} kept" if summary.kept else "")
