"""Real helm / kubectl kustomize runs over generated output, and comparison as data."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from compiler.emit.variance import object_key
from compiler.toolchain import run_tool

#: What the comparison ignores between our render, `helm template` and `kubectl kustomize`.
#: Nothing: our templates add no Helm bookkeeping labels; `# Source:` comments are not data.
IGNORED_FIELDS: tuple[str, ...] = ()


def by_identity(objects: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    out = {}
    for o in objects:
        if o:
            assert object_key(o) not in out, f"duplicate object {object_key(o)}"
            out[object_key(o)] = o
    return out


def helm_template(chart: Path, release: str, values: Path) -> dict[tuple, dict[str, Any]]:
    p = run_tool("helm", ["template", release, str(chart), "-f", str(values)])
    assert p.returncode == 0, p.stderr
    return by_identity(yaml.safe_load_all(p.stdout))


def helm_lint(chart: Path, values: Path) -> None:
    p = run_tool("helm", ["lint", "--strict", str(chart), "-f", str(values)])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "[WARNING]" not in p.stdout and "[ERROR]" not in p.stdout, p.stdout


def kustomize(overlay: Path) -> dict[tuple, dict[str, Any]]:
    p = run_tool("kubectl", ["kustomize", str(overlay)])
    assert p.returncode == 0, p.stderr
    return by_identity(yaml.safe_load_all(p.stdout))


def first_difference(a: dict, b: dict) -> str:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            return f"{k}:\n ours:   {json.dumps(a.get(k), sort_keys=True)[:600]}\n theirs: {json.dumps(b.get(k), sort_keys=True)[:600]}"
    return ""
