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
(group, version, kind), and lookups (found or not) are answered once.

CEL rules run in an interpreter (~1-300 ms each), so their outcomes are memoized: per exact
value, per the fields of ``self`` a rule reads, and per element for ``self.all(v, ...)`` rules
(see :meth:`CrdRegistry._evaluate`). A fleet's objects differ in names, not in the values most
rules look at: building 1,000 profiles evaluates a few hundred rules, not a few hundred thousand.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.verify import crd_cel, schema_cache
from compiler.verify.cel_bundle import CelBundle
from compiler.verify.crd_compiled import _Compiled, _generate, _load
from compiler.verify.crd_files import (  # noqa: F401  (_documents, _SourceFile: tests reach them here)
    _CrdDef,
    _documents,
    _index_entries,
    _iter_yaml_files,
    _parse_text,
    _SourceFile,
    file_facts,
)
from compiler.verify.crd_schema import RuleNode, duplicate_map_keys, iter_rule_nodes
from compiler.verify.findings import Finding, format_path, object_identity

if TYPE_CHECKING:  # imported when a value fails its compiled check (or a schema has none)
    import jsonschema


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


class CrdRegistry:
    """CRDs indexed by (group, kind), validating custom resources strictly."""

    def __init__(self, files: Sequence[Path]) -> None:
        self._files = [_SourceFile(p) for p in files]
        self._defs: dict[tuple[str, str], tuple[int, _CrdDef]] = {}
        self._compiled: dict[tuple[str, str, str], _Compiled] = {}
        self._outcomes: dict[tuple[int, str, str], crd_cel.CelOutcome] = {}  # see _evaluate
        self._resolved: dict[tuple[str, str], _CrdDef | None] = {}  # lookups already answered
        self._facts = False  # file_facts asked (at the first lookup)

    @classmethod
    def load(cls, paths: Sequence[Path]) -> CrdRegistry:
        """List the CRD files under ``paths`` (files or directories); parse lazily."""
        files: list[Path] = []
        seen: set[Path] = set()
        for path in paths:
            for file in _iter_yaml_files(Path(path)):
                real = file.resolve()
                if real not in seen:
                    seen.add(real)
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
        digest = source.digest or hashlib.sha256(source.read().encode()).hexdigest()
        parsed: dict[int, _CrdDef] = {}

        def index_file() -> list[Any]:
            """(position, group, kind, served versions) of each CRD in the file."""
            text = source.read()
            if source.digest is not None and hashlib.sha256(text.encode()).hexdigest() != digest:
                raise ValueError(f"CRD file {source.path} changed while it was being read")
            parsed.update(_parse_text(source.path, text, digest))
            return [[position, crd.group, crd.kind, list(crd.versions)] for position, crd in parsed.items()]

        def schemas_at(position: int) -> Callable[[], dict[str, dict[str, Any]]]:
            def load() -> dict[str, dict[str, Any]]:
                if not parsed:  # the index came from the user cache: parse the file now
                    again = source.path.read_text(encoding="utf-8")
                    if hashlib.sha256(again.encode()).hexdigest() != digest:
                        raise ValueError(f"CRD file {source.path} changed while it was being read")
                    parsed.update(_parse_text(source.path, again, digest))
                return parsed[position].schemas

            return load

        # the index is kept in the user cache (keyed by the file's digest) with the compiled checks
        entries = schema_cache.cached(("crd-index", digest), index_file, _index_entries)
        for position, group, kind, versions in entries:
            crd = parsed.get(position) or _CrdDef(group, kind, source.path, tuple(versions), digest, schemas_at(position))
            key, rank = (crd.group, crd.kind), index * 100_000 + position
            if key not in self._defs or self._defs[key][0] > rank:
                self._defs[key] = (rank, crd)
        source.parsed, source.text = True, None

    def _lookup(self, group: str, kind: str) -> _CrdDef | None:
        if (group, kind) in self._resolved:  # final: every earlier file was searched
            return self._resolved[(group, kind)]
        if not self._facts:  # digests and group/kind values of every file, from the user cache
            self._facts = True
            file_facts(self._files)
        for index, source in enumerate(self._files):
            known = self._defs.get((group, kind))
            if known is not None and known[0] < (index + 1) * 100_000:
                break
            if not source.parsed and source.may_define(group, kind):
                self._parse(index)
        known = self._defs.get((group, kind))
        self._resolved[(group, kind)] = known[1] if known else None
        return self._resolved[(group, kind)]

    def _load_all(self) -> None:
        for index in range(len(self._files)):
            self._parse(index)

    def kinds(self) -> set[tuple[str, str]]:
        """Every served ``(apiVersion, kind)`` (parses all files)."""
        self._load_all()
        return {(f"{d.group}/{v}", d.kind) for _, d in self._defs.values() for v in d.versions}

    def has(self, api_version: str, kind: str) -> bool:
        """True if a CRD serves ``kind`` at ``api_version``."""
        group, version = _split_api_version(api_version)
        crd = self._lookup(group, kind) if group else None
        return crd is not None and version in crd.versions

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
        if version not in crd.versions:
            served = ", ".join(sorted(crd.versions)) or "none"
            return f"{kind} version {version} is not served by the CRD (served: {served})"
        compiled = _Compiled(api_version, kind, lambda: crd.schemas[version])
        if crd.digest:  # generated once, then kept in the user cache (schema_cache)
            parts = ("crd", crd.digest, group, kind, version)
            schema_cache.cached(parts, lambda: _generate(compiled), lambda data: _load(compiled, data))
            if compiled.rules is not None and schema_cache.cache_dir() is not None:
                compiled.cel = CelBundle(parts)  # its CEL rules compiled by earlier runs
        else:
            _load(compiled, _generate(compiled))
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
        value = compiled.prepare(obj)
        findings: list[Finding] = []
        if compiled.accepts is None or not compiled.accepts(value):  # valid values skip jsonschema
            findings = [f for err in compiled.validator.iter_errors(value) for f in _schema_findings(err, kind, name)]
        unevaluated: list[str] = []
        for path, node_value, node in iter_rule_nodes(compiled.rules, value, []):
            if node.map_keys and isinstance(node_value, list):
                for index, message in duplicate_map_keys(node_value, node.map_keys):
                    findings.append(Finding(format_path([*path, index]), message, kind, name))
            text = _ValueText(node_value)
            for entry in node.rules:
                rule = crd_cel.compiled(entry)
                if rule.status == crd_cel.TRANSITION:
                    continue
                outcome = self._evaluate(rule, node_value, text)
                where = format_path([*path, *_field_path(rule.field_path)])
                if outcome.passed is None:
                    unevaluated.append(f"{format_path(path) or '<root>'}: {rule.rule} ({outcome.message})")
                elif not outcome.passed:
                    findings.append(Finding(where, outcome.message, kind, name))
        if compiled.cel is not None:
            compiled.cel.save(compiled.rules)  # rules compiled now join the kind's bundle
        return sorted(set(findings)), unevaluated

    def _evaluate(self, rule: crd_cel.CelRule, value: Any, text: _ValueText) -> crd_cel.CelOutcome:
        """``crd_cel.evaluate``, memoized.

        A rule's outcome is a pure function of the value it is bound to, and rendered values
        repeat heavily (every environment of a profile, every profile of a fleet share most
        nodes). Outcomes are kept per (rule, exact JSON of the value): JSON keeps key order and
        tells ``1`` from ``1.0`` and ``true``, so equal keys are values CEL cannot tell apart.
        A rule that reads only some fields of ``self`` (``CelRule.self_fields``) passes for every
        value that agrees on those fields, so passes are also kept per (rule, those fields):
        a NodePool's ``self.limits`` rule is evaluated once per distinct limits, not per pool.
        Failures are only reused for the exact same value (their messages may quote it).
        Rules live as long as this registry (``_compiled`` holds them): their ``id`` is stable.
        ``self.all(v, body)`` rules are checked element by element (``_each_passes``).
        A value JSON cannot represent (never rendered, but possible from a caller) is simply
        evaluated, unmemoized.
        """
        try:
            return self._memoized(rule, value, text)
        except (TypeError, ValueError):
            return crd_cel.evaluate(rule, value)

    def _memoized(self, rule: crd_cel.CelRule, value: Any, text: _ValueText) -> crd_cel.CelOutcome:
        if rule.per_element and value and type(value) in (list, dict) and self._each_passes(rule, value, text):
            return crd_cel.CelOutcome(True, "")
        narrow = None
        if rule.self_fields is not None and isinstance(value, dict):
            narrow = (id(rule), "fields", text.of_fields(rule.self_fields))
            if narrow in self._outcomes:
                return self._outcomes[narrow]
        exact = (id(rule), "value", text.whole)
        outcome = self._outcomes.get(exact)
        if outcome is None:
            outcome = self._outcomes[exact] = crd_cel.evaluate(rule, value)
        if narrow is not None and outcome.passed:
            self._outcomes[narrow] = outcome
        return outcome

    def _each_passes(self, rule: crd_cel.CelRule, value: list[Any] | dict[str, Any], text: _ValueText) -> bool:
        """True if ``self.all(v, body)`` passes for every element on its own, each element's
        outcome memoized (so a list that differs in one item costs one evaluation). ``all`` is
        true iff its body is true for every element, so this is the rule's verdict; on any
        miss the caller evaluates the whole value, for CEL's exact message and error rules.
        The body reads nothing but ``v``: for a map, ``v`` is a key and the values are moot."""
        is_list = isinstance(value, list)
        for index, item in enumerate(value):
            single: Any = [item] if is_list else {item: value[item]}  # type: ignore[index]
            key = (id(rule), "element", text.part(index) if is_list else _json(item))
            outcome = self._outcomes.get(key)
            if outcome is None:
                outcome = crd_cel.evaluate(rule, single)
                if outcome.passed:
                    self._outcomes[key] = outcome
            if not outcome.passed:
                return False
        return True

    # --- reporting ----------------------------------------------------------

    def cel_rules(self) -> list[CelRuleStatus]:
        """Status of every CEL rule in every served version of every loaded CRD."""
        out: list[CelRuleStatus] = []
        for api_version, kind in sorted(self.kinds()):
            compiled = self._compile(api_version, kind)
            if isinstance(compiled, str):
                continue
            for path, node in _walk_rule_tree(compiled.rules, []):
                for entry in node.rules:
                    rule = crd_cel.compiled(entry)
                    out.append(CelRuleStatus(api_version, kind, path, rule.rule, rule.status, rule.reason))
        return out


class _ValueText:
    """Canonical JSON of one rule node's value, of field subsets and of list elements, each part
    computed at most once however many rules read it (the same strings ``_json`` gives)."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self._whole: str | None = None
        self._parts: dict[Any, str] = {}
        self._str_keys = type(value) is dict and all(type(k) is str for k in value)

    @property
    def whole(self) -> str:
        if self._whole is None:
            if self._str_keys:
                self._whole = self.of_fields(tuple(self.value))
            elif type(self.value) is list:
                self._whole = "[" + ",".join(self.part(i) for i in range(len(self.value))) + "]"
            else:
                self._whole = _json(self.value)
        return self._whole

    def part(self, key: Any) -> str:
        """The text of one field (a map) or element (a list)."""
        if key not in self._parts:
            self._parts[key] = _json(self.value[key])
        return self._parts[key]

    def of_fields(self, names: tuple[str, ...]) -> str:
        if not self._str_keys:
            return _json({k: v for k, v in self.value.items() if k in names})
        return "{" + ",".join(f"{_json(k)}:{self.part(k)}" for k in self.value if k in names) + "}"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


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
        import jsonschema

        best = jsonschema.exceptions.best_match(err.context)
        if best is not None:
            message = f"{message}: {best.message}"
    return [Finding(format_path(path), message, kind, name)]
