"""kustomize: ``base/`` holds the base environment's objects (one per file); each
``overlays/<env>/`` adds the objects only that environment has, deletes the ones it lacks and
JSON6902-patches the rest, so ``kubectl kustomize overlays/<env>`` is exactly that environment.

The patches are written inline in the overlay's ``kustomization.yaml`` (``patches: - patch: |``
with the object's ``target``; a delete is an inline strategic-merge ``$patch: delete``): kustomize
reads an inline patch exactly as it reads the same text from a file, and a file per patch cost a
file create per changed object (about 20 of a profile's ~108 files) for no reader's benefit. The
patch text is this module's own YAML of the operations, a literal block in the kustomization (the
canonical emitter writes any text it produced as one), so a reviewer reads the same ops as before.

One difference between the two forms: kustomize trims the whitespace around an inline patch
(``strings.TrimSpace`` in its PatchTransformer; a patch file is read untrimmed). When the last
scalar of the ops is a string ending in whitespace -- a literal block keeping its final newline,
like a dashboard's JSON -- trimming would change that value, so such a patch ends with a comment
line (:data:`TRIM_GUARD`) that the trimming stops at."""

from __future__ import annotations

from typing import Any

from .variance import Analysis, Variant
from .yamlout import dump_document, order_keys

KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
#: Ends an inline patch whose last value ends in whitespace (see the module docstring).
TRIM_GUARD = "# end of patch: kustomize trims an inline patch, this line keeps the value above whole\n"


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def json_patch(base: Any, env: Any, path: list[str | int] | None = None) -> list[dict[str, Any]]:
    """RFC 6902 operations turning ``base`` into ``env`` (maps by key, same-length lists by index)."""
    path = path or []
    if isinstance(base, dict) and isinstance(env, dict):
        ops: list[dict[str, Any]] = []
        for k in base:
            if k not in env:
                ops.append({"op": "remove", "path": _pointer(path + [k])})
        for k in env:
            if k not in base:
                ops.append({"op": "add", "path": _pointer(path + [k]), "value": env[k]})
            elif base[k] != env[k]:
                ops += json_patch(base[k], env[k], path + [k])
        return ops
    if isinstance(base, list) and isinstance(env, list) and len(base) == len(env):
        return [op for i, (b, e) in enumerate(zip(base, env, strict=True)) if b != e for op in json_patch(b, e, path + [i])]
    return [{"op": "replace", "path": _pointer(path), "value": env}]


def _last_scalar(ops: list[dict[str, Any]]) -> Any:
    """The scalar the canonical emitter writes last for ``ops`` (a root sequence of mappings)."""
    node: Any = ops
    parent_key: str | None = None
    while True:
        if isinstance(node, dict) and node:
            key = order_keys(node, parent_key=parent_key)[-1]
            node, parent_key = node[key], key
        elif isinstance(node, list) and node:
            node, parent_key = node[-1], None
        else:
            return node


def inline_json_patch(ops: list[dict[str, Any]]) -> str:
    """``ops`` as the text of an inline patch that reads back as ``ops`` after kustomize's trim."""
    text = dump_document(ops)
    last = _last_scalar(ops)
    if isinstance(last, str) and last[-1:].isspace():
        text += TRIM_GUARD
    return text


def _target(obj: dict[str, Any]) -> dict[str, str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    t = {"group": group, "version": version, "kind": obj["kind"], "name": obj["metadata"]["name"]}
    if obj["metadata"].get("namespace"):
        t["namespace"] = obj["metadata"]["namespace"]
    return t


def kustomize_files(analysis: Analysis, header: str, bases: dict[str, str] | None = None) -> dict[str, str]:
    """Relative path inside the kustomize dir -> text; ``bases``: base files already written
    (stem -> ``dump_document`` of the base environment's object with ``header``)."""
    files: dict[str, str] = {}
    base_env = analysis.base_env
    base_resources = []
    for v in analysis.variants:
        obj = v.per_env[base_env]
        if obj is not None:
            written = bases.get(v.stem) if bases else None
            files[f"base/{v.stem}.yaml"] = written if written is not None else dump_document(obj, header=header)
            base_resources.append(f"{v.stem}.yaml")
    files["base/kustomization.yaml"] = dump_document({**KUSTOMIZATION, "resources": sorted(base_resources)}, header=header)
    for env in analysis.envs:
        files.update(_overlay(analysis.variants, base_env, env, header))
    return files


def _overlay(variants: list[Variant], base_env: str, env: str, header: str) -> dict[str, str]:
    files: dict[str, str] = {}
    resources = ["../../base"]
    patches: list[dict[str, Any]] = []
    for v in variants:
        base, mine = v.per_env[base_env], v.per_env[env]
        if base is None and mine is not None:
            files[f"overlays/{env}/{v.stem}.yaml"] = dump_document(mine, header=header)
            resources.append(f"{v.stem}.yaml")
        elif base is not None and mine is None:
            delete = {"apiVersion": base["apiVersion"], "kind": base["kind"], "metadata": {k: base["metadata"][k] for k in ("name", "namespace") if k in base["metadata"]}, "$patch": "delete"}
            patches.append({"patch": dump_document(delete)})
        elif base is not None and mine is not None and base != mine:
            patches.append({"patch": inline_json_patch(json_patch(base, mine)), "target": _target(base)})
    doc: dict[str, Any] = {**KUSTOMIZATION, "resources": resources}
    if patches:
        doc["patches"] = patches
    files[f"overlays/{env}/kustomization.yaml"] = dump_document(doc, header=header)
    return files
