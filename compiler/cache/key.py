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

Reading the profile and override bytes is what a key costs per profile. The toolchain digest
reads the package (about 2 MB), the CRDs (about 6 MB) and the libraries' metadata only when
one of them changed: those digests are memoized in the user cache, keyed by the stat of every
file they read (:mod:`.memo`); an unchanged toolchain costs a walk and a stat per file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from .memo import Fingerprint, installed_distributions, memoized

__all__ = ["IGNORED_ENV", "KEY_FORMAT", "package_digest", "profile_key", "toolchain_digest", "tree_digest"]

KEY_FORMAT = "mcompile-cache-key/v1"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
#: Libraries whose version can change the bytes mcompile writes or what it accepts.
LIBRARIES = ("kubernetes-validate", "jsonschema", "referencing", "ruamel.yaml", "PyYAML", "cel-python", "lark", "google-re2")
#: ``MCOMPILE_*`` variables that do not change the output (everything else under that prefix is in the key).
IGNORED_ENV = frozenset({"MCOMPILE_CACHE_DIR", "MCOMPILE_NO_CACHE", "MCOMPILE_DEBUG", "MCOMPILE_TOOLS_DIR"})
_SKIP_DIRS = frozenset({"__pycache__"})
#: The loader's size limit (``compiler.load.MAX_BYTES``, held equal by a test; not imported: a
#: build of cache hits loads no loader). A larger input gets no key and is compiled (and refused).
MAX_BYTES = 2 * 1024 * 1024


def _frame(h: hashlib._Hash, *parts: bytes) -> None:
    """Length-prefixed parts: no two different part lists hash alike."""
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)


def _tree_files(root: Path, wanted: tuple[str, ...] | None) -> list[tuple[str, str]]:
    """(relative POSIX path, path) of every file :func:`tree_digest` reads, sorted (plain strings:
    this runs on every build, and Path objects for each of the package's files cost more than
    the walk)."""
    found: list[tuple[str, str]] = []
    if root.is_file():
        found.append((root.name, str(root)))
    else:
        top = str(root)
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            rel = os.path.relpath(dirpath, top).replace(os.sep, "/")
            prefix = "" if rel == "." else rel + "/"
            for name in filenames:
                if name.endswith((".pyc", ".pyo")) or (wanted is not None and not name.endswith(wanted)):
                    continue
                found.append((prefix + name, os.path.join(dirpath, name)))
    return sorted(found)


def tree_digest(root: Path, suffixes: Iterable[str] | None = None) -> str:
    """Digest of every file under ``root`` (relative path + bytes), in sorted order; ``suffixes``
    limits it to files with those endings. Symlinks are followed (their target's bytes count)."""
    return _hash_files(_tree_files(root, tuple(suffixes) if suffixes is not None else None))


def _hash_files(found: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for rel, full in found:
        try:
            with open(full, "rb") as fh:
                data = fh.read()
        except OSError as exc:  # unreadable: in the key as such (never silently equal to "absent")
            data = f"<unreadable: {exc.strerror}>".encode()
        _frame(h, rel.encode("utf-8", "surrogateescape"), data)
    return h.hexdigest()


def _fingerprint(found: list[tuple[str, str]], *extra: Path) -> Fingerprint:
    fp = Fingerprint()
    for rel, full in found:
        fp.add(rel, full)
    for path in extra:
        fp.add(str(path), path)
    return fp


def memo_tree_digest(root: Path, suffixes: Iterable[str] | None = None) -> str:
    """:func:`tree_digest`, memoized by the stat of every file it reads (:mod:`.memo`)."""
    wanted = tuple(suffixes) if suffixes is not None else None
    found = _tree_files(root, wanted)
    name = f"tree {str(root.resolve())!r} {wanted!r}"
    return memoized(name, _fingerprint(found), lambda: _hash_files(found))


@lru_cache(maxsize=2)
def package_digest(root: Path = PACKAGE_ROOT) -> str:
    """The compiler package (source, defaults, catalogs, engine tables) and the profile schema
    (memoized by the stat of every file, :mod:`.memo`)."""
    from ..schema import schema_path

    found, schema = _tree_files(root, None), schema_path()

    def compute() -> str:
        h = hashlib.sha256()
        _frame(h, _hash_files(found).encode(), schema.read_bytes())
        return h.hexdigest()

    return memoized(f"package {str(root.resolve())!r}", _fingerprint(found, schema), compute)


def library_versions() -> tuple[str, list[str]]:
    """mcompile's version and those of :data:`LIBRARIES` (memoized by the stat of every
    installed distribution's metadata directory on ``sys.path``)."""
    fp = Fingerprint()
    installed_distributions(fp)

    def compute() -> str:
        from .. import installed_version

        return json.dumps([installed_version(), _library_versions()])

    mine, libraries = json.loads(memoized("versions " + " ".join(LIBRARIES), fp, compute))
    return str(mine), [str(x) for x in libraries]


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


def toolchain_digest(crds: Sequence[Path] = (), kube_version: str = "1.33", allow_kind: Sequence[str] = (),
                     located: tuple[Sequence[Path], str] | None = None) -> str:
    """Everything besides the request that decides the output (see the module docstring).
    Raises CrdLookupError like the verifier would for a bad explicit CRD source. ``located``:
    what ``locate_crds(crds)`` returned, when the caller already asked."""
    import compiler

    from ..verify.crd_sources import locate_crds

    paths, where = located if located is not None else locate_crds(tuple(crds))
    mine, libraries = library_versions()
    mine = str(vars(compiler).get("__version__", mine))  # a version set on the module (tests do) wins
    h = hashlib.sha256()
    _frame(h, KEY_FORMAT.encode(), mine.encode(), package_digest().encode(),
           f"python {sys.version_info[0]}.{sys.version_info[1]}".encode(), "\n".join(libraries).encode(),
           f"kube {kube_version}".encode(), "\n".join(sorted(allow_kind)).encode(), where.encode(),
           "\n".join(relevant_env()).encode())
    for p in paths:
        _frame(h, str(Path(p).resolve()).encode("utf-8", "surrogateescape"), memo_tree_digest(Path(p), (".yaml", ".yml")).encode())
    return h.hexdigest()


def _regular_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most the loader's size limit (a FIFO, a device or a huge
    file is not cached: the loader reports it)."""
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
