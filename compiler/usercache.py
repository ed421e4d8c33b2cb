"""The user cache: ``$XDG_CACHE_HOME/mcompile`` (``~/.cache/mcompile``), shared by every cache
that outlives a run and depends on no project (the verify caches, :mod:`compiler.classcode`).
Everything in it is derived, keyed by what it depends on and checked on read: deleting it only
costs time."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


def cache_dir() -> Path | None:
    """The directory, created if need be; None when it cannot be written or ``MCOMPILE_NO_CACHE``
    is set."""
    if os.environ.get("MCOMPILE_NO_CACHE"):
        return None
    return _writable(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"))


@cache
def _writable(base: str) -> Path | None:
    where = Path(base) / "mcompile"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return where if os.access(where, os.W_OK) else None
