"""The output directory's write lock: an exclusive, non-blocking ``flock`` on ``.mcompile/lock``.

One build holds it from the moment its workers start staging (``prestage.py``) until the last
file is committed; the writer's own hold inside that is a no-op (the lock is re-entrant within
the process that took it, never within a forked worker, which never writes the live tree).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .manifest import LOCK_NAME, STATE_DIR

__all__ = ["OutputLocked", "held", "hold"]

_HELD: dict[str, int] = {}  # resolved root -> pid of the process holding its lock here


class OutputLocked(Exception):
    """Another process holds the output directory's lock."""


def held(root: Path) -> bool:
    """This process (not a forked child) holds ``root``'s lock."""
    return _HELD.get(str(root)) == os.getpid()


@contextmanager
def hold(root: Path) -> Iterator[None]:
    """Hold the exclusive, non-blocking ``flock`` on ``root/.mcompile/lock`` (re-entrant)."""
    if held(root):
        yield
        return
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    lock = root / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutputLocked(
            f"{root} is being written by another mcompile process (lock {lock} is held); "
            "wait for it to finish, then run again"
        ) from None
    _HELD[str(root)] = os.getpid()
    try:
        yield
    finally:
        _HELD.pop(str(root), None)
        os.close(fd)  # closing the descriptor releases the lock (once forked workers exited too)
