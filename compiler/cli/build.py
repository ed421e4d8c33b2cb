"""``build``, ``check``, ``diff`` and ``plan``: registered now so the surface is stable; each says
plainly that it is not implemented yet instead of parsing flags and doing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import app
from .options import Envs, Out, Override, Profiles, Set


def _not_yet(name: str) -> None:
    typer.echo(f"mcompile {name}: not implemented yet", err=True)
    raise typer.Exit(2)


@app.command()
def build(profiles: List[Path] = Profiles, env: Optional[List[str]] = Envs, override: Optional[List[Path]] = Override, set_: Optional[List[str]] = Set, out: Path = Out) -> None:
    """Compile profiles into out/ (chart, overlays, GitOps apps)."""
    _not_yet("build")


@app.command()
def check(profiles: List[Path] = Profiles, out: Path = Out) -> None:
    """Exit 1 if out/ is stale for these profiles."""
    _not_yet("check")


@app.command()
def diff(base: Optional[str] = typer.Option(None, "--base", help="Git ref or directory to compare against.")) -> None:
    """Per-resource report of what a change to out/ does."""
    _not_yet("diff")


@app.command()
def plan(profile: Path = typer.Argument(...), env: Optional[str] = typer.Option(None, "--env", "-e")) -> None:
    """Capacity plan: GPUs, replicas, concurrency, limits and cost."""
    _not_yet("plan")
