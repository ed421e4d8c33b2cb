"""The Helm chart: one template per object, values for what the profile exposes or the
environments change, ``values-<env>.yaml`` per environment, a values schema and a README.

Templates are the canonical YAML of each object with value nodes replaced by
``{{ toJson .Values.<path> }}`` (JSON is YAML, and toJson keeps types exact), or by a named
template of ``_helpers.tpl`` for values built from several (the image reference, the namespace,
the standard labels). Every other ``{{``/``}}`` in a template is profile data and is escaped as
``{{ "{{" }}`` so Helm prints it literally.

Conventions follow ``helm create`` and the Helm best-practices guide: a plain SemVer chart version
that changes whenever the rendered objects change, objects in ``.Release.Namespace`` (the profile's
namespace when the release namespace is ``default``, i.e. no ``-n``), ``helm.sh/chart`` and
``app.kubernetes.io/version`` labels, and NOTES that say what was installed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from ..profile import Profile
from ..render.identity import chart_notes
from .chart_template import TOKEN, TOKEN_PREFIX, pair_lines, template_lines
from .chart_template import Namespace as _Namespace
from .chart_template import leaf_namespace as _leaf_namespace
from .chart_template import ns_pattern as _ns_pattern
from .chart_values import values_schema, values_yaml
from .jsonout import dumps_indented
from .variance import Analysis, ValueRef, overrides
from .yamlout import dump_document, join_document

#: Scalars a template walk returns unchanged.
_UNCHANGED = frozenset({int, float, bool, type(None)})
_BRACES = re.compile(r"\{\{|\}\}")
_TOKEN = TOKEN
_TOKENS = re.compile(TOKEN_PREFIX + r"([0-9]+)X")
CHART_LABEL = "helm.sh/chart"
#: Bumped when the chart layout changes in a way objects do not show (part of the version hash).
CHART_FORMAT = "2"


def escape_helm(text: str) -> str:
    """Make ``{{``/``}}`` in literal text print literally through Go templates."""
    if "{{" not in text and "}}" not in text:  # (most texts: no regex call)
        return text
    return _BRACES.sub(lambda m: '{{ "{{" }}' if m.group() == "{{" else '{{ "}}" }}', text)


def chart_version(objects_by_env: Mapping[str, Sequence[dict[str, Any]]]) -> str:
    """Plain SemVer ``1.0.<n>``: ``n`` is a number taken from a hash of every environment's
    objects (and ``CHART_FORMAT``), so any change to what the chart deploys gives a new version
    and an unchanged profile keeps its version. The numbers are not ordered: compare versions
    for equality, not for age."""
    # (check_circular=False: the same bytes without a container-id table; rendered objects are
    # trees, and a cycle still fails, with RecursionError instead of ValueError)
    doc = json.dumps({"format": CHART_FORMAT, "objects": {e: list(o) for e, o in sorted(objects_by_env.items())}}, sort_keys=True, check_circular=False)
    return f"1.0.{int(hashlib.sha256(doc.encode()).hexdigest()[:8], 16)}"


def chart_label(name: str, version: str) -> str:
    """``helm.sh/chart`` as ``helm create``'s ``<chart>.chart`` template computes it."""
    return f"{name}-{version}".replace("+", "_")[:63].rstrip("-")


def with_chart_label(objects: Sequence[dict[str, Any]], name: str, version: str) -> list[dict[str, Any]]:
    """Copies of the objects with the ``helm.sh/chart`` label on their own metadata (not on pod
    templates: a new chart version must not restart pods)."""
    out = []
    for obj in objects:
        meta = obj.get("metadata", {})
        labels = {**meta.get("labels", {}), CHART_LABEL: chart_label(name, version)}
        out.append({**obj, "metadata": {**meta, "labels": labels}})
    return out


def _action(node: ValueRef | _Namespace, chart: str) -> str:
    if isinstance(node, _Namespace):
        if node.pieces == ("", ""):
            return f'{{{{ include "{chart}.namespace" . | toJson }}}}'
        # A YAML double-quoted scalar (JSON string syntax): literal text escaped for Helm as
        # everywhere else, the namespace (a DNS label: nothing to escape) printed in between.
        ns = f'{{{{ include "{chart}.namespace" . }}}}'
        return '"' + ns.join(escape_helm(encode_basestring(p)[1:-1]) for p in node.pieces) + '"'
    if node.helper:
        return f'{{{{ include "{chart}.{node.helper}" . | toJson }}}}'
    return "{{ toJson .Values." + ".".join(node.path) + " }}"


def template_text(template: Any, header: str, guard: str | None, chart: str = "chart", namespace: str | None = None) -> str:
    """A template file: the canonical YAML of ``template`` with its value nodes (and, with
    ``namespace``, the namespace wherever it is or is embedded) as Helm actions."""
    text = _one_walk(template, header, chart, namespace) if type(template) is dict else None
    if text is None:
        text = _two_passes(template, header, chart, namespace)
    return _guarded(text, guard)


def template_and_base(template: Any, header: str, guard: str | None, chart: str, namespace: str | None,
                      base: Any, base_header: str) -> tuple[str, str]:
    """``template_text(template, header, guard, chart, namespace)`` and ``dump_document(base,
    header=base_header)`` (the kustomize base file of the object the template was made from),
    in one walk where :func:`chart_template.pair_lines` can write both."""
    paired = pair_lines(template, base, namespace) if type(template) is dict else None
    if paired is None:
        return template_text(template, header, guard, chart, namespace), dump_document(base, header=base_header)
    lines, nodes, base_lines = paired
    text = _tokens_replaced(lines, nodes, header, chart)
    template_file = _guarded(text, guard) if text is not None else template_text(template, header, guard, chart, namespace)
    return template_file, join_document(base_lines, base_header)


def _guarded(text: str, guard: str | None) -> str:
    if guard:
        lines = text.splitlines(keepends=True)
        head = [ln for ln in lines if ln.startswith("#")]
        body = lines[len(head):]
        text = "".join(head) + "{{- if .Values." + guard + ".enabled }}\n" + "".join(body) + "{{- end }}\n"
    return text


def _one_walk(template: dict[str, Any], header: str, chart: str, namespace: str | None) -> str | None:
    """The template text through :func:`chart_template.template_lines`; ``None`` where it may
    differ from :func:`_two_passes` (see that module)."""
    written = template_lines(template, namespace)
    if written is None:
        return None
    return _tokens_replaced(*written, header, chart)


def _tokens_replaced(lines: list[str], nodes: list[ValueRef | _Namespace], header: str, chart: str) -> str | None:
    actions = [_action(n, chart) for n in nodes]
    text = escape_helm(join_document(lines, header))
    if text.count(TOKEN_PREFIX) != len(nodes) or any(TOKEN_PREFIX in a for a in actions):
        return None
    # Tokens are numbered in writing order, so the text holds them in order: each piece after a
    # prefix starts with its number (checked; the regex otherwise).
    pieces = text.split(TOKEN_PREFIX)
    out = [pieces[0]]
    for i, piece in enumerate(pieces[1:]):
        number = f"{i}X"
        if not piece.startswith(number):
            return _TOKENS.sub(lambda m: actions[int(m.group(1))], text)
        out.append(actions[i])
        out.append(piece[len(number):])
    return "".join(out)


def _two_passes(template: Any, header: str, chart: str, namespace: str | None) -> str:
    """The reference: a copy of the template with every node as a token (numbered in document
    order), dumped, then each token replaced by its node's action."""
    nodes: list[ValueRef | _Namespace] = []
    kind = template.get("kind", "") if isinstance(template, dict) else ""
    rx = _ns_pattern(namespace) if namespace else None

    ns = namespace or ""

    def swap(node: Any, key: Any, parent: Any, depth: int) -> Any:
        """One pass: the namespace found (when the chart has one), then every value and
        namespace node replaced by a token, in document order."""
        if isinstance(node, str):
            if rx is None:
                return node
            node = _leaf_namespace(node, ns, key, parent, depth, kind, rx)
            if isinstance(node, str):
                return node
        if isinstance(node, (ValueRef, _Namespace)):
            nodes.append(node)
            return _TOKEN.format(len(nodes) - 1)
        if isinstance(node, dict):
            return swap_items(node.items(), {}, key, depth + 1)
        if isinstance(node, list):
            return list(swap_items(enumerate(node), {}, key, depth + 1).values())
        return node

    def swap_items(items: Iterable[tuple[Any, Any]], out: dict[Any, Any], key: Any, depth: int) -> dict[Any, Any]:
        """:func:`swap` of a container's items (a list's by index): what :func:`swap` would
        return unchanged (numbers, strings without the namespace) is taken without the call."""
        for k, v in items:
            if type(v) in _UNCHANGED or (type(v) is str and (rx is None or ns not in v)):
                out[k] = v
            else:
                out[k] = swap(v, k, key, depth)
        return out

    text = escape_helm(dump_document(swap(template, None, None, 0), header=header))
    for i, ref in enumerate(nodes):
        text = text.replace(_TOKEN.format(i), _action(ref, chart), 1)
    return text


def chart_files(profile: Profile, analysis: Analysis, header: str, version: str = "1.0.0",
                bases: dict[str, str] | None = None, base_header: str = "") -> dict[str, str]:
    """Relative path inside the chart dir -> text. With ``bases``: also each variant's kustomize
    base file (stem -> text, with ``base_header``), written in the same walk as its template."""
    files: dict[str, str] = {}
    namespaces = {analysis.values[e].get("namespace") for e in analysis.envs}
    shared_ns = profile.namespace if namespaces == {profile.namespace} else None
    for v in analysis.variants:
        guard = v.alias if v.optional else None
        base = v.per_env[analysis.base_env] if bases is not None else None
        if base is None:
            files[f"templates/{v.stem}.yaml"] = template_text(v.template, header, guard, profile.name, shared_ns)
        else:
            assert bases is not None
            files[f"templates/{v.stem}.yaml"], bases[v.stem] = template_and_base(v.template, header, guard, profile.name, shared_ns, base, base_header)
    schema = values_schema(analysis)
    base = analysis.values[analysis.base_env]
    files["values.yaml"] = values_yaml(base, schema, header, f"defaults = environment {analysis.base_env}")
    for env in analysis.envs:
        files[f"values-{env}.yaml"] = _values_file(overrides(base, analysis.values[env]), header, f"environment {env} (over values.yaml)")
    files["values.schema.json"] = dumps_indented(schema) + "\n"
    files["templates/_helpers.tpl"] = escape_helm(f"{{{{/* {header} */}}}}\n") + _HELPERS.format(name=profile.name)
    files["templates/NOTES.txt"] = _notes(profile, analysis)
    files["README.md"] = _readme(profile, analysis, header, schema)
    files["Chart.yaml"] = dump_document(
        {"apiVersion": "v2", "name": profile.name, "description": f"vLLM serving {profile.model.id} ({profile.tier}), compiled by mcompile",
         "type": "application", "version": version, "appVersion": profile.serving.image.tag,
         "kubeVersion": ">=1.30.0-0", "keywords": ["vllm", "llm", "inference", "eks"]},
        header=header,
    )
    return files


_HELPERS = """{{{{- define "{name}.environment" -}}}}
{{{{ .Values.environment }}}}
{{{{- end }}}}

{{{{/* The release namespace (helm -n); the profile's namespace when none was chosen ("default"). */}}}}
{{{{- define "{name}.namespace" -}}}}
{{{{- if eq .Release.Namespace "default" }}}}{{{{ .Values.namespace }}}}{{{{ else }}}}{{{{ .Release.Namespace }}}}{{{{ end -}}}}
{{{{- end }}}}

{{{{/* The serving image: repository:tag, pinned by digest when one is set. */}}}}
{{{{- define "{name}.image" -}}}}
{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}{{{{ with .Values.image.digest }}}}@{{{{ . }}}}{{{{ end }}}}
{{{{- end }}}}

{{{{/* app.kubernetes.io/version: the image tag as a label value. */}}}}
{{{{- define "{name}.version" -}}}}
{{{{ .Values.image.tag | trunc 63 | trimAll "-_." }}}}
{{{{- end }}}}

{{{{/* helm.sh/chart, as helm create writes it. */}}}}
{{{{- define "{name}.chart" -}}}}
{{{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}}}
{{{{- end }}}}
"""


def _values_file(values: dict[str, Any], header: str, what: str) -> str:
    note = f"{header}\nValues: {what}. Generated: change the profile, not this file."
    return dump_document(values, header=note) if values else "".join(f"# {line}\n" for line in note.splitlines())


def _notes(profile: Profile, analysis: Analysis) -> str:
    """NOTES.txt (a template: Helm prints it after install): what was installed and how to reach it."""
    name = profile.name
    counts = Counter(v.key[1] for v in analysis.variants if not v.optional)
    optional = sorted({v.key[1] for v in analysis.variants if v.optional})
    service = next((v.key[3] for v in analysis.variants if v.key[1] == "Service"), name)
    lines = [
        f'{name} (chart {{{{ .Chart.Version }}}}) in namespace {{{{ include "{name}.namespace" . }}}}, environment {{{{ .Values.environment }}}}:',
        f"  vLLM serving {escape_helm(profile.model.served_name)} ({escape_helm(profile.model.id)}), image {{{{ include \"{name}.image\" . }}}}",
        "  installed: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        + (f"; when enabled for the environment: {', '.join(optional)}" if optional else ""),
        "",
        f'Endpoint (OpenAI-compatible, in the cluster): http://{service}.{{{{ include "{name}.namespace" . }}}}.svc:{profile.serving.port}/v1',
        (f'Try it: kubectl -n {{{{ include "{name}.namespace" . }}}} port-forward svc/{service} 8000:{profile.serving.port}'
         " && curl -s localhost:8000/v1/models"),
        "",
        f"Generated by mcompile from {escape_helm(profile.source)}; edit the profile and rebuild instead of editing this chart.",
    ]
    # request path: front door, Pod Identity commands without ACK (render/identity.py)
    sentinel = "\0namespace\0"  # profile text is escaped; the release namespace is a template action
    path = escape_helm(chart_notes(profile, sentinel)).replace(sentinel, f'{{{{ include "{name}.namespace" . }}}}')
    return "\n".join(lines) + "\n" + path


def _readme(profile: Profile, analysis: Analysis, header: str, schema: dict[str, Any]) -> str:
    rows = []
    flat_base = dict(_flatten(analysis.values[analysis.base_env]))
    per_env = {e: dict(_flatten(analysis.values[e])) for e in analysis.envs}
    for key in sorted(set().union(*per_env.values())):
        cells = " | ".join(f"`{_short(per_env[e].get(key))}`" for e in analysis.envs)
        desc = " ".join(_description(schema, key).split()).replace("|", "\\|")
        rows.append(f"| `{key}` | `{_short(flat_base.get(key))}` | {cells} | {desc} |")
    head = "| value | default | " + " | ".join(analysis.envs) + " | description |\n|---|---|" + "---|" * (len(analysis.envs) + 1)
    return (f"<!-- {header} -->\n# {profile.name}\n\nvLLM serving `{profile.model.id}` ({profile.tier}), compiled by mcompile. "
            f"Do not edit: change `{profile.source}` and run `mcompile build`.\n\n"
            f"Install one environment: `helm install {profile.name} . -n {profile.namespace} -f values-<env>.yaml`. "
            "`values.schema.json` refuses values outside the profile schema's ranges.\n\n"
            f"## Values\n\n{head}\n" + "\n".join(rows) + "\n")


def _description(schema: dict[str, Any], dotted: str) -> str:
    node: Any = schema
    for part in _split_key(dotted):
        node = node.get("properties", {}).get(part, {}) if isinstance(node, dict) else {}
    return str(node.get("description", "")) if isinstance(node, dict) else ""


def _split_key(dotted: str) -> list[str]:
    return [p.replace("\0", ".") for p in dotted.replace("\\.", "\0").split(".")]


def _flatten(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(tree, dict) and tree and not _leafy(prefix.rsplit(".", 1)[-1]):
        return [kv for k, v in tree.items() for kv in _flatten(v, f"{prefix}.{k.replace('.', chr(92) + '.')}" if prefix else k)]
    return [(prefix, tree)]


def _leafy(key: str) -> bool:
    return key in ("resources", "limits", "requests")


def _short(v: Any) -> str:
    # (a string: what json.dumps writes for it, without building an encoder per call)
    s = (encode_basestring_ascii(v) if type(v) is str else json.dumps(v, sort_keys=True)).replace("|", "\\|")
    return s if len(s) <= 48 else s[:45] + "..."
