"""The chart's ``values.schema.json`` and commented ``values.yaml``.

Every value the chart exposes comes from an object field (``Analysis.origins``). Where that field
is set from a profile field, the profile schema's rules (type, range, enum, pattern, length,
description) are carried over, so ``helm install``/``template``/``lint`` refuse what ``mcompile
validate`` would refuse; quantities get the Kubernetes quantity syntax, ``environment`` the
profile's environment names. A value of no profile field (an environment difference in a field
the profile does not expose) keeps the JSON types the environments use. Every key the
environments all set is required; objects reject unknown keys.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..schema import Schema
from .variance import Analysis
from .yamlout import document_lines

#: (kind regex, object path regex) -> profile schema path whose rules a value inherits.
PROFILE_FIELDS: tuple[tuple[str, str, tuple[str | int, ...]], ...] = (
    ("ScaledObject", r"spec\.minReplicaCount", ("autoscaling", "minReplicas")),
    ("ScaledObject", r"spec\.maxReplicaCount", ("autoscaling", "maxReplicas")),
    ("ScaledObject", r"spec\.pollingInterval", ("autoscaling", "pollingInterval")),
    ("ScaledObject", r"spec\.cooldownPeriod", ("autoscaling", "cooldownPeriod")),
    ("Deployment|LeaderWorkerSet", r"spec\.replicas", ("autoscaling", "minReplicas")),
    ("NodePool", r"spec\.weight", ("capacity", "pools", 0, "weight")),
)
#: Chart-wide values -> profile schema path.
WIDE_FIELDS: dict[tuple[str, ...], tuple[str | int, ...]] = {
    ("image", "repository"): ("serving", "image", "repository"),
    ("image", "tag"): ("serving", "image", "tag"),
    ("image", "digest"): ("serving", "image", "digest"),
    ("image", "pullPolicy"): ("serving", "image", "pullPolicy"),
    ("namespace",): ("metadata", "namespace"),
}
_KEYWORDS = ("type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "minLength", "maxLength", "not")
NUMBER_STRING = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}
QUANTITY = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$"}


@lru_cache(maxsize=1)
def _profile_schema() -> Schema:
    return Schema.load()


def _from_profile(path: tuple[str | int, ...], what: str) -> dict[str, Any]:
    node = _profile_schema().at(path) or {}
    out = {k: node[k] for k in _KEYWORDS if k in node}
    shown = ".".join("[]" if isinstance(p, int) else str(p) for p in path).replace(".[]", "[]")
    out["description"] = f"{node.get('description', '').strip()} ({what}; profile field {shown})".strip()
    return out


def _leaf_schema(vp: tuple[str, ...], origin: tuple[str, str] | None, envs: tuple[str, ...], types: set[str]) -> dict[str, Any]:
    if vp == ("environment",):
        return {"type": "string", "enum": list(envs), "description": "Environment these values deploy (label mcompile.io/environment); one of the profile's environments."}
    if vp in WIDE_FIELDS:
        what = "the namespace used when the release namespace is `default` (no -n)" if vp == ("namespace",) else "the serving image"
        node = _from_profile(WIDE_FIELDS[vp], what)
        if vp == ("image", "digest"):  # "" = pinned by tag only
            return {"anyOf": [{"const": ""}, {k: v for k, v in node.items() if k != "description"}], "description": node["description"] + "; empty: tag only"}
        return node
    if vp[-1] == "enabled" and types == {"boolean"}:
        return {"type": "boolean", "description": f"Render the {vp[0]} object (the profile enables it only in some environments)."}
    kind, field = origin or ("", "")
    what = f"{kind} {field}"
    rule = _field_rule(kind, field)
    if rule == "modifier":
        node = _from_profile(("autoscaling", field.rsplit(".", 1)[-1]), what)
        return {**NUMBER_STRING, "description": node["description"]}
    if isinstance(rule, tuple):
        return _from_profile(rule, what)
    if kind == "NodePool" and field == "spec.limits":
        desc = _from_profile(("capacity", "pools", 0, "limits"), what)["description"]
        return {"type": "object", "additionalProperties": QUANTITY, "properties": {k: QUANTITY for k in ("cpu", "memory", "nvidia.com/gpu")},
                "required": ["cpu", "memory", "nvidia.com/gpu"], "description": desc}
    ordered = sorted(types | ({"number"} if "integer" in types and "number" in types else set()))
    return {"type": ordered[0] if len(ordered) == 1 else ordered, "description": f"{what}: differs between environments (set through the profile's environments)."}


@lru_cache(maxsize=1 << 10)
def _field_rule(kind: str, field: str) -> tuple[str | int, ...] | str | None:
    """The profile field of the first ``PROFILE_FIELDS`` row matching (kind, object field), else
    ``"modifier"`` for a KEDA scaling modifier, else None (fields repeat across profiles: each
    pair is matched once)."""
    for kinds, rx, ppath in PROFILE_FIELDS:
        if re.fullmatch(kinds, kind) and re.fullmatch(rx, field):
            return ppath
    if re.fullmatch(r"spec\.advanced\.scalingModifiers\.(target|activationTarget)", field):
        return "modifier"
    return None


def values_schema(analysis: Analysis) -> dict[str, Any]:
    """JSON Schema (draft-07) for the chart's values."""
    tree: dict[str, Any] = {}
    for env in analysis.envs:
        _collect(analysis.values[env], tree, env)
    body = _node(tree, (), analysis, len(analysis.envs))
    return {"$schema": "http://json-schema.org/draft-07/schema#", "title": "values", **body}


def _collect(values: dict[str, Any], acc: dict[str, Any], env: str) -> None:
    """Per values key: nested maps recurse; leaves record (JSON types seen, envs that set them)."""
    for k, v in values.items():
        if isinstance(v, dict) and v and k not in ("resources", "limits", "requests"):
            sub = acc.get(k)
            if not isinstance(sub, dict):
                sub = acc[k] = {}
            _collect(v, sub, env)
        else:
            seen = acc.setdefault(k, ("leaf", set(), set()))
            seen[1].add(_json_type(v))
            seen[2].add(env)


def _json_type(v: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object", type(None): "null"}[type(v)]


def _envs_of(node: Any) -> set[str]:
    if isinstance(node, tuple):
        return set(node[2])
    return set().union(*(_envs_of(v) for v in node.values())) if node else set()


def _node(tree: dict[str, Any], vp: tuple[str, ...], analysis: Analysis, n_envs: int) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for k, sub in sorted(tree.items()):
        path = (*vp, k)
        if isinstance(sub, tuple):
            props[k] = _leaf_schema(path, analysis.origins.get(path), analysis.envs, sub[1])
        else:
            child = _node(sub, path, analysis, n_envs)
            if path == ("image",):
                child["description"] = "The serving image (profile field serving.image)."
            else:
                owner = next((v for v in analysis.variants if v.alias == path[0]), None)
                what = f"{owner.key[1]} {owner.key[3]}" if owner else path[0]
                child["description"] = what if len(path) == 1 else f"{what}: fields under {'.'.join(path[1:])}"
            props[k] = child
    required = sorted(k for k, sub in tree.items() if len(_envs_of(sub) if not isinstance(sub, tuple) else sub[2]) == n_envs)
    out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        out["required"] = required
    return out


def values_yaml(values: dict[str, Any], schema: dict[str, Any], header: str, what: str) -> str:
    """``values.yaml`` with each key's description from the schema as a comment above it."""
    note = f"{header}\nValues: {what}. Generated: change the profile, not this file.\nEvery value is checked against values.schema.json (ranges from the profile schema)."
    lines = [f"# {line}" for line in note.splitlines()]
    lines += _commented(values, schema, 0)
    return "\n".join(lines) + "\n"


def _commented(values: dict[str, Any], schema: dict[str, Any], indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    for k in sorted(values):
        sub = schema.get("properties", {}).get(k, {})
        desc = " ".join(str(sub.get("description", "")).split())
        if desc:
            out.append(f"{pad}# {desc}")
        v = values[k]
        if isinstance(v, dict) and v and "properties" in sub and sub.get("type") == "object" and "additionalProperties" in sub and sub["additionalProperties"] is False:
            out.append(pad + "\n".join(document_lines({k: 0})).removesuffix(" 0"))
            out += _commented(v, sub, indent + 2)
        else:
            out += [pad + line for line in _without_trailing_blank(document_lines({k: v}))]
    return out


def _without_trailing_blank(lines: list[str]) -> list[str]:
    """``"\n".join(lines).rstrip("\n").splitlines()`` (emitted lines hold no other line breaks)."""
    while lines and not lines[-1]:
        lines.pop()
    return lines

