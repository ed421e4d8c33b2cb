"""The ``mcompile`` command line: thin commands over the pipeline, one module per command.

Exit codes: 0 ok; 1 ``check``/``diff`` found differences; 2 input or usage error (every problem
printed as ``file:line:col: $.path: message``, sorted, nothing written); 3 internal error.

Start-up is paid for by every command, so this package imports nothing heavy: ``mcompile
--help`` and ``--version`` are answered here (:func:`quick_answer`), a plain ``build`` or ``check`` runs without
typer (:func:`plain`), everything else goes to typer (:mod:`.root`), and each command module
imports the pipeline only when its command runs.
``tests/test_startup_cli.py`` fails when a quick command imports a heavy module.
"""

from __future__ import annotations

import os
import sys

#: The text typer prints for ``mcompile --help`` on a terminal of 80 columns or more (click's
#: help is then 78 wide). Regenerate with ``python -m compiler.cli.root --write-help``; a test
#: compares it with typer's own output, so a new command or option cannot be missed.
HELP_FILE = os.path.join(os.path.dirname(__file__), "help.txt")

#: The width click formats help to on a terminal of at least 80 columns.
HELP_WIDTH = 78


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil: ``$COLUMNS``, else the
    terminal on stdout, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


def completing() -> bool:
    """Shell completion asked (typer answers it from the whole command tree)."""
    return any(k.startswith("_MCOMPILE_COMPLETE") or k == "_TYPER_COMPLETE_ARGS" for k in os.environ)


def quick_answer(argv: list[str]) -> str | None:
    """What ``mcompile <argv>`` prints when that needs no command module (None: run typer)."""
    if completing():
        return None  # shell completion is typer's
    if argv == ["--version"]:
        from .. import __version__

        return f"mcompile {__version__}\n"
    if argv == ["--help"] and min(terminal_columns(), 80) - 2 == HELP_WIDTH:
        with open(HELP_FILE, encoding="utf-8") as fh:
            return fh.read()
    return None


def plain(argv: list[str]) -> int | None:
    """Run a plain ``build``/``check`` command line without typer (:mod:`.argv`); its exit code,
    or None when typer is to parse it (anything unusual, every usage error)."""
    from .argv import parse

    call = parse(argv)
    if call is None:
        return None
    from ..regex_cache import recording

    with recording():  # the patterns the command's modules compile come from the user cache too
        from . import building
        from .failures import UsageError, outcome

        command, args = call
        try:
            return outcome(lambda: getattr(building, command)(*args), command == "build")
        except UsageError:  # found by the command before it did anything: typer reports it
            return None
        except KeyboardInterrupt:  # Ctrl-C: typer's exit code, no traceback
            return 130


def main() -> None:
    text = quick_answer(sys.argv[1:])
    if text is not None:
        sys.stdout.write(text)
        return
    import gc

    # A compile allocates millions of objects and frees nearly all of them by reference count;
    # few form cycles. With the default threshold (a collection every 700 net allocations) the
    # collector runs thousands of times per build, each pass walking the young objects and every
    # tenth or hundredth pass all of them: 8 % of a fleet's CPU and ~40 ms of a cold single build
    # on the 2-core bench machine. Collecting every 200,000 allocations (mypy does the same)
    # keeps the cycles bounded: the peak memory of a fleet of 100 did not change (54 MB).
    # Worker processes are forked from here and inherit it.
    gc.set_threshold(200_000, 30, 30)
    from ..classcode import install

    install()  # before the compiler's dataclasses are made: their generated methods come compiled
    try:
        code = None if completing() else plain(sys.argv[1:])
        if code is not None:
            sys.exit(code)
        from .root import run

        run()
    finally:
        # The command is done and the process ends: leave its objects to the OS. At exit the
        # interpreter clears every module and then collects the cycles that leaves (each
        # function and its module's globals), object by object: 30-40 ms of a cold build, more
        # than its whole verify stage. gc.freeze() moves every object out of the collector's
        # reach; atexit handlers, the flush of stdout/stderr and the join of non-daemon threads
        # still run as before (every file mcompile writes is closed by then).
        gc.freeze()


def __getattr__(name: str) -> object:
    """``compiler.cli.app`` and friends, imported on first use (typer is not loaded before)."""
    if name in ("app", "handle_errors", "EXIT_HELP", "WRITERS"):
        from . import root

        return getattr(root, name)
    raise AttributeError(name)
