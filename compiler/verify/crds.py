"""Strict validation of custom resources against real upstream CRD files.

:class:`CrdRegistry` reads CustomResourceDefinitions from files or directories
(``*.yaml``/``*.yml``, multi-document, or a ``kind: List`` as printed by
``kubectl get crd -o yaml``) and validates objects like the API server would on
create: schema defaults applied, structural schema with unknown fields rejected,
ObjectMeta checked, list-map keys unique, and ``x-kubernetes-validations`` CEL
rules evaluated with cel-python (see :mod:`compiler.verify.crd_cel`; rules it
cannot evaluate are reported by :meth:`CrdRegistry.unevaluated_rules`).

Loading is lazy: :meth:`CrdRegistry.load` only lists files. A file is parsed when
a lookup needs it; a cheap text search for the group and kind decides which files
may define a kind. The first definition of a (group, kind) in path order wins
(paths in the given order, directories walked in sorted order), so that e.g.
``karpenter/`` beats ``karpenter-core/``. Compiled validators are cached per
(group, version, kind).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from compiler.verify import crd_cel
from compiler.verify.crd_schema import (
    RuleNode,
    apply_defaults,
    build_rule_tree,
    duplicate_map_keys,
    iter_rule_nodes,
    root_json_schema,
)
from compiler.verify.findings import Finding, format_path, object_identity

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _CrdDef:
    """One CustomResourceDefinition: its served versions' schemas and where it came from."""

    group: str
    kind: str
    source: Path
    schemas: dict[str, dict[str, Any]]  # served version -> openAPIV3Schema


@dataclass
class _Compiled:
    """Everything needed to validate one (group, version, kind)."""

    api_version: str
    validator: jsonschema.Draft202012Validator
    root: dict[str, Any]
    rules: RuleNode | None


@dataclass
class _SourceFile:
    path: Path
    parsed: bool = False
    text: str | None = field(default=None, repr=False)

    def read(self) -> str:
        if self.text is None:
            self.text = self.path.read_text(encoding="utf-8")
        return self.text

    def may_define(self, group: str, kind: str) -> bool:
        """Cheap superset test: does the text mention both ``group:`` and ``kind:``?"""
        text = self.read()
        return all(
            re.search(rf"""{key}["']?\s*:\s*["']?{re.escape(value)}["']?(?![\w.-])""", text)
            for key, value in (("group", group), ("kind", kind))
        )


@dataclass(frozen=True)
class CelRuleStatus:
    """Where a CEL rule sits in a served CRD version and whether it is evaluated."""

    api_version: str
    kind: str
    path: str
    rule: str
    status: str  # crd_cel.EVALUATED | TRANSITION | UNSUPPORTED
    reason: str


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _iter_yaml_files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
        yield from sorted(found, key=lambda p: p.relative_to(path).parts)
    elif path.is_file():
        yield path
    else:
        raise FileNotFoundError(f"CRD path not found: {path}")


def _crd_documents(docs: Sequence[Any]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "CustomResourceDefinition":
            yield doc
        elif doc.get("kind") in ("List", "CustomResourceDefinitionList"):
            yield from _crd_documents(doc.get("items") or [])


def _crd_def(doc: dict[str, Any], source: Path) -> _CrdDef | None:
    spec = doc.get("spec") or {}
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        return None
    legacy = (spec.get("validation") or {}).get("openAPIV3Schema")  # apiextensions v1beta1
    schemas: dict[str, dict[str, Any]] = {}
    versions = spec.get("versions") or ([{"name": spec["version"]}] if spec.get("version") else [])
    for version in versions:
        if version.get("served", True) is False:
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or legacy
        schemas[str(version["name"])] = schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return _CrdDef(group, kind, source, schemas)


class CrdRegistry:
    """CRDs indexed by (group, kind), validating custom resources strictly."""

    def __init__(self, files: Sequence[Path]) -> None:
        self._files = [_SourceFile(p) for p in files]
        self._defs: dict[tuple[str, str], tuple[int, _CrdDef]] = {}
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}

    @classmethod
    def load(cls, paths: Sequence[Path]) -> CrdRegistry:
        """List the CRD files under ``paths`` (files or directories); parse lazily."""
        files: list[Path] = []
        seen: set[Path] = set()
        for path in paths:
            for file in _iter_yaml_files(Path(path)):
                if file.resolve() not in seen:
                    seen.add(file.resolve())
                    files.append(file)
        return cls(files)

    @property
    def files(self) -> list[Path]:
        """The candidate CRD files in precedence order."""
        return [f.path for f in self._files]

    @property
    def parsed_files(self) -> list[Path]:
        """The files parsed so far (loading is lazy)."""
        return [f.path for f in self._files if f.parsed]

    # --- lazy index ---------------------------------------------------------

    def _parse(self, index: int) -> None:
        source = self._files[index]
        if source.parsed:
            return
        try:
            docs = list(yaml.load_all(source.read(), Loader=_Loader))
        except yaml.YAMLError as exc:
            raise ValueError(f"cannot parse CRD file {source.path}: {exc}") from exc
        for position, doc in enumerate(_crd_documents(docs)):
            crd = _crd_def(doc, source.path)
            if crd is None:
                continue
            key, rank = (crd.group, crd.kind), index * 100_000 + position
            if key not in self._defs or self._defs[key][0] > rank:
                self._defs[key] = (rank, crd)
        source.parsed, source.text = True, None

    def _lookup(self, group: str, kind: str) -> _CrdDef | None:
        for index, source in enumerate(self._files):
            known = self._defs.get((group, kind))
            if known is not None and known[0] < (index + 1) * 100_000:
                break
            if not source.parsed and source.may_define(group, kind):
                self._parse(index)
        known = self._defs.get((group, kind))
        return known[1] if known else None

    def _load_all(self) -> None:
        for index in range(len(self._files)):
            self._parse(index)

    def kinds(self) -> set[tuple[str, str]]:
        """Every served ``(apiVersion, kind)`` (parses all files)."""
        self._load_all()
        return {(f"{d.group}/{v}", d.kind) for _, d in self._defs.values() for v in d.schemas}

    def has(self, api_version: str, kind: str) -> bool:
        """True if a CRD serves ``kind`` at ``api_version``."""
        group, version = _split_api_version(api_version)
        crd = self._lookup(group, kind) if group else None
        return crd is not None and version in crd.schemas

    def source_of(self, api_version: str, kind: str) -> Path | None:
        """The CRD file that defines ``kind`` in ``api_version``'s group."""
        crd = self._lookup(_split_api_version(api_version)[0], kind)
        return crd.source if crd else None

    def _compile(self, api_version: str, kind: str) -> _Compiled | str:
        group, version = _split_api_version(api_version)
        cached = self._compiled.get((group, version, kind))
        if cached is not None:
            return cached
        crd = self._lookup(group, kind) if group else None
        if crd is None:
            return f"no CRD found for {kind} in API group {group or '(core)'}"
        root = crd.schemas.get(version)
        if root is None:
            served = ", ".join(sorted(crd.schemas)) or "none"
            return f"{kind} version {version} is not served by the CRD (served: {served})"
        schema = root_json_schema(root, api_version, kind)
        compiled = _Compiled(
            api_version,
            jsonschema.Draft202012Validator(schema),
            root,
            build_rule_tree(root, crd_cel.compile_rule),
        )
        self._compiled[(group, version, kind)] = compiled
        return compiled

    # --- validation ---------------------------------------------------------

    def validate(self, obj: dict[str, Any]) -> list[Finding]:
        """All findings for one custom resource (empty if it would be accepted)."""
        return self._check(obj)[0]

    def unevaluated_rules(self, obj: dict[str, Any]) -> list[str]:
        """CEL rules that apply to ``obj`` but could not be evaluated (``path: rule (why)``).

        Transition rules (``oldSelf``) are not listed: they never run on create.
        """
        return self._check(obj)[1]

    def _check(self, obj: dict[str, Any]) -> tuple[list[Finding], list[str]]:
        kind, name = object_identity(obj)
        api_version = obj.get("apiVersion") if isinstance(obj, dict) else None
        if not isinstance(api_version, str) or not kind:
            return [Finding("", "object has no apiVersion/kind", kind, name)], []
        compiled = self._compile(api_version, kind)
        if isinstance(compiled, str):
            return [Finding("", compiled, kind, name)], []
        value = copy.deepcopy(obj)
        apply_defaults(value, compiled.root)
        findings = [f for err in compiled.validator.iter_errors(value) for f in _schema_findings(err, kind, name)]
        unevaluated: list[str] = []
        for path, node_value, node in iter_rule_nodes(compiled.rules, value, []):
            if node.map_keys and isinstance(node_value, list):
                for index, message in duplicate_map_keys(node_value, node.map_keys):
                    findings.append(Finding(format_path([*path, index]), message, kind, name))
            for rule in node.rules:
                if rule.status == crd_cel.TRANSITION:
                    continue
                outcome = crd_cel.evaluate(rule, node_value)
                where = format_path([*path, *_field_path(rule.field_path)])
                if outcome.passed is None:
                    unevaluated.append(f"{format_path(path) or '<root>'}: {rule.rule} ({outcome.message})")
                elif not outcome.passed:
                    findings.append(Finding(where, outcome.message, kind, name))
        return sorted(set(findings)), unevaluated

    # --- reporting ----------------------------------------------------------

    def cel_rules(self) -> list[CelRuleStatus]:
        """Status of every CEL rule in every served version of every loaded CRD."""
        out: list[CelRuleStatus] = []
        for api_version, kind in sorted(self.kinds()):
            compiled = self._compile(api_version, kind)
            if isinstance(compiled, str):
                continue
            for path, node in _walk_rule_tree(compiled.rules, []):
                for rule in node.rules:
                    out.append(CelRuleStatus(api_version, kind, path, rule.rule, rule.status, rule.reason))
        return out


def _walk_rule_tree(node: RuleNode | None, path: list[str]) -> Iterator[tuple[str, RuleNode]]:
    if node is None:
        return
    yield "".join(path) or "<root>", node
    for key, child in node.properties.items():
        yield from _walk_rule_tree(child, [*path, f".{key}"])
    yield from _walk_rule_tree(node.items, [*path, "[*]"])
    yield from _walk_rule_tree(node.additional, [*path, ".*"])


def _field_path(field_path: str) -> list[Any]:
    """Split a rule's ``fieldPath`` (``.spec.foo[0]``, ``.x['a.b']``) into parts."""
    parts: list[Any] = []
    for dotted, quoted, number in re.findall(r"\.([^.\[\]]+)|\['([^']*)'\]|\[(\d+)\]", field_path):
        parts.append(int(number) if number else (quoted or dotted))
    return parts


def _schema_findings(err: jsonschema.ValidationError, kind: str, name: str) -> list[Finding]:
    """Translate one jsonschema error; unknown fields get one finding each, at the field."""
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and err.validator_value is False and isinstance(err.instance, dict):
        declared = err.schema.get("properties") or {}
        extra = [k for k in err.instance if k not in declared]
        return [Finding(format_path([*path, k]), f'unknown field "{k}"', kind, name) for k in extra]
    message = err.message
    if err.context:
        best = jsonschema.exceptions.best_match(err.context)
        if best is not None:
            message = f"{message}: {best.message}"
    return [Finding(format_path(path), message, kind, name)]
