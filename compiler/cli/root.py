"""The typer application every command module registers on, and the error handling they share.

Imported only when a command really runs (``compiler.cli.main`` answers ``mcompile --help`` and
``--version`` without it): typer and the command modules cost more than the interpreter start.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import wraps
from typing import Any, Callable

import typer
from typer.exceptions import TyperException

from . import coerce, completing
from .failures import UsageError, outcome

EXIT_HELP = "Exit codes: 0 ok, 1 check/diff found differences, 2 input or usage error, 3 internal error."

app = typer.Typer(
    name="mcompile",
    help="Compile LLM-inference profiles for Amazon EKS into Helm charts, kustomize overlays and GitOps apps.\n\n" + EXIT_HELP,
    no_args_is_help=True,
    add_completion=False,  # `mcompile completion bash|zsh|fish` prints the script instead (no shell guessing)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

coerce.install()  # str/int/bool/Path parameters converted without pydantic (see .coerce)

#: Commands that write out/: only they say "nothing written" when they fail.
WRITERS = frozenset({"build"})


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"mcompile {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the mcompile version and exit.")) -> None:
    """Compile LLM-inference profiles for Amazon EKS into Helm charts, kustomize overlays and GitOps apps."""


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn InputError into sorted located messages and exit 2; never show a traceback
    (:func:`.failures.outcome`); a :class:`.failures.UsageError` becomes typer's usage error."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            code = outcome(lambda: fn(*args, **kwargs), fn.__name__ in WRITERS, (typer.Exit, typer.Abort, TyperException))
        except UsageError as e:
            raise typer.BadParameter(e.message, param_hint=e.hint) from None
        if code:
            raise typer.Exit(code)

    return wrapper


COMMANDS = ("build", "completion", "crds", "diff", "explain", "plan", "schema_cmd", "validate")
#: The module that registers each command (tests/test_startup_cli.py holds it to what ``register`` finds).
MODULE_OF = {"build": "build", "check": "build", "completion": "completion", "crds": "crds", "diff": "diff",
             "explain": "explain", "plan": "plan", "schema": "schema_cmd", "validate": "validate"}


def register(modules: Sequence[str] = COMMANDS) -> None:
    """Import the command modules (each registers its command(s) on ``app``)."""
    import importlib

    for name in modules:
        importlib.import_module(f"{__package__}.{name}")


def modules_for(argv: Sequence[str]) -> Sequence[str]:
    """The command modules ``mcompile <argv>`` needs: the named command's only (typer then builds
    one command, not nine), every one for the root help, completion and a misspelt command."""
    if argv and argv[0] in MODULE_OF and not completing():
        return (MODULE_OF[argv[0]],)
    return COMMANDS


def run() -> None:
    """Parse ``sys.argv`` and run the command (the slow path of :func:`compiler.cli.main`)."""
    register(modules_for(sys.argv[1:]))
    if completing():
        from . import completion

        completion.enable()
    try:
        app(prog_name="mcompile")
    except SystemExit as e:
        sys.exit(e.code)


def root_help() -> str:
    """What typer prints for ``mcompile --help`` at click's 78-column width (the text
    :func:`compiler.cli.quick_answer` serves from ``help.txt``)."""
    import typer.main
    from typer._click import formatting

    from . import HELP_WIDTH

    register()
    command = typer.main.get_command(app)
    old, formatting.FORCED_WIDTH = formatting.FORCED_WIDTH, HELP_WIDTH
    try:
        with command.make_context("mcompile", [], resilient_parsing=True) as ctx:
            return command.get_help(ctx) + "\n"
    finally:
        formatting.FORCED_WIDTH = old


if __name__ == "__main__" and sys.argv[1:] == ["--write-help"]:  # run as a script: use the package's own module
    from compiler.cli import HELP_FILE
    from compiler.cli.root import root_help as _help

    with open(HELP_FILE, "w", encoding="utf-8") as fh:
        fh.write(_help())
