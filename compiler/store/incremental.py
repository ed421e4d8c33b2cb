"""Write or check only the scopes that changed: the output index (``index.py``) tells which scopes
of ``out/`` already hold what the build planned, so their bytes are never loaded, compared or
handed to the writer; the writer plans and commits the rest (and prunes orphans) as always.

Without an index (``--no-cache``) every scope goes to the writer, exactly as before. The result
lines are the writer's: a clean scope reports its files as unchanged, as the writer would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..types import OutputFile
from .index import OutIndex
from .lazy import lazy_files
from .manifest import MANIFEST_NAME, read_manifest
from .prestage import Prestage, active
from .writer import WriteSummary, locked, write_scopes

if TYPE_CHECKING:  # loaded by check_changed: a build does not compare out/ with the plan
    from .check import CheckResult

__all__ = ["PlannedScope", "check_changed", "index_for", "write_changed"]


class PlannedScope(Protocol):
    name: str
    digests: dict[str, str]

    def files(self) -> list[OutputFile]: ...


def index_for(cache_root: Path | None, out: Path) -> OutIndex | None:
    """The index of output directory ``out`` kept under ``cache_root`` (None: no cache)."""
    if cache_root is None:
        return None
    root = Path(out).resolve()
    name = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return OutIndex.load(cache_root / "v1" / "index" / f"{name}.json", root)


def _orphans(root: Path, planned: Iterable[str]) -> list[str]:
    scopes, _, _ = read_manifest(root, MANIFEST_NAME)
    built = set(planned)
    return sorted(s for s in scopes if s not in built)


def _clean(index: OutIndex | None, planned: Sequence[PlannedScope]) -> set[str]:
    return index.clean([(s.name, s.digests) for s in planned]) if index is not None else set()


def write_changed(out: Path, planned: Sequence[PlannedScope], index: OutIndex | None, prune: bool = True) -> list[tuple[str, WriteSummary]]:
    """Write the scopes that differ from disk (and, with ``prune``, delete orphaned scopes' files)
    under the output lock; ``(scope, summary)`` for every planned scope, then the orphans."""
    root = Path(out).resolve()
    names = [s.name for s in planned]
    pairs: list[tuple[str, Mapping[str, str]]] = [(s.name, s.digests) for s in planned]
    with locked(root):
        clean = _clean(index, planned)
        if index is not None and len(clean) == len(planned) and not (prune and index.others(names)):
            index.save()  # stats refreshed by a hash fallback, if any
            return [(s.name, _unchanged(s)) for s in planned]
        stats: dict[str, list[int]] = {}  # of files staged as whole new trees (prestage.py): recorded without an lstat
        dirty = _load([s for s in planned if s.name not in clean], active(root), lazy=True, stats=stats)  # staged, or checked before anything is written
        orphans = _orphans(root, names) if prune else []
        written = _write(root, [*dirty, *((o, []) for o in orphans)], index) if dirty or orphans else {}
        if index is not None:
            index.record(pairs, [name for name, _ in dirty], exact=prune, known=stats)
            index.save()
    return [(s.name, written[s.name] if s.name in written else _unchanged(s)) for s in planned] + [(o, written[o]) for o in orphans]


def _write(root: Path, scoped: list[tuple[str, list[Any]]], index: OutIndex | None) -> dict[str, WriteSummary]:
    """The writer; with an index, the whole tree is swept for an interrupted write's temp files
    only when one may have happened: a mark beside the index exists while a write runs."""
    if index is None:
        return dict(write_scopes(root, scoped, lock=False))
    busy = index.path.with_name(index.path.name + ".busy")
    sweep = not index.swept or busy.exists()
    with suppress(OSError):
        busy.parent.mkdir(parents=True, exist_ok=True)
        busy.touch()
    written = dict(write_scopes(root, scoped, lock=False, sweep=sweep))
    with suppress(OSError):
        busy.unlink()
    return written


def _load(scopes: Sequence[PlannedScope], pre: Prestage | None = None, lazy: bool = False,
          stats: dict[str, list[int]] | None = None) -> list[tuple[str, list[Any]]]:
    """Every scope's files: staged by the worker that built it (``prestage.py``: no bytes here),
    else its bytes; if any cannot be read (a damaged cache entry) the first such error is
    raised after trying all of them, so one retry of the build recompiles every damaged one.
    ``lazy``: a scope that can read its bytes again (a build cache entry) is read here (so a
    damaged entry is found before anything is written), then dropped, and read again when the
    writer commits it (``lazy.py``): one scope's bytes in memory at a time. ``stats`` gets the
    stat a worker saw of each file it staged into a whole new tree."""
    out: list[tuple[str, list[Any]]] = []
    failed = None
    for s in scopes:
        try:
            found = pre.find(s.name, s.digests) if pre is not None else None
            files: list[Any] = found.files if found is not None else s.files()
            if found is not None and stats is not None:
                stats.update(found.stats)
            if {f.path for f in files} != set(s.digests):  # never write a scope from a partial list
                raise RuntimeError(f"scope {s.name!r}: its files were neither staged nor kept; run the build again")
            if lazy and found is None and getattr(s, "entry", None) is not None and hasattr(s, "loaded"):
                drop = partial(setattr, s, "loaded", None)  # cache.run.Scope: its entry is read again on demand
                files = lazy_files(s.digests, s.files, drop)
                drop()
            out.append((s.name, files))
        except Exception as exc:  # noqa: BLE001  (re-raised below, once every scope was tried)
            failed = failed or exc
    if failed is not None:
        raise failed
    return out


def _unchanged(scope: PlannedScope) -> WriteSummary:
    return WriteSummary(written=[], deleted=[], unchanged=sorted(scope.digests), kept=[])


def check_changed(out: Path, planned: Sequence[PlannedScope], index: OutIndex | None, orphans: bool = True) -> tuple[list[CheckResult], list[str]]:
    """``check_scopes`` for the scopes the index cannot vouch for (clean ones are up to date),
    and the orphaned scopes (``orphans=False``: not looked for, a shard)."""
    from .check import CheckResult, check_scopes

    root = Path(out).resolve()
    names = [s.name for s in planned]
    clean = _clean(index, planned)
    if index is not None:
        index.save()
    dirty = [s for s in planned if s.name not in clean]
    results = dict(zip([s.name for s in dirty], check_scopes(root, _load(dirty)), strict=True)) if dirty else {}
    found = [] if not orphans or (index is not None and len(clean) == len(planned) and not index.others(names)) else _orphans(root, names)
    return [results.get(s.name, CheckResult([], [], [])) for s in planned], found
