"""What ``mcompile build`` and ``mcompile check`` do, without typer: compile profiles into out/, or
prove out/ current. :mod:`.build` declares their options for typer; :mod:`.argv` calls these
functions directly for a plain command line (no typer loaded: ~20 ms of every build)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from ..errors import Diagnostic, InputError, Source
from . import jsonout
from .failures import Exit
from .params import shard as _shard
from .params import verifier_from
from .term import echo, painter, progress

if TYPE_CHECKING:
    from ..build import Target, Timings


def _open_cache(out: Path, cache_dir: Optional[Path], no_cache: bool, verifier):
    """The build cache, or None when disabled."""
    import os

    if no_cache:
        return None  # (nothing of the cache loaded)
    from ..cache.key import toolchain_digest
    from ..cache.store import NO_CACHE_ENV, BuildCache, default_cache_dir

    if os.environ.get(NO_CACHE_ENV):
        return None
    return BuildCache(default_cache_dir(out, cache_dir), toolchain_digest(verifier.crds, verifier.kube_version, verifier.allow, verifier.located))


def _compile(targets: list[Target], verifier, cache, jobs: int, times: Timings | None, label: str, strict: bool, fleet: bool, then):
    """Compile (the cached chain) and hand the result to ``then``; a cache entry found damaged
    on the way is removed and the whole step runs again (that profile is then compiled)."""
    from ..cache.entry import CorruptEntry
    from ..cache.run import run_cached

    for attempt in range(3):
        warnings: list[Diagnostic] = []
        try:
            with progress(label) as step:
                staged = run_cached(targets, verifier, cache, jobs, times, step if len(targets) > 1 else None, strict, warnings, fleet)
            return staged, warnings, then(staged)
        except CorruptEntry:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _default_profiles() -> list[Path]:
    found = sorted(Path("profiles").glob("*.yaml"))
    if not found:
        raise InputError([Diagnostic(Source("profiles", 1, 1), "$", "no profiles given and none found in profiles/*.yaml")])
    return found


def _targets(profiles: List[Path], override: Optional[List[Path]], set_: Optional[List[str]], out: Path) -> list[Target]:
    from ..build import target_for

    return [target_for(p, out, tuple(override or ()), tuple(set_ or ())) for p in profiles]


def _out_error(out: Path, problems: list[str]) -> InputError:
    return InputError([Diagnostic(Source(out.as_posix(), 1, 1), "$", msg) for msg in problems])


def build(profiles: List[Path], override: Optional[List[Path]], set_: Optional[List[str]], out: Path,
          crds: Optional[List[Path]], kube_version: str, allow_kind: Optional[List[str]],
          jobs: int, timings: bool, strict: bool, cache_dir: Optional[Path],
          no_cache: bool, shard: Optional[str]) -> None:
    """``mcompile build`` (its help is the typer command's, :func:`compiler.cli.build.build`)."""
    from ..build import Timings, shard_of
    from ..store.incremental import index_for, write_changed
    from ..store.writer import OutputLocked, WritePlanError, summary_line
    from ..workers import effective_jobs

    start, times = time.perf_counter(), Timings()
    part = _shard(shard)
    targets = _targets(profiles, override, set_, out)
    if part is not None:
        targets = [t for t in targets if shard_of(t.display, part[1]) == part[0]]
    verifier = verifier_from(crds, kube_version, allow_kind, lazy=True)
    cache = _open_cache(out, cache_dir, no_cache, verifier)

    def write(staged):
        begin = time.perf_counter()
        try:  # every scope is planned and checked before any file is written, under one lock
            return write_changed(out, staged.scopes, index_for(cache.root if cache else None, out), prune=part is None)
        except WritePlanError as e:
            raise _out_error(out, e.problems) from None
        except OutputLocked as e:
            raise _out_error(out, [str(e)]) from None
        except OSError as e:  # the output directory cannot be created or written: a usage problem, not a bug
            where = f" ({e.filename})" if e.filename else ""
            raise _out_error(out, [f"cannot write the output directory: {e.strerror or e}{where}; choose a writable --out"]) from None
        finally:
            times.write += time.perf_counter() - begin

    from ..store.prestage import staging

    with staging(out):  # the workers write their profiles' files while they build (compiler/store/prestage.py)
        staged, warnings, summaries = _compile(targets, verifier, cache, jobs, times, "build: compiling profiles", strict, part is None, write)
    for w in sorted(warnings, key=str):
        echo(str(w), err=True)
    if verifier.note():
        echo(f"mcompile: {verifier.note()}", err=True)
    built = {s.name for s in staged.scopes}
    for scope, summary in summaries:
        pruned = "" if scope in built else "pruned (not part of this build: its profile was removed or not given), "
        echo(f"{scope}: {pruned}{summary_line(summary)}")
    for note in sorted({n for _, s in summaries for n in s.notes}):
        echo(f"mcompile: {note}", err=True)  # files left in place or rescued, never deleted
    if leftovers := sorted({t for _, s in summaries for t in s.removed_temp}):
        echo(f"mcompile: removed {len(leftovers)} temp file(s) an interrupted build left", err=True)
    if part is not None:
        echo(f"mcompile: shard {part[0]}/{part[1]}: {len(targets)} of {len(profiles)} profiles; the platform and pruning are left to the unsharded run", err=True)
    if timings:
        echo(f"mcompile: {times.line(time.perf_counter() - start, effective_jobs(jobs, len(targets)))}", err=True)
        echo(f"mcompile: {cache.stats.line() if cache else 'cache: off'}", err=True)


def check(profiles: Optional[List[Path]], out: Path, crds: Optional[List[Path]], kube_version: str, allow_kind: Optional[List[str]],
          jobs: int, format: str, cache_dir: Optional[Path], no_cache: bool, shard: Optional[str]) -> None:
    """``mcompile check`` (its help is the typer command's, :func:`compiler.cli.build.check`)."""
    from ..build import shard_of
    from ..store.incremental import check_changed, index_for
    from ..store.writer import WritePlanError

    every = profiles or _default_profiles()
    part = _shard(shard)
    targets = _targets(every, None, None, out)
    given = list(every)
    if part is not None:
        given = [p for p, t in zip(every, targets, strict=True) if shard_of(t.display, part[1]) == part[0]]
        targets = [t for t in targets if shard_of(t.display, part[1]) == part[0]]
    try:
        verifier = verifier_from(crds, kube_version, allow_kind, lazy=True)
        cache = _open_cache(out, cache_dir, no_cache, verifier)
        staged, _, (results, orphaned) = _compile(targets, verifier, cache, jobs, None, "check: compiling profiles", False, part is None,
                                                  lambda st: check_changed(out, st.scopes, index_for(cache.root if cache else None, out), orphans=part is None))
        planned = [(s.name, s.digests) for s in staged.scopes]
    except WritePlanError as e:
        raise _out_error(out, e.problems) from None
    except InputError as e:
        if format == "json":
            jsonout.fail(e, {"stale": None, "profiles": []})
        raise
    by_scope = {scope: path.as_posix() for (scope, _), path in zip(planned, given, strict=False)}  # profiles first, then _platform (planned is longer)
    stale = [scope for (scope, _), r in zip(planned, results, strict=True) if not r.ok] + orphaned
    # The fleet is built as a whole (the platform is computed from every profile, and output of a
    # profile not given is pruned): the fix is always the build of every profile checked.
    fix = _fix_command(every, out)
    if format == "json":
        jsonout.emit({"ok": not stale, "stale": bool(stale), "command": fix if stale else None, "orphaned": orphaned, "profiles": [
            {"scope": scope, "profile": by_scope.get(scope), "ok": r.ok, "files": len(files), "missing": list(r.missing),
             "changed": list(r.changed), "extra": list(r.extra_owned), "manifestStale": bool(r.manifest_stale)}
            for (scope, files), r in zip(planned, results, strict=True)]})
        if stale:
            raise Exit(1)
        return
    paint = painter()
    for scope in orphaned:
        echo(paint(f"{scope}: orphaned: out/ holds output owned for {scope!r}, which is not part of this build; mcompile build removes it", "red"))
    for (scope, files), r in zip(planned, results, strict=True):
        if r.ok:
            echo(f"{scope}: up to date ({len(files)} files)")
            continue
        for what, paths in (("missing", r.missing), ("changed", r.changed), ("extra", r.extra_owned)):
            for path in paths:
                echo(paint(f"{scope}: {what}: {path}", "red"))
        if r.manifest_stale and not (r.missing or r.changed or r.extra_owned):
            echo(paint(f"{scope}: manifest out of date", "red"))
        for path in r.changed:
            echo(r.diffs.get(path, ""), nl=False)
    if stale:
        echo(f"out/ is stale for {', '.join(stale)}: run {fix}", err=True)
        raise Exit(1)


def _fix_command(profiles: list[Path], out: Path) -> str:
    """The exact command that brings the stale profiles' output up to date."""
    import shlex  # only a stale check prints a command

    words = ["mcompile", "build", *(shlex.quote(p.as_posix()) for p in profiles)]
    if out != Path("out"):
        words += ["--out", shlex.quote(out.as_posix())]
    return " ".join(words)
