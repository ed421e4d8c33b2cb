"""The user cache: ``$XDG_CACHE_HOME/mcompile`` (``~/.cache/mcompile``), shared by every cache
that outlives a run and depends on no project (the verify caches, :mod:`compiler.classcode`).
Everything in it is derived, keyed by what it depends on and checked on read: deleting it only
costs time."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any


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


def library_stamp(module: str, files: Iterable[str], also: str | None = None) -> str:
    """What an entry derived with the installed library ``module`` is keyed by: where it is, and
    the size and mtime of ``files`` in it (plus those matching the glob ``also``), found without
    importing it. A reinstall or upgrade changes the stamp."""
    from importlib.util import find_spec

    spec = find_spec(module)
    where = list(spec.submodule_search_locations or []) if spec is not None else []
    parts = [f"{module}:{where}"]
    names = sorted({*files, *(p.name for p in Path(where[0]).glob(also))} if also else set(files)) if where else []
    for name in names:
        try:
            stat = (Path(where[0]) / name).stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        except OSError:
            parts.append(f"{name}:missing")
    return "\0".join(parts)


def read_entry(path: Path | None, missing: Any = None) -> Any:
    """The ``marshal`` data of the entry file at ``path`` when it is intact (a SHA-256 of the body,
    then the body), else ``missing``: no cache, no file, a damaged or foreign one."""
    if path is None:
        return missing
    import hashlib
    import marshal

    try:
        raw = path.read_bytes()
        if len(raw) > 32 and hashlib.sha256(raw[32:]).digest() == raw[:32]:
            return marshal.loads(raw[32:])
    except Exception:  # noqa: BLE001, S110 - missing, unreadable or not ours
        pass
    return missing


def write_entry(path: Path | None, data: Any) -> None:
    """Store ``data`` at ``path`` as :func:`read_entry` reads it: written to a temporary name and
    renamed into place (a reader never sees half a file); best effort, since a cache that cannot
    be written only costs time."""
    if path is None:
        return
    import hashlib
    import marshal

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        body = marshal.dumps(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(hashlib.sha256(body).digest() + body)
        os.replace(tmp, path)
    except (OSError, ValueError):
        tmp.unlink(missing_ok=True)
