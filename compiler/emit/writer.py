"""The safe output writer: validate the whole plan, then write atomically under a lock.

Several profiles (scopes) share one ``out/`` directory. ``out/.mcompile/manifest.json`` records,
per scope, each file this tool wrote and its sha256. :func:`plan_writes` checks everything first
and raises :class:`WritePlanError` listing *every* problem, so nothing is written unless the whole
plan is valid; :func:`apply` executes a plan holding an exclusive ``flock`` on ``.mcompile/lock``.
:func:`write_scopes` plans and applies many scopes under one lock hold, reading and writing the
manifest once (a fleet of 1,000 profiles would otherwise rewrite a 5 MB manifest 1,000 times).

Crash safety. Each file is written to ``.<name>.mcompile-tmp-<16 hex>`` in its own directory,
flushed, made durable (fsync, or one ``syncfs`` for a whole batch: ``durable.py``) and
``os.replace``\\d over the target, so every file holds either its old or its new content, never
a mix. Directories are synced after all renames and deletes, and the manifest is replaced
*last*. A crash therefore leaves, at worst:

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

import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .durable import TMP_RE as _TMP_RE
from .durable import atomic_write as _atomic_write
from .durable import fsync_dir as _fsync_dir
from .durable import prune_empty_dirs as _prune_empty_dirs
from .durable import remove_stray_temps as _remove_stray_temps
from .durable import sync_dirs as _sync_dirs
from .durable import write_files as _write_files

__all__ = [
    "MANIFEST_NAME", "OutputFile", "OutputLocked", "WritePlan", "WritePlanError",
    "WriteSummary", "apply", "plan_writes", "summary_line", "write_outputs", "write_scopes",
]

STATE_DIR = ".mcompile"
MANIFEST_NAME = f"{STATE_DIR}/manifest.json"
LOCK_NAME = f"{STATE_DIR}/lock"
MANIFEST_FORMAT = "mcompile-manifest/v1"
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_ABSENT = "absent"


@dataclass(frozen=True)
class OutputFile:
    """One generated file: a POSIX path relative to the output directory, and its bytes."""

    path: str
    content: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not isinstance(self.content, bytes):
            raise TypeError("OutputFile needs a str path and bytes content")


class WritePlanError(Exception):
    """The plan is invalid; ``problems`` lists every reason, sorted, one per entry."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("refusing to write outputs:\n  " + "\n  ".join(self.problems))


class OutputLocked(Exception):
    """Another process holds the output directory's lock."""


@dataclass(frozen=True)
class WritePlan:
    """What :func:`apply` will do; every path is relative to ``out_dir`` and sorted."""

    out_dir: Path
    scope: str
    manifest_name: str
    to_write: tuple[OutputFile, ...]
    unchanged: tuple[str, ...]
    to_delete: tuple[str, ...]
    kept: tuple[str, ...]
    notes: tuple[str, ...]  # human-readable reasons for ``kept``
    manifest: bytes  # the manifest written last
    base_manifest: bytes | None  # the manifest as read while planning (None: there was none)
    expected: Mapping[str, str] = field(default_factory=dict)  # disk fingerprint per path at plan time


@dataclass(frozen=True)
class WriteSummary:
    """What :func:`apply` did."""

    written: list[str]
    deleted: list[str]
    unchanged: list[str]
    kept: list[str]
    removed_temp: list[str] = field(default_factory=list)  # leftovers of an interrupted build


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _syntax_problems(path: object) -> list[str]:
    """Reasons ``path`` is not a normalised, relative POSIX path (empty list when fine)."""
    if not isinstance(path, str) or not path:
        return ["path must be a non-empty string"]
    segments = path.lstrip("/").split("/")
    checks = [
        ("\0" in path, "contains a NUL byte"),
        ("\\" in path, "contains a backslash"),
        (path.startswith("/"), "is absolute"),
        ("" in segments, "has an empty segment"),
        (any(s in (".", "..") for s in segments), "is not normalised ('.' or '..' segment)"),
        (any(len(s.encode("utf-8", "surrogatepass")) > 255 for s in segments), "has a segment longer than 255 bytes"),
        (bool(_TMP_RE.fullmatch(segments[-1])), "file name matches the writer's temporary-file pattern"),
    ]
    return [message for failed, message in checks if failed]


def _parent_problem(root: Path, rel: str) -> str | None:
    """Why the parent directories of ``rel`` are unsafe (symlink, not a directory), if they are."""
    current = root
    for depth, segment in enumerate(rel.split("/")[:-1], start=1):
        current = current / segment
        where = "/".join(rel.split("/")[:depth])
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"cannot inspect parent {where}: {exc.strerror}"
        if stat.S_ISLNK(st.st_mode):
            target = os.path.realpath(current)
            if target != str(root) and not target.startswith(str(root) + os.sep):
                return f"escapes the output directory through symlink {where}"
            return f"passes through symlink {where}"
        if not stat.S_ISDIR(st.st_mode):
            return f"parent {where} is not a directory"
    return None


def _read_state(target: Path) -> tuple[str, bytes | None]:
    """``(kind, content)`` of ``target`` without following a final symlink or opening non-files."""
    try:
        st = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        return _ABSENT, None
    if stat.S_ISLNK(st.st_mode):
        return "symlink", None
    if stat.S_ISDIR(st.st_mode):
        return "directory", None
    if not stat.S_ISREG(st.st_mode):
        return "special file", None
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        return "file", fh.read()


def _fingerprint(root: Path, rel: str) -> str:
    kind, data = _read_state(root / rel)
    return f"sha256:{_sha(data)}" if data is not None else kind


def _read_manifest(root: Path, name: str) -> tuple[dict[str, dict[str, str]], bytes | None, list[str]]:
    """Parse the manifest: ``(scopes, raw bytes or None, problems)``."""
    kind, raw = _read_state(root / name)
    if raw is None:
        return {}, None, [] if kind == _ABSENT else [f"{name}: manifest is a {kind}"]
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        return {}, raw, [f"{name}: manifest is not valid JSON ({exc}); fix or remove it"]
    scopes = data.get("scopes") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(scopes, dict):
        return {}, raw, [f"{name}: not an {MANIFEST_FORMAT} manifest"]
    problems: list[str] = []
    owners: dict[str, str] = {}
    for scope, entries in scopes.items():
        if not isinstance(entries, dict) or not all(isinstance(d, str) and _SHA_RE.fullmatch(d) for d in entries.values()):
            problems.append(f"{name}: scope {scope!r} must map paths to sha256 hex digests")
            continue
        for path in entries:
            problems += [f"{name}: listed path {path!r} {p}" for p in _syntax_problems(path)]
            if path.split("/")[0] == STATE_DIR:
                problems.append(f"{name}: listed path {path!r} is inside {STATE_DIR}/")
            if path in owners:
                problems.append(f"{name}: {path} listed by scopes {owners[path]!r} and {scope!r}")
            owners[path] = scope
    return scopes, raw, problems


def _render_manifest(scopes: Mapping[str, Mapping[str, str]]) -> bytes:
    body = {"format": MANIFEST_FORMAT, "scopes": {s: dict(e) for s, e in scopes.items() if e}}
    return (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _validate(files: Sequence[OutputFile], scope: str, manifest_name: str) -> list[str]:
    """Problems visible without the disk: bad paths, duplicates, overlaps, reserved names."""
    problems = [f"manifest name {manifest_name!r} {p}" for p in _syntax_problems(manifest_name)]
    if not isinstance(scope, str) or not scope or not scope.isprintable():
        problems.append(f"scope {scope!r} must be a non-empty printable string")
    seen: set[str] = set()
    for path in (f.path for f in files):
        bad = _syntax_problems(path)
        problems += [f"{path!r}: {p}" for p in bad]
        if bad:
            continue
        if path in seen:
            problems.append(f"{path}: planned more than once")
        seen.add(path)
        if path.split("/")[0] == STATE_DIR or path == manifest_name or manifest_name.startswith(path + "/"):
            problems.append(f"{path}: inside the writer's state directory {STATE_DIR}/")
    names: set[str] = set()
    for path in seen:
        parts = path.split("/")
        names.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
        for depth in range(1, len(parts)):
            if (prefix := "/".join(parts[:depth])) in seen:
                problems.append(f"{prefix}: overlaps with {path} (a file cannot also be a directory)")
    folded: dict[str, str] = {}
    for name in sorted(names):
        if (other := folded.setdefault(name.casefold(), name)) != name:
            problems.append(f"{name}: differs from {other} only in letter case (clashes on macOS/Windows)")
    return problems


def _preflight(
    root: Path, files: Sequence[OutputFile], scope: str, manifest_name: str
) -> tuple[list[str], dict[str, dict[str, str]], bytes | None]:
    """Path problems, then -- only if the state files are safe to read -- the parsed manifest."""
    return _preflight_many(root, [(scope, files)], manifest_name)


def _preflight_many(
    root: Path, scoped: Sequence[tuple[str, Sequence[OutputFile]]], manifest_name: str
) -> tuple[list[str], dict[str, dict[str, str]], bytes | None]:
    """:func:`_preflight` for several scopes at once; the manifest is read once."""
    problems = [p for scope, files in scoped for p in _validate(files, scope, manifest_name)]
    if len(scoped) > 1:
        problems += _cross_scope_problems(scoped)
    if root.exists() and not root.is_dir():
        raise WritePlanError([*problems, f"{root}: output directory is not a directory"])
    unsafe = [
        f"{rel}: {bad}" for rel in (LOCK_NAME, manifest_name)
        if not _syntax_problems(rel) and (bad := _parent_problem(root, rel))
    ]
    if unsafe or _syntax_problems(manifest_name):
        raise WritePlanError(problems + unsafe)
    scopes, raw, manifest_problems = _read_manifest(root, manifest_name)
    return problems + manifest_problems, scopes, raw


def _cross_scope_problems(scoped: Sequence[tuple[str, Sequence[OutputFile]]]) -> list[str]:
    """Two scopes written together may not plan the same path, nor be the same scope."""
    problems, owner = [], {}
    for scope, files in scoped:
        if scope in owner.values():
            problems.append(f"scope {scope!r} planned more than once")
        for f in files:
            if owner.setdefault(f.path, scope) != scope:
                problems.append(f"{f.path}: planned by scopes {owner[f.path]!r} and {scope!r}")
    return problems


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
    problems, scopes, base = _preflight_many(root, scoped, manifest_name)
    owners = {p: s for s, entries in scopes.items() for p in entries}
    parents = _ParentCache(root)
    new_scopes = dict(scopes)
    parts = []
    for scope, files in scoped:
        part, more = _plan_scope(root, files, scope, scopes.get(scope, {}), owners, parents, force, manifest_name)
        problems += more
        parts.append(part)
        new_scopes[scope] = {f.path: _sha(f.content) for f in files}
    if problems:
        raise WritePlanError(problems)
    manifest = _render_manifest(new_scopes)
    return [
        WritePlan(out_dir=root, scope=scope, manifest_name=manifest_name, manifest=manifest, base_manifest=base, **part)
        for (scope, _), part in zip(scoped, parts)
    ]


class _ParentCache:
    """:func:`_parent_problem` for many paths, checking each parent directory once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.known: dict[str, str | None] = {}

    def problem(self, rel: str) -> str | None:
        parent = rel.rpartition("/")[0]
        if parent not in self.known:
            self.known[parent] = _parent_problem(self.root, rel)
        return self.known[parent]


def _plan_scope(
    root: Path, files: Sequence[OutputFile], scope: str, previous: Mapping[str, str], owners: Mapping[str, str],
    parents: _ParentCache, force: bool, manifest_name: str,
) -> tuple[dict, list[str]]:
    """The WritePlan fields of one scope, and its problems."""
    problems: list[str] = []
    planned = {f.path for f in files}
    to_write: list[OutputFile] = []
    unchanged: list[str] = []
    to_delete: list[str] = []
    kept: dict[str, str] = {}  # path -> why it is left in place
    expected: dict[str, str] = {}
    for f in sorted(files, key=lambda f: f.path):
        if _syntax_problems(f.path):
            continue
        owner = owners.get(f.path)
        if owner not in (None, scope):
            problems.append(f"{f.path}: owned by scope {owner!r}")
            continue
        if bad := parents.problem(f.path):
            problems.append(f"{f.path}: {bad}")
            continue
        kind, data = _read_state(root / f.path)
        if kind in ("directory", "special file"):
            problems.append(f"{f.path}: exists as a {kind}")
        elif data == f.content:
            unchanged.append(f.path)
        elif kind != _ABSENT and owner is None and not force:
            problems.append(f"{f.path}: would overwrite unowned file (not in {manifest_name}; use force)")
        else:
            to_write.append(f)
        expected[f.path] = f"sha256:{_sha(data)}" if data is not None else kind
    for path, digest in sorted(previous.items()):
        if path in planned or _syntax_problems(path):
            continue
        if bad := parents.problem(path):
            kept[path] = f"{path}: {bad}, left in place"
        elif (fingerprint := _fingerprint(root, path)) == f"sha256:{digest}":
            to_delete.append(path)
            expected[path] = fingerprint
        elif fingerprint != _ABSENT:
            kept[path] = f"{path}: modified by hand, left in place"
    fields_ = {
        "to_write": tuple(to_write), "unchanged": tuple(unchanged), "to_delete": tuple(to_delete),
        "kept": tuple(kept), "notes": tuple(kept.values()), "expected": expected,
    }
    return fields_, problems


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the exclusive, non-blocking ``flock`` on ``root/.mcompile/lock``."""
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    lock = root / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutputLocked(
            f"{root} is being written by another mcompile process (lock {lock} is held); "
            "wait for it to finish, then run again"
        ) from None
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


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
    out_dir: Path, scoped: Sequence[tuple[str, Sequence[OutputFile]]], *, manifest_name: str = MANIFEST_NAME, force: bool = False
) -> list[tuple[str, WriteSummary]]:
    """:func:`write_outputs` for several scopes under one lock hold: every scope is planned (and
    every problem of every scope raised) before anything is written; the manifest is read once
    and written once, last. The result is the same as writing the scopes one after another."""
    root = Path(out_dir).resolve()
    with _locked(root):
        plans = _plan_many(root, scoped, manifest_name, force)
        return [(p.scope, s) for p, s in zip(plans, _apply_locked(plans))]


def _apply_locked(plans: Sequence[WritePlan]) -> list[WriteSummary]:
    """Apply plans that share one manifest (the last plan's ``manifest`` holds every scope)."""
    root, last = plans[0].out_dir, plans[-1]
    removed_temp = _remove_stray_temps(root)
    _verify_fresh(plans)
    touched: set[Path] = set()
    _write_files(root, [f for plan in plans for f in plan.to_write])
    touched |= {(root / f.path).parent for plan in plans for f in plan.to_write}
    summaries = []
    for plan in plans:
        deleted: list[str] = []
        kept = list(plan.kept)
        for path in plan.to_delete:
            if _fingerprint(root, path) == plan.expected.get(path):
                os.unlink(root / path)
                deleted.append(path)
                touched.add((root / path).parent)
            else:
                kept.append(path)
        touched |= _prune_empty_dirs(root, deleted)
        summaries.append(WriteSummary(
            written=sorted(f.path for f in plan.to_write), deleted=sorted(deleted),
            unchanged=sorted(plan.unchanged), kept=sorted(kept), removed_temp=removed_temp,
        ))
    _sync_dirs(root, touched)
    manifest_path = root / last.manifest_name
    if _fingerprint(root, last.manifest_name) != f"sha256:{_sha(last.manifest)}":
        _atomic_write(manifest_path, last.manifest)
        _fsync_dir(manifest_path.parent)
    return summaries


def _verify_fresh(plans: Sequence[WritePlan]) -> None:
    """Refuse a plan made against a disk or manifest that has changed since."""
    root = plans[0].out_dir
    problems = []
    if _read_state(root / plans[0].manifest_name)[1] != plans[0].base_manifest:
        problems.append(f"{plans[0].manifest_name}: changed since the plan was made; plan again")
    parents = _ParentCache(root)
    for plan in plans:
        for path, fingerprint in plan.expected.items():
            if parents.problem(path) or _fingerprint(root, path) != fingerprint:
                problems.append(f"{path}: changed on disk since the plan was made; plan again")
    if problems:
        raise WritePlanError(problems)


def summary_line(summary: WriteSummary) -> str:
    """``"N written, N deleted, N unchanged"`` (plus ``", N kept"`` when files were left in place)."""
    line = f"{len(summary.written)} written, {len(summary.deleted)} deleted, {len(summary.unchanged)} unchanged"
    return line + (f", {len(summary.kept)} kept" if summary.kept else "")
