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

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Diagnostic, InputError, Source, with_sources
from .fleet.stage import PLATFORM_SCOPE
from .regex_cache import records

if TYPE_CHECKING:  # the stages are imported where they run (build_one, check_outcomes, write_files):
    # a build whose every profile is a cache hit loads none of them (tests/test_startup_cli.py)
    from .fleet.landing import Landing
    from .store.writer import WriteSummary
    from .types import Compiled, ObjectKey, OutputFile, Request
    from .verify import Verifier


@dataclass(frozen=True)
class Target:
    """One profile to build: its request and the name messages give it."""

    request: Request
    display: str


@dataclass
class Timings:
    """Seconds spent per stage, summed over profiles (and over worker processes)."""

    resolve: float = 0.0
    render: float = 0.0  # profile + plan + render
    verify: float = 0.0
    emit: float = 0.0
    fleet: float = 0.0  # clusters, platform render + verify + emit, collisions
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
    envs: tuple[str, ...] = ()  # the environments compiled
    landings: tuple[Landing, ...] = ()  # each env on each destination cluster (for the fleet stage)
    hub: tuple[tuple[ObjectKey, Source], ...] = ()  # objects applied to the Argo CD control plane
    unchecked: frozenset[tuple[str, str]] = frozenset()
    times: Timings = field(default_factory=Timings)
    warnings: tuple[Diagnostic, ...] = ()  # the planner's, per environment
    # With the build cache (compiler/cache/): (path, sha256) of every file, the digest of the
    # fleet inputs, and the entry an unchanged profile came from (files and landings read on demand).
    digests: tuple[tuple[str, str], ...] = ()
    fleet_digest: str = ""
    entry: Any = None


def plan_warnings(compiled: Sequence[Compiled]) -> list[Diagnostic]:
    """The planner's warnings of every environment, each once, tagged with its environments."""
    seen: dict[tuple[Source | None, str, str], list[str]] = {}
    for c in compiled:
        for w in c.plan.warnings:
            seen.setdefault((w.source, w.path, w.message), []).append(c.profile.env)
    return [Diagnostic(src, path, f"[{', '.join(envs)}] {msg}") for (src, path, msg), envs in seen.items()]


def source_name(profile: Path, out: Path) -> str:
    """The profile's path relative to the directory holding out/ (stable across working dirs)."""
    rel = os.path.relpath(profile.resolve(), out.resolve().parent)
    return Path(rel).as_posix() if not rel.startswith("..") else profile.name


def target_for(profile: Path, out: Path, overrides: tuple[Path, ...], sets: tuple[str, ...]) -> Target:
    from .types import Request

    display = source_name(profile, out)
    return Target(Request(profile, display, None, overrides, sets), display)


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 <= K <= N): this run builds shard K of N. ValueError otherwise."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n)):
        raise ValueError(f"{text!r}: expected K/N with 1 <= K <= N, e.g. 2/8")
    return int(k), int(n)


def shard_of(display: str, shards: int) -> int:
    """The shard (1..N) a profile belongs to: a hash of its path as used (``profiles/x.yaml``,
    relative to the directory holding out/), so it stays put when profiles are added, removed or
    reordered, and every machine of a CI matrix computes the same assignment."""
    digest = hashlib.sha256(display.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % shards + 1


def _timed(times: Timings, stage: str, fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return fn()
    finally:
        setattr(times, stage, getattr(times, stage) + time.perf_counter() - start)


def build_one(target: Target, verifier: Verifier) -> Outcome:
    """One profile through the per-profile stages: resolve -> plan -> render (workloads, GitOps
    delivery) -> verify -> emit, plus its landings for the fleet stage."""
    from .emit.layout import profile_files
    from .emit.variance import object_key
    from .fleet.landing import landings_of
    from .pipeline import compile_resolved, render_delivery
    from .resolve import resolve_all
    from .verify import verify_compiled, verify_gitops

    times = Timings()
    before = set(verifier.unchecked)
    try:
        resolved = _timed(times, "resolve", lambda: resolve_all(target.request))
        compiled: list[Compiled] = _timed(times, "render", lambda: [compile_resolved(r) for r in resolved])
    except InputError as e:
        return Outcome(target.display, None, target.display, tuple(e.diagnostics), (), (), times=times)
    try:
        gitops: dict[str, list[dict[str, Any]]] = _timed(times, "render", lambda: render_delivery(compiled))
    except InputError as e:  # late stages know only the JSON path: locate through provenance
        diags = tuple(with_sources(e.diagnostics, compiled[0].resolved.merged.source))
        return Outcome(target.display, None, target.display, diags, (), (), times=times)
    delivery = [o for objs in gitops.values() for o in objs]
    errors: list[Diagnostic] = _timed(times, "verify", lambda: [d for c in compiled for d in verify_compiled(c, verifier)]
                                      + verify_gitops(compiled[0], delivery, verifier))
    files: tuple[OutputFile, ...] = ()
    emit_errors: tuple[Diagnostic, ...] = ()
    if not errors:
        try:
            files = tuple(_timed(times, "emit", lambda: profile_files(compiled, gitops)))
        except InputError as e:
            emit_errors = tuple(with_sources(e.diagnostics, compiled[0].resolved.merged.source))
    profile = compiled[0].profile
    landings = tuple(x for c in compiled for x in landings_of(c, gitops.get(f"deploy/flux/{c.profile.env}", ())))
    hub = tuple((object_key(o), compiled[0].resolved.merged.source(["gitops"]) or Source(profile.source, 1, 1)) for o in gitops.get("deploy/argocd", ()))
    return Outcome(target.display, profile.name, profile.source, tuple(errors), emit_errors, files, tuple(c.profile.env for c in compiled), landings, hub,
                   frozenset(verifier.unchecked - before), times, tuple(plan_warnings(compiled)))


# --- running many profiles -------------------------------------------------------------------

#: A step run on each new outcome where it was built (in the worker): the build cache stores it there.
Finish = Callable[[int, Outcome], Outcome]
_JOB: tuple[Sequence[Target], Verifier, Finish | None] | None = None  # what forked workers build (inherited)


def _work(index: int) -> Outcome:
    assert _JOB is not None, "worker started without a job"
    targets, verifier, finish = _JOB
    outcome = build_one(targets[index], verifier)
    outcome = finish(index, outcome) if finish is not None else outcome
    from .store.prestage import current  # a build writing out/ (mcompile build): stage the files here

    pre = current()
    return pre.put(outcome) if pre is not None else outcome


@records  # the stages' regular expressions (PyYAML's, the schemas' patterns) from the user cache
def build_all(targets: Sequence[Target], verifier: Verifier, jobs: int | None = 1,
              progress: Callable[[int, int], None] | None = None, finish: Finish | None = None) -> list[Outcome]:
    """Every profile's :class:`Outcome`, in the order of ``targets``.

    ``jobs`` worker processes (None or 0: one per CPU; 1: in this process). The first profile is
    always built here, so its schemas, CRDs and CEL programs are loaded once and inherited by
    every forked worker instead of being loaded again by each. ``finish(index, outcome)`` runs
    on each outcome in the process that built it.
    """
    global _JOB
    from .store.prestage import current

    pre = current()
    if pre is not None:
        pre.settle()  # no fork while an early writeback thread of an earlier attempt runs
    from .workers import effective_jobs

    workers = effective_jobs(jobs, len(targets))
    tick = progress or (lambda done, total: None)  # (profiles built, profiles)
    _JOB = (targets, verifier, finish)
    if workers <= 1 or len(targets) <= 1:
        outcomes = []
        try:
            for i in range(len(targets)):
                outcomes.append(_work(i))
                tick(len(outcomes), len(targets))
        finally:
            _JOB = None
    else:
        from .workers import forked_map

        try:
            outcomes = [_work(0)]
            tick(1, len(targets))
            for o in forked_map(_work, range(1, len(targets)), workers, lambda i: targets[i].display):
                outcomes.append(o)
                if pre is not None:
                    pre.arrived(o)  # the commit's per-scope work, while the workers run (prestage.py)
                tick(len(outcomes), len(targets))
        finally:
            _JOB = None
    if pre is not None:
        pre.flush_early()  # every file is staged: write them back while the parent plans (prestage.py)
    for o in outcomes:
        verifier.unchecked |= o.unchecked
    return outcomes


def profile_errors(outcomes: Sequence[Outcome]) -> list[Diagnostic]:
    """Every profile's errors, and two profiles of one name (each owns ``out/<name>/``)."""
    errors: list[Diagnostic] = []
    owners: dict[str, str] = {}
    for o in outcomes:
        errors += o.errors
        if o.name is None:
            continue
        if o.name in owners:
            errors.append(Diagnostic(Source(o.display, 1, 1, "profile"), "$.metadata.name", f"profile name {o.name!r} is also used by {owners[o.name]}: each profile owns out/{o.name}/"))
        owners[o.name] = o.display
    return errors


def check_outcomes(outcomes: Sequence[Outcome], verifier: Verifier, times: Timings | None = None) -> list[tuple[str, list[OutputFile]]]:
    """(scope, files) per profile and for the platform (the fleet stage); raises one InputError
    with every problem of every profile and cluster."""
    from .emit.layout import platform_files
    from .fleet.stage import run_fleet

    errors = profile_errors(outcomes)
    start = time.perf_counter()
    landings = [x for o in outcomes if o.name is not None for x in o.landings]
    hub = [(o.name, o.source, key, where) for o in outcomes if o.name is not None for key, where in o.hub]
    fleet = run_fleet(landings, hub, verifier)
    errors += fleet.errors
    if errors:
        raise InputError(errors)
    emit_errors = [d for o in outcomes for d in o.emit_errors]
    if emit_errors:
        raise InputError(emit_errors)
    sources = {name: [x.source for x in c.landings] for name, c in fleet.clusters.items()}
    platform = platform_files(fleet.objects, sources)
    if times is not None:
        times.fleet += time.perf_counter() - start
    return [(o.name, list(o.files)) for o in outcomes if o.name is not None] + [(PLATFORM_SCOPE, platform)]


@dataclass(frozen=True)
class Built:
    """Every profile's outcome and the verified files per scope (profiles, then ``_platform``)."""

    outcomes: list[Outcome]
    scoped: list[tuple[str, list[OutputFile]]]


@records
def run(targets: Sequence[Target], verifier: Verifier, jobs: int | None = 1, times: Timings | None = None,
        progress: Callable[[int, int], None] | None = None, strict: bool = False,
        warnings: list[Diagnostic] | None = None) -> Built:
    """The stage chain of ``build``, ``validate`` and ``check`` (``diff`` then compares trees)::

        per profile (worker processes):  load -> resolve -> plan -> render -> verify -> emit
        the whole invocation:            fleet (clusters -> platform -> verify -> collisions) -> emit

    Raises one InputError with every problem of every profile and cluster; nothing is written.
    The planner's warnings are appended to ``warnings``; with ``strict`` they are errors."""
    outcomes = build_all(targets, verifier, jobs, progress)
    account(outcomes, times, strict, warnings)
    return Built(outcomes, check_outcomes(outcomes, verifier, times))


def account(outcomes: Sequence[Any], times: Timings | None, strict: bool, warnings: list[Diagnostic] | None) -> None:
    """Add the profiles' stage times to ``times`` and their planner warnings to ``warnings``;
    with ``strict`` the warnings are errors (raised with every profile's errors)."""
    if times is not None:
        for o in outcomes:
            times.add(o.times)
    found = [w for o in outcomes for w in o.warnings]
    if strict and found:
        raise InputError([*(d for o in outcomes for d in o.errors), *found])
    if warnings is not None:
        warnings.extend(found)


def build_files(targets: Sequence[Target], verifier: Verifier, jobs: int | None = 1, times: Timings | None = None,
                progress: Callable[[int, int], None] | None = None, strict: bool = False,
                warnings: list[Diagnostic] | None = None) -> list[tuple[str, list[OutputFile]]]:
    """(scope, files) per profile and for the platform, after the whole set compiled and verified."""
    return run(targets, verifier, jobs, times, progress, strict, warnings).scoped


def orphans(out: Path, planned: Sequence[tuple[str, Sequence[OutputFile]]]) -> list[str]:
    """Scopes the manifest records that this build does not produce: output of a profile that is
    no longer part of the build (or a platform nobody needs any more)."""
    from .store.manifest import MANIFEST_NAME, read_manifest

    scopes, _, _ = read_manifest(Path(out).resolve(), MANIFEST_NAME)
    built = {scope for scope, _ in planned}
    return sorted(s for s in scopes if s not in built)


def write_files(out: Path, planned: Sequence[tuple[str, list[OutputFile]]], times: Timings | None = None) -> list[tuple[str, WriteSummary]]:
    """Write every scope under one lock: every scope's plan is checked before any file is written
    (raises ``WritePlanError`` / ``OutputLocked`` from the writer). Orphaned scopes (see
    :func:`orphans`) are planned with no files: their owned files are deleted (hand-edited ones
    kept and reported), unowned files are never touched."""
    from .store.writer import write_scopes

    start = time.perf_counter()
    try:
        return write_scopes(out, [*planned, *((scope, []) for scope in orphans(out, planned))])
    finally:
        if times is not None:
            times.write += time.perf_counter() - start
