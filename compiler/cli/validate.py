"""``mcompile validate PROFILE…`` — load, merge and validate every environment of each profile."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InputError
from ..resolve import resolve_all
from . import app, handle_errors
from .options import Env, Override, Profiles, Set, request


@app.command()
@handle_errors
def validate(
    profiles: List[Path] = Profiles,
    env: Optional[str] = Env,
    override: Optional[List[Path]] = Override,
    set_: Optional[List[str]] = typer.Option(None, "--set", help="path=value override (repeatable)."),
) -> None:
    """Validate profiles (every environment unless --env). Exit 0 when all are valid."""
    errors, lines = [], []
    for p in profiles:
        try:
            resolved = resolve_all(request(p, env, override, set_))
            lines.append(f"{p.as_posix()}: ok ({', '.join(r.env for r in resolved)})")
        except InputError as e:
            errors += e.diagnostics
    if errors:
        raise InputError(errors)
    for line in lines:
        typer.echo(line)
