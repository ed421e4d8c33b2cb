"""Parameter conversion without pydantic for the simple parameter types mcompile declares.

typer (0.2x) converts every parameter value through a pydantic ``TypeAdapter``: importing
pydantic and building the adapters costs ~60-80 ms of every command, more than the rest of a
small command. mcompile's parameters are ``str``, ``int``, ``bool``, ``Path`` and lists of
them, for which the conversion is trivial. :func:`install` puts a converter in front of
typer's: a value that is already well-formed is converted here exactly as typer would
(``Path`` through typer's own ``coerce_cli_path``, so its existence/permission checks stay);
anything else (a malformed number, a range, an enum, a custom parser, a type not listed) goes
to typer's own pydantic-based conversion, so every usage error keeps typer's wording.

Relies on typer internals (``typer.core.build_runtime_param``); when they are not there (a
typer without them), :func:`install` does nothing and typer converts as usual.
``tests/test_startup_cli.py`` fails if a command run imports pydantic again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_DIGITS = re.compile(r"[0-9]{1,18}")
_INSTALLED: list[bool] = []
#: typer's own ``build_runtime_param`` once :func:`install` replaced it (tests compare both).
ORIGINAL: list[Any] = []


def install() -> None:
    """Route typer's parameter conversion through :class:`_Converter` (once per process)."""
    if _INSTALLED:
        return
    _INSTALLED.append(True)
    try:
        from typer import _param_types, core

        original = core.build_runtime_param
        coerce_path = _param_types.coerce_cli_path
    except (ImportError, AttributeError):  # another typer: its own conversion
        return

    ORIGINAL.append(original)

    def build(descriptor: Any) -> Any:
        return _Converter(descriptor, original, coerce_path)

    core.build_runtime_param = build  # type: ignore[attr-defined]


class _Converter:
    """typer's ``RuntimeParam`` contract (``coerce(value, param, ctx)``) for one parameter."""

    def __init__(self, descriptor: Any, original: Any, coerce_path: Any) -> None:
        self.descriptor = descriptor
        self.info = descriptor.parameter_info
        self._original = original
        self._coerce_path = coerce_path
        self._slow: Any = None

    def slow(self) -> Any:
        """typer's own converter for this parameter (built on first need)."""
        if self._slow is None:
            self._slow = self._original(self.descriptor)
        return self._slow

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:  # typer's RuntimeParam.coerce does the same before converting
            return () if (param.multiple or param.nargs == -1) else None
        annotation = self.descriptor.annotation
        if self.info.parser is None and getattr(annotation, "__origin__", None) is list:
            items: tuple[Any, ...] = tuple(getattr(annotation, "__args__", ()))
            if len(items) == 1 and isinstance(value, (list, tuple)):
                out = [self._leaf(items[0], item, param, ctx) for item in value]
                if all(v is not _MISS for v in out):
                    return out
        else:
            out_one = self._leaf(annotation, value, param, ctx)
            if out_one is not _MISS:
                return out_one
        return self.slow().coerce(value, param=param, ctx=ctx)

    def _leaf(self, annotation: Any, value: Any, param: Any, ctx: Any) -> Any:
        """``value`` (from the command line: a ``str``; or a declared default) converted like
        typer converts a well-formed one, or :data:`_MISS`."""
        info, kind = self.info, type(value)
        if info.parser is not None:
            return _MISS
        if annotation is bool:
            return value if kind is bool else _MISS
        if annotation is str:
            return value if kind is str else _MISS
        if annotation is int and info.clamp is not True:
            number = value if kind is int else int(value) if kind is str and _DIGITS.fullmatch(value) else None
            if number is not None and (info.min is None or number >= info.min) and (info.max is None or number <= info.max):
                return number
            return _MISS
        if annotation is Path and info.path_type is None and not info.allow_dash and (kind is str and value or isinstance(value, Path)):
            return self._coerce_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
        return _MISS


_MISS = object()
