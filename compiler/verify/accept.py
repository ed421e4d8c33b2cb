"""Compiled accept-only checks for Draft 2020-12 schemas: the fast path of schema validation.

``jsonschema`` builds a validator object, an error iterator and a scope per keyword and node
it visits (~10 ms per rendered object), although almost every object it sees is valid. A
schema is compiled here once into nested closures that answer only *is this value valid?*
(microseconds). Callers (:mod:`compiler.verify.crds`, :mod:`compiler.verify.kube`) run the
check first and call ``jsonschema`` only when it says no, so every diagnostic still comes from
``jsonschema``, word for word; the check only has to agree with it on valid vs invalid.

It agrees by construction:

* each keyword is implemented as ``jsonschema`` 4's Draft 2020-12 keyword function decides
  validity (same type checker, the same ``equal``/``uniq`` for ``enum``/``const``/``uniqueItems``,
  ``re.search`` for ``pattern``);
* a validation keyword this module does not implement (``patternProperties``, ``contains``,
  ``if``, ``unevaluatedProperties``...) makes :func:`compile_check` raise :class:`Unsupported`:
  the caller keeps ``jsonschema`` alone for that schema;
* a ``pattern`` Python cannot compile (Go syntax such as ``^(?i)...``) rejects every string
  that reaches it, so ``jsonschema`` decides those exactly as before; such a check is *inexact*
  (it may say no to a valid value), which is harmless except where a verdict is negated or
  counted (``not``, ``if``, ``oneOf``): a schema using those with such a pattern anywhere is
  :class:`Unsupported`;
* ``format`` is an annotation (``jsonschema`` validators are built without a format checker),
  and unknown keywords (``description``, ``x-kubernetes-*``) are ignored, as ``jsonschema`` does.

A wrong answer in one direction (rejecting a valid value) only costs time; in the other it
would hide a finding. ``tests/verify/test_accept.py`` compares both on every shipped object,
thousands of mutations of them, and per keyword.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any


def _jsonschema_utils() -> Any:
    """jsonschema's own ``_utils`` module (``equal``/``uniq``: its enum, const and uniqueItems
    equality), loaded from its file without running ``jsonschema/__init__`` (~40 ms of imports:
    validators, format checkers, referencing) that a build whose values all pass never needs.
    Falls back to the ordinary import if the package is laid out differently."""
    import importlib.util
    import sys

    name = "jsonschema._utils"
    if name in sys.modules:
        return sys.modules[name]
    try:
        spec = importlib.util.find_spec("jsonschema")
        where = list(spec.submodule_search_locations or ()) if spec else []
        file_spec = importlib.util.spec_from_file_location("compiler.verify._jsonschema_utils", f"{where[0]}/_utils.py")
        assert file_spec is not None and file_spec.loader is not None
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
        module.equal, module.uniq  # noqa: B018 - both must be there
        return module
    except Exception:  # noqa: BLE001 - any surprise: the ordinary (slower) import
        import jsonschema._utils  # type: ignore[import-untyped]

        return jsonschema._utils


_utils = _jsonschema_utils()
equal, uniq = _utils.equal, _utils.uniq

Check = Callable[[Any], bool]
Resolve = Callable[[str], Any]


class Unsupported(Exception):
    """The schema uses a keyword (or form) the compiled check does not implement."""


#: Draft 2020-12 keywords that constrain values but are not implemented here.
_UNIMPLEMENTED = frozenset({
    "patternProperties", "dependentRequired", "dependencies", "prefixItems",
    "contains", "minContains", "maxContains", "unevaluatedItems",
    "unevaluatedProperties", "$dynamicRef", "$recursiveRef", "multipleOf", "additionalItems",
})


def _accept(value: Any) -> bool:
    return True


def _reject(value: Any) -> bool:
    return False


def _is_integer(v: Any) -> bool:
    """jsonschema's Draft 6+ ``integer``: an int that is not a bool, or an integral float."""
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


def _is_number(v: Any) -> bool:
    """jsonschema's ``number``: any ``numbers.Number`` that is not a bool."""
    return isinstance(v, numbers.Number) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _is_integer,
    "number": _is_number,
}


def compile_check(schema: Any, resolve: Resolve | None = None) -> Check:
    """A function telling whether a value is valid against ``schema`` (Draft 2020-12).

    ``resolve`` maps a ``$ref`` string to its target schema (None: ``$ref`` is unsupported).
    Raises :class:`Unsupported` when the schema needs a keyword not implemented here.
    """
    compiler = _Compiler(resolve)
    check = compiler.compile(schema)
    if compiler.inexact and compiler.branching:
        raise Unsupported("not/if/oneOf with a pattern Python cannot compile")
    return check


class _Compiler:
    def __init__(self, resolve: Resolve | None) -> None:
        self.resolve = resolve
        self.refs: dict[str, Check] = {}
        self.inexact = 0  # patterns compiled as "reject every string" (see the module docstring)
        self.branching = 0  # not / if / oneOf compiled: they need exact sub-checks

    def ref(self, target: str) -> Check:
        """One check per ``$ref`` target, compiled on first use (targets may be recursive)."""
        known = self.refs.get(target)
        if known is not None:
            return known
        if self.resolve is None:
            raise Unsupported(f"$ref {target}")
        cell: list[Check] = []
        self.refs[target] = lambda v: cell[0](v)
        compiled = self.compile(self.resolve(target))
        cell.append(compiled)
        self.refs[target] = compiled
        return compiled

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _accept
        if schema is False:
            return _reject
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        used = _UNIMPLEMENTED.intersection(schema)
        if used:
            raise Unsupported(", ".join(sorted(used)))
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "type" in schema:
            checks.append(_type(schema["type"]))
        if "enum" in schema:
            enum = list(schema["enum"])
            checks.append(lambda v: any(equal(v, e) for e in enum))
        if "const" in schema:
            const = schema["const"]
            checks.append(lambda v: equal(v, const))
        if isinstance(schema.get("pattern"), str) and not _compiles(schema["pattern"]):
            self.inexact += 1
        checks += _string(schema) + _number(schema) + _sizes(schema)
        checks += self._object(schema) + self._array(schema) + self._combinators(schema)
        return _all(checks)

    def _object(self, schema: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        required = schema.get("required")
        if required:
            names = list(required)
            out.append(lambda v: not isinstance(v, dict) or all(n in v for n in names))
        props = {k: self.compile(s) for k, s in (schema.get("properties") or {}).items()}
        extra = schema.get("additionalProperties", True)
        rest = None if extra is True else self.compile(extra)
        if props or rest is not None:
            def object_check(v: Any) -> bool:
                if not isinstance(v, dict):
                    return True
                for key, item in v.items():
                    check = props.get(key)
                    if check is None:
                        if rest is not None and (key not in props) and not rest(item):
                            return False
                    elif not check(item):
                        return False
                return True
            out.append(object_check)
        if "propertyNames" in schema:
            names_check = self.compile(schema["propertyNames"])
            out.append(lambda v: not isinstance(v, dict) or all(names_check(k) for k in v))
        return out

    def _array(self, schema: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        items = schema.get("items", True)
        if isinstance(items, list):
            raise Unsupported("items as a list")
        if items is not True:
            each = self.compile(items)
            out.append(lambda v: not isinstance(v, list) or all(each(i) for i in v))
        if schema.get("uniqueItems"):
            out.append(lambda v: not isinstance(v, list) or bool(uniq(v)))
        return out

    def _combinators(self, schema: dict[str, Any]) -> list[Check]:
        out: list[Check] = []
        if "allOf" in schema:
            out.append(_all([self.compile(s) for s in schema["allOf"]]))
        if "anyOf" in schema:
            anyof = [self.compile(s) for s in schema["anyOf"]]
            out.append(lambda v: any(c(v) for c in anyof))
        if "oneOf" in schema:
            self.branching += 1
            oneof = [self.compile(s) for s in schema["oneOf"]]
            out.append(lambda v: sum(1 for c in oneof if c(v)) == 1)
        if "not" in schema:
            self.branching += 1
            negated = self.compile(schema["not"])
            out.append(lambda v: not negated(v))
        if "if" in schema:  # jsonschema: "then" when "if" holds, else "else" (each optional)
            self.branching += 1
            condition = self.compile(schema["if"])
            then = self.compile(schema["then"]) if "then" in schema else _accept
            otherwise = self.compile(schema["else"]) if "else" in schema else _accept
            out.append(lambda v: then(v) if condition(v) else otherwise(v))
        if "dependentSchemas" in schema:  # each sub-schema applies when its property is present
            dependent = [(name, self.compile(sub)) for name, sub in schema["dependentSchemas"].items()]
            out.append(lambda v: not isinstance(v, dict) or all(check(v) for name, check in dependent if name in v))
        return out


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _accept
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(c(v) for c in checks)


def _type(spec: Any) -> Check:
    names = [spec] if isinstance(spec, str) else list(spec)
    try:
        tests = [_TYPES[n] for n in names]
    except (KeyError, TypeError) as exc:
        raise Unsupported(f"type {spec!r}") from exc
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(t(v) for t in tests)


def _string(schema: dict[str, Any]) -> list[Check]:
    out: list[Check] = []
    if "minLength" in schema:
        low = schema["minLength"]
        out.append(lambda v: not isinstance(v, str) or len(v) >= low)
    if "maxLength" in schema:
        high = schema["maxLength"]
        out.append(lambda v: not isinstance(v, str) or len(v) <= high)
    if "pattern" in schema:
        out.append(_pattern(schema["pattern"]))
    return out


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _pattern(pattern: str) -> Check:
    try:
        search = re.compile(pattern).search
    except (re.error, TypeError):  # jsonschema raises on such a value: let it decide
        return lambda v: not isinstance(v, str)
    return lambda v: not isinstance(v, str) or search(v) is not None


def _bound(key: str, bound: Any) -> Check:
    if key == "minimum":
        return lambda v: not _is_number(v) or v >= bound
    if key == "maximum":
        return lambda v: not _is_number(v) or v <= bound
    if key == "exclusiveMinimum":
        return lambda v: not _is_number(v) or v > bound
    return lambda v: not _is_number(v) or v < bound


def _number(schema: dict[str, Any]) -> list[Check]:
    out: list[Check] = []
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key in schema:
            bound = schema[key]
            if not _is_number(bound):
                raise Unsupported(f"{key} {bound!r}")
            out.append(_bound(key, bound))
    return out


def _size(kind: type[list[Any] | dict[str, Any]], bound: int, low: bool) -> Check:
    if low:
        return lambda v: not isinstance(v, kind) or len(v) >= bound
    return lambda v: not isinstance(v, kind) or len(v) <= bound


def _sizes(schema: dict[str, Any]) -> list[Check]:
    specs: tuple[tuple[str, type[list[Any] | dict[str, Any]], bool], ...] = (
        ("minItems", list, True), ("maxItems", list, False),
        ("minProperties", dict, True), ("maxProperties", dict, False),
    )
    return [_size(kind, schema[key], low) for key, kind, low in specs if key in schema]
