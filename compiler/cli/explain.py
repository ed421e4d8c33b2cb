"""``mcompile explain PROFILE [PATH]`` — merged values with the source of every leaf."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from ..errors import Diagnostic, InputError, Source, json_path
from .options import Env, Override, Profile
from .params import request
from .root import app, handle_errors


def leaves(value: Any, path: list) -> list[tuple[list, Any]]:
    """Every leaf in profile order: keys in the order the schema (and so a profile) lists them
    (apiVersion, kind, metadata, tier, model, ...), not in the order the layers were merged."""
    if isinstance(value, dict) and value:
        return [leaf for k in _schema_order(path, value) for leaf in leaves(value[k], path + [k])]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in leaves(v, path + [i])]
    return [(path, value)]


def _schema_order(path: list, value: dict) -> list:
    from ..resolve import schema

    node = schema().at(path) or {}
    order = {k: i for i, k in enumerate(node.get("properties", {}))}
    return sorted(value, key=lambda k: (order.get(k, len(order)), list(value).index(k)))


@app.command()
@handle_errors
def explain(
    profile: Path = Profile,
    path: Optional[str] = typer.Argument(None, help="Only show this subtree, e.g. serving.image or capacity.pools[0]."),
    env: Optional[str] = Env,
    override: Optional[List[Path]] = Override,
    set_: Optional[List[str]] = typer.Option(None, "--set", help="path=value override (repeatable)."),
) -> None:
    """Print the merged profile, one leaf per line, with the file:line:col (or --set, or tier default) that set it."""
    from ..resolve import resolve

    r = resolve(request(profile, env, override, set_))
    prefix = "$" if not path else ("$" + ("" if path.startswith("[") else ".") + path.removeprefix("$."))
    rows = []
    for p, value in leaves(r.values, []):
        jp = json_path(p)
        if not (jp == prefix or jp.startswith((prefix + ".", prefix + "["))):
            continue
        src = r.merged.source(p)
        where = f"{src} ({src.layer})" if src else "?"
        rows.append((jp, json.dumps(value, ensure_ascii=False), where))
    if not rows:
        raise InputError([Diagnostic(Source("<argument>", 1, 1), prefix, "no such path in the merged profile")])
    width = min(max(len(a) + len(b) + 3 for a, b, _ in rows), 80)
    typer.echo(f"# {profile.as_posix()} environment={r.env}")
    for jp, val, where in rows:
        left = f"{jp} = {val}"
        typer.echo(f"{left:<{width}}  # {where}")
