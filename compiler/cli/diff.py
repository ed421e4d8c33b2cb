"""``mcompile diff [--base REF|DIR]`` — per-resource report of what a change to out/ deploys."""

from __future__ import annotations

from pathlib import Path

import typer

from ..diff import diff as diff_trees
from ..diff import report_markdown, report_text
from ..errors import Diagnostic, InputError, Source
from . import app, handle_errors
from .options import Out


@app.command()
@handle_errors
def diff(
    base: str = typer.Option("HEAD", "--base", help="Git ref (e.g. origin/main) or directory holding the old out/."),
    out: Path = Out,
    format: str = typer.Option("text", "--format", help="text or markdown (for a PR comment)."),
) -> None:
    """Render old and new out/ fully (kustomize) and report added/removed/changed objects with field-level changes. Exit 1 when something changed."""
    if format not in ("text", "markdown"):
        raise typer.BadParameter("must be text or markdown", param_hint="--format")
    if not out.is_dir():
        raise InputError([Diagnostic(Source(out.as_posix(), 1, 1), "$", "output directory not found: run mcompile build first")])
    try:
        changes, unchanged = diff_trees(out, base)
    except ValueError as e:
        raise InputError([Diagnostic(Source("--base", 1, 1), "$", str(e))]) from None
    typer.echo((report_markdown if format == "markdown" else report_text)(changes, unchanged), nl=False)
    if changes:
        raise typer.Exit(1)
