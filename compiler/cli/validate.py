"""``mcompile validate PROFILE…`` — load, merge, validate, plan, render and verify every
environment of each profile (nothing is written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from ..errors import Diagnostic, InputError
from . import jsonout
from .options import AllowKind, Crds, Env, Format, KubeVersion, Out, Override, Profiles
from .params import request, verifier_from
from .root import app, handle_errors


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
    out: Path = Out,
    strict: bool = typer.Option(False, "--strict", help="Treat the capacity planner's warnings as errors (exit 2); CI uses it."),
    format: str = Format("text, or json (one document on stdout, also on errors)."),
) -> None:
    """Validate profiles and verify what they compile to (every environment unless --env): schema,
    capacity plan, Kubernetes schemas, the real CRDs and the semantic rules. Exit 0 when all pass."""
    from ..build import plan_warnings, run, target_for
    from ..pipeline import compile_all
    from ..verify import verify_compiled

    verifier = verifier_from(crds, kube_version, allow_kind)
    lines: list[str] = []
    results: list[dict[str, Any]] = []
    warnings: list[Diagnostic] = []
    try:
        if env is None:  # every environment: the same stage chain as build (fleet stage included), nothing written
            targets = [target_for(p, out, tuple(override or ()), tuple(set_ or ())) for p in profiles]
            built = run(targets, verifier, strict=strict, warnings=warnings)  # raises InputError with every problem
            planned = dict(built.scoped)
            for o in built.outcomes:
                files = len(planned[o.name or ""])
                lines.append(f"{o.display}: ok ({', '.join(o.envs)}; {files} files verified)")
                results.append({"profile": o.display, "environments": list(o.envs), "files": files})
            clusters = sorted({x.cluster for o in built.outcomes for x in o.landings})
            lines.append(f"platform: ok ({', '.join(clusters)}; {len(planned['_platform'])} files verified)")
        else:
            errors: list[Diagnostic] = []
            for p in profiles:
                try:
                    compiled = compile_all(request(p, env, override, set_))
                except InputError as e:
                    errors += e.diagnostics
                    continue
                warned = plan_warnings(compiled)
                found = [d for c in compiled for d in verify_compiled(c, verifier)] + (warned if strict else [])
                warnings += [] if strict else warned
                errors += found
                if not found:
                    objects = sum(len(c.objects) for c in compiled)
                    lines.append(f"{p.as_posix()}: ok ({', '.join(c.profile.env for c in compiled)}; {objects} objects verified)")
                    results.append({"profile": p.as_posix(), "environments": [c.profile.env for c in compiled], "objects": objects})
            if errors:
                raise InputError(errors)
    except InputError as e:
        if format == "json":
            jsonout.fail(e, {"profiles": results, "notes": [verifier.note()] if verifier.note() else [],
                             "warnings": [str(w) for w in sorted(warnings, key=str)]})
        for w in sorted(warnings, key=str):
            typer.echo(str(w), err=True)
        raise
    notes = [verifier.note()] if verifier.note() else []  # known once everything was verified
    if format == "json":
        jsonout.emit({"ok": True, "profiles": results, "errors": [], "notes": notes, "warnings": [str(w) for w in sorted(warnings, key=str)]})
        return
    for w in sorted(warnings, key=str):
        typer.echo(str(w), err=True)
    for line in lines:
        typer.echo(line)
    for note in notes:
        typer.echo(f"mcompile: {note}", err=True)
