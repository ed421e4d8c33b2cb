"""Options shared by the commands (declared once so every command spells them the same way).

What the values mean (checks, conversions) is in :mod:`.params`, which the typer-free path of
``build``/``check`` uses too; the callbacks here only turn its usage errors into typer's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from . import params
from .completion import environment_names, profile_paths
from .failures import UsageError


def callback(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check`` as a typer callback: its :class:`UsageError` becomes typer's usage error."""

    def run(value):  # type: ignore[no-untyped-def]  # typer reads the parameters of a callback
        try:
            return check(value)
        except UsageError as e:
            raise typer.BadParameter(e.message, param_hint=e.hint) from None

    return run


Profiles = typer.Argument(..., help="Profile files (profiles/*.yaml).", show_default=False, autocompletion=profile_paths)
Profile = typer.Argument(..., help="Profile file.", autocompletion=profile_paths)
Env = typer.Option(None, "--env", "-e", help="Environment (profile.environments key); repeatable where noted.", autocompletion=environment_names)
Override = typer.Option(None, "--override", "-f", help="Override file applied over the profile and environment (repeatable, in order).")
Set = typer.Option(None, "--set", help="path=value override, highest precedence (repeatable), e.g. capacity.pools[burst].weight=20.")
Out = typer.Option(Path("out"), "--out", help="Output directory.", callback=callback(params.output_dir))
Crds = typer.Option(None, "--crds", help="CRD files or directories (e.g. `kubectl get crd -o yaml` output); default: $MCOMPILE_CRDS, ../shared/crds, the user cache.")
KubeVersion = typer.Option("1.33", "--kube-version", help="Kubernetes version whose built-in schemas validate the output.")
AllowKind = typer.Option(None, "--allow-kind", help="apiVersion/Kind accepted without a CRD (repeatable), e.g. example.com/v1/Widget; eks.amazonaws.com/v1/NodeClass is always allowed (no public CRD).")


def Format(help: str) -> Any:
    """``--format text|json``."""
    return typer.Option("text", "--format", help=help, callback=callback(params.output_format))
