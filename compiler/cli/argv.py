"""The typer-free path of ``mcompile build`` and ``mcompile check``: a plain command line is parsed
here and the command run directly (:mod:`.building`), without loading typer and click (~20 ms, a
tenth of a single-profile build).

"Plain" is deliberately narrow: every option known, every value well-formed (the same checks as
typer's callbacks, :mod:`.params`). Anything else (``--help``, an unknown or misspelt option, a
missing or dash-led value, a bad number, path, format or shard, no profile for ``build``) returns
None and typer parses the whole command line as before, so every usage error keeps typer's
wording. ``tests/cli/test_argv.py`` runs each command line through both parsers and fails on any
difference, and holds :data:`COMMANDS` to the options typer declares.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import params
from .failures import UsageError

_DIGITS = re.compile(r"[0-9]{1,18}")

#: Per parameter: (its flags, "flag" | "one" | "many", conversion, default, check).
Spec = tuple[tuple[str, ...], str, Callable[[str], Any], Any, Callable[[Any], Any] | None]


def _count(text: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise UsageError(f"{text!r} is not a count", "'--jobs'")
    return int(text)


def _path(text: str) -> Path:
    if not text:
        raise UsageError("empty path", "")
    return Path(text)


def _kinds(values: list[str] | None) -> list[str] | None:
    params.allowed_kinds(values)
    return values


OUT: Spec = (("--out",), "one", _path, Path("out"), params.output_dir)
CRDS: Spec = (("--crds",), "many", _path, None, None)
KUBE: Spec = (("--kube-version",), "one", str, "1.33", None)
ALLOW: Spec = (("--allow-kind",), "many", str, None, _kinds)
JOBS: Spec = (("--jobs", "-j"), "one", _count, 0, None)
CACHE_DIR: Spec = (("--cache-dir",), "one", _path, None, None)
NO_CACHE: Spec = (("--no-cache",), "flag", bool, False, None)
SHARD: Spec = (("--shard",), "one", str, None, params.shard)

#: Per command: whether profiles are required, then its options in the order of the command's
#: parameters (after ``profiles``), which is the order :mod:`.building` takes them in.
COMMANDS: dict[str, tuple[bool, dict[str, Spec]]] = {
    "build": (True, {
        "override": (("--override", "-f"), "many", _path, None, None),
        "set_": (("--set",), "many", str, None, None),
        "out": OUT, "crds": CRDS, "kube_version": KUBE, "allow_kind": ALLOW, "jobs": JOBS,
        "timings": (("--timings",), "flag", bool, False, None),
        "strict": (("--strict",), "flag", bool, False, None),
        "cache_dir": CACHE_DIR, "no_cache": NO_CACHE, "shard": SHARD,
    }),
    "check": (False, {
        "out": OUT, "crds": CRDS, "kube_version": KUBE, "allow_kind": ALLOW, "jobs": JOBS,
        "format": (("--format",), "one", str, "text", params.output_format),
        "cache_dir": CACHE_DIR, "no_cache": NO_CACHE, "shard": SHARD,
    }),
}


def parse(argv: list[str]) -> tuple[str, list[Any]] | None:
    """``(command, its arguments in order)`` for a plain ``build``/``check`` command line, else None."""
    if not argv or argv[0] not in COMMANDS:
        return None
    required, specs = COMMANDS[argv[0]]
    by_flag = {flag: name for name, spec in specs.items() for flag in spec[0]}
    values: dict[str, Any] = {}
    profiles: list[Path] = []
    rest = list(argv[1:])
    try:
        while rest:
            token = rest.pop(0)
            if token == "--":
                profiles += [_path(t) for t in rest]
                break
            if not token.startswith("-") or token == "-":
                if token == "-":
                    return None
                profiles.append(_path(token))
                continue
            flag, inline = _split(token)
            name = by_flag.get(flag)
            if name is None:
                return None  # --help, a misspelling, an option of another command: typer's to report
            _flags, kind, convert, _default, _check = specs[name]
            if kind == "flag":
                if inline is not None:
                    return None
                values[name] = True
                continue
            if inline is None:
                if not rest or (rest[0].startswith("-") and len(rest[0]) > 1):
                    return None
                inline = rest.pop(0)
            value = convert(inline)
            if kind == "many":
                values.setdefault(name, []).append(value)
            else:
                values[name] = value  # given twice: the last one, as click does
        if required and not profiles:
            return None
        args: list[Any] = [profiles or None]
        for name, (_flags, _kind, _convert, default, check) in specs.items():
            value = values.get(name, default)
            if check is not None:
                check(value)  # a bad value: typer reports it
            args.append(value)
    except UsageError:
        return None
    return argv[0], args


def _split(token: str) -> tuple[str, str | None]:
    """``--out=x`` → (``--out``, ``x``); ``-j4`` → (``-j``, ``4``); ``--out`` → (``--out``, None)."""
    if token.startswith("--"):
        flag, eq, value = token.partition("=")
        return flag, value if eq else None
    return token[:2], token[2:] or None
