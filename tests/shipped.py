"""The shipped profiles compiled through the real pipeline, cached per (tier, --set values, env)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from compiler.pipeline import Compiled, compile_env
from compiler.resolve import Request

REPO = Path(__file__).resolve().parents[1]


@cache
def compile_tier(tier: str, sets: tuple[str, ...] = (), env: str = "prod") -> Compiled:
    path = REPO / "profiles" / f"{tier}.yaml"
    return compile_env(Request(path, f"profiles/{tier}.yaml", env, (), sets))
