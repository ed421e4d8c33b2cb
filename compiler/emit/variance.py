"""What differs between environments, object by object: the shared analysis behind the Helm
chart (differences become values) and the kustomize overlays (differences become patches).

For each object identity (apiVersion, kind, namespace, name) we walk its versions in every
environment together. A node becomes a *value* when it is a knob the profile exposes (image,
resources, args, replica bounds, autoscaling and pool limits — see ``KNOBS``) or when the
environments disagree on it; everything else is literal. Lists of named items (containers)
are walked item by item; other lists are compared whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..render.meta import ENV_LABEL

_GENERIC = {"spec", "template", "metadata", "leaderWorkerTemplate"}

#: (kind, regex over the object path) -> the node is a chart value even if all envs agree.
KNOBS: tuple[tuple[str, str], ...] = (
    ("Deployment", r"spec\.replicas"),
    ("Deployment", r".*\.containers\[[^]]+\]\.(image|resources|args)"),
    ("LeaderWorkerSet", r"spec\.replicas"),
    ("LeaderWorkerSet", r".*\.containers\[[^]]+\]\.(image|resources|args)"),
    ("ScaledObject", r"spec\.(minReplicaCount|maxReplicaCount|pollingInterval|cooldownPeriod)"),
    ("ScaledObject", r"spec\.advanced\.scalingModifiers\.(target|activationTarget)"),
    ("NodePool", r"spec\.(limits|weight)"),
)


def object_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    m = obj.get("metadata", {})
    return (obj["apiVersion"], obj["kind"], m.get("namespace", ""), m["name"])


def file_stem(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}"


@dataclass
class ValueRef:
    """A node of the template that reads ``.Values.<path>``."""

    path: tuple[str, ...]


@dataclass
class Variant:
    """One object across environments."""

    key: tuple[str, str, str, str]
    stem: str
    alias: str
    per_env: dict[str, dict[str, Any] | None]
    template: Any = None  # tree with ValueRef nodes
    optional: bool = False  # absent in some environment

    @property
    def present(self) -> list[str]:
        return [e for e, o in self.per_env.items() if o is not None]


@dataclass
class Analysis:
    envs: tuple[str, ...]
    base_env: str
    variants: list[Variant]
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # env -> nested values


def _camel(text: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    if not parts:
        return "x"
    out = parts[0][0].lower() + parts[0][1:] + "".join(p[0].upper() + p[1:] for p in parts[1:])
    return out if out[0].isalpha() else "x" + out


def _alias(obj: dict[str, Any], profile_name: str, taken: set[str]) -> str:
    name = obj["metadata"]["name"]
    suffix = name[len(profile_name):] if name.startswith(profile_name) else "-" + name
    base = _camel(obj["kind"] + suffix)
    alias, n = base, 2
    while alias in taken:
        alias, n = f"{base}{n}", n + 1
    taken.add(alias)
    return alias


def _path_text(path: Sequence[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) or "." in str(p) or "/" in str(p) else (("." if out else "") + str(p))
    return out


def _named(items: Sequence[Any]) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


class _Walker:
    def __init__(self, kind: str, alias: str, envs: list[str]) -> None:
        self.kind, self.alias, self.envs = kind, alias, envs
        self.knobs = [re.compile(rx) for k, rx in KNOBS if k == kind]
        self.values: dict[tuple[str, ...], dict[str, Any]] = {}

    def is_knob(self, path: list) -> bool:
        text = _path_text(path)
        return any(rx.fullmatch(text) for rx in self.knobs)

    def value(self, path: list, nodes: list[Any]) -> ValueRef:
        if path and path[-1] == ENV_LABEL and path[-2:-1] == ["labels"]:
            vp: tuple[str, ...] = ("environment",)
        else:
            segs = [_camel(str(p)) for p in path if p not in _GENERIC]
            vp = (self.alias, *segs) if segs else (self.alias, "value")
        by_env = dict(zip(self.envs, nodes))
        base, n = vp, 2
        while vp in self.values and self.values[vp] != by_env:  # two nodes compressed to one name
            vp, n = (*base[:-1], f"{base[-1]}{n}"), n + 1
        self.values[vp] = by_env
        return ValueRef(vp)

    def walk(self, nodes: list[Any], path: list) -> Any:
        first = nodes[0]
        if self.is_knob(path) or (path and path[-1] == ENV_LABEL):
            return self.value(path, nodes)
        if all(isinstance(n, dict) for n in nodes) and all(n.keys() == first.keys() for n in nodes):
            return {k: self.walk([n[k] for n in nodes], path + [k]) for k in first}
        if all(isinstance(n, list) for n in nodes) and len({len(n) for n in nodes}) == 1 and first and _named(first) \
                and all([i["name"] for i in n] == [i["name"] for i in first] for n in nodes):
            return [self.walk([n[i] for n in nodes], path + [first[i]["name"]]) for i in range(len(first))]
        if all(n == first for n in nodes):
            return first
        return self.value(path, nodes)


def analyse(objects_by_env: dict[str, Sequence[dict[str, Any]]], profile_name: str) -> Analysis:
    envs = tuple(sorted(objects_by_env))
    base_env = "prod" if "prod" in envs else envs[0]
    order: list[tuple] = []
    by_key: dict[tuple, dict[str, dict[str, Any] | None]] = {}
    for env in (base_env, *[e for e in envs if e != base_env]):
        for obj in objects_by_env[env]:
            k = object_key(obj)
            if k not in by_key:
                order.append(k)
                by_key[k] = {e: None for e in envs}
            by_key[k][env] = obj
    taken: set[str] = {"environment"}
    variants, values = [], {e: {} for e in envs}
    for k in order:
        per_env = by_key[k]
        sample = next(o for o in per_env.values() if o is not None)
        v = Variant(k, file_stem(sample), _alias(sample, profile_name, taken), per_env)
        present = v.present
        v.optional = len(present) != len(envs)
        w = _Walker(sample["kind"], v.alias, present)
        v.template = w.walk([per_env[e] for e in present], [])
        for vp, by_env in w.values.items():
            for env in envs:
                if env in by_env:
                    _put(values[env], vp, by_env[env])
        if v.optional:
            for env in envs:
                _put(values[env], (v.alias, "enabled"), per_env[env] is not None)
        variants.append(v)
    return Analysis(envs, base_env, variants, values)


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def overrides(base: Any, env: Any) -> Any:
    """What a values file must say over ``base`` to get ``env`` (Helm deep-merges maps; null deletes)."""
    if isinstance(base, dict) and isinstance(env, dict):
        out = {}
        for k in sorted(set(base) | set(env)):
            if k not in env:
                out[k] = None
            elif k not in base:
                out[k] = env[k]
            elif base[k] != env[k]:
                out[k] = overrides(base[k], env[k])
        return out
    return env
