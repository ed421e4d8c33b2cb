"""The stage chain of ``build`` and ``check`` with the build cache (``build.run`` without it).

    per profile:  key -> entry? -> (hit) header only  |  (miss) compile, verify, emit -> store
    fleet:        key of every profile's fleet digest -> entry? -> platform files
                  (miss) landings of every profile (read from their entries) -> fleet stage -> store

A hit yields the profile's names, warnings and file digests; its bytes stay in the entry until a
scope must be written or diffed (:meth:`Scope.files`). Misses are built by the usual workers,
which store their own entries (``build.build_all``'s ``finish``). A damaged entry found late
raises :class:`~compiler.cache.entry.CorruptEntry` after removing it: the caller runs again and
that profile is compiled (``cli/build.py`` does).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..build import Outcome, Target, Timings, account, build_all, check_outcomes, profile_errors
from ..errors import Diagnostic, InputError
from ..fleet.stage import PLATFORM_SCOPE
from ..regex_cache import records
from ..types import OutputFile
from .codec import CodecError, decode
from .entry import CorruptEntry, Entry
from .key import profile_key
from .results import FLEET, PROFILE, entry_files, fleet_key, fleet_section, pack_files, profile_header, read_fleet_inputs
from .store import BuildCache
from .verifier import LazyVerifier, real_verifier

if TYPE_CHECKING:
    from ..verify import Verifier

__all__ = ["Scope", "Staged", "run_cached"]


@dataclass
class Scope:
    """One manifest scope's files: digests always, bytes on demand."""

    name: str
    digests: dict[str, str]  # path -> sha256 hex, in emit order
    cache: BuildCache | None = None
    entry: Entry | None = None
    section: int = 1
    loaded: list[OutputFile] | None = None

    def files(self) -> list[OutputFile]:
        if self.loaded is None:
            assert self.entry is not None and self.cache is not None, "a scope without bytes needs its entry"
            try:
                self.loaded = entry_files(self.entry, self.section)
            except CorruptEntry:
                self.cache.forget(self.entry)
                raise
        return self.loaded


@dataclass(frozen=True)
class Staged:
    """What the chain produced: every outcome, and the scopes (profiles, then the platform)."""

    outcomes: list[Outcome]
    scopes: list[Scope]


def _digests(files: Sequence[OutputFile]) -> tuple[tuple[str, str], ...]:
    return tuple((f.path, hashlib.sha256(f.content).hexdigest()) for f in files)


def _from_entry(entry: Entry, target: Target) -> Outcome | None:
    h = entry.header
    try:
        if h.get("kind") != PROFILE or h["display"] != target.display:
            return None
        warnings = decode(h["warnings"])
        if not all(isinstance(w, Diagnostic) for w in warnings):
            return None
        return Outcome(target.display, str(h["name"]), str(h["source"]), (), (), (), tuple(str(e) for e in h["envs"]),
                       unchecked=frozenset((str(a), str(k)) for a, k in h["unchecked"]), warnings=warnings,
                       digests=tuple((str(p), str(d)) for p, d, _ in h["files"]), fleet_digest=str(h["fleet"]), entry=entry)
    except (CodecError, KeyError, TypeError, ValueError, RecursionError):
        return None


def _store(cache: BuildCache, key: str | None, o: Outcome) -> Outcome:
    """Digests of a new outcome, stored in the cache when it compiled cleanly (runs in the worker)."""
    if o.name is None or o.errors or o.emit_errors:
        return o
    fleet = fleet_section(o.landings, o.hub)
    listing, payload = pack_files(o.files)
    digest = hashlib.sha256(fleet).hexdigest()
    cache.put(PROFILE, key, profile_header(o.display, o.name, o.source, o.envs, sorted(o.unchecked), o.warnings, listing, digest), [fleet, payload])
    return dataclasses.replace(o, digests=tuple((p, d) for p, d, _ in listing), fleet_digest=digest)


def _with_landings(cache: BuildCache, o: Outcome) -> Outcome:
    if o.entry is None:
        return o
    try:
        landings, hub = read_fleet_inputs(o.entry)
    except CorruptEntry:
        cache.forget(o.entry)
        raise
    return dataclasses.replace(o, landings=landings, hub=hub)


def _profiles(targets: Sequence[Target], verifier: Verifier | LazyVerifier, cache: BuildCache | None, jobs: int | None,
              progress: Callable[[int, int], None] | None) -> list[Outcome]:
    """Every target's outcome, from the cache where its key has an intact entry."""
    keys = [profile_key(cache.toolchain, t.request.profile, t.display, t.request.overrides, t.request.sets) if cache else None for t in targets]
    found: dict[int, Outcome] = {}
    for i, (t, k) in enumerate(zip(targets, keys, strict=True)):
        entry = cache.get(PROFILE, k) if cache else None
        if entry is not None and (o := _from_entry(entry, t)) is not None:
            found[i] = o
    todo = [i for i in range(len(targets)) if i not in found]
    if cache is not None:
        cache.stats.hits += len(found)
        cache.stats.misses += len(todo)
    tick = progress or (lambda done, total: None)
    if found:
        tick(len(found), len(targets))

    def finish(j: int, o: Outcome) -> Outcome:
        return _store(cache, keys[todo[j]], o) if cache is not None else dataclasses.replace(o, digests=_digests(o.files))

    built = build_all([targets[i] for i in todo], real_verifier(verifier), jobs, lambda d, n: tick(len(found) + d, len(targets)), finish) if todo else []
    for i, o in zip(todo, built, strict=True):
        found[i] = o
    for o in found.values():
        verifier.unchecked |= o.unchecked
    return [found[i] for i in range(len(targets))]


def _platform(outcomes: list[Outcome], verifier: Verifier | LazyVerifier, cache: BuildCache | None, times: Timings | None) -> Scope:
    """The platform scope: from the cache when every profile compiled and its fleet inputs are as
    before; else the fleet stage runs (and raises every profile's and the fleet's errors)."""
    ok = all(o.name is not None and o.fleet_digest and not o.errors and not o.emit_errors for o in outcomes) and not profile_errors(outcomes)
    fkey = fleet_key(cache.toolchain, [(o.name or "", o.source, o.fleet_digest) for o in outcomes]) if cache and ok else None
    entry = cache.get(FLEET, fkey) if cache else None
    if cache is not None and entry is not None and entry.header.get("kind") == FLEET:
        try:
            digests = {str(p): str(d) for p, d, _ in entry.header["files"]}
            verifier.unchecked |= {(str(a), str(k)) for a, k in entry.header["unchecked"]}
            return Scope(PLATFORM_SCOPE, digests, cache, entry, 0)
        except (KeyError, TypeError, ValueError):
            cache.stats.corrupt += 1
    full = [_with_landings(cache, o) for o in outcomes] if cache is not None else outcomes
    real = real_verifier(verifier)
    before = set(real.unchecked)
    scoped = check_outcomes(full, real, times)  # raises InputError with every problem
    platform = scoped[-1][1]
    if cache is not None:
        listing, payload = pack_files(platform)
        cache.put(FLEET, fkey, {"kind": FLEET, "files": listing, "unchecked": sorted(real.unchecked - before)}, [payload])
    return Scope(PLATFORM_SCOPE, dict(_digests(platform)), loaded=platform)


@records  # (the fleet stage's regular expressions too: see build_all)
def run_cached(targets: Sequence[Target], verifier: Verifier | LazyVerifier, cache: BuildCache | None, jobs: int | None = 1, times: Timings | None = None,
               progress: Callable[[int, int], None] | None = None, strict: bool = False, warnings: list[Diagnostic] | None = None,
               fleet: bool = True) -> Staged:
    """``build.run`` with the cache (``cache`` None: nothing read or stored). ``fleet=False``
    (a shard of a sharded build) leaves out the platform, which needs every profile. A
    :class:`LazyVerifier` is made into the real one only when something misses the cache."""
    outcomes = _profiles(targets, verifier, cache, jobs, progress)
    account(outcomes, times, strict, warnings)
    if not fleet and (errors := profile_errors(outcomes)):
        raise InputError(errors)
    scopes: list[Any] = []
    if fleet:
        scopes.append(_platform(outcomes, verifier, cache, times))  # raises every profile's and the fleet's errors
    if errors := [d for o in outcomes for d in o.emit_errors]:
        raise InputError(errors)
    profiles = [Scope(o.name, dict(o.digests), cache, o.entry, 1, list(o.files) if o.entry is None else None) for o in outcomes if o.name is not None]
    return Staged(outcomes, [*profiles, *scopes])
