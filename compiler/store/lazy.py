"""A scope's bytes on demand: loaded when the writer first needs one of its files, dropped once
the scope is committed, so writing a fleet from the build cache (``rm -rf out`` with every
profile a cache hit) holds one profile's files at a time, not every profile's at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Box", "LazyFile", "lazy_files", "release"]


class Box:
    """One scope's files, read with ``load`` when first needed; ``drop`` frees them at the source."""

    def __init__(self, load: Callable[[], Iterable[Any]], drop: Callable[[], None]) -> None:
        self._load, self._drop = load, drop
        self._files: dict[str, bytes] | None = None

    def get(self, path: str) -> bytes:
        if self._files is None:
            self._files = {f.path: f.content for f in self._load()}
            self._drop()
        return self._files[path]

    def release(self) -> None:
        self._files = None


@dataclass(frozen=True)
class LazyFile:
    """A planned file known by its digest; its bytes come from its scope's :class:`Box`."""

    path: str
    digest: str  # sha256 hex of the planned bytes
    box: Box

    @property
    def content(self) -> bytes:
        return self.box.get(self.path)


def lazy_files(digests: Mapping[str, str], load: Callable[[], Iterable[Any]], drop: Callable[[], None]) -> list[LazyFile]:
    box = Box(load, drop)
    return [LazyFile(path, digest, box) for path, digest in digests.items()]


def release(files: Iterable[Any]) -> None:
    """Free the bytes of the scopes ``files`` belong to (after they were committed)."""
    for box in {id(f.box): f.box for f in files if isinstance(f, LazyFile)}.values():
        box.release()
