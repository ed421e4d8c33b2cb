"""``mcompile crds pull`` — download the pinned upstream CRDs into the user cache, so verification
works outside a development checkout (``mcompile validate``/``build`` find them there)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import Diagnostic, InputError, Source
from .root import app, handle_errors

crds_app = typer.Typer(help="Upstream CRDs used to verify custom resources.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(crds_app, name="crds")


@crds_app.command("pull")
@handle_errors
def pull_command(
    dest: Optional[Path] = typer.Option(None, "--dest", help="Directory to fill (default: the user cache, where verification looks)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Mirror serving {repo}/{tag}/{path} (default: GitHub raw content of each pinned tag)."),
) -> None:
    """Download every pinned CRD file (repository, tag and path as listed in the project's CRD sources)."""
    from ..verify.crd_sources import CrdPullError, github_raw_url, pull, user_cache_dir

    target = dest or user_cache_dir()
    url_for = github_raw_url if not base_url else (lambda p: f"{base_url.rstrip('/')}/{p.repo}/{p.tag}/{p.path}")
    try:
        written = pull(target, url_for=url_for)
    except CrdPullError as e:
        raise InputError([Diagnostic(Source(url, 1, 1), "$", f"{pin.local}: {why}") for pin, url, why in e.failures]) from None
    typer.echo(f"{len(written)} CRD files written to {target}")
