"""Build orchestration: profiles -> verified output files per scope, before anything is written.

Each profile is compiled, verified and emitted on its own (:func:`build_one`), so profiles can be
built in parallel: with ``jobs > 1`` on Linux, worker processes are forked from this one (they
share its already-loaded schemas, CRDs and CEL parser copy-on-write) and each returns only
picklable results — diagnostics, files, and the identities of the objects the profile renders.
Results are taken in the order the profiles were given, so the output is the same bytes whatever
``jobs`` is. Every error of every profile is collected before failing; nothing is emitted for
writing unless the whole set compiled and verified.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

from .emit.layout import profile_files
from .emit.variance import object_key
from .emit.writer import OutputFile, WriteSummary, write_scopes
from .errors import Diagnostic, InputError, Source, with_sources
from .pipeline import Compiled, compile_resolved
from .resolve import Request, resolve_all
from .verify import Verifier, verify_compiled

ObjectKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Target:
    request: Request
    display: str


@dataclass
class Timings:
    """Seconds spent per stage, summed over profiles (and over worker processes)."""

    resolve: float = 0.0
    render: float = 0.0  # profile + plan + render
    verify: float = 0.0
    emit: float = 0.0
    write: float = 0.0

    def add(self, other: Timings) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def line(self, wall: float, workers: int) -> str:
        """One human-readable line (``mcompile build --timings``)."""
        over = f"summed over {workers} worker processes" if workers > 1 else "one process"
        parts = ", ".join(f"{'plan+render' if f.name == 'render' else f.name} {getattr(self, f.name):.3f}" for f in fields(self))
        return f"timings (s, {over}): {parts}; wall {wall:.3f}"


@dataclass(frozen=True)
class Outcome:
    """One profile, built: what a worker process sends back (no live pipeline objects)."""

    display: str
    name: str | None  # None when the profile did not compile
    source: str  # the profile's source name (for messages naming it)
    errors: tuple[Diagnostic, ...]  # compile and verify errors
    emit_errors: tuple[Diagnostic, ...]
    files: tuple[OutputFile, ...]
    owned: tuple[tuple[ObjectKey, Source], ...]  # every object identity, with where to blame it
    unchecked: frozenset[tuple[str, str]] = frozenset()
    times: Timings = field(default_factory=Timings)
    warnings: tuple[Diagnostic, ...] = ()  # the planner's, per environment


def plan_warnings(compiled: Sequence[Compiled]) -> list[Diagnostic]:
    """The planner's warnings of every environment, each once, tagged with its environments."""
    seen: dict[tuple[Source, str, str], list[str]] = {}
    for c in compiled:
        for w in c.plan.warnings:
            seen.setdefault((w.source, w.path, w.message), []).append(c.profile.env)
    return [Diagnostic(src, path, f"[{', '.join(envs)}] {msg}") for (src, path, msg), envs in seen.items()]


def source_name(profile: Path, out: Path) -> str:
    """The profile's path relative to the directory holding out/ (stable across working dirs)."""
    rel = os.path.relpath(profile.resolve(), out.resolve().parent)
    return Path(rel).as_posix() if not rel.startswith("..") else profile.name


def target_for(profile: Path, out: Path, overrides: tuple[Path, ...], sets: tuple[str, ...]) -> Target:
    display = source_name(profile, out)
    return Target(Request(profile, display, None, overrides, sets), display)


def _timed(times: Timings, stage: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return fn()
    finally:
        setattr(times, stage, getattr(times, stage) + time.perf_counter() - start)


def build_one(target: Target, verifier: Verifier) -> Outcome:
    """Compile every environment of one profile, verify it and (if clean) emit its files."""
    times = Timings()
    before = set(verifier.unchecked)
    try:
        resolved = _timed(times, "resolve", lambda: resolve_all(target.request))
        compiled: list[Compiled] = _timed(times, "render", lambda: [compile_resolved(r) for r in resolved])
    except InputError as e:
        return Outcome(target.display, None, target.display, tuple(e.diagnostics), (), (), (), times=times)
    errors: list[Diagnostic] = _timed(times, "verify", lambda: [d for c in compiled for d in verify_compiled(c, verifier)])
    files: tuple[OutputFile, ...] = ()
    emit_errors: tuple[Diagnostic, ...] = ()
    if not errors:
        try:
            files = tuple(_timed(times, "emit", lambda: profile_files(compiled)))
        except InputError as e:  # late stages know only the JSON path: locate through provenance
            emit_errors = tuple(with_sources(e.diagnostics, compiled[0].resolved.merged.source))
    profile = compiled[0].profile
    return Outcome(target.display, profile.name, profile.source, tuple(errors), emit_errors, files, _owned(compiled),
                   frozenset(verifier.unchecked - before), times, tuple(plan_warnings(compiled)))


def _owned(compiled: Sequence[Compiled]) -> tuple[tuple[ObjectKey, Source], ...]:
    """Each object identity the profile renders (first environment wins) and the profile field
    that names it, for the cross-profile clash check."""
    seen: dict[ObjectKey, Source] = {}
    for c in compiled:
        for obj in c.objects:
            key = object_key(obj)
            if key not in seen:
                ns = key[2]
                seen[key] = c.resolved.merged.source(["metadata", "namespace" if ns else "name"]) or Source(c.profile.source, 1, 1)
    return tuple(seen.items())


# --- running many profiles -------------------------------------------------------------------

_JOB: tuple[Sequence[Target], Verifier] | None = None  # what forked workers build (inherited)


def _work(index: int) -> Outcome:
    assert _JOB is not None, "worker started without a job"
    targets, verifier = _JOB
    return build_one(targets[index], verifier)


def default_jobs() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Workers are forked (they inherit the loaded verifier); elsewhere builds run in-process."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def effective_jobs(jobs: int | None, n: int) -> int:
    """Worker processes actually used for ``n`` profiles: never more than there are profiles.

    The default (None or 0: one per CPU) stays in-process when this process runs other threads
    (an embedding test runner, say): forking a multi-threaded process can copy a lock some other
    thread holds. An explicit ``jobs`` is obeyed."""
    if jobs is None or jobs <= 0:
        wanted = default_jobs() if threading.active_count() == 1 else 1
    else:
        wanted = jobs
    return max(1, min(wanted, n)) if can_fork() else 1


def build_all(targets: Sequence[Target], verifier: Verifier, jobs: int | None = 1,
              progress: Callable[[int, int], None] | None = None) -> list[Outcome]:
    """Every profile's :class:`Outcome`, in the order of ``targets``.

    ``jobs`` worker processes (None or 0: one per CPU; 1: in this process). The first profile is
    always built here, so its schemas, CRDs and CEL programs are loaded once and inherited by
    every forked worker instead of being loaded again by each.
    """
    global _JOB
    workers = effective_jobs(jobs, len(targets))
    tick = progress or (lambda done, total: None)  # (profiles built, profiles)
    if workers <= 1 or len(targets) <= 1:
        outcomes = []
        for t in targets:
            outcomes.append(build_one(t, verifier))
            tick(len(outcomes), len(targets))
    else:
        outcomes = [build_one(targets[0], verifier)]
        tick(1, len(targets))
        rest = range(1, len(targets))
        chunk = max(1, min(8, len(rest) // (workers * 4)))
        _JOB = (targets, verifier)
        try:
            with multiprocessing.get_context("fork").Pool(min(workers, len(rest))) as pool:
                for o in pool.imap(_work, rest, chunksize=chunk):
                    outcomes.append(o)
                    tick(len(outcomes), len(targets))
        finally:
            _JOB = None
    for o in outcomes:
        verifier.unchecked |= o.unchecked
    return outcomes


def check_outcomes(outcomes: Sequence[Outcome]) -> list[tuple[str, list[OutputFile]]]:
    """(scope, files) per profile; raises one InputError with every problem of every profile."""
    errors: list[Diagnostic] = []
    owners: dict[str, str] = {}
    for o in outcomes:
        errors += o.errors
        if o.name is None:
            continue
        if o.name in owners:
            errors.append(Diagnostic(Source(o.display, 1, 1, "profile"), "$.metadata.name", f"profile name {o.name!r} is also used by {owners[o.name]}: each profile owns out/{o.name}/"))
        owners[o.name] = o.display
    errors += _shared_objects(outcomes)
    if errors:
        raise InputError(errors)
    emit_errors = [d for o in outcomes for d in o.emit_errors]
    if emit_errors:
        raise InputError(emit_errors)
    return [(o.name, list(o.files)) for o in outcomes if o.name is not None]


def build_files(targets: Sequence[Target], verifier: Verifier, jobs: int | None = 1, times: Timings | None = None,
                progress: Callable[[int, int], None] | None = None, strict: bool = False,
                warnings: list[Diagnostic] | None = None) -> list[tuple[str, list[OutputFile]]]:
    """(scope, files) per profile, after the whole set compiled and verified. The planner's
    warnings are appended to ``warnings``; with ``strict`` they are errors."""
    outcomes = build_all(targets, verifier, jobs, progress)
    if times is not None:
        for o in outcomes:
            times.add(o.times)
    found = [w for o in outcomes for w in o.warnings]
    if strict and found:
        raise InputError([*(d for o in outcomes for d in o.errors), *found])
    if warnings is not None:
        warnings.extend(found)
    return check_outcomes(outcomes)


def write_files(out: Path, planned: Sequence[tuple[str, list[OutputFile]]], times: Timings | None = None) -> list[tuple[str, WriteSummary]]:
    """Write every scope under one lock: every scope's plan is checked before any file is written
    (raises ``WritePlanError`` / ``OutputLocked`` from the writer)."""
    start = time.perf_counter()
    try:
        return write_scopes(out, planned)
    finally:
        if times is not None:
            times.write += time.perf_counter() - start


def _shared_objects(outcomes: Sequence[Outcome]) -> list[Diagnostic]:
    """Two profiles rendering the same object would fight over it in the cluster (two Argo CD
    apps, two Flux Kustomizations pruning each other's object): refuse it, naming both."""
    first: dict[ObjectKey, Outcome] = {}
    errors = []
    for o in outcomes:
        if o.name is None:
            continue
        for key, where in o.owned:
            other = first.setdefault(key, o)
            if other.name != o.name:
                _, kind, ns, name = key
                errors.append(Diagnostic(where, "$.metadata", f"{kind} {ns + '/' if ns else ''}{name} is also rendered by {other.source}: give each profile its own namespace and name"))
    return errors
