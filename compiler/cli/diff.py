"""``mcompile diff [--base REF|DIR]`` — per-resource report of what a change to out/ deploys."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import Diagnostic, InputError, Source
from .options import Out
from .root import app, handle_errors
from .term import painter, progress

JsonFile = typer.Option(None, "--json-file", help="Also write the full JSON report to this file (e.g. beside a cut Markdown comment).")


@app.command()
@handle_errors
def diff(
    base: str = typer.Option("HEAD", "--base", help="Git ref (e.g. origin/main) or directory holding the old out/."),
    out: Path = Out,
    format: str = typer.Option("text", "--format", help="text, json, or markdown (one PR comment: summary first, details collapsed, at most 60,000 characters)."),
    json_file: Path | None = JsonFile,
) -> None:
    """Render old and new out/ fully (kustomize overlays, GitOps and platform files) and report added/removed/changed objects with field-level changes, and GPUs, replicas and monthly cost before -> after. Exit 1 when something changed."""
    if format not in ("text", "json", "markdown"):
        raise typer.BadParameter("must be text, json or markdown", param_hint="--format")
    from ..diff import diff as diff_trees
    from ..diff_report import report_json, report_markdown, report_text

    if not out.is_dir():
        raise InputError([Diagnostic(Source(out.as_posix(), 1, 1), "$", "output directory not found: run mcompile build first")])
    try:
        with progress("diff: rendering overlays") as step:
            report = diff_trees(out, base, step)
    except ValueError as e:
        raise InputError([Diagnostic(Source("--base", 1, 1), "$", str(e))]) from None
    if format != "text":  # warnings are part of the JSON / Markdown; say them on stderr too
        for w in report.warnings:
            typer.echo(f"mcompile: warning: {w}", err=True)
    if json_file is not None:
        json_file.write_text(report_json(report), encoding="utf-8")
    text = {"json": report_json, "markdown": report_markdown}.get(format)
    typer.echo(text(report) if text else report_text(report, painter()), nl=False)
    if report.changed:
        raise typer.Exit(1)
