"""Snapshot of the whole out/ tree per shipped profile: every path and its bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.build import build_files, target_for
from compiler.verify import make_verifier

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_out_tree(snapshot, tier: str) -> None:
    scoped = build_files([target_for(REPO / "profiles" / f"{tier}.yaml", REPO / "out", (), ())], make_verifier())
    assert [s for s, _ in scoped][1:] == ["_platform"]  # the profile, then the platform of its clusters
    tree = {f.path: f.content.decode("utf-8") for _, files in scoped for f in files}
    assert all(path.startswith((f"{scoped[0][0]}/", "_platform/")) for path in tree)
    assert tree == snapshot
