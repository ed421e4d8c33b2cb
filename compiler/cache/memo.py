"""Digests that cost a lot to compute and rarely change -- the compiler package tree, the CRD
trees, the installed library versions -- memoized in the user cache and keyed by a *stat
fingerprint* of everything they read, like Python's own ``.pyc`` check (path, size, mtime) plus
the inode and ctime; any change to one of those files means the digest is computed again.

    $XDG_CACHE_HOME/mcompile/toolchain/<sha256 of the name>.json
        {"format", "name", "fingerprint", "value", "check": sha256 of the three}

A file modified within the last :data:`RACY_SECONDS` is not trusted (a same-size edit in the same
clock tick would keep its mtime: git's "racy" rule), so the digest is computed and not stored.
An entry that does not parse, or whose check fails, is ignored and rewritten; writes are atomic
(a temporary file renamed over the entry). ``MCOMPILE_NO_CACHE`` or an unwritable user cache:
no memo, the digest is computed every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

__all__ = ["RACY_SECONDS", "Fingerprint", "installed_distributions", "memoized", "user_cache_dir"]

FORMAT = "mcompile-memo/v1"
#: Files changed this recently are not trusted to show a later change in their stat.
RACY_SECONDS = 2.0


def user_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/mcompile`` (``~/.cache/mcompile``; the directory of
    ``compiler.verify.crd_cel.cache_dir``), not created here; None with ``MCOMPILE_NO_CACHE``."""
    if os.environ.get("MCOMPILE_NO_CACHE"):
        return None
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except (RuntimeError, KeyError):  # no home directory to be found: no memo
        return None
    return Path(base) / "mcompile"


class Fingerprint:
    """The stat of every file a digest reads (and the names of those files), in the order given."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.racy = False
        self._now = time.time_ns()

    def add(self, label: str, path: str | os.PathLike[str] | None = None) -> None:
        """``label`` and, with ``path``, the stat of ``path`` (followed through symlinks)."""
        parts = [label]
        if path is not None:
            try:
                st = os.stat(path)
            except OSError as exc:
                parts.append(f"<{exc.strerror}>")
            else:
                parts.append(f"{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} {st.st_dev} {st.st_mode}")
                if self._now - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_SECONDS * 1e9:
                    self.racy = True
        data = "\0".join(parts).encode("utf-8", "surrogateescape")
        self._h.update(len(data).to_bytes(8, "little"))
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def installed_distributions(fp: Fingerprint) -> None:
    """Add what ``importlib.metadata`` reads versions from: every ``*.dist-info`` / ``*.egg-info``
    on ``sys.path`` (their names carry the versions; their stat shows a rewrite in place)."""
    fp.add(f"python {sys.version}")
    for entry in sys.path:
        try:
            names = sorted(n for n in os.listdir(entry or ".") if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        if names:  # a directory without distributions (the working directory, say) changes nothing
            fp.add(f"path {os.path.abspath(entry)}")
            for name in names:
                fp.add(name, os.path.join(entry or ".", name))


def _check(name: str, fingerprint: str, value: str) -> str:
    return hashlib.sha256(json.dumps([FORMAT, name, fingerprint, value]).encode("utf-8", "surrogateescape")).hexdigest()


def _entry_path(root: Path, name: str) -> Path:
    return root / "toolchain" / (hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".json")


def _read(path: Path, name: str, fingerprint: str) -> str | None:
    try:
        doc = json.loads(path.read_bytes())
        if (isinstance(doc, dict) and doc.get("format") == FORMAT and doc.get("name") == name and doc.get("fingerprint") == fingerprint
                and isinstance(doc.get("value"), str) and doc.get("check") == _check(name, fingerprint, doc["value"])):
            return str(doc["value"])
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        pass
    return None


def _write(path: Path, name: str, fingerprint: str, value: str) -> None:
    """Atomically (best effort: a cache that cannot be written costs only time)."""
    doc = {"format": FORMAT, "name": name, "fingerprint": fingerprint, "value": value, "check": _check(name, fingerprint, value)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc), encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, path)
    except OSError:
        with suppress(OSError):
            tmp.unlink()


def memoized(name: str, fingerprint: Fingerprint, compute: Callable[[], str]) -> str:
    """The value stored for ``name`` under this fingerprint, else ``compute()`` (stored unless a
    file is racy or the user cache is off). Take the fingerprint *before* computing: a file
    changed meanwhile then gets a fingerprint that no later run has."""
    root = user_cache_dir()
    fp = fingerprint.hexdigest()
    path = _entry_path(root, name) if root is not None else None
    if path is not None and (found := _read(path, name, fp)) is not None:
        return found
    value = compute()
    if path is not None and not fingerprint.racy:
        _write(path, name, fp, value)
    return value

