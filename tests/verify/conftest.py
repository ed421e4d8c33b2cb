"""Fixtures shared by the verify tests of the user cache (schema checks and CEL bundles)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.verify import crd_cel


def new_process() -> None:
    """Forget what this process compiled (as a new process would): whether a kind's CEL bundle
    (cel_bundle) is written depends on what this process compiled."""
    crd_cel._compile_rule.cache_clear()
    crd_cel.PRIMED.clear()
    crd_cel.COMPILED.clear()


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty user cache for this test; its schema-checks directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    new_process()
    yield tmp_path / "mcompile" / "schema-checks"
    new_process()
