"""What differs between environments, object by object: the shared analysis behind the Helm
chart (differences become values) and the kustomize overlays (differences become patches).

For each object identity (apiVersion, kind, namespace, name) we walk its versions in every
environment together. A node becomes a *value* when it is a knob the profile exposes (image,
resources, args, replica bounds, autoscaling and pool limits — see ``KNOBS``) or when the
environments disagree on it; everything else is literal. Lists of named items (containers)
are walked item by item; other lists are compared whole.

Value keys are readable camelCase: one group per object (``scaledObject``, ``nodePoolBurst``,
``ec2NodeClassGpu``) holding the object's own field names (``minReplicaCount``, ``weight``),
plus the chart-wide values every Helm user looks for first: ``image`` (repository, tag, digest,
pullPolicy), ``environment`` and ``namespace``. ``Analysis.origins`` records which object field
each value came from, so the chart's values schema can carry the profile schema's rules over.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..render.meta import ENV_LABEL, VERSION_LABEL, version_label

_GENERIC = {"spec", "template", "metadata", "leaderWorkerTemplate"}

#: (kind, regex over the object path) -> the node is a chart value even if all envs agree.
KNOBS: tuple[tuple[str, str], ...] = (
    ("Deployment", r"spec\.replicas"),
    ("LeaderWorkerSet", r"spec\.replicas"),
    ("ScaledObject", r"spec\.(minReplicaCount|maxReplicaCount|pollingInterval|cooldownPeriod)"),
    ("ScaledObject", r"spec\.advanced\.scalingModifiers\.(target|activationTarget)"),
    ("NodePool", r"spec\.(limits|weight)"),
)


def object_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    m = obj.get("metadata", {})
    return (obj["apiVersion"], obj["kind"], m.get("namespace", ""), m["name"])


def file_stem(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}"


#: Container fields that read the chart-wide ``image`` values (through a named template).
IMAGE_FIELDS = {"image": "image", "imagePullPolicy": "pullPolicy"}


@dataclass
class ValueRef:
    """A node of the template that reads ``.Values.<path>``, or, with ``helper``, the named
    template ``<chart>.<helper>`` (a value built from several values, e.g. the image reference)."""

    path: tuple[str, ...]
    helper: str | None = None


def split_image(ref: str) -> dict[str, str]:
    """``repo[:port]/name:tag[@sha256:...]`` -> repository, tag, digest ("" when not pinned)."""
    rest, _, digest = ref.partition("@")
    repository, _, tag = rest.rpartition(":")
    if not repository or "/" in tag:
        raise ValueError(f"image {ref!r} has no tag")
    return {"repository": repository, "tag": tag, "digest": digest}


def join_image(parts: dict[str, str]) -> str:
    """The inverse of :func:`split_image` (what the chart's ``<chart>.image`` template prints)."""
    return f"{parts['repository']}:{parts['tag']}" + (f"@{parts['digest']}" if parts["digest"] else "")




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
    origins: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)  # value path -> (kind, object path)


@lru_cache(maxsize=1 << 12)
def _camel(text: str) -> str:
    """``EC2NodeClass-gpu`` -> ``ec2NodeClassGpu``; ``mcompile.io/environment`` -> ``mcompileIoEnvironment``."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    if not parts:
        return "x"
    head = parts[0]
    acronym = re.match(r"[A-Z0-9]+(?=[A-Z][a-z])", head) or re.fullmatch(r"[A-Z0-9]+", head)
    head = head[:acronym.end()].lower() + head[acronym.end():] if acronym else head[0].lower() + head[1:]
    out = head + "".join(p[0].upper() + p[1:] for p in parts[1:])
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


@lru_cache(maxsize=1 << 15, typed=True)  # (typed: True and 1 spell differently)
def _path_child(text: str, p: str | int) -> str:
    """The dotted spelling (``spec.template``, ``[0]`` for an index or a key with ``.`` or ``/``)
    of a path one segment longer than the one ``text`` spells (paths repeat across objects and
    profiles: each is spelled once)."""
    return text + (f"[{p}]" if isinstance(p, int) or "." in str(p) or "/" in str(p) else (("." if text else "") + str(p)))


def _named(items: Sequence[Any]) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


class _Walker:
    def __init__(self, kind: str, alias: str, envs: list[str], shared: dict[tuple[str, ...], dict[str, Any]]) -> None:
        self.kind, self.alias, self.envs = kind, alias, envs
        self.has_knobs = any(k == kind for k, _ in KNOBS)  # (matched by _is_knob)
        self.values: dict[tuple[str, ...], dict[str, Any]] = {}
        self.origins: dict[tuple[str, ...], tuple[str, str]] = {}
        self.shared = shared  # chart-wide values (image) every object must agree on

    def chart_wide(self, path: list, nodes: list[Any], text: str) -> ValueRef | None:
        """The serving image and its pull policy, and the version label, read chart-wide values."""
        if len(path) < 3 or path[-3] not in ("containers", "initContainers") or path[-1] not in IMAGE_FIELDS:
            if path and path[-1] == VERSION_LABEL and path[-2:-1] == ["labels"] and ("image", "tag") in self.shared:
                tags = self.shared[("image", "tag")]
                if all(e in tags and version_label(tags[e]) == n for e, n in zip(self.envs, nodes, strict=True)):
                    return ValueRef(("image", "tag"), helper="version")
            return None
        if path[-1] == "imagePullPolicy":
            found: dict[tuple[str, ...], dict[str, Any]] = {("image", "pullPolicy"): dict(zip(self.envs, nodes, strict=True))}
        else:
            try:
                parts = [split_image(n) if isinstance(n, str) else None for n in nodes]
            except ValueError:
                return None
            if any(p is None for p in parts):
                return None
            found = {("image", k): {e: p[k] for e, p in zip(self.envs, parts, strict=True) if p} for k in ("repository", "tag", "digest")}
        if any(self.shared.get(vp, {}).get(e, n) != n for vp, by_env in found.items() for e, n in by_env.items()):
            return None  # a second image: an ordinary value of its own
        for vp, by_env in found.items():
            self.shared.setdefault(vp, {}).update(by_env)
        self.values.update(found)
        self.origins.update({vp: (self.kind, text) for vp in found})
        return ValueRef(("image", "pullPolicy")) if path[-1] == "imagePullPolicy" else ValueRef(("image",), helper="image")

    def value(self, path: list, nodes: list[Any], text: str) -> ValueRef:
        if path and path[-1] == ENV_LABEL:
            vp: tuple[str, ...] = ("environment",)
        else:
            segs = [_camel(str(p)) for p in path if p not in _GENERIC]
            vp = (self.alias, *segs) if segs else (self.alias, "value")
        by_env = dict(zip(self.envs, nodes, strict=True))
        base, n = vp, 2
        while vp in self.values and self.values[vp] != by_env:  # two nodes compressed to one name
            vp, n = (*base[:-1], f"{base[-1]}{n}"), n + 1
        self.values[vp] = by_env
        self.origins[vp] = (self.kind, text)
        return ValueRef(vp)

    def walk(self, nodes: list[Any], path: list, text: str = "") -> Any:
        """The template of ``nodes`` (one per environment) at ``path`` (``text``: its
        spelling, grown one segment per level by :func:`_path_child`)."""
        first = nodes[0]
        last = path[-1] if path else None
        if last in _WIDE_LAST and (wide := self.chart_wide(path, nodes, text)) is not None:
            return wide
        if last == ENV_LABEL or (self.has_knobs and _is_knob(self.kind, text)):
            return self.value(path, nodes, text)
        if isinstance(first, dict):
            keys = first.keys()
            if all(isinstance(n, dict) and n.keys() == keys for n in nodes):
                return self.walk_mapping(nodes, path, text)
        elif all(isinstance(n, list) for n in nodes) and len({len(n) for n in nodes}) == 1 and first and _named(first) \
                and all([i["name"] for i in n] == [i["name"] for i in first] for n in nodes):
            names = [i["name"] for i in first]
            return [self.walk([n[i] for n in nodes], path + [name], _path_child(text, name)) for i, name in enumerate(names)]
        if all(n == first for n in nodes):
            return first
        return self.value(path, nodes, text)

    def walk_mapping(self, nodes: list[dict[str, Any]], path: list, text: str) -> dict[str, Any]:
        """:meth:`walk` of mappings with the same keys. A scalar field the environments agree on
        is the field itself (what :meth:`walk` would return for it, without the call) unless it
        could be a value anyway: a knob of this kind, or a chart-wide/environment field."""
        out: dict[str, Any] = {}
        knobs = self.has_knobs
        rest = nodes[1:]
        for k, first in nodes[0].items():
            if type(first) in _SCALARS and k not in _SPECIAL_LAST:
                # all(n == first for n in column), without the column (first == first: not NaN)
                same = type(first) is not float or not math.isnan(first)
                for n in rest:
                    if not n[k] == first:  # noqa: SIM201 (the == the definition uses)
                        same = False
                        break
                if same:
                    if not knobs:
                        out[k] = first
                        continue
                    if not _is_knob(self.kind, _path_child(text, k)):
                        out[k] = first
                        continue
            elif type(first) is dict and k not in _SPECIAL_LAST:
                # what walk() does for it (mappings with the same keys), without the call
                child = _path_child(text, k)
                if not (knobs and _is_knob(self.kind, child)):
                    column = [first]
                    keys = first.keys()
                    for n in rest:
                        v = n[k]
                        if not (isinstance(v, dict) and v.keys() == keys):
                            break
                        column.append(v)
                    else:
                        out[k] = self.walk_mapping(column, path + [k], child)
                        continue
            out[k] = self.walk([n[k] for n in nodes], path + [k], _path_child(text, k))
        return out


@lru_cache(maxsize=1 << 14)
def _is_knob(kind: str, text: str) -> bool:
    """True when the field at object path ``text`` is one of ``kind``'s ``KNOBS`` (paths repeat
    across objects and profiles: each is matched once)."""
    return any(re.fullmatch(rx, text) for k, rx in KNOBS if k == kind)


#: The last path segments :meth:`_Walker.chart_wide` can turn into a chart-wide value.
_WIDE_LAST = frozenset({*IMAGE_FIELDS, VERSION_LABEL})
#: ... or :meth:`_Walker.walk` into a value whatever the environments say.
_SPECIAL_LAST = _WIDE_LAST | {ENV_LABEL}
_SCALARS = frozenset({str, int, float, bool, type(None)})


def analyse(objects_by_env: Mapping[str, Sequence[dict[str, Any]]], profile_name: str) -> Analysis:
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
    taken: set[str] = {"environment", "image", "namespace"}
    variants: list[Variant] = []
    values: dict[str, dict[str, Any]] = {e: {} for e in envs}
    origins: dict[tuple[str, ...], tuple[str, str]] = {}
    shared = _first_image(by_key, envs)
    for k in order:
        per_env = by_key[k]
        sample = next(o for o in per_env.values() if o is not None)
        v = Variant(k, file_stem(sample), _alias(sample, profile_name, taken), per_env)
        present = v.present
        v.optional = len(present) != len(envs)
        w = _Walker(sample["kind"], v.alias, present, shared)
        v.template = w.walk([per_env[e] for e in present], [])
        origins.update(w.origins)
        for vp, by_env in w.values.items():
            for env in envs:
                if env in by_env:
                    _put(values[env], vp, by_env[env])
        if v.optional:
            for env in envs:
                _put(values[env], (v.alias, "enabled"), per_env[env] is not None)
        variants.append(v)
    return Analysis(envs, base_env, variants, values, origins)


def _first_image(by_key: dict[tuple, dict[str, dict[str, Any] | None]], envs: Sequence[str]) -> dict[tuple[str, ...], dict[str, Any]]:
    """The first container image of each environment (the serving image): it becomes the
    chart-wide ``image`` values before any object is walked, so labels can refer to its tag."""
    found: dict[str, str] = {}

    def scan(node: Any, env: str) -> None:
        if env in found:
            return
        if isinstance(node, dict):
            for c in node.get("containers", []) if isinstance(node.get("containers"), list) else []:
                if isinstance(c, dict) and isinstance(c.get("image"), str) and env not in found:
                    found[env] = c["image"]
            for v in node.values():
                scan(v, env)
        elif isinstance(node, list):
            for v in node:
                scan(v, env)

    for per_env in by_key.values():
        for env, obj in per_env.items():
            scan(obj, env)
    shared: dict[tuple[str, ...], dict[str, Any]] = {}
    for env, ref in found.items():
        try:
            parts = split_image(ref)
        except ValueError:
            continue
        for k, v in parts.items():
            shared.setdefault(("image", k), {})[env] = v
    return shared


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def overrides(base: Any, env: Any) -> Any:
    """What a values file must say over ``base`` to get ``env`` (Helm deep-merges maps; null deletes)."""
    if isinstance(base, dict) and isinstance(env, dict):
        out: dict[str, Any] = {}
        for k in sorted(set(base) | set(env)):
            if k not in env:
                out[k] = None
            elif k not in base:
                out[k] = env[k]
            elif base[k] != env[k]:
                out[k] = overrides(base[k], env[k])
        return out
    return env
