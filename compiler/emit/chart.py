"""The Helm chart: one template per object, values for what the profile exposes or the
environments change, ``values-<env>.yaml`` per environment, a values schema and a README.

Templates are the canonical YAML of each object with value nodes replaced by
``{{ toJson .Values.<path> }}`` (JSON is YAML, and toJson keeps types exact). Every other
``{{``/``}}`` in a template is profile data and is escaped as ``{{ "{{" }}`` so Helm prints it
literally.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Sequence

from ..profile import Profile
from ..render.identity import chart_notes
from .variance import Analysis, ValueRef, overrides
from .yamlout import dump_document

_BRACES = re.compile(r"\{\{|\}\}")
_TOKEN = "MCVALUE{}X"


def escape_helm(text: str) -> str:
    """Make ``{{``/``}}`` in literal text print literally through Go templates."""
    return _BRACES.sub(lambda m: '{{ "{{" }}' if m.group() == "{{" else '{{ "}}" }}', text)


def template_text(template: Any, header: str, guard: str | None) -> str:
    refs: list[ValueRef] = []

    def swap(node: Any) -> Any:
        if isinstance(node, ValueRef):
            refs.append(node)
            return _TOKEN.format(len(refs) - 1)
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node

    text = escape_helm(dump_document(swap(template), header=header))
    for i, ref in enumerate(refs):
        text = text.replace(_TOKEN.format(i), "{{ toJson .Values." + ".".join(ref.path) + " }}", 1)
    if guard:
        lines = text.splitlines(keepends=True)
        head = [ln for ln in lines if ln.startswith("#")]
        body = lines[len(head):]
        text = "".join(head) + "{{- if .Values." + guard + ".enabled }}\n" + "".join(body) + "{{- end }}\n"
    return text


def chart_files(profile: Profile, analysis: Analysis, header: str) -> dict[str, str]:
    """Relative path inside the chart dir -> text."""
    files: dict[str, str] = {}
    for v in analysis.variants:
        files[f"templates/{v.stem}.yaml"] = template_text(v.template, header, v.alias if v.optional else None)
    base = analysis.values[analysis.base_env]
    files["values.yaml"] = _values_yaml(base, header, f"defaults = environment {analysis.base_env}")
    for env in analysis.envs:
        files[f"values-{env}.yaml"] = _values_yaml(overrides(base, analysis.values[env]), header, f"environment {env} (over values.yaml)")
    files["values.schema.json"] = json.dumps(values_schema(analysis), indent=2, sort_keys=True) + "\n"
    files["templates/_helpers.tpl"] = escape_helm(f"{{{{/* {header} */}}}}\n") + _HELPERS.format(name=profile.name)
    files["templates/NOTES.txt"] = escape_helm(_notes(profile, analysis))
    files["README.md"] = _readme(profile, analysis, header)
    digest = hashlib.sha256("".join(f"{k}\0{files[k]}" for k in sorted(files)).encode()).hexdigest()[:10]
    files["Chart.yaml"] = dump_document(
        {"apiVersion": "v2", "name": profile.name, "description": f"vLLM serving {profile.model.id} ({profile.tier}), compiled by mcompile",
         "type": "application", "version": f"0.1.0-g{digest}", "appVersion": profile.serving.image.tag,
         "kubeVersion": ">=1.30.0-0", "keywords": ["vllm", "llm", "inference", "eks"]},
        header=header,
    )
    return files


_HELPERS = """{{{{- define "{name}.environment" -}}}}
{{{{ .Values.environment }}}}
{{{{- end }}}}
"""


def _values_yaml(values: dict[str, Any], header: str, what: str) -> str:
    note = f"{header}\nValues: {what}. Generated: change the profile, not this file."
    return dump_document(values, header=note) if values else "".join(f"# {line}\n" for line in note.splitlines())


def values_schema(analysis: Analysis) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for env in analysis.envs:
        _types(analysis.values[env], merged)
    return {"$schema": "https://json-schema.org/draft-07/schema#", "title": "values", **_as_schema(merged)}


def _types(values: dict[str, Any], acc: dict[str, Any]) -> None:
    """Collect, per values key, the JSON types seen across environments (nested maps recurse)."""
    for k, v in values.items():
        if isinstance(v, dict) and v and not _leafy(k):
            sub = acc.get(k)
            if not isinstance(sub, dict):
                sub = acc[k] = {}
            _types(v, sub)
        else:
            seen = acc.get(k)
            if not isinstance(seen, set):
                seen = acc[k] = set()
            seen.add(_json_type(v))


def _leafy(key: str) -> bool:
    return key in ("resources", "limits", "requests")


def _json_type(v: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object", type(None): "null"}[type(v)]


def _as_schema(tree: Any) -> dict[str, Any]:
    if isinstance(tree, set):
        types = sorted(tree | ({"number"} if "integer" in tree and "number" in tree else set()))
        return {"type": types[0] if len(types) == 1 else types}
    return {"type": "object", "additionalProperties": False, "properties": {k: _as_schema(v) for k, v in sorted(tree.items())}}


def _notes(profile: Profile, analysis: Analysis) -> str:
    return (f"{profile.name}: vLLM serving {profile.model.served_name} in namespace {profile.namespace}"
            " (environment {{ .Values.environment }}).\n"
            f"Endpoint: http://{profile.name}.{profile.namespace}.svc:{profile.serving.port}/v1 (OpenAI-compatible).\n"
            f"Generated by mcompile from {profile.source}; edit the profile and rebuild instead of editing this chart.\n"
            + chart_notes(profile))  # request path: front door, Pod Identity commands (render/identity.py)


def _readme(profile: Profile, analysis: Analysis, header: str) -> str:
    rows = []
    flat_base = dict(_flatten(analysis.values[analysis.base_env]))
    per_env = {e: dict(_flatten(analysis.values[e])) for e in analysis.envs}
    for key in sorted(set().union(*per_env.values())):
        cells = " | ".join(f"`{_short(per_env[e].get(key))}`" for e in analysis.envs)
        rows.append(f"| `{key}` | `{_short(flat_base.get(key))}` | {cells} |")
    head = "| value | default | " + " | ".join(analysis.envs) + " |\n|---|---|" + "---|" * len(analysis.envs)
    return (f"<!-- {header} -->\n# {profile.name}\n\nvLLM serving `{profile.model.id}` ({profile.tier}), compiled by mcompile. "
            f"Do not edit: change `{profile.source}` and run `mcompile build`.\n\n"
            f"Install one environment: `helm template {profile.name} . -f values-<env>.yaml`.\n\n## Values\n\n{head}\n" + "\n".join(rows) + "\n")


def _flatten(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(tree, dict) and tree and not _leafy(prefix.rsplit(".", 1)[-1]):
        return [kv for k, v in tree.items() for kv in _flatten(v, f"{prefix}.{k}" if prefix else k)]
    return [(prefix, tree)]


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True).replace("|", "\\|")
    return s if len(s) <= 48 else s[:45] + "..."
