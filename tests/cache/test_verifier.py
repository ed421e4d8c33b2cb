"""The lazy verifier of build/check (compiler/cache/verifier.py): its note equals the real
verifier's in every case, it refuses a bad CRD source at once, and the verifier it makes shares
the kinds seen unchecked before and after."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.cache.verifier import LazyVerifier, real_verifier
from compiler.verify import make_verifier
from compiler.verify.crd_sources import DEV_CHECKOUT, CrdLookupError

from ..conftest import find_crd_dirs
from ..shipped import REPO

NODECLASS = ("eks.amazonaws.com/v1", "NodeClass")
WIDGET = ("example.com/v1", "Widget")


@pytest.mark.parametrize("unchecked", [set(), {NODECLASS}, {NODECLASS, WIDGET}])
@pytest.mark.parametrize("where", ["explicit", "none", "development checkout"])
def test_the_note_is_the_real_verifiers(unchecked, where, tmp_path, monkeypatch) -> None:
    crds: tuple[Path, ...] = ()
    if where == "explicit":
        crds = tuple(find_crd_dirs())
    else:  # no $MCOMPILE_CRDS: the development checkout's CRDs, or (elsewhere) none at all
        monkeypatch.delenv("MCOMPILE_CRDS", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        monkeypatch.chdir(REPO if where == "development checkout" else tmp_path)
    lazy, real = LazyVerifier(crds, "1.33", ()), make_verifier(crds, "1.33", ())
    assert (lazy.located[0] != []) == (where != "none")
    assert lazy.crd_source.startswith(DEV_CHECKOUT) == (where == "development checkout")
    lazy.unchecked |= unchecked
    real.unchecked |= unchecked
    assert lazy.note() == real.note()
    assert not lazy.made
    assert real_verifier(lazy).note() == real.note()
    assert lazy.made


def test_a_bad_crd_source_is_refused_before_anything_runs(tmp_path) -> None:
    with pytest.raises(CrdLookupError, match="not found"):
        LazyVerifier((tmp_path / "missing",))


def test_the_made_verifier_shares_the_unchecked_kinds() -> None:
    lazy = LazyVerifier(tuple(find_crd_dirs()), "1.33", ("example.com/v1/Widget",))
    lazy.unchecked.add(NODECLASS)
    real = lazy.get()
    assert lazy.get() is real and real_verifier(real) is real
    assert real.unchecked == {NODECLASS} and real.allow >= {WIDGET}
    real.objects([{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}])
    assert lazy.unchecked == {NODECLASS, WIDGET}
