"""``mcompile build`` and ``mcompile check``: compile profiles into out/, or prove out/ current."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from ..errors import Diagnostic, InputError, Source
from . import jsonout
from .completion import profile_paths
from .jsonout import check_format
from .options import AllowKind, Crds, KubeVersion, Out, Override, Profiles, Set, verifier_from
from .root import app, handle_errors
from .term import painter, progress

Jobs = typer.Option(0, "--jobs", "-j", min=0, help="Profiles built in parallel worker processes (0: one per CPU; 1: in this process). Output is identical for every value.")
Strict = typer.Option(False, "--strict", help="Treat the capacity planner's warnings as errors (exit 2); CI uses it.")
if TYPE_CHECKING:
    from ..build import Target, Timings

ShowTimings = typer.Option(False, "--timings", help="Print the seconds spent per stage (resolve, plan+render, verify, emit, write) and the cache hits on stderr.")
CacheDir = typer.Option(None, "--cache-dir", help="Build cache directory (default: $MCOMPILE_CACHE_DIR, else .mcompile-cache/ beside the output directory).")
NoCache = typer.Option(False, "--no-cache", help="Compile every profile, read and write no cache (same output as with it). $MCOMPILE_NO_CACHE=1 does the same.")
Shard = typer.Option(None, "--shard", metavar="K/N", help="Only the profiles of shard K of N (stable: a hash of each profile's path). "
                     "No platform, no pruning: finish with one unsharded run over the shards' merged caches (README, CI).")


def _shard(value: Optional[str]) -> tuple[int, int] | None:
    if value is None:
        return None
    from ..build import parse_shard

    try:
        return parse_shard(value)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'--shard'") from None


def _open_cache(out: Path, cache_dir: Optional[Path], no_cache: bool, verifier):
    """The build cache, or None when disabled."""
    import os

    from ..cache.key import toolchain_digest
    from ..cache.store import NO_CACHE_ENV, BuildCache, default_cache_dir

    if no_cache or os.environ.get(NO_CACHE_ENV):
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


@app.command()
@handle_errors
def build(profiles: List[Path] = Profiles, override: Optional[List[Path]] = Override, set_: Optional[List[str]] = Set, out: Path = Out,
          crds: Optional[List[Path]] = Crds, kube_version: str = KubeVersion, allow_kind: Optional[List[str]] = AllowKind,
          jobs: int = Jobs, timings: bool = ShowTimings, strict: bool = Strict, cache_dir: Optional[Path] = CacheDir,
          no_cache: bool = NoCache, shard: Optional[str] = Shard) -> None:
    """Compile profiles into out/ (every environment: the chart and GitOps apps span them all). Nothing is written unless every profile compiles and verifies."""
    from ..build import Timings, effective_jobs, shard_of
    from ..store.incremental import index_for, write_changed
    from ..store.writer import OutputLocked, WritePlanError, summary_line

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
        typer.echo(str(w), err=True)
    if verifier.note():
        typer.echo(f"mcompile: {verifier.note()}", err=True)
    built = {s.name for s in staged.scopes}
    for scope, summary in summaries:
        pruned = "" if scope in built else "pruned (not part of this build: its profile was removed or not given), "
        typer.echo(f"{scope}: {pruned}{summary_line(summary)}")
    for note in sorted({n for _, s in summaries for n in s.notes}):
        typer.echo(f"mcompile: {note}", err=True)  # files left in place or rescued, never deleted
    if leftovers := sorted({t for _, s in summaries for t in s.removed_temp}):
        typer.echo(f"mcompile: removed {len(leftovers)} temp file(s) an interrupted build left", err=True)
    if part is not None:
        typer.echo(f"mcompile: shard {part[0]}/{part[1]}: {len(targets)} of {len(profiles)} profiles; the platform and pruning are left to the unsharded run", err=True)
    if timings:
        typer.echo(f"mcompile: {times.line(time.perf_counter() - start, effective_jobs(jobs, len(targets)))}", err=True)
        typer.echo(f"mcompile: {cache.stats.line() if cache else 'cache: off'}", err=True)


@app.command()
@handle_errors
def check(profiles: Optional[List[Path]] = typer.Argument(None, help="Profiles (default: profiles/*.yaml).", autocompletion=profile_paths), out: Path = Out,
          crds: Optional[List[Path]] = Crds, kube_version: str = KubeVersion, allow_kind: Optional[List[str]] = AllowKind,
          jobs: int = Jobs, format: str = typer.Option("text", "--format", help="text, or json (one document on stdout).", callback=check_format),
          cache_dir: Optional[Path] = CacheDir, no_cache: bool = NoCache, shard: Optional[str] = Shard) -> None:
    """Exit 1 if out/ is stale for these profiles (lists missing, changed and extra owned files with a short diff, and the command that fixes it)."""
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
            raise typer.Exit(1)
        return
    paint = painter()
    for scope in orphaned:
        typer.echo(paint(f"{scope}: orphaned: out/ holds output owned for {scope!r}, which is not part of this build; mcompile build removes it", "red"))
    for (scope, files), r in zip(planned, results, strict=True):
        if r.ok:
            typer.echo(f"{scope}: up to date ({len(files)} files)")
            continue
        for what, paths in (("missing", r.missing), ("changed", r.changed), ("extra", r.extra_owned)):
            for path in paths:
                typer.echo(paint(f"{scope}: {what}: {path}", "red"))
        if r.manifest_stale and not (r.missing or r.changed or r.extra_owned):
            typer.echo(paint(f"{scope}: manifest out of date", "red"))
        for path in r.changed:
            typer.echo(r.diffs.get(path, ""), nl=False)
    if stale:
        typer.echo(f"out/ is stale for {', '.join(stale)}: run {fix}", err=True)
        raise typer.Exit(1)


def _fix_command(profiles: list[Path], out: Path) -> str:
    """The exact command that brings the stale profiles' output up to date."""
    words = ["mcompile", "build", *(shlex.quote(p.as_posix()) for p in profiles)]
    if out != Path("out"):
        words += ["--out", shlex.quote(out.as_posix())]
    return " ".join(words)
