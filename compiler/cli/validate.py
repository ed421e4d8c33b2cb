"""``mcompile validate PROFILE…`` — load, merge, validate, plan, render and verify every
environment of each profile (nothing is written)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..emit.layout import profile_files
from ..build import plan_warnings
from ..errors import Diagnostic, InputError, with_sources
from ..pipeline import Compiled, compile_all
from ..verify import verify_compiled
from . import app, handle_errors, jsonout
from .jsonout import check_format
from .options import AllowKind, Crds, Env, KubeVersion, Override, Profiles, request, verifier_from


def fleet_problems(compiled: list[Compiled]) -> list[Diagnostic]:
    """What only the whole set of environments shows (GitOps destinations, the chart's variance),
    found by emitting the profile's files in memory, so validate accepts exactly what build does.
    Late stages know only the JSON path of a problem: locate it in the merged profile."""
    try:
        profile_files(compiled)
    except InputError as e:
        return with_sources(e.diagnostics, compiled[0].resolved.merged.source)
    return []


@app.command()
@handle_errors
def validate(
    profiles: List[Path] = Profiles,
    env: Optional[str] = Env,
    override: Optional[List[Path]] = Override,
    set_: Optional[List[str]] = typer.Option(None, "--set", help="path=value override (repeatable)."),
    crds: Optional[List[Path]] = Crds,
    kube_version: str = KubeVersion,
    allow_kind: Optional[List[str]] = AllowKind,
    strict: bool = typer.Option(False, "--strict", help="Treat the capacity planner's warnings as errors (exit 2); CI uses it."),
    format: str = typer.Option("text", "--format", help="text, or json (one document on stdout, also on errors).", callback=check_format),
) -> None:
    """Validate profiles and verify what they compile to (every environment unless --env): schema,
    capacity plan, Kubernetes schemas, the real CRDs and the semantic rules. Exit 0 when all pass."""
    verifier = verifier_from(crds, kube_version, allow_kind)
    errors, lines, warnings = [], [], []
    results: list[dict] = []
    for p in profiles:
        try:
            compiled = compile_all(request(p, env, override, set_))
        except InputError as e:
            errors += e.diagnostics
            continue
        warned = plan_warnings(compiled)
        found = [d for c in compiled for d in verify_compiled(c, verifier)] + (warned if strict else [])
        warnings += [] if strict else warned
        if not found and env is None:
            found = fleet_problems(compiled)
        errors += found
        if not found:
            objects = sum(len(c.objects) for c in compiled)
            lines.append(f"{p.as_posix()}: ok ({', '.join(c.profile.env for c in compiled)}; {objects} objects verified)")
            results.append({"profile": p.as_posix(), "environments": [c.profile.env for c in compiled], "objects": objects})
    if format == "json":
        doc = {"ok": not errors, "profiles": results, "errors": [], "notes": [verifier.note()] if verifier.note() else [],
               "warnings": [str(w) for w in sorted(warnings, key=str)]}
        if errors:
            jsonout.fail(InputError(errors), doc)
        jsonout.emit(doc)
        return
    for w in sorted(warnings, key=str):
        typer.echo(str(w), err=True)
    if errors:
        raise InputError(errors)
    for line in lines:
        typer.echo(line)
    if verifier.note():
        typer.echo(f"mcompile: {verifier.note()}", err=True)
