"""Compiled regular expressions kept across runs, in the user cache.

A build compiles ~130 regular expressions (module constants of the compiler and of PyYAML, the
``pattern`` keywords of the schemas a value reaches): ~10 ms of ``re``'s pure-Python parser and
code generator, the same every run. :func:`install` wraps ``re._compiler.compile``, the one
function ``re`` calls for a pattern its in-process cache does not hold: the arguments it passes to
``_sre.compile`` (the pattern, its flags, the compiled program as a list of integers, the group
count and names) are recorded, kept in one ``marshal`` file of the user cache, and the next
process builds the same ``Pattern`` from them with ``_sre.compile`` directly. Nothing is
translated: what is stored is exactly what ``re`` produced (``tests/test_regex_cache.py`` checks
that every stored entry builds a pattern equal, program included, to ``re.compile``'s).

Only patterns compiled inside :func:`recording` (a build's stage chain) are stored, so the file
holds what a build needs, not whatever else a process embedding the compiler compiles. It is
keyed by the interpreter (``sys.version``, ``_sre.MAGIC``) and this module's source, starts with
a SHA-256 of its body, is written to a temporary name and renamed into place at exit when the
run compiled something new: the patterns this run used first, then the earlier ones, at most
``MAX_ENTRIES`` (it is read whole). A missing, damaged or foreign file is ignored (and
rewritten), ``MCOMPILE_NO_CACHE`` turns it off. Patterns that are not plain ``str``/``bytes``,
or that ask for ``re.DEBUG``, go to ``re`` as before.
"""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from re import _compiler  # type: ignore[attr-defined]
from typing import Any, TypeVar

from .usercache import cache_dir, read_entry, write_entry

T = TypeVar("T")

_FORMAT = b"re-codes/v1"
MAX_ENTRIES = 1000
_DEBUG = 128  # re.DEBUG

_table: dict[tuple[Any, int], tuple[Any, ...]] | None = None  # (pattern, flags) -> _sre.compile's arguments
_new: dict[tuple[Any, int], tuple[Any, ...]] = {}
_used: dict[tuple[Any, int], None] = {}  # entries of the table this run used (kept first on save)
_depth = 0  # recording() nesting
_loading = False
_capture = threading.local()
_original: Any = None


class _Recorder:
    """Stands in for ``_sre`` in ``re._compiler``: records ``compile``'s arguments in the calling
    thread (when :func:`_compile` asks), everything else is ``_sre``'s."""

    def __init__(self) -> None:
        self.__dict__.update((k, v) for k, v in vars(_sre).items() if not k.startswith("__") and k != "compile")

    def compile(self, *args: Any) -> Any:
        if getattr(_capture, "on", False):
            _capture.args = args
        return _sre.compile(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(_sre, name)


def install() -> None:
    """Serve ``re``'s compilations from the user cache (idempotent)."""
    global _original
    if _original is not None or os.environ.get("MCOMPILE_NO_CACHE"):
        return
    _original = _compiler.compile
    _compiler._sre = _Recorder()
    _compiler.compile = _compile


@contextmanager
def recording() -> Iterator[None]:
    """Install the cache (see :func:`install`) and store what is compiled inside this block."""
    global _depth
    install()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1


def records(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` run inside :func:`recording`."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with recording():
            return fn(*args, **kwargs)

    return wrapper


def _compile(p: Any, flags: Any = 0) -> Any:
    try:
        key = (p, int(flags))
    except (TypeError, ValueError):  # pragma: no cover - re passes ints and RegexFlags
        return _original(p, flags)
    if type(p) not in (str, bytes) or key[1] & _DEBUG:
        return _original(p, flags)
    table = _table if _table is not None else _load()
    args = table.get(key)
    if args is not None:
        try:
            pattern = _sre.compile(*args)
        except Exception:  # noqa: BLE001, S110 - not what _sre takes (a damaged entry): compile it
            pass
        else:
            if _depth:
                _used[key] = None
            return pattern
    if not _depth:
        return _original(p, flags)
    _capture.on, _capture.args = True, None
    try:
        result = _original(p, flags)
    finally:
        _capture.on, args = False, _capture.args
    if args is not None and len(_new) < MAX_ENTRIES:
        if not _new:
            import atexit

            atexit.register(save)
        pattern, flags_, code, groups, groupindex, indexgroup = args  # re's named opcodes are ints: stored as plain ones
        _new[key] = (pattern, int(flags_), [int(c) for c in code], int(groups), {str(k): int(v) for k, v in groupindex.items()}, tuple(indexgroup))
    return result


def _path() -> Path | None:
    where = cache_dir()
    if where is None:
        return None
    digest = hashlib.sha256(_FORMAT + sys.version.encode() + str(_sre.MAGIC).encode() + Path(__file__).read_bytes()).hexdigest()[:32]
    return where / "re-codes" / f"{digest}.bin"


def _load() -> dict[tuple[Any, int], tuple[Any, ...]]:
    """The stored table (empty when there is none, or it is damaged)."""
    global _table, _loading
    if _loading:  # a pattern compiled while the table is read: compile it as usual
        return {}
    _loading = True
    try:
        data = read_entry(_path(), {})
    except Exception:  # noqa: BLE001 - no home directory, say: no table
        data = {}
    finally:
        _loading = False
    table: dict[tuple[Any, int], tuple[Any, ...]] = data if isinstance(data, dict) else {}
    _table = table
    return table


def save() -> None:
    """Store what this process compiled that the table lacked (atomically; best effort)."""
    if not _new:
        return
    try:
        path = _path()
        if path is None:
            return
        old = _table or {}
        table = {**_new, **{k: old[k] for k in _used if k in old}}
        for k, v in old.items():
            if len(table) >= MAX_ENTRIES:
                break
            table.setdefault(k, v)
        write_entry(path, table)
        _new.clear()
        _used.clear()
    except Exception:  # noqa: BLE001, S110 - no home, a cache that cannot be written: it costs time only
        pass
