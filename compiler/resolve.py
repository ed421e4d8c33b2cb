"""Stages 1-3 as one function: load every layer, validate each, merge, validate the result.

    tier defaults < profile < environments.<env> < -f files (in order) < --set (in order)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import Diagnostic, InputError, Source, json_path
from .load import Layer, load_file
from .merge import LDict, Merged, merge_layers, merge_tree
from .schema import Schema
from .setflags import new_items, parse_set
from .types import Request  # a stage type (compiler/types.py), also imported from here
from .validate import integral, validate_layer, validate_merged

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
DEFAULT_ENV = "default"


@dataclass(frozen=True)
class Resolved:
    """A merged, validated profile for one environment."""

    display: str
    env: str
    merged: Merged
    environments: tuple[str, ...] = field(default=())

    @property
    def values(self) -> dict[str, Any]:
        return self.merged.values


@lru_cache(maxsize=1)
def schema() -> Schema:
    return Schema.load()


@lru_cache(maxsize=8)
def _defaults(tier: str) -> tuple[Layer, ...]:
    return tuple(load_file(DEFAULTS_DIR / f"{n}.yaml", f"compiler/defaults/{n}.yaml", "tier default") for n in ("common", tier))


@lru_cache(maxsize=8)
def _defaults_values(tier: str) -> dict[str, Any]:
    def merge(a: Any, b: Any) -> Any:
        if isinstance(a, dict) and isinstance(b, dict):
            return {**a, **{k: merge(a.get(k), v) for k, v in b.items()}}
        return b
    out: dict[str, Any] = {}
    for layer in _defaults(tier):
        out = merge(out, layer.data)
    return out


@lru_cache(maxsize=8)
def _defaults_tree(tier: str) -> LDict:
    """The tier's default layers merged (wrapped): the start of every merge of a profile of that
    tier (``merge_tree`` never mutates it)."""
    return merge_tree(_defaults(tier), schema())


def tier_defaults(tier: str) -> dict[str, Any]:
    """The tier's default values (``common`` then ``<tier>``) as plain data; lists replace."""
    return copy.deepcopy(_defaults_values(tier))


def load_profile(req: Request) -> Layer:
    return load_file(req.profile, req.display, "profile")


def environments_of(profile: Layer) -> tuple[str, ...]:
    envs = profile.data.get("environments") if isinstance(profile.data, dict) else None
    return tuple(sorted(envs)) if isinstance(envs, dict) and envs else (DEFAULT_ENV,)


def resolve(req: Request, profile: Layer | None = None, profile_errors: list[Diagnostic] | None = None) -> Resolved:
    """Resolve one environment (``req.env``; required when the profile defines several).
    ``profile_errors``: the profile layer's own problems when the caller validated it already
    (:func:`resolve_all` does so once for all environments)."""
    sch = schema()
    errors: list[Diagnostic] = []
    profile = profile or load_profile(req)
    errors += validate_layer(profile, sch, is_profile=True) if profile_errors is None else profile_errors
    envs = environments_of(profile)
    env = req.env or (envs[0] if len(envs) == 1 else None)
    if env is None:
        raise InputError([Diagnostic(profile.source(("environments",)), "$.environments", f"the profile defines several environments ({', '.join(envs)}): choose one with --env")])
    layers: list[Layer] = []
    tier = profile.data.get("tier") if isinstance(profile.data, dict) else None
    defaults = _defaults(tier) if tier in ("tier1", "tier2", "tier3") else ()
    layers += defaults
    base = profile.data if isinstance(profile.data, dict) else {}
    layers.append(Layer("profile", profile.origin, {k: v for k, v in base.items() if k != "environments"}, profile.positions))
    if env not in envs:
        errors.append(Diagnostic(profile.source(("environments",)) if "environments" in base else Source(profile.origin, 1, 1, "profile"), "$.environments", f"unknown environment {env!r}; the profile defines: {', '.join(envs)}"))
    elif isinstance(base.get("environments"), dict) and env in base["environments"]:  # `environments: {}` has none
        block = profile.sub(("environments", env), f"environment {env}")
        if block.data is None:
            block.data = {}
        errors += validate_layer(block, sch)
        layers.append(block)
    for path in req.overrides:
        try:
            layer = load_file(path, str(path), "override")
        except InputError as e:
            errors += e.diagnostics
            continue
        errors += validate_layer(layer, sch)
        layers.append(layer)
    for i, expr in enumerate(req.sets, start=1):
        try:
            layer = parse_set(expr, i, sch)
        except InputError as e:
            errors += e.diagnostics
            continue
        errors += validate_layer(layer, sch)
        layers.append(layer)
    if errors:  # also what the merged profile lacks (a missing key beside a typo): one round, not two
        raise InputError(errors + (_merged_problems(layers, sch, errors) if isinstance(profile.data, dict) else []))
    # the tier defaults come merged already (once per tier); the same result as merging them here
    merged = merge_layers(layers[len(defaults):], sch, _defaults_tree(tier)) if defaults else merge_layers(layers, sch)
    errors += validate_merged(merged, sch, env)
    if errors:
        raise InputError(errors + _new_item_hints(layers))
    return Resolved(req.display, env, Merged(integral(merged.values, sch), merged.provenance), envs)


def _merged_problems(layers: Sequence[Layer], sch: Schema, seen: Sequence[Diagnostic]) -> list[Diagnostic]:
    """What the merged profile lacks (missing required keys, ``--set [name]`` selectors naming no
    item) when some layer is already invalid: a typo and the key it should have been show
    together. Other merged problems would repeat the layers' own; nothing when they cannot merge."""
    if not all(isinstance(layer.data, dict) for layer in layers):
        return []  # an empty or non-mapping layer: its own error says it all
    try:
        found = validate_merged(merge_layers(layers, sch), sch)
    except Exception:  # noqa: BLE001 - invalid layers may not merge; their own errors stand
        return []
    known = {(d.path, d.message) for d in seen}
    missing = [d for d in found if d.message.startswith("missing required key") and (d.path, d.message) not in known]
    return missing + _new_item_hints(layers)


def _new_item_hints(layers: Sequence[Layer]) -> list[Diagnostic]:
    """When the merged profile is invalid, say which ``--set [name]`` selector added a new, partial
    item instead of changing an existing one (``capacity.pools[0].weight=3``: no pool is named 0)."""
    from difflib import get_close_matches  # only a refused profile needs it

    out = []
    for i, layer in enumerate(layers):
        for list_path, name, col, known in new_items(layer, list(layers[:i])):
            where = ".".join(list_path)
            have = f"(items: {', '.join(known)})" if known else "(it has no items)"
            if hint := get_close_matches(name, known, n=1):
                have += f" (did you mean [{hint[0]}]?)"
            out.append(Diagnostic(Source(layer.origin, layer.source(()).line, col, layer.name), json_path(list_path),
                                  f"no item named {name!r} in {where} {have}: [{name}] added a new item; [..] selects items by name, not by position"))
    return out


def resolve_all(req: Request) -> list[Resolved]:
    """Every environment of the profile (or just ``req.env``); all errors of all envs at once."""
    profile = load_profile(req)
    envs = (req.env,) if req.env else environments_of(profile)
    own = validate_layer(profile, schema(), is_profile=True)
    out, errors = [], []
    for env in envs:
        try:
            out.append(resolve(Request(req.profile, req.display, env, req.overrides, req.sets), profile, own))
        except InputError as e:
            errors += e.diagnostics
    errors += _one_name(out, profile)
    if errors:
        raise InputError(errors)
    return out


def _one_name(resolved: Sequence[Resolved], profile: Layer) -> list[Diagnostic]:
    """``metadata.name`` names the output directory, the chart and the GitOps apps that span all
    environments: an environment (or -f/--set in one) may not rename the profile."""
    names = [r.values["metadata"]["name"] for r in resolved]
    if len(set(names)) <= 1:  # also a -f/--set renaming every environment alike: a renamed copy
        return []
    meta = profile.data.get("metadata") if isinstance(profile.data, dict) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    name = name if name in names else names[0]
    out = []
    for r in resolved:
        if r.values["metadata"]["name"] != name:
            path = ["metadata", "name"]
            out.append(Diagnostic(r.merged.source(path), json_path(path), f"environment {r.env} renames the profile to {r.values['metadata']['name']!r} "
                                  f"(the profile is {name!r}): the name is shared by all environments (output directory, chart, GitOps apps); "
                                  "set metadata.namespace per environment instead"))
    return out
