"""``mcompile diff``: what a change to out/ does to the clusters, object by object.

Both sides are read fully: every ``<profile>/kustomize/overlays/<env>`` is rendered through the
real ``kubectl kustomize`` when it is installed (else through our own reading of the overlays we
generate: resources + JSON6902 patches + delete patches), and every other YAML file mcompile owns
(GitOps apps, platform files: whatever the manifest lists outside charts and kustomize trees) is
read object by object. Both sides are compared as data, so a diff says "Deployment
inference/llama-70b: spec.replicas 2 -> 3", not which template line moved. ``<profile>/plan.json``
on both sides gives the plan summary: GPUs, replicas and monthly cost before -> after.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from .emit.variance import object_key
from .toolchain import ToolNotFound, run_tool

Key = tuple[str, str, str, str, str]  # (scope, apiVersion, kind, namespace, name)
Progress = Callable[[int, int], None]  # (done, total)
MANIFEST = Path(".mcompile") / "manifest.json"


@dataclass
class Change:
    """One object added, removed or changed between two out/ trees, with the changed fields."""

    key: Key
    kind: str  # added | removed | changed
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (path, before, after)


@dataclass
class Tree:
    """The objects and plan summaries of one out/ tree."""

    objects: dict[Key, dict[str, Any]]
    plans: dict[str, dict[str, Any]]  # "<profile>/<env>" -> plan summary


@dataclass
class PlanChange:
    """One profile/environment's plan summary before and after."""

    scope: str  # <profile>/<env>
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class Report:
    """What ``mcompile diff`` reports: object changes, plan changes and cost totals."""

    base: str
    changes: list[Change]
    unchanged: int
    plans: list[PlanChange]
    totals: tuple[dict[str, float], dict[str, float]]  # before, after: gpus, gpusMax, costPerMonth
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes or self.plans)


def overlays(out: Path) -> list[Path]:
    return [o for o in sorted(out.glob("*/kustomize/overlays/*")) if (o / "kustomization.yaml").is_file()]


def owned_files(out: Path) -> list[str]:
    """Files mcompile owns under ``out`` (from the manifest; every file when there is none)."""
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            scopes = json.loads(manifest.read_text(encoding="utf-8")).get("scopes", {})
            return sorted({p for files in scopes.values() for p in files})
        except (ValueError, AttributeError):
            pass
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".mcompile" not in p.relative_to(out).parts)


def _plain_yaml(out: Path, files: list[str]) -> list[str]:
    """Owned YAML files that are objects as written: not in a chart, not in a profile's kustomize
    tree (both are compared through the rendered overlays)."""
    charts = {Path(f).parent for f in files if Path(f).name == "Chart.yaml"}
    keep = []
    for f in files:
        p = Path(f)
        if p.suffix not in (".yaml", ".yml") or (len(p.parts) > 2 and p.parts[1] == "kustomize"):
            continue
        if any(parent in charts for parent in p.parents):
            continue
        keep.append(f)
    return keep


def render_tree(out: Path, progress: Progress | None = None, done: int = 0, total: int | None = None) -> dict[Key, dict[str, Any]]:
    return read_tree(out, progress, done, total).objects


def read_tree(out: Path, progress: Progress | None = None, done: int = 0, total: int | None = None) -> Tree:
    """Every object every environment of every profile under ``out`` deploys, every other owned
    object, and the plan summaries."""
    objects: dict[Key, dict[str, Any]] = {}
    found = overlays(out)
    total = total if total is not None else len(found)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:  # kubectl runs in parallel
        for overlay, rendered in zip(found, pool.map(_kustomize, found), strict=True):
            scope = f"{overlay.parts[-4]}/{overlay.name}"
            for obj in rendered:
                objects[(scope, *object_key(obj))] = obj
            done += 1
            if progress:
                progress(done, total)
    files = owned_files(out)
    for rel in _plain_yaml(out, files):
        path = out / rel
        if not path.is_file():
            continue
        for i, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                name = doc.get("metadata", {}).get("name") or f"{Path(rel).name}#{i}"
                objects[(Path(rel).parent.as_posix(), doc["apiVersion"], doc["kind"], doc.get("metadata", {}).get("namespace", ""), name)] = doc
    plans: dict[str, dict[str, Any]] = {}
    for rel in files:
        if Path(rel).name == "plan.json" and (out / rel).is_file():
            try:
                doc = json.loads((out / rel).read_text(encoding="utf-8"))
            except ValueError:
                continue
            for env, summary in sorted(doc.get("environments", {}).items()):
                plans[f"{doc.get('profile', Path(rel).parent.name)}/{env}"] = summary
    return Tree(objects, plans)


def _kustomize(overlay: Path) -> list[dict[str, Any]]:
    try:
        p = run_tool("kubectl", ["kustomize", str(overlay)])
    except ToolNotFound:
        return _internal_kustomize(overlay)
    if p.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {overlay} failed: {p.stderr.strip()}")
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def _internal_kustomize(overlay: Path) -> list[dict[str, Any]]:
    """Enough kustomize for the overlays mcompile writes (no generators, no transformers)."""
    k = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for res in k.get("resources", []):
        path = (overlay / res).resolve()
        objects += _internal_kustomize(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in k.get("patches", []):
        # inline (kustomize trims it), or a file as mcompile wrote them before (a --base tree)
        doc = yaml.safe_load(patch["patch"].strip() if "patch" in patch else (overlay / patch["path"]).read_text())
        if isinstance(doc, dict) and doc.get("$patch") == "delete":
            gone = (doc["kind"], doc["metadata"]["name"])
            objects = [o for o in objects if (o["kind"], o["metadata"]["name"]) != gone]
            continue
        t = patch["target"]
        for o in objects:
            if o["kind"] == t["kind"] and o["metadata"]["name"] == t["name"]:
                for op in doc:
                    _apply_op(o, op)
    return objects


def _apply_op(obj: Any, op: dict[str, Any]) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent = obj
    for p in parts[:-1]:
        parent = parent[int(p)] if isinstance(parent, list) else parent[p]
    last: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
    if op["op"] == "remove":
        del parent[last]
    else:
        parent[last] = op["value"]


def tree_at(base: str, out: Path, workdir: Path) -> tuple[Path, str | None]:
    """``base`` as a directory: itself if it is one, else ``out`` extracted from git ref ``base``;
    with a warning when that holds no mcompile output (everything will show as added)."""
    if Path(base).is_dir():
        d = Path(base)
        if not (d / MANIFEST).is_file() and not overlays(d):
            hint = f"; did you mean {(d / out.name).as_posix()}?" if (d / out.name / MANIFEST).is_file() else ""
            return d, f"--base {base}: the directory holds no mcompile output (no {MANIFEST.as_posix()}, no */kustomize/overlays){hint}; every object is reported as added"
        return d, None
    top = subprocess.run(["git", "-C", str(out.resolve().parent), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False)
    if top.returncode != 0:
        raise ValueError(f"--base {base!r} is neither a directory nor usable: not inside a git repository")
    root = Path(top.stdout.strip())
    rel = out.resolve().relative_to(root).as_posix()
    p = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", base, "--", rel], capture_output=True, check=False)
    if p.returncode != 0:
        msg = p.stderr.decode(errors="replace").strip()
        if "did not match any files" in msg:
            (workdir / rel).mkdir(parents=True, exist_ok=True)
            return workdir / rel, f"--base {base}: {rel}/ does not exist at {base}; every object is reported as added"
        raise ValueError(f"--base {base!r}: git archive failed: {msg}")
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / rel, None


#: Labels that change with every chart version (on every object): not a change to review.
IGNORED_LABELS = ("helm.sh/chart",)


def _without_ignored(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    labels = (obj or {}).get("metadata", {}).get("labels")
    if obj is None or not isinstance(labels, dict) or not any(k in labels for k in IGNORED_LABELS):
        return obj
    kept = {k: v for k, v in labels.items() if k not in IGNORED_LABELS}
    return {**obj, "metadata": {**obj["metadata"], "labels": kept}}


def compare(before: dict[Key, dict], after: dict[Key, dict]) -> list[Change]:
    """Added, removed and changed objects (a new ``helm.sh/chart`` label alone is no change)."""
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = _without_ignored(before.get(key)), _without_ignored(after.get(key))
        if a is None:
            out.append(Change(key, "added"))
        elif b is None:
            out.append(Change(key, "removed"))
        elif a != b:
            out.append(Change(key, "changed", list(_leaf_changes(a, b, ""))))
    return out


def _leaf_changes(a: Any, b: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            sub = f"{path}.{k}" if path else k
            if k not in a or k not in b:
                yield (sub, a.get(k), b.get(k))
            elif a[k] != b[k]:
                yield from _leaf_changes(a[k], b[k], sub)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                name = x.get("name") if isinstance(x, dict) and isinstance(y, dict) and x.get("name") == y.get("name") else None
                yield from _leaf_changes(x, y, f"{path}[{name if name else i}]")
    else:
        yield (path, a, b)


def compare_plans(before: dict[str, dict], after: dict[str, dict]) -> list[PlanChange]:
    return [PlanChange(s, before.get(s), after.get(s)) for s in sorted(set(before) | set(after)) if before.get(s) != after.get(s)]


def _totals(plans: dict[str, dict]) -> dict[str, float]:
    return {k: round(sum(float(p.get(k, 0)) for p in plans.values()), 2) for k in ("gpus", "gpusMax", "costPerMonth")}


def diff(out: Path, base: str, progress: Progress | None = None) -> Report:
    with tempfile.TemporaryDirectory(prefix="mcompile-diff-") as tmp:
        old_dir, warning = tree_at(base, out, Path(tmp))
        total = len(overlays(old_dir)) + len(overlays(out))
        before = read_tree(old_dir, progress, 0, total)
        after = read_tree(out, progress, total - len(overlays(out)), total)
    changes = compare(before.objects, after.objects)
    unchanged = len(set(before.objects) & set(after.objects)) - sum(1 for c in changes if c.kind == "changed")
    return Report(base, changes, unchanged, compare_plans(before.plans, after.plans), (_totals(before.plans), _totals(after.plans)),
                  [warning] if warning else [])
