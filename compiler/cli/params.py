"""What the command-line options mean, without typer: the checks and conversions that typer's
callbacks (:mod:`.options`) and the typer-free path of ``build``/``check`` (:mod:`.argv`) share.

A bad value raises :class:`~compiler.cli.failures.UsageError`; typer's callbacks turn it into its
own usage error (same wording as before), and the typer-free path hands the command line to typer,
which then reports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .failures import UsageError

if TYPE_CHECKING:
    from ..resolve import Request

FORMATS = ("text", "json")


def output_dir(value: Path) -> Path:
    """``--out`` must be a directory or not exist yet; a file there (or above it) is a usage error,
    not an internal one deep in the writer."""
    for path in (value, *value.parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                what = "a broken symlink" if path.is_symlink() and not path.exists() else "not a directory"
                raise UsageError(f"{path.as_posix()} is {what}", "'--out'")
            break
    return value


def output_format(value: str) -> str:
    """``--format``: text or json."""
    if value not in FORMATS:
        raise UsageError("must be text or json", "--format")
    return value


def shard(value: str | None) -> tuple[int, int] | None:
    """``--shard K/N``."""
    if value is None:
        return None
    from ..build import parse_shard

    try:
        return parse_shard(value)
    except ValueError as e:
        raise UsageError(str(e), "'--shard'") from None


def allowed_kinds(values: list[str] | None) -> None:
    """``--allow-kind apiVersion/Kind``."""
    for a in values or ():
        if a.count("/") < 1 or not a.rsplit("/", 1)[1]:
            raise UsageError(f"{a!r}: expected apiVersion/Kind", "--allow-kind")


def display_name(path: Path) -> str:
    """How a profile is named in messages: as the user typed it, POSIX separators."""
    return path.as_posix()


def request(profile: Path, env: str | None, override: list[Path] | None, sets: list[str] | None) -> Request:
    from ..resolve import Request

    return Request(profile, display_name(profile), env, tuple(override or ()), tuple(sets or ()))


def verifier_from(crds: list[Path] | None, kube_version: str, allow_kind: list[str] | None, lazy: bool = False) -> Any:
    """The verifier of these options; ``lazy`` (build, check): a :class:`~compiler.cache.verifier.LazyVerifier`,
    made only when a profile or the platform misses the build cache."""
    from ..errors import Diagnostic, InputError, Source
    from ..verify.crd_sources import CrdLookupError

    allowed_kinds(allow_kind)
    try:
        if lazy:
            from ..cache.verifier import LazyVerifier

            return LazyVerifier(tuple(crds or ()), kube_version, tuple(allow_kind or ()))
        from ..verify import make_verifier

        return make_verifier(tuple(crds or ()), kube_version, tuple(allow_kind or ()))
    except CrdLookupError as e:  # a CRD source the user chose is not usable: never verify with less
        raise InputError([Diagnostic(Source(e.origin, 1, 1), "$", str(e))]) from None
