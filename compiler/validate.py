"""Stage 3 — validate: every layer on its own (typos, types, ranges), then the merged profile
(required keys, cross-field rules in the schema, and the few rules JSON Schema cannot say).

Errors point at the file, line and column that set the offending value: for a layer, its own
positions; for the merged profile, the provenance recorded by the merge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import Diagnostic, Source, clip, json_path
from .exprs import AMP_URL, formula_identifiers
from .load import Layer, walk
from .merge import Merged
from .schema import Schema
from .validate_nodegroups import nodegroup_rules

if TYPE_CHECKING:
    from jsonschema import ValidationError

Locate = Callable[[Any], Source | None]  # Layer.source (a tuple path) or Merged.source (a list)

#: Keys only the profile itself may set (they select the defaults layer or hold the layers).
PROFILE_ONLY = ("apiVersion", "kind", "tier", "environments")


def drop_nulls(value: Any) -> Any:
    """Nulls are deletions, not values: validate what remains."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value if v is not None]
    return value


def validate_layer(layer: Layer, schema: Schema, *, is_profile: bool = False) -> list[Diagnostic]:
    """Check one layer against the relaxed (override) schema."""
    if not isinstance(layer.data, dict):
        got = "an empty document" if layer.data is None else type(layer.data).__name__
        return [Diagnostic(layer.source(()), "$", f"expected a mapping at the top level, got {got}")]
    out: list[Diagnostic] = []
    data = drop_nulls(layer.data)
    if not is_profile:
        for key in PROFILE_ONLY:
            if key in data:
                out.append(Diagnostic(layer.source((key,)), json_path([key]), f"{key!r} can only be set in the profile itself, not in {layer.name}"))
                data.pop(key)
    if is_profile:
        data = {k: v for k, v in data.items() if k != "environments"}
        envs = layer.data.get("environments")
        if isinstance(envs, dict):  # the names (they become directories and labels); each block is its own layer
            data["environments"] = {name: {} for name in envs}
        elif envs is not None:
            out.append(Diagnostic(layer.source(("environments",)), "$.environments", "expected a mapping of environment name to override block"))
    bad_numbers = non_finite_numbers(layer)
    skip = {d.path for d in bad_numbers}  # "inf is out of range" would only repeat it
    out += bad_numbers
    out += [d for d in _errors(schema.layer_errors(data), layer.source, schema, data) if d.path not in skip]
    return out


def non_finite_numbers(layer: Layer) -> list[Diagnostic]:
    """YAML's ``.nan``/``.inf`` pass every JSON Schema range check (NaN compares false) and then
    poison the capacity plan: refuse them where they are written."""
    return [Diagnostic(layer.source(path), json_path(path), f"{value} is not allowed: numbers must be finite")
            for path, value in walk(layer.data) if isinstance(value, float) and not math.isfinite(value)]


def integral(values: Any, schema: Schema, path: tuple = ()) -> Any:
    """``8000.0`` passes ``type: integer`` (JSON Schema counts integral floats as integers) but
    would be rendered as ``containerPort: 8000.0`` / ``--port 8000.0``, which Kubernetes and vLLM
    reject: after validation, integer-typed values become ints."""
    if isinstance(values, dict):
        return {k: integral(v, schema, path + (k,)) for k, v in values.items()}
    if isinstance(values, list):
        return [integral(v, schema, path + (i,)) for i, v in enumerate(values)]
    if isinstance(values, float) and values.is_integer() and math.isfinite(values):
        node = schema.at(path) or {}
        types = node.get("type")
        if types == "integer" or (isinstance(types, list) and "integer" in types and "number" not in types):
            return int(values)
    return values


def validate_merged(merged: Merged, schema: Schema, env: str | None = None) -> list[Diagnostic]:
    """Check the merged profile against the full schema, then the cross-field rules."""
    values = {k: v for k, v in merged.values.items() if k != "environments"}
    out = _errors(schema.errors(values), merged.source, schema, values)
    if not out:
        out += required_values(merged, env) + cross_field_rules(merged) + nodegroup_rules(merged)
    return out


#: Values a cluster needs that nobody can default: (path, what to set). A missing one is an
#: error, never a placeholder such as ``my-cluster`` or ``https://example.invalid``.
REQUIRED = (
    (("capacity", "clusterName"), "the EKS cluster name: the node class discovers subnets and security groups by its karpenter.sh/discovery tag"),
    (("capacity", "nodeRole"), "the IAM role name of the GPU nodes: the node class launches every node with it"),
    (("gitops", "repoURL"), "the Git repository holding out/: Argo CD or Flux pulls the output from it"),
)


def _missing_at(merged: Merged, path: Sequence[str | int]) -> Source | None:
    """Where to point for a value nobody set: its nearest parent in the user's files, else the
    profile's ``tier`` line (never a tier-default file the user did not write)."""
    src = merged.source(list(path))
    return merged.source(["tier"]) if src is None or src.layer == "tier default" else src


def required_values(merged: Merged, env: str | None = None) -> list[Diagnostic]:
    """Each value a cluster needs and we cannot know, missing after every layer merged for ``env``."""
    v, out = merged.values, []
    for keys, what in REQUIRED:
        node: Any = v
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            out.append(Diagnostic(_missing_at(merged, keys), json_path(list(keys)), f"required: set {'.'.join(keys)} to {what}"))
    dests = (v.get("gitops") or {}).get("destinations") or []
    if env is not None:  # noqa: SIM102 - one rule per block
        if not any(d.get("environment") == env for d in dests if isinstance(d, dict)):
            where: list[str | int] = ["gitops", "destinations"]
            out.append(Diagnostic(_missing_at(merged, where), json_path(where), f"required: list the cluster(s) environment {env!r} deploys to "
                                  f"(gitops.destinations: name, server, environment: {env}); the fleet installs one platform per cluster"))
    prom = (v.get("platform") or {}).get("prometheus") or {}
    byo = ("serverAddress", "namespace", "selectorLabels")
    for key in byo:
        path: list[str | int] = ["platform", "prometheus", key]
        if prom.get("install", True) and key in prom:
            out.append(Diagnostic(merged.source(path), json_path(path), f"platform.prometheus.{key} is fixed by the installed kube-prometheus-stack; "
                                  "set platform.prometheus.install: false to bring your own Prometheus"))
        elif not prom.get("install", True) and key not in prom:
            out.append(Diagnostic(_missing_at(merged, path), json_path(path), f"required with platform.prometheus.install: false: set platform.prometheus.{key} "
                                  "to what your Prometheus uses (KEDA queries it, the monitors register with it)"))
    return out


def cross_field_rules(merged: Merged) -> list[Diagnostic]:
    """Rules JSON Schema cannot express (relations between two values)."""
    v, out = merged.values, []
    a = v.get("autoscaling", {})
    if "minReplicas" in a and "maxReplicas" in a and a["minReplicas"] > a["maxReplicas"]:
        path: list[str | int] = ["autoscaling", "minReplicas"]
        out.append(Diagnostic(merged.source(path), json_path(path), f"minReplicas ({a['minReplicas']}) is greater than maxReplicas ({a['maxReplicas']})"))
    for role in ("prefill", "decode"):
        r = v.get("serving", {}).get("disaggregation", {}).get(role, {})
        if "minReplicas" in r and "maxReplicas" in r and r["minReplicas"] > r["maxReplicas"]:
            path = ["serving", "disaggregation", role, "minReplicas"]
            out.append(Diagnostic(merged.source(path), json_path(path), f"minReplicas ({r['minReplicas']}) is greater than maxReplicas ({r['maxReplicas']})"))
    pools = v.get("capacity", {}).get("pools", [])
    if pools and not any(p.get("role") == "baseline" for p in pools):
        path = ["capacity", "pools"]
        out.append(Diagnostic(merged.source(path), json_path(path), "at least one pool must have role baseline"))
    for i, p in enumerate(pools):
        if p.get("efa") and v.get("capacity", {}).get("provisioner") == "autoMode":
            path = ["capacity", "pools", i, "efa"]
            out.append(Diagnostic(merged.source(path), json_path(path), "EFA pools need provisioner karpenter (Auto Mode NodeClass has no EFA setting)"))
        if "reserved" in p.get("capacityType", []) and not p.get("reservations"):
            path = ["capacity", "pools", i, "capacityType"]
            out.append(Diagnostic(merged.source(path), json_path(path), "capacityType reserved needs at least one entry in reservations"))
    if a.get("formula"):
        unknown = sorted(set(formula_identifiers(a["formula"])) - {"running", "waiting"})
        if unknown:
            path = ["autoscaling", "formula"]
            out.append(Diagnostic(merged.source(path), json_path(path), f"formula refers to {', '.join(unknown)}: only the triggers 'running' and 'waiting' exist (KEDA rejects unknown names)"))
    prom = (v.get("platform") or {}).get("prometheus") or {}
    if a.get("prometheus", {}).get("awsManagedPrometheus") and not AMP_URL.match(prom.get("serverAddress", "")):
        path = ["platform", "prometheus", "serverAddress"]
        out.append(Diagnostic(merged.source(path), json_path(path), "awsManagedPrometheus needs the workspace URL https://aps-workspaces.<region>.amazonaws.com/workspaces/<workspace-id>"))
    mn = v.get("serving", {}).get("multiNode", {})
    if mn.get("startupPolicy") == "LeaderReady" and v.get("tier") == "tier3":
        path = ["serving", "multiNode", "startupPolicy"]
        out.append(Diagnostic(merged.source(path), json_path(path), "LeaderReady deadlocks a multi-node group: workers start only after the leader is ready, and the leader is ready only once the workers joined; use LeaderCreated"))
    dis = v.get("serving", {}).get("disaggregation", {})
    if v.get("tier") != "tier3" and dis.get("enabled"):
        path = ["serving", "disaggregation", "enabled"]
        out.append(Diagnostic(merged.source(path), json_path(path), "prefill/decode disaggregation is a tier3 feature (LeaderWorkerSet roles)"))
    out += compile_cache_source(merged)
    return out + literal_secrets(merged)


CACHE_SOURCES = ("fileSystemId", "storageClassName", "claimName")


def compile_cache_source(merged: Merged) -> list[Diagnostic]:
    """An enabled compile cache names exactly one volume source (the compiler cannot invent one)."""
    cc = merged.values.get("serving", {}).get("compileCache", {})
    if not cc.get("enabled"):
        return []
    given = [k for k in CACHE_SOURCES if cc.get(k)]
    if len(given) == 1:
        return []
    path = ["serving", "compileCache"] + ([given[1]] if given else ["enabled"])
    msg = (f"set only one of {', '.join(given)}" if given else
           "an enabled compile cache needs fileSystemId (an EFS file system, fs-...), storageClassName (an existing EFS StorageClass) or claimName (an existing ReadWriteMany PVC)")
    return [Diagnostic(merged.source(path), json_path(path), msg)]


#: Variable names that hold credentials. TOKEN only as a whole word (HF_TOKEN, not
#: TOKENIZERS_PARALLELISM or MAX_NUM_BATCHED_TOKENS); names ending in _FILE/_PATH/_DIR point at
#: a mounted secret rather than holding one (AWS_SHARED_CREDENTIALS_FILE, HF_TOKEN_PATH).
SECRET_NAME = re.compile(r"(^|_)TOKEN($|_)|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
SECRET_NAME_EXEMPT = re.compile(r"_(FILE|PATH|DIR)$", re.IGNORECASE)
#: Values shaped like well-known credentials, anywhere in a string.
SECRET_VALUE = re.compile(
    r"hf_[A-Za-z0-9]{30,}"                                  # Hugging Face token
    r"|(AKIA|ASIA)[0-9A-Z]{16}"                             # AWS access key id
    r"|-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"               # PEM private key
    r"|sk-[A-Za-z0-9_-]{20,}"                               # OpenAI-style API key
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,}"  # Git hosting tokens
)
SECRET_ARG = re.compile(r"^--(api-key|hf-token)(=|$)")
USE_SECRET_ENV = ("literal secrets end up in Git and in the rendered manifests; reference an existing Secret "
                  "(e.g. synced by External Secrets) with serving.secretEnv: [{name: ..., secretName: ..., key: ...}]")


def literal_secrets(merged: Merged) -> list[Diagnostic]:
    """Profile references to credentials must be references: refuse literal secret values (by the
    variable's name in serving.env, by the value's shape anywhere, and vLLM's --api-key flag)."""
    out: list[Diagnostic] = []
    serving = merged.values.get("serving", {})
    flagged: set[tuple[str | int, ...]] = set()
    for i, e in enumerate(serving.get("env", [])):
        name = e.get("name", "")
        if SECRET_NAME.search(name) and not SECRET_NAME_EXEMPT.search(name):
            path: tuple[str | int, ...] = ("serving", "env", i, "value")
            flagged.add(path)
            out.append(Diagnostic(merged.source(list(path)), json_path(path), f"{name} looks like a credential: {USE_SECRET_ENV}"))
    for i, arg in enumerate(serving.get("extraArgs", [])):
        if isinstance(arg, str) and SECRET_ARG.match(arg):
            path = ("serving", "extraArgs", i)
            flagged.add(path)
            out.append(Diagnostic(merged.source(list(path)), json_path(path), f"{arg.split('=')[0]} passes a credential on the command line: set VLLM_API_KEY / HF_TOKEN instead; {USE_SECRET_ENV}"))
    for path, value in _strings(merged.values, ()):
        if path not in flagged and path[:1] != ("environments",) and SECRET_VALUE.search(value):
            out.append(Diagnostic(merged.source(list(path)), json_path(path), f"value looks like a credential: {USE_SECRET_ENV}"))
    return out


def _strings(value: Any, path: tuple) -> Iterable[tuple[tuple, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, path + (i,))


def _errors(errors: Iterable[ValidationError], locate: Locate, schema: Schema, data: Any) -> list[Diagnostic]:
    errors = list(errors)
    # A value of the wrong type also fails its enum/range/pattern: report only the type error.
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    out: list[Diagnostic] = []
    for e in errors:
        if tuple(e.absolute_path) in typed and e.validator != "type":
            continue
        out.extend(_explain(e, locate, schema))
    return out


def _explain(e: ValidationError, locate: Locate, schema: Schema) -> list[Diagnostic]:
    path = list(e.absolute_path)
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        from difflib import get_close_matches  # only a refused profile needs it

        allowed = sorted(e.schema.get("properties", {}))
        diags = []
        for key in sorted(set(e.instance) - set(allowed)):
            hint = get_close_matches(key, allowed, n=1) if len(key) < 100 else []
            msg = f"unknown key {_short(key)}" + (f" (did you mean {hint[0]!r}?)" if hint else f"; allowed: {', '.join(allowed)}")
            diags.append(Diagnostic(locate(path + [key]), json_path(path + [key]), msg))
        if diags:
            return diags
    if e.validator == "required":
        missing = e.message.split("'")[1] if "'" in e.message else e.message
        return [Diagnostic(locate(path), json_path(path), f"missing required key {missing!r}")]
    if e.validator in ("anyOf", "oneOf") and e.context:
        best = min(e.context, key=lambda c: (len(c.absolute_path), c.validator != "required"))
        if all(c.validator == "required" for c in e.context):
            need = " or ".join(sorted({repr(c.message.split("'")[1]) for c in e.context}))
            return [Diagnostic(locate(path), json_path(path), f"needs {need}")]
        return _explain(best, locate, schema)
    if "propertyNames" in e.absolute_schema_path:  # a bad key: point at the key itself
        path.append(e.instance)
    return [Diagnostic(locate(path), json_path(path), _message(e))]


def _message(e: ValidationError) -> str:
    v, inst = e.validator, e.instance
    desc = e.schema.get("description") if isinstance(e.schema, dict) else None
    if v == "type":
        return f"expected {e.validator_value}, got {_typename(inst)} {_short(inst)}"
    if v == "enum":
        return f"{_short(inst)} is not one of {', '.join(_short(x) for x in e.validator_value)}" + (f" ({desc})" if desc and len(desc) < 80 else "")
    if v == "const":
        return f"must be {_short(e.validator_value)}, got {_short(inst)}" + (f" ({desc})" if desc else "")
    if v == "pattern":
        return f"{_short(inst)} does not match the required format {e.validator_value}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[v]
        return f"{_short(inst)} is out of range: must be {word} {e.validator_value}"
    if v == "not":
        why = e.validator_value.get("description") if isinstance(e.validator_value, dict) else None
        return f"{_short(inst)} is not allowed" + (f": {why}" if why else "")
    if v in _SIZES and isinstance(inst, (str, list, dict)):
        what, word = _SIZES[v]
        many = "many" if word == "at most" else "few"
        if isinstance(inst, str):
            return f"{_short(inst)} is too {'long' if word == 'at most' else 'short'}: {word} {e.validator_value} {what}, got {len(inst)}"
        return f"too {many} {what}: {word} {e.validator_value}, got {len(inst)}"
    if v == "uniqueItems":
        return f"{_short(inst)} has duplicate items"
    return clip(e.message, 300)


_SIZES = {
    "maxLength": ("characters", "at most"), "minLength": ("characters", "at least"),
    "maxItems": ("items", "at most"), "minItems": ("items", "at least"),
    "maxProperties": ("keys", "at most"), "minProperties": ("keys", "at least"),
}


def _typename(x: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "mapping", type(None): "null"}.get(type(x), type(x).__name__)


def _short(x: Any, limit: int = 60) -> str:
    if isinstance(x, (dict, list)) and len(x) > 20:  # never stringify a huge container whole
        return f"<{_typename(x)} of {len(x)} items>"
    s = repr(x) if isinstance(x, str) else str(x).lower() if isinstance(x, bool) else str(x)
    return s if len(s) <= limit else s[: limit - 3] + "..."
