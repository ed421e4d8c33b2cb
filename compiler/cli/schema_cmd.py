"""``mcompile schema [--markdown]`` — the profile schema, or a Markdown reference generated from it."""

from __future__ import annotations

import json

import typer

from .root import app, handle_errors


def markdown_reference() -> str:
    from ..resolve import schema as load_schema

    sch = load_schema()
    lines = ["# InferenceProfile reference", "", sch.doc.get("description", ""), "", "| key | type | allowed | description |", "|---|---|---|---|"]
    for path, node in sch.walk():
        typ = node.get("type", "object" if "properties" in node else "")
        allowed = ""
        if "enum" in node:
            allowed = ", ".join(f"`{v}`" for v in node["enum"])
        elif "minimum" in node or "maximum" in node or "exclusiveMinimum" in node:
            lo = node.get("minimum", node.get("exclusiveMinimum", ""))
            hi = node.get("maximum", "")
            allowed = f"{lo}..{hi}"
        elif isinstance(node.get("items"), dict) and "enum" in node["items"]:
            allowed = ", ".join(f"`{v}`" for v in node["items"]["enum"])
        if node.get("x-merge-key"):
            allowed = (allowed + "; " if allowed else "") + f"merged by `{node['x-merge-key']}`"
        desc = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
        lines.append(f"| `{'.'.join(path)}` | {typ} | {allowed} | {desc} |")
    return "\n".join(lines) + "\n"


@app.command("schema")
@handle_errors
def schema_command(markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown reference instead of the JSON Schema.")) -> None:
    """Print the profile JSON Schema (Draft 2020-12) or its Markdown reference."""
    from ..resolve import schema as load_schema

    if markdown:
        typer.echo(markdown_reference(), nl=False)
    else:
        typer.echo(json.dumps(load_schema().doc, indent=2))
