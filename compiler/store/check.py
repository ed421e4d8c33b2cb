"""``mcompile check``: compare planned files with the output directory, writing nothing."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import MANIFEST_NAME, render_manifest
from .paths import ABSENT, parent_problem, read_state, sha
from .writer import OutputFile, WritePlanError, preflight

__all__ = ["CheckResult", "check", "check_scopes", "short_diff"]


@dataclass(frozen=True)
class CheckResult:
    """Differences between the planned files and the output directory (nothing is written)."""

    missing: list[str]
    changed: list[str]
    extra_owned: list[str]  # owned by the scope, no longer produced, still on disk
    manifest_stale: bool = False
    diffs: dict[str, str] = field(default_factory=dict)  # short unified diff per changed path

    @property
    def ok(self) -> bool:
        """True when a build would change nothing."""
        return not (self.missing or self.changed or self.extra_owned or self.manifest_stale)



def short_diff(path: str, old: bytes, new: bytes, max_lines: int = 40) -> str:
    """A unified diff of two versions of a text file, capped at ``max_lines`` lines."""
    try:
        before, after = old.decode("utf-8"), new.decode("utf-8")
    except UnicodeDecodeError:
        return f"Binary file {path} differs\n"
    diff = difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"a/{path}", f"b/{path}")
    lines = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff]
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"... {len(lines) - max_lines} more diff lines\n"]
    return "".join(lines)


def check(
    out_dir: Path, files: Sequence[OutputFile], scope: str, *, manifest_name: str = MANIFEST_NAME
) -> CheckResult:
    """Compare ``files`` with the output directory without writing (for ``--check`` in CI)."""
    return check_scopes(out_dir, [(scope, files)], manifest_name=manifest_name)[0]


def check_scopes(
    out_dir: Path, scoped: Sequence[tuple[str, Sequence[OutputFile]]], *, manifest_name: str = MANIFEST_NAME
) -> list[CheckResult]:
    """:func:`check` for several scopes, reading the manifest once (a fleet has thousands)."""
    root = Path(out_dir).resolve()
    problems, scopes, raw_manifest = preflight(root, scoped, manifest_name)
    if problems:
        raise WritePlanError(problems)
    canonical = raw_manifest == render_manifest(scopes)  # rendered once, not once per scope
    return [_check_scope(root, files, scope, scopes, canonical) for scope, files in scoped]


def _check_scope(
    root: Path, files: Sequence[OutputFile], scope: str, scopes: dict[str, dict[str, str]], canonical: bool
) -> CheckResult:
    """One scope; the manifest is stale unless it is exactly what writing this scope would leave
    (canonical bytes, and this scope's entry equal to the planned files' hashes)."""
    missing, changed, diffs = [], [], {}
    for f in sorted(files, key=lambda f: f.path):
        kind, data = (ABSENT, None) if parent_problem(root, f.path) else read_state(root / f.path)
        if kind == ABSENT:
            missing.append(f.path)
        elif data != f.content:
            changed.append(f.path)
            diffs[f.path] = short_diff(f.path, data, f.content) if data is not None else f"{f.path} is a {kind}\n"
    planned = {f.path for f in files}
    extra = sorted(
        p for p in scopes.get(scope, {}) if p not in planned and not parent_problem(root, p)
        and read_state(root / p)[0] != ABSENT
    )
    entry = {f.path: sha(f.content) for f in files}
    return CheckResult(missing, changed, extra, not (canonical and scopes.get(scope, {}) == entry), diffs)
