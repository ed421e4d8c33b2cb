"""Turn a CRD ``openAPIV3Schema`` into strict JSON Schema, defaults and CEL rule trees.

The API server treats a CRD structural schema differently from plain JSON Schema:

* fields not declared under ``properties`` are unknown (pruned, and rejected by
  strict field validation) unless ``x-kubernetes-preserve-unknown-fields`` is
  set or ``additionalProperties`` is declared: :func:`to_json_schema` adds
  ``additionalProperties: false`` there;
* ``x-kubernetes-int-or-string``, ``nullable``, ``x-kubernetes-embedded-resource``
  and OpenAPI v3.0 boolean ``exclusiveMinimum``/``exclusiveMaximum`` are
  translated to their Draft 2020-12 meaning; ``x-kubernetes-list-type: set``
  becomes ``uniqueItems``;
* top-level ``metadata`` is ObjectMeta whatever the CRD says (usually only
  ``type: object``): :data:`OBJECT_META` checks it, keeping any ``name`` /
  ``generateName`` restrictions the CRD declares;
* ``default`` values are applied before validation (:func:`apply_defaults`);
* ``x-kubernetes-validations`` rules are collected in a :class:`RuleNode` tree
  mirroring the schema, pruned to the branches that hold rules.

One deliberate difference: a JSON ``null`` in a non-nullable field is an error
here (the API server silently drops it), as it almost always means an unset
template value in a generated manifest.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

_STRING = {"type": "string"}
_OWNER_REF = {
    "type": "object",
    "required": ["apiVersion", "kind", "name", "uid"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": _STRING, "kind": _STRING, "name": _STRING, "uid": _STRING,
        "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"},
    },
}

#: ObjectMeta as accepted on create (strict: unknown metadata fields are errors).
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS_SUBDOMAIN},
        "generateName": _STRING,
        "namespace": {"type": "string", "maxLength": 63, "pattern": DNS_LABEL},
        "labels": {
            "type": "object",
            "propertyNames": {"maxLength": 316, "pattern": LABEL_KEY},
            "additionalProperties": {"type": "string", "maxLength": 63, "pattern": LABEL_VALUE},
        },
        "annotations": {"type": "object", "additionalProperties": _STRING},
        "finalizers": {"type": "array", "items": _STRING},
        "ownerReferences": {"type": "array", "items": _OWNER_REF},
        "uid": _STRING, "resourceVersion": _STRING, "selfLink": _STRING,
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": _STRING,
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
}

_COPIED = (
    "enum", "pattern", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
    "minProperties", "maxProperties", "required", "multipleOf", "minimum", "maximum",
)


def to_json_schema(node: dict[str, Any], *, in_combinator: bool = False) -> dict[str, Any]:
    """Translate one structural-schema node (recursively) into strict Draft 2020-12."""
    out: dict[str, Any] = {}
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if node.get("x-kubernetes-int-or-string"):
        types: list[str] = ["integer", "string"]
    else:
        types = [node["type"]] if isinstance(node.get("type"), str) else []
    if types and node.get("nullable"):
        types.append("null")
    if types:
        out["type"] = types[0] if len(types) == 1 else types
    for key in _COPIED:
        if key in node:
            out[key] = copy.deepcopy(node[key])
    if isinstance(out.get("pattern"), str):
        out["pattern"] = python_pattern(out["pattern"])
    if node.get("nullable") and "enum" in out and None not in out["enum"]:
        out["enum"].append(None)
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(bound) is True and limit in out:
            out[bound] = out.pop(limit)
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    props = node.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: to_json_schema(v) for k, v in props.items()}
    if node.get("x-kubernetes-embedded-resource"):
        embedded = out.setdefault("properties", {})
        embedded.setdefault("apiVersion", _STRING)
        embedded.setdefault("kind", _STRING)
        embedded["metadata"] = OBJECT_META
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = to_json_schema(extra)
    elif extra is False or (
        extra is None and not preserve and not in_combinator and (node.get("type") == "object" or isinstance(props, dict))
    ):
        out["additionalProperties"] = False
    items = node.get("items")
    if isinstance(items, dict):
        out["items"] = to_json_schema(items)
    for key in ("allOf", "anyOf", "oneOf"):
        if key == "anyOf" and node.get("x-kubernetes-int-or-string") and _only_int_or_string(node[key]):
            continue  # already expressed by "type"; avoid a duplicate error
        if isinstance(node.get(key), list):
            out[key] = [to_json_schema(s, in_combinator=True) for s in node[key]]
    if isinstance(node.get("not"), dict):
        out["not"] = to_json_schema(node["not"], in_combinator=True)
    return out


_GO_FLAGS = re.compile(r"\(\?([imsU]+)\)")


def python_pattern(pattern: str) -> str:
    """``pattern`` as Python's ``re`` reads it. CRD patterns are Go (RE2) syntax, which Python
    reads alike except for two constructs it refuses (jsonschema then raised on the value): flags
    set mid-pattern (``^(?i)(a|b)$``; Go applies them to the rest of the pattern) become a scoped
    group (``^(?i:(a|b)$)``), and ``\\z`` (end of text) becomes Python's ``\\Z``. A pattern
    Python already compiles is returned unchanged, and so is one this cannot translate."""
    try:
        re.compile(pattern)
        return pattern
    except re.error:
        pass
    out = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", pattern)
    match = _GO_FLAGS.search(out)
    if match is not None and "U" not in match.group(1) and _top_level(out, match.start()):
        out = f"{out[:match.start()]}(?{match.group(1)}:{out[match.end():]})"
    try:
        re.compile(out)
    except re.error:
        return pattern
    return out


def _top_level(pattern: str, index: int) -> bool:
    """True when ``index`` is outside every group and character class of ``pattern``."""
    depth, in_class, i = 0, False, 0
    while i < index:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        i += 1
    return depth == 0 and not in_class


def _only_int_or_string(branches: Any) -> bool:
    return isinstance(branches, list) and all(
        isinstance(b, dict) and set(b) == {"type"} and b["type"] in ("integer", "string") for b in branches
    )


def root_json_schema(root: dict[str, Any], api_version: str, kind: str) -> dict[str, Any]:
    """The full strict schema for one served version of a custom resource."""
    schema = to_json_schema(root)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["type"] = "object"
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"const": api_version}
    props["kind"] = {"const": kind}
    meta = copy.deepcopy(OBJECT_META)
    declared = ((root.get("properties") or {}).get("metadata") or {}).get("properties") or {}
    for key in ("name", "generateName"):
        if key in declared:
            meta["properties"][key] = {"allOf": [meta["properties"][key], to_json_schema(declared[key])]}
    meta["anyOf"] = [{"required": ["name"]}, {"required": ["generateName"]}]
    props["metadata"] = meta
    schema["required"] = sorted({"apiVersion", "kind", "metadata", *schema.get("required", [])})
    if not root.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    return schema


def copy_json(value: Any) -> Any:
    """``copy.deepcopy`` for JSON-like data (dicts, lists, scalars), several times faster: the
    copy that :func:`apply_defaults` fills in, once per validated object."""
    kind = type(value)
    if kind is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if kind is list:
        return [copy_json(v) for v in value]
    if kind in (str, int, float, bool, type(None)):
        return value
    return copy.deepcopy(value)


def apply_defaults(value: Any, node: dict[str, Any]) -> None:
    """Fill in schema ``default`` values in place, as the API server does on create."""
    if isinstance(value, dict):
        props = node.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                apply_defaults(value[key], sub)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in props:
                    apply_defaults(item, extra)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            apply_defaults(item, node["items"])


@dataclass
class RuleNode:
    """CEL rules at one schema node plus the child nodes that (transitively) hold rules.

    ``rules`` holds whatever ``compile_rule`` returned for each
    ``x-kubernetes-validations`` entry; ``map_keys`` the
    ``x-kubernetes-list-map-keys`` of a ``list-type: map`` array (checked for
    duplicates like the API server does).
    """

    rules: list[Any] = field(default_factory=list)
    properties: dict[str, RuleNode] = field(default_factory=dict)
    items: RuleNode | None = None
    additional: RuleNode | None = None
    map_keys: tuple[str, ...] = ()

    def empty(self) -> bool:
        return not (self.rules or self.properties or self.items or self.additional or self.map_keys)


def build_rule_tree(node: dict[str, Any], compile_rule: Callable[[dict[str, Any]], Any]) -> RuleNode | None:
    """Collect ``x-kubernetes-validations`` / list-map keys below ``node`` (None if none)."""
    tree = RuleNode(rules=[compile_rule(r) for r in node.get("x-kubernetes-validations") or []])
    if node.get("x-kubernetes-list-type") == "map":
        tree.map_keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
    for key, sub in (node.get("properties") or {}).items():
        if isinstance(sub, dict) and (child := build_rule_tree(sub, compile_rule)) is not None:
            tree.properties[key] = child
    if isinstance(node.get("items"), dict):
        tree.items = build_rule_tree(node["items"], compile_rule)
    if isinstance(node.get("additionalProperties"), dict):
        tree.additional = build_rule_tree(node["additionalProperties"], compile_rule)
    return None if tree.empty() else tree


def iter_rule_nodes(tree: RuleNode | None, value: Any, path: list[Any]):
    """Yield ``(path, value, node)`` for every rule node whose value is present."""
    if tree is None or value is None:
        return
    yield path, value, tree
    if isinstance(value, dict):
        for key, item in value.items():
            child = tree.properties.get(key)
            if child is None and key not in tree.properties:
                child = tree.additional
            yield from iter_rule_nodes(child, item, [*path, key])
    elif isinstance(value, list) and tree.items is not None:
        for index, item in enumerate(value):
            yield from iter_rule_nodes(tree.items, item, [*path, index])


def duplicate_map_keys(items: list[Any], keys: tuple[str, ...]) -> list[tuple[int, str]]:
    """``(index, description)`` for each list-map item whose key tuple repeats an earlier one."""
    seen: set[str] = set()
    dups: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        ident = repr(tuple(item.get(k) for k in keys))
        if ident in seen:
            desc = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
            dups.append((index, f"duplicate entry with {desc}"))
        seen.add(ident)
    return dups


def rule_tree_data(tree: RuleNode | None) -> Any:
    """A rule tree whose rules are the raw ``x-kubernetes-validations`` entries (see
    :func:`build_rule_tree` with an identity ``compile_rule``) as plain tuples, lists and dicts
    (for :mod:`compiler.verify.schema_cache`); :func:`rule_tree_from_data` reverses it."""
    if tree is None:
        return None
    children = {key: rule_tree_data(child) for key, child in tree.properties.items()}
    return (list(tree.rules), children, rule_tree_data(tree.items), rule_tree_data(tree.additional), list(tree.map_keys))


def rule_tree_from_data(data: Any, compile_rule: Callable[[dict[str, Any]], Any]) -> RuleNode | None:
    if data is None:
        return None
    rules, children, items, additional, map_keys = data
    return RuleNode(
        [compile_rule(rule) for rule in rules],
        {key: node for key, child in children.items() if (node := rule_tree_from_data(child, compile_rule)) is not None},
        rule_tree_from_data(items, compile_rule),
        rule_tree_from_data(additional, compile_rule),
        tuple(map_keys),
    )
