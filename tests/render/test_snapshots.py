"""Snapshots of every rendered object, per shipped tier and environment (reviewed like code:
a change here is a change to what runs in the cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.emit.yamlout import dump_documents
from compiler.pipeline import compile_all
from compiler.resolve import Request

REPO = Path(__file__).resolve().parents[2]
CASES = [(t, e) for t, envs in (("tier1", ("prod", "staging")), ("tier2", ("dev", "prod")), ("tier3", ("prod",))) for e in envs]


@pytest.mark.parametrize("tier,env", CASES, ids=[f"{t}-{e}" for t, e in CASES])
def test_rendered_objects(snapshot, tier: str, env: str) -> None:
    compiled = {c.profile.env: c for c in compile_all(Request(REPO / "profiles" / f"{tier}.yaml", f"profiles/{tier}.yaml"))}
    assert sorted(compiled) == sorted(e for t, e in CASES if t == tier)
    assert dump_documents(list(compiled[env].objects)) == snapshot
