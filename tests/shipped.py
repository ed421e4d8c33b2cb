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


def shipped_profiles() -> list[str]:
    """Every profile in profiles/ (file stems), so new shipped profiles are checked like the tiers."""
    return sorted(p.stem for p in (REPO / "profiles").glob("*.yaml"))


def shipped_envs() -> list[tuple[str, str]]:
    """(profile stem, environment) for every environment of every shipped profile."""
    import yaml

    return [(stem, env) for stem in shipped_profiles()
            for env in sorted(yaml.safe_load((REPO / "profiles" / f"{stem}.yaml").read_text())["environments"])]


TIER_FILES = ("tier1.yaml", "tier2.yaml", "tier3.yaml")


def only_tiers(_directory: str, names: list[str]) -> list[str]:
    """``shutil.copytree(..., ignore=only_tiers)``: copy the three tier profiles, for tests whose
    fleet is exactly those (``check`` without arguments compiles every profile it finds)."""
    return [n for n in names if n not in TIER_FILES]
