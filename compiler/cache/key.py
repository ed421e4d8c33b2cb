"""Cache keys: everything that can change what a profile compiles to, hashed.

A profile's key (:func:`profile_key`) is the digest of

* the *toolchain* (:func:`toolchain_digest`, once per build): the mcompile version; every file
  of the installed ``compiler`` package -- its source, the tier defaults, the instance/model
  catalogs, the engine tables -- and the profile schema, hashed as a tree (new modules and data
  files of any feature are covered without being listed here); the Python version and the
  versions of the libraries that validate and emit (kubernetes-validate's schemas, ruamel,
  jsonschema, cel-python, ...); the Kubernetes version; ``--allow-kind``; the CRD sources as
  located (``--crds``, ``$MCOMPILE_CRDS``, the development checkout or the user cache: their
  paths and the bytes of every YAML file under them); every ``MCOMPILE_*`` environment variable
  except the ones that only steer the cache or debugging (:data:`IGNORED_ENV`);
* the *request*: the profile's bytes and its path as used (the name printed in headers and
  messages), every ``-f`` override's path and bytes, every ``--set`` in order.

Reading the profile and override bytes is what a key costs per profile; the toolchain digest
reads the package (about 2 MB) and the CRDs once per build.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

__all__ = ["IGNORED_ENV", "KEY_FORMAT", "package_digest", "profile_key", "toolchain_digest", "tree_digest"]

KEY_FORMAT = "mcompile-cache-key/v1"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
#: Libraries whose version can change the bytes mcompile writes or what it accepts.
LIBRARIES = ("kubernetes-validate", "jsonschema", "referencing", "ruamel.yaml", "PyYAML", "cel-python", "lark", "deepmerge")
#: ``MCOMPILE_*`` variables that do not change the output (everything else under that prefix is in the key).
IGNORED_ENV = frozenset({"MCOMPILE_CACHE_DIR", "MCOMPILE_NO_CACHE", "MCOMPILE_DEBUG", "MCOMPILE_TOOLS_DIR"})
_SKIP_DIRS = frozenset({"__pycache__"})


def _frame(h: hashlib._Hash, *parts: bytes) -> None:
    """Length-prefixed parts: no two different part lists hash alike."""
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)


def tree_digest(root: Path, suffixes: Iterable[str] | None = None) -> str:
    """Digest of every file under ``root`` (relative path + bytes), in sorted order; ``suffixes``
    limits it to files with those endings. Symlinks are followed (their target's bytes count)."""
    h = hashlib.sha256()
    wanted = tuple(suffixes) if suffixes is not None else None
    found: list[tuple[str, Path]] = []
    if root.is_file():
        found.append((root.name, root))
    else:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for name in filenames:
                if name.endswith((".pyc", ".pyo")) or (wanted is not None and not name.endswith(wanted)):
                    continue
                full = Path(dirpath) / name
                found.append((full.relative_to(root).as_posix(), full))
    for rel, full in sorted(found):
        try:
            data = full.read_bytes()
        except OSError as exc:  # unreadable: in the key as such (never silently equal to "absent")
            data = f"<unreadable: {exc.strerror}>".encode()
        _frame(h, rel.encode("utf-8", "surrogateescape"), data)
    return h.hexdigest()


@lru_cache(maxsize=2)
def package_digest(root: Path = PACKAGE_ROOT) -> str:
    """The compiler package (source, defaults, catalogs, engine tables) and the profile schema."""
    from ..schema import schema_path

    h = hashlib.sha256()
    _frame(h, tree_digest(root).encode(), schema_path().read_bytes())
    return h.hexdigest()


def _library_versions() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in LIBRARIES:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(f"{name}: absent")
    return out


def relevant_env(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return sorted(f"{k}={v}" for k, v in env.items() if k.startswith("MCOMPILE_") and k not in IGNORED_ENV)


def toolchain_digest(crds: Sequence[Path] = (), kube_version: str = "1.33", allow_kind: Sequence[str] = ()) -> str:
    """Everything besides the request that decides the output (see the module docstring).
    Raises CrdLookupError like the verifier would for a bad explicit CRD source."""
    from .. import __version__
    from ..verify.crd_sources import locate_crds

    paths, where = locate_crds(tuple(crds))
    h = hashlib.sha256()
    _frame(h, KEY_FORMAT.encode(), str(__version__).encode(), package_digest().encode(),
           f"python {sys.version_info[0]}.{sys.version_info[1]}".encode(), "\n".join(_library_versions()).encode(),
           f"kube {kube_version}".encode(), "\n".join(sorted(allow_kind)).encode(), where.encode(),
           "\n".join(relevant_env()).encode())
    for p in paths:
        _frame(h, str(Path(p).resolve()).encode("utf-8", "surrogateescape"), tree_digest(Path(p), (".yaml", ".yml")).encode())
    return h.hexdigest()


def _regular_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most the loader's size limit (a FIFO, a device or a huge
    file is not cached: the loader reports it)."""
    from ..load import MAX_BYTES

    with path.open("rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ValueError("not a regular file")
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError("too large")
    return data


def profile_key(toolchain: str, profile: Path, display: str, overrides: Sequence[Path], sets: Sequence[str]) -> str | None:
    """The key of one profile's result, or None when an input cannot be read (the build then
    compiles it and reports the problem as usual)."""
    h = hashlib.sha256()
    try:
        _frame(h, toolchain.encode(), display.encode("utf-8", "surrogateescape"), _regular_bytes(profile))
        _frame(h, str(len(overrides)).encode())
        for o in overrides:
            _frame(h, str(o).encode("utf-8", "surrogateescape"), _regular_bytes(o))
    except (OSError, ValueError):
        return None
    _frame(h, str(len(sets)).encode(), *(s.encode("utf-8", "surrogateescape") for s in sets))
    return h.hexdigest()
