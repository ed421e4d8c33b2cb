"""Terminal manners shared by the commands: colour only on a terminal (and never with
``NO_COLOR`` set), progress bars only when stderr is a terminal (quiet in CI logs and pipes)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1"}


def echo(text: str, err: bool = False, nl: bool = True) -> None:
    """``text`` and a newline on stdout (stderr with ``err``), flushed: what ``typer.echo`` does
    for the plain text mcompile prints (the typer-free path of build and check prints with it too)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n" if nl else text)
    stream.flush()


def colour_on(stream: TextIO) -> bool:
    """https://no-color.org: any non-empty ``NO_COLOR`` turns colour off."""
    return not os.environ.get("NO_COLOR") and _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def painter(stream: TextIO | None = None) -> Callable[[str, str], str]:
    """A ``paint(text, colour)`` for ``stream`` (stdout by default): ANSI colour or plain text."""
    on = colour_on(stream or sys.stdout)
    return lambda text, colour: f"\033[{_CODES[colour]}m{text}\033[0m" if on and colour in _CODES else text


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """Yields ``step(done, total)``; draws a rich progress bar on stderr when it is a terminal."""
    if not _isatty(sys.stderr):
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def step(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield step
