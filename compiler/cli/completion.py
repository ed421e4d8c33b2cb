"""``mcompile completion bash|zsh|fish`` — the shell completion script, and what it completes:
commands and options (from the command tree), profile paths (``*.yaml``, ``profiles/`` first)
and environment names (read from the profile already on the command line)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import typer

from .root import app, handle_errors

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_MCOMPILE_COMPLETE"


def enable() -> None:
    """Register the bash/zsh/fish completion classes so ``_MCOMPILE_COMPLETE=complete_<shell>`` answers."""
    from typer._completion_classes import completion_init

    completion_init()


def profile_paths(incomplete: str) -> list[str]:
    """YAML files under the typed directory (``profiles/`` when nothing is typed yet) and sub-directories."""
    typed = Path(incomplete) if incomplete else Path("profiles")
    directory = typed if incomplete.endswith("/") or not incomplete else typed.parent
    if not directory.is_dir():
        directory = Path(".")
    prefix = "" if directory == Path(".") else directory.as_posix().rstrip("/") + "/"
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return []
    out = [prefix + p.name + ("/" if p.is_dir() else "") for p in entries
           if (p.is_dir() and not p.name.startswith(".")) or p.suffix in (".yaml", ".yml")]
    return [o for o in out if o.startswith(incomplete)]


def environment_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """The ``environments`` keys of the profile(s) given before ``--env``."""
    given: Any = ctx.params.get("profile") or ctx.params.get("profiles") or []
    paths = [given] if isinstance(given, (str, Path)) else list(given)
    if not paths:  # the variadic argument is not converted while completing: read the words typed
        raw = os.environ.get("_TYPER_COMPLETE_ARGS") or os.environ.get("COMP_WORDS", "")
        try:
            words = shlex.split(raw)
        except ValueError:
            words = raw.split()
        paths = [w for w in words if w.endswith((".yaml", ".yml"))]
    names: set[str] = set()
    for path in paths:
        try:
            import yaml  # type: ignore[import-untyped]

            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            continue
        envs = doc.get("environments") if isinstance(doc, dict) else None
        if isinstance(envs, dict):
            names |= {str(k) for k in envs}
    return sorted(n for n in names if n.startswith(incomplete))


@app.command("completion")
@handle_errors
def completion_command(shell: str = typer.Argument(..., help="bash, zsh or fish.", autocompletion=lambda incomplete: [s for s in SHELLS if s.startswith(incomplete)])) -> None:
    """Print the shell completion script: `source <(mcompile completion bash)`, `mcompile completion zsh > "${fpath[1]}/_mcompile"`, `mcompile completion fish > ~/.config/fish/completions/mcompile.fish`."""
    if shell not in SHELLS:
        raise typer.BadParameter(f"must be one of {', '.join(SHELLS)}", param_hint="SHELL")
    from typer._completion_shared import get_completion_script

    enable()
    typer.echo(get_completion_script(prog_name="mcompile", complete_var=COMPLETE_VAR, shell=shell))
