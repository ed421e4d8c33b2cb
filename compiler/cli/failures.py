"""How a command's failure reaches the user, without typer: located input errors (exit 2), a
command's own exit code, an internal error (exit 3, never a traceback unless ``MCOMPILE_DEBUG``).

:func:`outcome` is the one definition; :func:`compiler.cli.root.handle_errors` runs every typer
command through it, and the typer-free path of ``build``/``check`` (:mod:`.argv`) calls it
directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import InputError
from .term import echo


class UsageError(Exception):
    """A bad option value, found by :mod:`.params` (typer reports it as its own usage error)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class Exit(Exception):
    """End the command with this exit code (check's 1, ``--format json``'s 2)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def outcome(run: Callable[[], Any], writer: bool, passthrough: tuple[type[BaseException], ...] = ()) -> int:
    """The exit code of ``run()``; every failure is printed here. ``writer``: the command writes
    out/ (its error summary then says that nothing was written). ``passthrough`` exceptions
    propagate (typer's own exits and usage errors)."""
    try:
        run()
        return 0
    except InputError as e:
        from .term import painter

        paint = painter(sys.stderr)
        errors = e.sorted()
        for d in errors:
            echo(paint(str(d), "red"), err=True)
        written = ", nothing written" if writer else ""
        echo(f"mcompile: {len(errors)} error{'s' if len(errors) != 1 else ''}{written}", err=True)
        return 2
    except Exit as e:
        return e.code
    except passthrough:
        raise
    except BrokenPipeError:  # `mcompile explain … | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError:
        raise  # typer's (root.handle_errors) or the typer-free path's to report
    except Exception as e:  # last line of defence, reported not hidden
        if os.environ.get("MCOMPILE_DEBUG"):
            raise
        echo(f"mcompile: internal error: {type(e).__name__}: {e} (set MCOMPILE_DEBUG=1 for a traceback)", err=True)
        return 3

