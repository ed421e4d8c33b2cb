"""``mcompile diff``: what a change to out/ does to the cluster, object by object.

Both sides are rendered fully — every ``<profile>/kustomize/overlays/<env>`` through the real
``kubectl kustomize`` when it is installed, else through our own reading of the overlays we
generate (resources + JSON6902 patches + delete patches) — and compared as data, so a diff
says "Deployment inference/llama-70b: spec.replicas 2 -> 3", not which template line moved.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from .emit.variance import object_key
from .toolchain import ToolNotFound, run_tool

Key = tuple[str, str, str, str, str]  # (profile/env, apiVersion, kind, namespace, name)


@dataclass
class Change:
    key: Key
    kind: str  # added | removed | changed
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (path, before, after)


def render_tree(out: Path) -> dict[Key, dict[str, Any]]:
    """Every object every environment of every profile under ``out`` deploys."""
    objects: dict[Key, dict[str, Any]] = {}
    for overlay in sorted(out.glob("*/kustomize/overlays/*")):
        if not (overlay / "kustomization.yaml").is_file():
            continue
        scope = f"{overlay.parts[-4]}/{overlay.name}"
        for obj in _kustomize(overlay):
            objects[(scope, *object_key(obj))] = obj
    return objects


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
        doc = yaml.safe_load((overlay / patch["path"]).read_text())
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


def tree_at(base: str, out: Path, workdir: Path) -> Path:
    """``base`` as a directory: itself if it is one, else ``out`` extracted from git ref ``base``."""
    if Path(base).is_dir():
        return Path(base)
    top = subprocess.run(["git", "-C", str(out.resolve().parent), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode != 0:
        raise ValueError(f"--base {base!r} is neither a directory nor usable: not inside a git repository")
    root = Path(top.stdout.strip())
    rel = out.resolve().relative_to(root).as_posix()
    p = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", base, "--", rel], capture_output=True)
    if p.returncode != 0:
        msg = p.stderr.decode(errors="replace").strip()
        if "did not match any files" in msg:  # out/ did not exist at base: everything is added
            (workdir / rel).mkdir(parents=True, exist_ok=True)
            return workdir / rel
        raise ValueError(f"--base {base!r}: git archive failed: {msg}")
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / rel


def compare(before: dict[Key, dict], after: dict[Key, dict]) -> list[Change]:
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
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
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                name = x.get("name") if isinstance(x, dict) and isinstance(y, dict) and x.get("name") == y.get("name") else None
                yield from _leaf_changes(x, y, f"{path}[{name if name else i}]")
    else:
        yield (path, a, b)


def _short(v: Any) -> str:
    s = "(absent)" if v is None else json.dumps(v, sort_keys=True)
    return s if len(s) <= 80 else s[:77] + "..."


def _ident(key: Key) -> str:
    _, _, kind, ns, name = key
    return f"{kind} {ns + '/' if ns else ''}{name}"


def report_text(changes: list[Change], unchanged: int) -> str:
    lines, scope = [], None
    for c in changes:
        if c.key[0] != scope:
            scope = c.key[0]
            lines.append(f"{scope}:")
        mark = {"added": "+", "removed": "-", "changed": "~"}[c.kind]
        lines.append(f"  {mark} {_ident(c.key)}")
        lines += [f"      {p}: {_short(x)} -> {_short(y)}" for p, x, y in c.fields]
    lines.append(summary(changes, unchanged))
    return "\n".join(lines) + "\n"


def report_markdown(changes: list[Change], unchanged: int) -> str:
    if not changes:
        return f"### mcompile diff\n\nNo changes to deployed objects ({unchanged} unchanged).\n"
    rows = ["| environment | change | object | fields |", "|---|---|---|---|"]
    for c in changes:
        fields = "<br>".join(f"`{p}`: `{_short(x)}` → `{_short(y)}`".replace("|", "\\|") for p, x, y in c.fields[:20])
        if len(c.fields) > 20:
            fields += f"<br>… {len(c.fields) - 20} more"
        rows.append(f"| {c.key[0]} | {c.kind} | {_ident(c.key)} | {fields} |")
    return "### mcompile diff\n\n" + "\n".join(rows) + f"\n\n{summary(changes, unchanged)}\n"


def summary(changes: list[Change], unchanged: int) -> str:
    n = {k: sum(1 for c in changes if c.kind == k) for k in ("added", "removed", "changed")}
    return f"Summary: {n['added']} added, {n['removed']} removed, {n['changed']} changed ({unchanged} unchanged)"


def diff(out: Path, base: str) -> tuple[list[Change], int]:
    with tempfile.TemporaryDirectory(prefix="mcompile-diff-") as tmp:
        before = render_tree(tree_at(base, out, Path(tmp)))
        after = render_tree(out)
    changes = compare(before, after)
    return changes, len(set(before) & set(after)) - sum(1 for c in changes if c.kind == "changed")
