"""The verifier of ``build`` and ``check``, made when a profile or the platform misses the cache.

A build whose every profile and platform is a cache hit verifies nothing, so it never loads the
kube schemas, the CRDs or CEL (``tests/test_startup_cli.py`` holds it to that). What it still
needs of the verifier is what the cache entries report -- the kinds left unchecked -- and the
closing note about them, which is :meth:`compiler.verify.Verifier.note` itself (tests hold the
two notes equal). The CRD sources are located at once: a bad ``--crds`` is refused before any
profile is looked at, as with an eager verifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ..verify import Verifier

__all__ = ["LazyVerifier", "real_verifier"]


class _NotLoaded:
    """Stands for the CRD registry before it is loaded (its note only asks whether there is one)."""


class LazyVerifier:
    def __init__(self, crds: Sequence[Path] = (), kube_version: str = "1.33", allow: Sequence[str] = ()) -> None:
        from ..verify.crd_sources import locate_crds

        self.crds, self.kube_version, self.allow = tuple(crds), kube_version, tuple(allow)
        self.located: tuple[list[Path], str] = locate_crds(self.crds)  # CrdLookupError: as make_verifier
        self.unchecked: set[tuple[str, str]] = set()
        self._made: Verifier | None = None

    @property
    def made(self) -> bool:
        return self._made is not None

    def get(self) -> Verifier:
        """The real verifier (``make_verifier``), made once; it shares :attr:`unchecked`."""
        if self._made is None:
            from ..verify import make_verifier

            made = make_verifier(self.crds, self.kube_version, self.allow, self.located)  # not located twice
            made.unchecked |= self.unchecked
            self.unchecked = made.unchecked
            self._made = made
        return self._made

    # What Verifier.note reads: the CRD source, whether there is a registry, the unchecked kinds.
    @property
    def crd_source(self) -> str:
        return self.located[1]

    @property
    def registry(self) -> object | None:
        return _NotLoaded() if self.located[0] else None

    def note(self) -> str | None:
        from ..verify import Verifier

        if self._made is not None:
            return self._made.note()
        return Verifier.note(cast("Verifier", self))


def real_verifier(verifier: Verifier | LazyVerifier) -> Verifier:
    return verifier.get() if isinstance(verifier, LazyVerifier) else verifier
