"""The write plan's checks that come before any disk state: path syntax, duplicates, overlaps,
reserved names, two scopes planning one path, and whether the state files are safe to read
(then the manifest is read once). Every problem is collected; :class:`WritePlanError` lists them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .manifest import LOCK_NAME, STATE_DIR, read_manifest
from .paths import parent_problem, syntax_problems

__all__ = ["WritePlanError", "forget_checked", "precheck", "preflight"]


class WritePlanError(Exception):
    """The plan is invalid; ``problems`` lists every reason, sorted, one per entry."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("refusing to write outputs:\n  " + "\n  ".join(self.problems))


#: (scope, manifest name) -> (its paths, their problems): checked by :func:`precheck` while the
#: workers still run, taken (once) by :func:`preflight` when the paths are the same.
_CHECKED: dict[tuple[str, str], tuple[tuple[str, ...], list[str]]] = {}


def precheck(scope: str, paths: Sequence[str], manifest_name: str) -> None:
    """Check one scope's paths ahead of :func:`preflight` (the parent does it as each worker's
    outcome arrives: ``prestage.Prestage.arrived``); preflight uses the result only for exactly
    these paths of this scope, and only once."""
    _CHECKED[(scope, manifest_name)] = (tuple(paths), _validate([_Path(p) for p in paths], scope, manifest_name))


def forget_checked() -> None:
    """Drop what :func:`precheck` kept (the build is over)."""
    _CHECKED.clear()


class _Path:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


def _checked(files: Sequence[Any], scope: str, manifest_name: str) -> list[str]:
    """:func:`_validate`, or what :func:`precheck` found for the same paths."""
    kept = _CHECKED.pop((scope, manifest_name), None) if isinstance(scope, str) else None
    if kept is not None and kept[0] == tuple(f.path for f in files):
        return list(kept[1])
    return _validate(files, scope, manifest_name)


def _validate(files: Sequence[Any], scope: str, manifest_name: str) -> list[str]:
    """Problems visible without the disk: bad paths, duplicates, overlaps, reserved names."""
    problems = [f"manifest name {manifest_name!r} {p}" for p in syntax_problems(manifest_name)]
    if not isinstance(scope, str) or not scope or not scope.isprintable():
        problems.append(f"scope {scope!r} must be a non-empty printable string")
    seen: set[str] = set()
    for path in (f.path for f in files):
        bad = syntax_problems(path)
        problems += [f"{path!r}: {p}" for p in bad]
        if bad:
            continue
        if path in seen:
            problems.append(f"{path}: planned more than once")
        seen.add(path)
        if path.split("/")[0] == STATE_DIR or path == manifest_name or manifest_name.startswith(path + "/"):
            problems.append(f"{path}: inside the writer's state directory {STATE_DIR}/")
    if not _overlaps_or_folds(seen):
        return problems
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


def _overlaps_or_folds(seen: set[str]) -> bool:
    """Whether a path of ``seen`` is also a directory of another, or two names (paths and their
    directories) fold to one letter case: the loop after it then words every such problem. One
    pass over each path's parents (a fleet plans 105,000 paths, ~60 directories per profile)."""
    dirs: set[str] = set()
    for path in seen:
        parent = path.rpartition("/")[0]
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    if not dirs.isdisjoint(seen):
        return True
    names = seen | dirs
    return len({name.casefold() for name in names}) != len(names)


def preflight(
    root: Path, scoped: Sequence[tuple[str, Sequence[Any]]], manifest_name: str
) -> tuple[list[str], dict[str, dict[str, str]], bytes | None]:
    """Path problems of every scope, then -- only if the state files are safe to read -- the
    parsed manifest (read once): ``(problems, scopes, raw manifest bytes or None)``."""
    problems = [p for scope, files in scoped for p in _checked(files, scope, manifest_name)]
    if len(scoped) > 1:
        problems += _cross_scope_problems(scoped)
    if root.exists() and not root.is_dir():
        raise WritePlanError([*problems, f"{root}: output directory is not a directory"])
    unsafe = [
        f"{rel}: {bad}" for rel in (LOCK_NAME, manifest_name)
        if not syntax_problems(rel) and (bad := parent_problem(root, rel))
    ]
    if unsafe or syntax_problems(manifest_name):
        raise WritePlanError(problems + unsafe)
    scopes, raw, manifest_problems = read_manifest(root, manifest_name)
    return problems + manifest_problems, scopes, raw


def _cross_scope_problems(scoped: Sequence[tuple[str, Sequence[Any]]]) -> list[str]:
    """Two scopes written together may not plan the same path, nor be the same scope."""
    problems: list[str] = []
    owner: dict[str, str] = {}
    owners: set[str] = set()  # scopes that planned a file so far (a set: thousands of scopes)
    for scope, files in scoped:
        if scope in owners:
            problems.append(f"scope {scope!r} planned more than once")
        for f in files:
            owners.add(scope)
            if owner.setdefault(f.path, scope) != scope:
                problems.append(f"{f.path}: planned by scopes {owner[f.path]!r} and {scope!r}")
    return problems
