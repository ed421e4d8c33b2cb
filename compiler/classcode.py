"""The code ``@dataclass`` generates, compiled once per Python and kept in the user cache: a
``.pyc`` for the methods Python writes at import time.

For every dataclass the standard library writes the source of ``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` and compiles it with ``exec``;
compiling that text for the ~115 dataclasses a build imports is ~30 ms of every command, an
eighth of a single-profile build. The text depends only on the class, and its compiled code only
on the text and the Python version, so :func:`install` gives the ``dataclasses`` module an
``exec`` of its own (a module global shadows the builtin for that module only) that compiles
each text once and afterwards takes the code from a table loaded from the user cache. The
functions are made as before (``exec`` of that code with the same globals and namespace), only
the compile is skipped; any other call goes to the builtin. ``tests/test_classcode.py`` checks
that a class made with the table has the very same methods as one made without it.

The table is one file per Python build (``classcode/<cache tag>-<version digest>.marshal``),
checksummed; a damaged or unreadable file is ignored and written again. It is rewritten, atomically,
only by a run that compiled something new, with the texts that run used (plus the ones already
there, up to :data:`LIMIT`). Only the console command installs it (``compiler.cli.main``); an
embedding program or a test imports the compiler without it.
"""

from __future__ import annotations

import builtins
import hashlib
import sys
from pathlib import Path
from typing import Any

from .usercache import cache_dir, read_entry, write_entry

#: Texts kept at most; past it the file holds only what the last run that compiled used.
LIMIT = 4_000

_TAG = f"{sys.implementation.cache_tag}-{hashlib.sha256(sys.version.encode()).hexdigest()[:12]}"


class Table:
    """Compiled code by source text, loaded from and saved to one file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.codes: dict[str, Any] = _read(path) if path is not None else {}
        self.used: dict[str, Any] = {}
        self.compiled = 0  # texts compiled by this run (the file is rewritten only when > 0)

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:
        """``exec`` for the ``dataclasses`` module."""
        if type(source) is not str or globals is None or locals is None:
            builtins.exec(source, globals, locals)  # noqa: S102 - the call dataclasses made, unchanged
            return
        code = self.codes.get(source)
        if code is None:
            code = compile(source, "<string>", "exec", dont_inherit=True)  # as exec compiles it in dataclasses (no __future__ flags of this module)
            self.codes[source] = code
            self.compiled += 1
        self.used[source] = code
        builtins.exec(code, globals, locals)  # noqa: S102 - dataclasses' own generated code, compiled from its text

    def save(self) -> None:
        """Write the table when this run compiled something (atomically; a failure only costs time)."""
        if self.path is not None and self.compiled:
            write_entry(self.path, self.codes if len(self.codes) <= LIMIT else self.used)


def _read(path: Path) -> dict[str, Any]:
    table = read_entry(path, {})
    return table if isinstance(table, dict) else {}


def table_path(root: Path | None) -> Path | None:
    return None if root is None else root / "classcode" / f"{_TAG}.marshal"


def install() -> Table | None:
    """Give ``dataclasses`` the caching ``exec`` (before any compiler module is imported) and
    save the table at exit. None, and nothing changed, when the user cache is off."""
    import atexit
    import dataclasses

    root = cache_dir()
    if root is None or "exec" in vars(dataclasses):
        return None
    table = Table(table_path(root))
    dataclasses.exec = table.exec  # type: ignore[attr-defined]
    atexit.register(table.save)
    return table
