"""Options shared by the commands (declared once so every command spells them the same way)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from .completion import environment_names, profile_paths

if TYPE_CHECKING:
    from ..resolve import Request

Profiles = typer.Argument(..., help="Profile files (profiles/*.yaml).", show_default=False, autocompletion=profile_paths)
Profile = typer.Argument(..., help="Profile file.", autocompletion=profile_paths)
Env = typer.Option(None, "--env", "-e", help="Environment (profile.environments key); repeatable where noted.", autocompletion=environment_names)
Override = typer.Option(None, "--override", "-f", help="Override file applied over the profile and environment (repeatable, in order).")
Set = typer.Option(None, "--set", help="path=value override, highest precedence (repeatable), e.g. capacity.pools[burst].weight=20.")


def output_dir(value: Path) -> Path:
    """``--out`` must be a directory or not exist yet; a file there (or above it) is a usage error,
    not an internal one deep in the writer."""
    for path in (value, *value.parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                what = "a broken symlink" if path.is_symlink() and not path.exists() else "not a directory"
                raise typer.BadParameter(f"{path.as_posix()} is {what}", param_hint="'--out'")
            break
    return value


Out = typer.Option(Path("out"), "--out", help="Output directory.", callback=output_dir)


def display_name(path: Path) -> str:
    """How a profile is named in messages: as the user typed it, POSIX separators."""
    return path.as_posix()


def request(profile: Path, env: Optional[str], override: Optional[List[Path]], sets: Optional[List[str]]) -> Request:
    from ..resolve import Request

    return Request(profile, display_name(profile), env, tuple(override or ()), tuple(sets or ()))
Crds = typer.Option(None, "--crds", help="CRD files or directories (e.g. `kubectl get crd -o yaml` output); default: $MCOMPILE_CRDS, ../shared/crds, the user cache.")
KubeVersion = typer.Option("1.33", "--kube-version", help="Kubernetes version whose built-in schemas validate the output.")
AllowKind = typer.Option(None, "--allow-kind", help="apiVersion/Kind accepted without a CRD (repeatable), e.g. example.com/v1/Widget; eks.amazonaws.com/v1/NodeClass is always allowed (no public CRD).")


def verifier_from(crds, kube_version: str, allow_kind, lazy: bool = False):
    """The verifier of these options; ``lazy`` (build, check): a :class:`~compiler.cache.verifier.LazyVerifier`,
    made only when a profile or the platform misses the build cache."""
    from ..errors import Diagnostic, InputError, Source
    from ..verify.crd_sources import CrdLookupError

    for a in allow_kind or ():
        if a.count("/") < 1 or not a.rsplit("/", 1)[1]:
            raise typer.BadParameter(f"{a!r}: expected apiVersion/Kind", param_hint="--allow-kind")
    try:
        if lazy:
            from ..cache.verifier import LazyVerifier

            return LazyVerifier(tuple(crds or ()), kube_version, tuple(allow_kind or ()))
        from ..verify import make_verifier

        return make_verifier(tuple(crds or ()), kube_version, tuple(allow_kind or ()))
    except CrdLookupError as e:  # a CRD source the user chose is not usable: never verify with less
        raise InputError([Diagnostic(Source(e.origin, 1, 1), "$", str(e))]) from None
