"""Compiled schema checks kept across processes and runs, in the user cache.

Generating and compiling the check of a large schema (:mod:`.accept`: Karpenter's NodePool, a
Deployment with every ``$ref`` of its PodSpec) and walking it for defaults and CEL rules costs
tens of milliseconds per kind, the same on every run. :func:`cached` keeps the result (Python
code objects and plain data, as ``marshal`` writes them: the format of Python's own ``.pyc``
files) under ``<user cache>/schema-checks/``:

* the key covers what the result is made of (the caller's parts: a digest of the schema's
  source file and the kind) and how it is made (:func:`code_digest`: the source of the modules
  that generate it, the Python version and bytecode magic);
* each file starts with the SHA-256 of its body; a missing, truncated or corrupt file (or one
  that does not load) is ignored and rewritten;
* files are written to a temporary name and renamed into place (readers see all or nothing);
* ``MCOMPILE_NO_CACHE`` (or a cache directory that cannot be written) turns it off.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from .. import usercache

T = TypeVar("T")

_FORMAT = "schema-checks/v1"
#: The modules whose code decides what a cached entry holds.
_GENERATORS = ("accept.py", "crd_schema.py", "crd_defaults.py", "crd_compiled.py", "crd_files.py", "schema_cache.py", "crds.py", "kube.py")


def cache_dir() -> Path | None:
    """The user cache of every verify cache (``crd_cel.cache_dir`` is this one): :func:`compiler.usercache.cache_dir`."""
    return usercache.cache_dir()


@cache
def code_digest() -> str:
    """Digest of everything besides the schema that a cached entry depends on."""
    digest = hashlib.sha256(f"{_FORMAT}\0{sys.version}\0".encode() + importlib.util.MAGIC_NUMBER)
    here = Path(__file__).parent
    for name in _GENERATORS:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes())
    return digest.hexdigest()


def entry_path(parts: Sequence[str]) -> Path | None:
    """Where the entry for ``parts`` lives (None: no cache)."""
    where = cache_dir()
    if where is None:
        return None
    key = hashlib.sha256("\0".join((code_digest(), *parts)).encode()).hexdigest()
    return where / "schema-checks" / f"{key}.bin"


_MISSING = object()


def read(parts: Sequence[str], missing: Any = None) -> Any:
    """The intact ``marshal`` data of the entry for ``parts``, else ``missing`` (no entry, a
    damaged one, no cache)."""
    return usercache.read_entry(entry_path(parts), missing)


def write(parts: Sequence[str], data: Any) -> None:
    """Store ``data`` for ``parts`` (atomically; best effort: a cache that cannot be written costs time)."""
    usercache.write_entry(entry_path(parts), data)


def cached(parts: Sequence[str], build: Callable[[], Any], load: Callable[[Any], T]) -> T:
    """``load(data)`` for the cached ``data`` of ``parts``, or for ``build()`` (then cached).

    ``data`` is what ``marshal`` stores (code objects, tuples, lists, dicts, str, numbers,
    None); ``load`` turns it into the result and may raise on data that is not what it expects:
    such an entry counts as corrupt."""
    data = read(parts, _MISSING)
    if data is not _MISSING:
        try:
            return load(data)
        except Exception:  # noqa: BLE001, S110 - not what load expects: build again
            pass
    data = build()
    result = load(data)
    write(parts, data)
    return result
