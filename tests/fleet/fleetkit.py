"""Fleets for the fleet-stage tests: shipped profiles (and renamed copies) through the real
per-profile stages, as the build runs them."""

from __future__ import annotations

from pathlib import Path

from compiler.build import Outcome, build_all, target_for
from compiler.fleet.landing import Landing
from compiler.verify import Verifier, make_verifier

REPO = Path(__file__).resolve().parents[2]


def verifier() -> Verifier:
    from tests.conftest import find_crd_dirs

    return make_verifier(tuple(find_crd_dirs()))


def copy_profile(tmp: Path, tier: str, name: str, namespace: str, edit: tuple[tuple[str, str], ...] = ()) -> Path:
    """profiles/<tier>.yaml renamed (metadata.name and namespace), with extra text replacements."""
    text = (REPO / "profiles" / f"{tier}.yaml").read_text()
    import yaml

    meta = yaml.safe_load(text)["metadata"]
    text = text.replace(f"name: {meta['name']}\n", f"name: {name}\n", 1).replace(f"namespace: {meta['namespace']}\n", f"namespace: {namespace}\n", 1)
    for old, new in edit:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path


def outcomes(paths: list[Path], out: Path, ver: Verifier | None = None, sets: tuple[str, ...] = ()) -> list[Outcome]:
    return build_all([target_for(p, out, (), sets) for p in paths], ver or verifier(), jobs=1)


def landings(outs: list[Outcome]) -> list[Landing]:
    assert all(o.name for o in outs), [d for o in outs for d in o.errors]
    return [x for o in outs for x in o.landings]


def clusters_from(paths: list[Path], out: Path) -> list:
    """The clusters of these profiles' landings (built into ``out``); no cluster conflicts allowed."""
    from compiler.fleet.clusters import clusters_of

    found, errors = clusters_of(landings(outcomes(paths, out)))
    assert errors == []
    return found


def keys(cluster) -> list[str]:
    """The keys of the platform components a cluster gets, in install order."""
    from compiler.fleet.platform import components

    return [c.key for c, _ in components(cluster)]
