"""Is ``out/`` still what the last build left? Answered from ``lstat`` alone when nothing changed.

The index (kept in the build cache, never in ``out/``) records, after every write, for each file
mcompile owns: ``(size, mtime_ns, ctime_ns, inode)`` and the sha256 of the bytes the build put
there; for the manifest its stat; for each scope the digest of its manifest entry. A scope is
*clean* when the manifest's stat is the one recorded (so the manifest still holds the recorded
entries), the scope's planned files have the recorded digest, and every file's stat is the one
recorded -- or, where the stat differs (a ``git checkout``, ``touch``, a copy), its bytes still
hash to the planned digest (then the new stat is recorded). ``ctime`` cannot be set from user
space, so an edit that restores size and mtime is still seen. No stage left by an interrupted
build may be pending. A clean scope needs neither its bytes nor the writer: a no-op rebuild of a
fleet stats its files and reads nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from .manifest import MANIFEST_NAME
from .paths import parent_problem
from .prestage import PREFIX
from .swap import STAGE_DIR

__all__ = ["INDEX_FORMAT", "OutIndex", "scope_digest"]

INDEX_FORMAT = "mcompile-out-index/v1"

Stat = tuple[int, int, int, int]


def scope_digest(digests: Mapping[str, str]) -> str:
    """Digest of a scope's manifest entry (path -> sha256), independent of order."""
    return hashlib.sha256(json.dumps(sorted(digests.items()), separators=(",", ":")).encode("utf-8")).hexdigest()


def _stat(path: Path | str) -> Stat | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class OutIndex:
    """The recorded state of one output directory (``root``), stored at ``path``."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path, self.root = path, root
        self.base = os.path.join(str(root), "")
        self.files: dict[str, list] = {}  # rel -> [size, mtime_ns, ctime_ns, ino, sha256]
        self.manifest: list | None = None
        self.scopes: dict[str, str] = {}  # scope -> scope_digest of its manifest entry
        self.exact = False  # the manifest lists exactly ``scopes`` (False after a sharded build)
        self.swept = False  # a write recorded here swept out/ for temp files (or found no sign of a crash)
        self.changed = False

    @classmethod
    def load(cls, path: Path, root: Path) -> OutIndex:
        """The index at ``path`` for ``root``; empty when absent, damaged or for another directory."""
        index = cls(path, root)
        try:
            raw = path.read_bytes()
            digest, _, body = raw.partition(b"\n")
            if hashlib.sha256(body).hexdigest().encode() != digest:
                return index
            data = json.loads(body)
            if data.get("format") != INDEX_FORMAT or data.get("root") != str(root):
                return index
            files, manifest, scopes = data["files"], data["manifest"], data["scopes"]
            if isinstance(files, dict) and isinstance(scopes, dict) and (manifest is None or isinstance(manifest, list)):
                index.files, index.manifest, index.scopes, index.exact = files, manifest, scopes, data.get("exact") is True
                index.swept = data.get("swept") is True
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
        return index

    def _manifest_current(self) -> bool:
        st = _stat(self.root / MANIFEST_NAME)
        return st is not None and self.manifest is not None and list(st) == self.manifest

    def _stage_pending(self) -> bool:
        try:
            return any(not name.startswith(PREFIX) for name in os.listdir(self.root / STAGE_DIR))  # a build's own prestage is no commit
        except OSError:
            return False

    def matches(self, rel: str, digest: str) -> bool:
        """The file at ``rel`` holds bytes with sha256 ``digest`` (stat first, bytes if needed)."""
        try:
            st = os.lstat(self.base + rel)  # a string join: ~100k of these in a no-op fleet rebuild
        except OSError:
            return False
        known = self.files.get(rel)
        if (known is not None and known[4] == digest and known[0] == st.st_size and known[1] == st.st_mtime_ns
                and known[2] == st.st_ctime_ns and known[3] == st.st_ino and stat.S_ISREG(st.st_mode)):
            return True
        full = self.root / rel
        if not stat.S_ISREG(st.st_mode):
            return False
        if parent_problem(self.root, rel):
            return False
        try:
            with open(full, "rb") as fh:
                if hashlib.sha256(fh.read()).hexdigest() != digest:
                    return False
        except OSError:
            return False
        self.files[rel] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest]
        self.changed = True
        return True

    def clean(self, planned: Sequence[tuple[str, Mapping[str, str]]]) -> set[str]:
        """The scopes of ``planned`` whose manifest entry and files on disk are as planned."""
        if not self._manifest_current() or self._stage_pending():
            return set()
        out = set()
        for scope, digests in planned:
            if self.scopes.get(scope) == scope_digest(digests) and all(self.matches(p, d) for p, d in digests.items()):
                out.add(scope)
        return out

    def others(self, scopes: Iterable[str]) -> bool:
        """The manifest may list scopes besides ``scopes`` (orphans, or other shards')."""
        return not self.exact or bool(set(self.scopes) - set(scopes))

    def record(self, planned: Sequence[tuple[str, Mapping[str, str]]], written: Iterable[str], exact: bool = True,
               known: Mapping[str, Sequence[int]] | None = None) -> None:
        """After a write: the manifest lists the scopes of ``planned`` as planned (and, unless
        ``exact``, others too: a sharded build); the files of the ``written`` scopes were just
        written (the others were clean). Files of scopes no longer planned are forgotten.
        ``known``: the stat of files whose bytes (of the planned digest) were written and stat'ed
        by a worker and moved only with their whole directory since (``prestage.py``): recorded
        without an ``lstat`` (a stat that is not the file's after all only makes the next build
        hash that file)."""
        fresh = set(written)
        seen = known or {}
        files: dict[str, list] = {}
        for scope, digests in planned:
            for rel, digest in digests.items():
                old = self.files.get(rel)
                if scope not in fresh and old is not None and old[4] == digest:
                    files[rel] = old
                elif (st := seen.get(rel)) is not None or (st := _stat(self.base + rel)) is not None:  # a string join, not a Path
                    files[rel] = [*st, digest]
        self.files = files
        self.scopes = {scope: scope_digest(digests) for scope, digests in planned}
        self.exact = exact
        self.swept = True
        st = _stat(self.root / MANIFEST_NAME)
        self.manifest = list(st) if st is not None else None
        self.changed = True

    def forget(self) -> None:
        """Trust nothing recorded (the manifest was rewritten by a path that did not record)."""
        self.manifest, self.scopes, self.exact, self.changed = None, {}, False, True

    def save(self) -> None:
        """Write atomically; best effort (the index is an optimisation)."""
        if not self.changed:
            return
        body = json.dumps({"format": INDEX_FORMAT, "root": str(self.root), "manifest": self.manifest, "scopes": self.scopes,
                           "exact": self.exact, "swept": self.swept, "files": self.files}, separators=(",", ":")).encode("utf-8")
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
            os.replace(tmp, self.path)
            self.changed = False
        except OSError:
            with suppress(OSError):
                os.unlink(tmp)
