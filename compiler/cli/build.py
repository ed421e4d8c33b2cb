"""``mcompile build`` and ``mcompile check``: compile profiles into out/, or prove out/ current."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..build import Target, build_files, target_for
from ..emit.check import check as check_files
from ..emit.writer import OutputLocked, WritePlanError, plan_writes, summary_line, write_outputs
from ..errors import Diagnostic, InputError, Source
from . import app, handle_errors
from .options import AllowKind, Crds, KubeVersion, Out, Override, Profiles, Set, verifier_from


def _default_profiles() -> list[Path]:
    found = sorted(Path("profiles").glob("*.yaml"))
    if not found:
        raise InputError([Diagnostic(Source("profiles", 1, 1), "$", "no profiles given and none found in profiles/*.yaml")])
    return found


def _targets(profiles: List[Path], override: Optional[List[Path]], set_: Optional[List[str]], out: Path) -> list[Target]:
    return [target_for(p, out, tuple(override or ()), tuple(set_ or ())) for p in profiles]


@app.command()
@handle_errors
def build(profiles: List[Path] = Profiles, override: Optional[List[Path]] = Override, set_: Optional[List[str]] = Set, out: Path = Out,
          crds: Optional[List[Path]] = Crds, kube_version: str = KubeVersion) -> None:
    """Compile profiles into out/ (every environment: the chart and GitOps apps span them all). Nothing is written unless every profile compiles and verifies."""
    targets = _targets(profiles, override, set_, out)
    verifier = verifier_from(crds, kube_version, allow_kind)
    planned = build_files(targets, verifier)  # raises InputError with every problem of every profile
    if verifier.note():
        typer.echo(f"mcompile: {verifier.note()}", err=True)
    try:
        for scope, files in planned:  # every scope's plan must be valid before anything is written
            plan_writes(out, files, scope=scope)
        for scope, files in planned:  # then each is re-planned and applied under the lock
            typer.echo(f"{scope}: {summary_line(write_outputs(out, files, scope=scope))}")
    except WritePlanError as e:
        raise InputError([Diagnostic(Source(out.as_posix(), 1, 1), "$", msg) for msg in e.problems]) from None
    except OutputLocked as e:
        raise InputError([Diagnostic(Source(out.as_posix(), 1, 1), "$", str(e))]) from None


@app.command()
@handle_errors
def check(profiles: Optional[List[Path]] = typer.Argument(None, help="Profiles (default: profiles/*.yaml)."), out: Path = Out,
          crds: Optional[List[Path]] = Crds, kube_version: str = KubeVersion, allow_kind: Optional[List[str]] = AllowKind) -> None:
    """Exit 1 if out/ is stale for these profiles (lists missing, changed and extra owned files with a short diff)."""
    targets = _targets(profiles or _default_profiles(), None, None, out)
    stale = False
    for scope, files in build_files(targets, verifier_from(crds, kube_version, allow_kind)):
        try:
            r = check_files(out, files, scope)
        except WritePlanError as e:
            raise InputError([Diagnostic(Source(out.as_posix(), 1, 1), "$", msg) for msg in e.problems]) from None
        if r.ok:
            typer.echo(f"{scope}: up to date ({len(files)} files)")
            continue
        stale = True
        for what, paths in (("missing", r.missing), ("changed", r.changed), ("extra", r.extra_owned)):
            for path in paths:
                typer.echo(f"{scope}: {what}: {path}")
        if r.manifest_stale and not (r.missing or r.changed or r.extra_owned):
            typer.echo(f"{scope}: manifest out of date")
        for path in r.changed:
            typer.echo(r.diffs.get(path, ""), nl=False)
    if stale:
        typer.echo(f"out/ is stale: run mcompile build {' '.join(t.display for t in targets)}", err=True)
        raise typer.Exit(1)
