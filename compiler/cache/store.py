"""The cache directory: where entries live, how they are named, and what a build counts.

Layout (``<cache>/`` = ``--cache-dir``, ``$MCOMPILE_CACHE_DIR``, or ``.mcompile-cache/`` beside the
output directory)::

    <cache>/.gitignore, CACHEDIR.TAG     keep it out of commits and backups
    <cache>/v1/profile/<k[:2]>/<k>       one profile's result (key: key.profile_key)
    <cache>/v1/fleet/<k[:2]>/<k>         the platform of one set of profile results
    <cache>/v1/index/<out digest>.json   stat fingerprints of an output directory (store/index.py)

Everything is keyed by content, so two caches merge by copying one directory over the other
(what a sharded CI run does with its shards' caches). The cache is an optimisation only: a
directory that cannot be created or written, a missing, corrupt, truncated or foreign entry,
all mean "compile it", never a failed build.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .entry import CorruptEntry, Entry, read_entry, write_entry

__all__ = ["CACHE_DIR_ENV", "DEFAULT_NAME", "NO_CACHE_ENV", "BuildCache", "Stats", "default_cache_dir"]

CACHE_DIR_ENV = "MCOMPILE_CACHE_DIR"
NO_CACHE_ENV = "MCOMPILE_NO_CACHE"
DEFAULT_NAME = ".mcompile-cache"
LAYOUT = "v1"
GITIGNORE = b"# Written by mcompile: a build cache, safe to delete, not for version control.\n*\n"
CACHEDIR_TAG = b"Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by mcompile.\n"


def default_cache_dir(out: Path, explicit: Path | None = None) -> Path:
    """``explicit`` (``--cache-dir``), else ``$MCOMPILE_CACHE_DIR``, else ``<out>/../.mcompile-cache``."""
    if explicit is not None:
        return explicit
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    return Path(os.path.abspath(out)).parent / DEFAULT_NAME


@dataclass
class Stats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0  # entries found damaged and ignored
    stored: int = 0
    failed: int = 0  # entries that could not be written

    def line(self) -> str:
        extra = f", {self.corrupt} corrupt ignored" if self.corrupt else ""
        extra += f", {self.failed} not stored" if self.failed else ""
        return f"cache: {self.hits} hits, {self.misses} misses{extra}"


@dataclass
class BuildCache:
    """A cache directory and the toolchain digest every key of this build starts from."""

    root: Path
    toolchain: str
    stats: Stats = field(default_factory=Stats)

    def path(self, kind: str, key: str) -> Path:
        return self.root / LAYOUT / kind / key[:2] / key

    def get(self, kind: str, key: str | None) -> Entry | None:
        """The entry, or None (absent, or damaged: counted and ignored)."""
        if key is None:
            return None
        try:
            return read_entry(self.path(kind, key))
        except CorruptEntry:
            self.stats.corrupt += 1
            return None

    def put(self, kind: str, key: str | None, header: dict[str, Any], sections: list[bytes]) -> bool:
        """Store an entry (best effort: a full or read-only disk only costs the next build time)."""
        if key is None:
            return False
        try:
            self._prepare()
            write_entry(self.path(kind, key), header, sections)
        except OSError:
            self.stats.failed += 1
            return False
        self.stats.stored += 1
        return True

    def forget(self, entry: Entry) -> None:
        """Remove an entry found damaged after its header was read."""
        self.stats.corrupt += 1
        with suppress(OSError):
            os.unlink(entry.path)

    def _prepare(self) -> None:
        if (self.root / LAYOUT).is_dir():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        for name, data in ((".gitignore", GITIGNORE), ("CACHEDIR.TAG", CACHEDIR_TAG)):
            with suppress(FileExistsError), open(self.root / name, "xb") as fh:
                fh.write(data)
        (self.root / LAYOUT).mkdir(exist_ok=True)
