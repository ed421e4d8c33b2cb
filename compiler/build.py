"""Build orchestration: profiles -> verified output files per scope, before anything is written."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .emit.layout import profile_files
from .emit.variance import object_key
from .emit.writer import OutputFile
from .errors import Diagnostic, InputError, Source
from .pipeline import Compiled, compile_all
from .verify import Verifier, verify_compiled
from .resolve import Request


@dataclass(frozen=True)
class Target:
    request: Request
    display: str


def source_name(profile: Path, out: Path) -> str:
    """The profile's path relative to the directory holding out/ (stable across working dirs)."""
    rel = os.path.relpath(profile.resolve(), out.resolve().parent)
    return Path(rel).as_posix() if not rel.startswith("..") else profile.name


def target_for(profile: Path, out: Path, overrides: tuple[Path, ...], sets: tuple[str, ...]) -> Target:
    display = source_name(profile, out)
    return Target(Request(profile, display, None, overrides, sets), display)


def compile_and_verify(targets: Sequence[Target], verifier: Verifier) -> list[list[Compiled]]:
    """Compile and verify every target; collect every error of every profile before failing."""
    out, errors, owners = [], [], {}
    for t in targets:
        try:
            compiled = compile_all(t.request)
        except InputError as e:
            errors += e.diagnostics
            continue
        for c in compiled:
            errors += verify_compiled(c, verifier)
        name = compiled[0].profile.name
        if name in owners:
            errors.append(Diagnostic(Source(t.display, 1, 1, "profile"), "$.metadata.name", f"profile name {name!r} is also used by {owners[name]}: each profile owns out/{name}/"))
        owners[name] = t.display
        out.append(compiled)
    errors += _shared_objects(out)
    if errors:
        raise InputError(errors)
    return out


def build_files(targets: Sequence[Target], verifier: Verifier) -> list[tuple[str, list[OutputFile]]]:
    """(scope, files) per profile, after the whole set compiled and verified."""
    out, errors = [], []
    for compiled in compile_and_verify(targets, verifier):
        try:
            out.append((compiled[0].profile.name, profile_files(compiled)))
        except InputError as e:
            errors += e.diagnostics
    if errors:
        raise InputError(errors)
    return out


def _shared_objects(profiles: list[list[Compiled]]) -> list[Diagnostic]:
    """Two profiles rendering the same object would fight over it in the cluster (two Argo CD
    apps, two Flux Kustomizations pruning each other's object): refuse it, naming both."""
    first: dict[tuple, Compiled] = {}
    errors = []
    for compiled in profiles:
        seen: set[tuple] = set()
        for c in compiled:
            for obj in c.objects:
                key = object_key(obj)
                if key in seen:
                    continue
                seen.add(key)
                other = first.setdefault(key, c)
                if other.profile.name != c.profile.name:
                    _, kind, ns, name = key
                    where = c.resolved.merged.source(["metadata", "namespace" if ns else "name"]) or Source(c.profile.source, 1, 1)
                    errors.append(Diagnostic(where, "$.metadata", f"{kind} {ns + '/' if ns else ''}{name} is also rendered by {other.profile.source}: give each profile its own namespace and name"))
    return errors
