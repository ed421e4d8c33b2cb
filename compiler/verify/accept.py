"""Compiled accept-only checks for Draft 2020-12 schemas: the fast path of schema validation.

``jsonschema`` builds a validator object, an error iterator and a scope per keyword and node
it visits (~10 ms per rendered object), although almost every object it sees is valid. A
schema is compiled here once into Python source, one straight-line function per distinct
schema node, that answers only *is this value valid?* (microseconds). Callers
(:mod:`compiler.verify.crds`, :mod:`compiler.verify.kube`) run the check first and call
``jsonschema`` only when it says no, so every diagnostic still comes from ``jsonschema``, word
for word; the check only has to agree with it on valid vs invalid. The compiled code is kept
across processes and runs by :mod:`compiler.verify.schema_cache`.

It agrees by construction:

* each keyword is implemented as ``jsonschema`` 4's Draft 2020-12 keyword function decides
  validity (same type checker, the same ``equal``/``uniq`` for ``enum``/``const``/``uniqueItems``,
  ``re.search`` for ``pattern``);
* a validation keyword this module does not implement (``patternProperties``, ``contains``,
  ``if``, ``unevaluatedProperties``...) makes :func:`compile_check` raise :class:`Unsupported`:
  the caller keeps ``jsonschema`` alone for that schema; so does a bound or constant that is
  not plain JSON;
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

import builtins
import hashlib
import json
import marshal
import math
import numbers
import re
from collections.abc import Callable
from types import CodeType
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

#: jsonschema's type checker, as expressions on ``v`` (Draft 6+ ``integer``: an int that is not
#: a bool, or an integral float; ``number``: any ``numbers.Number`` that is not a bool).
_TYPES = {
    "object": "isinstance(v, dict)",
    "array": "isinstance(v, list)",
    "string": "isinstance(v, str)",
    "boolean": "isinstance(v, bool)",
    "null": "v is None",
    "integer": "(isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer())",
    "number": "(isinstance(v, _Number) and not isinstance(v, bool))",
}
_NUMBER = "isinstance(v, _Number) and not isinstance(v, bool)"
_BOUNDS = (("minimum", "<"), ("maximum", ">"), ("exclusiveMinimum", "<="), ("exclusiveMaximum", ">="))


def _true(v: Any) -> bool:
    return True


def _false(v: Any) -> bool:
    return False


def _enum(v: Any, members: list[Any]) -> bool:
    for member in members:  # noqa: SIM110 - a plain loop is faster than any() on a generator
        if equal(v, member):
            return True
    return False


def _lazy_search(name: str, pattern: str, namespace: dict[str, Any]) -> Callable[[str], Any]:
    """``re.compile(pattern).search``, compiled on first call (then bound as global ``name`` of
    the generated module: a schema declares many more patterns than one build reaches)."""

    def first(value: str) -> Any:
        search = namespace[name] = re.compile(pattern).search
        return search(value)

    return first


def _namespace() -> dict[str, Any]:
    """The globals a generated module runs with."""
    return {
        "__builtins__": builtins, "equal": equal, "uniq": uniq, "_Number": numbers.Number,
        "_lazy_search": _lazy_search, "_enum": _enum, "_true": _true, "_false": _false,
    }


def compile_check(schema: Any, resolve: Resolve | None = None) -> Check:
    """A function telling whether a value is valid against ``schema`` (Draft 2020-12).

    ``resolve`` maps a ``$ref`` string to its target schema (None: ``$ref`` is unsupported).
    Raises :class:`Unsupported` when the schema needs a keyword not implemented here.

    The compiled code is kept in the user cache (:mod:`.schema_cache`) when the schema is plain
    JSON and ``resolve`` is None or a function whose behaviour its code and closure tell (every
    closed-over value plain JSON, e.g. the document a ``#/...`` reference is looked up in, or a
    class): the key is the schema's JSON, ``resolve``'s bytecode and the JSON of its closure.
    """
    key = _cache_key(schema, resolve)
    if key is None:
        return load_check(compile_source(check_source(schema, resolve)))
    from .schema_cache import cached

    def build() -> CodeType | None:
        try:
            return compile_source(check_source(schema, resolve))
        except Unsupported:
            return None

    check = cached(("check", key), build, lambda code: None if code is None else load_check(code))
    if check is None:
        raise Unsupported("the schema needs jsonschema (see check_source)")
    return check


def _cache_key(schema: Any, resolve: Resolve | None) -> str | None:
    """What ``compile_check(schema, resolve)`` depends on, as a digest (None: not knowable)."""
    try:
        digest = hashlib.sha256(json.dumps(schema, ensure_ascii=False, allow_nan=False).encode())
        if resolve is not None:
            code = getattr(resolve, "__code__", None)
            if code is None or getattr(resolve, "__defaults__", None) or getattr(resolve, "__kwdefaults__", None):
                return None
            digest.update(marshal.dumps(code))
            for cell in getattr(resolve, "__closure__", None) or ():
                value = cell.cell_contents  # a class (an exception to raise) counts by its name
                named = f"{value.__module__}.{value.__qualname__}" if isinstance(value, type) else None
                digest.update(b"\0" + json.dumps(named or value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        return None
    return digest.hexdigest()


def check_source(schema: Any, resolve: Resolve | None = None) -> str:
    """Python source of a module whose ``check`` is the compiled check of ``schema``."""
    gen = _Generator(resolve)
    root = gen.node(schema)
    if gen.inexact and gen.branching:
        raise Unsupported("not/if/oneOf with a pattern Python cannot compile")
    return gen.module(root)


def compile_source(source: str) -> CodeType:
    return compile(source, "<mcompile schema check>", "exec")


def load_module(code: CodeType) -> dict[str, Any]:
    """Run a generated module (this one's or :mod:`.crd_defaults`'s); its globals."""
    if not isinstance(code, CodeType):
        raise TypeError("not compiled code")
    namespace = _namespace()
    exec(code, namespace)  # noqa: S102 - our own generated code (see schema_cache)
    return namespace


def load_check(code: CodeType) -> Check:
    """The ``check`` of a compiled module (see :func:`check_source`)."""
    check = load_module(code)["check"]
    if not callable(check):
        raise TypeError("not a compiled check")
    return check  # type: ignore[no-any-return]


def literal(value: Any) -> str:
    """A Python literal for a JSON value (evaluates to an equal, fresh value), else Unsupported."""
    kind = type(value)
    if kind in (str, int, bool) or value is None:
        return repr(value)
    if kind is float:
        if not math.isfinite(value):
            raise Unsupported(f"constant {value!r}")
        return repr(value)
    if kind is list:
        return "[" + ", ".join(literal(i) for i in value) + "]"
    if kind is dict and all(type(k) is str for k in value):
        return "{" + ", ".join(f"{k!r}: {literal(i)}" for k, i in value.items()) + "}"
    raise Unsupported(f"constant of type {kind.__name__}")


class _Generator:
    """Schema nodes -> functions ``f<n>(v) -> bool``; identical bodies are generated once."""

    def __init__(self, resolve: Resolve | None) -> None:
        self.resolve = resolve
        self.bodies: dict[str, str] = {}  # function body -> name
        self.consts: dict[str, str] = {}  # expression -> name (built once, at load)
        self.patterns: dict[str, str] = {}  # regular expression -> name (compiled on first use)
        self.by_id: dict[int, str] = {}
        self.keep: list[Any] = []  # schemas memoized by id stay alive
        self.refs: dict[str, str] = {}
        self.aliases: list[str] = []
        self.inexact = 0  # patterns compiled as "reject every string" (see the module docstring)
        self.branching = 0  # not / if / oneOf compiled: they need exact sub-checks

    def module(self, root: str) -> str:
        out = [f"def {name}(v):\n{body}\n    return True\n" for body, name in self.bodies.items()]
        out += self.aliases
        out += [f"{name} = {expr}" for expr, name in self.consts.items()]
        out += [f"{name} = _lazy_search({name!r}, {pattern!r}, globals())" for pattern, name in self.patterns.items()]
        return "\n".join([*out, f"check = {root}", ""])

    def const(self, expr: str) -> str:
        name = self.consts.get(expr)
        if name is None:
            name = self.consts[expr] = f"K{len(self.consts)}"
        return name

    def ref(self, target: Any) -> str:
        """One function per ``$ref`` target, generated on first use (targets may be recursive)."""
        known = self.refs.get(target)
        if known is not None:
            return known
        if self.resolve is None or not isinstance(target, str):
            raise Unsupported(f"$ref {target}")
        name = self.refs[target] = f"r{len(self.refs)}"
        self.aliases.append(f"{name} = {self.node(self.resolve(target))}")
        return name

    def node(self, schema: Any) -> str:
        if schema is True:
            return "_true"
        if schema is False:
            return "_false"
        if not isinstance(schema, dict):
            raise Unsupported(f"schema {schema!r}")
        known = self.by_id.get(id(schema))
        if known is not None:
            return known
        lines = self.body(schema)
        if lines:
            body = "\n".join(f"    {line}" for line in lines)
            name = self.bodies.get(body) or self.bodies.setdefault(body, f"f{len(self.bodies)}")
        else:
            name = "_true"
        self.by_id[id(schema)] = name
        self.keep.append(schema)
        return name

    def body(self, schema: dict[str, Any]) -> list[str]:
        used = _UNIMPLEMENTED.intersection(schema)
        if used:
            raise Unsupported(", ".join(sorted(used)))
        out: list[str] = []
        if "$ref" in schema:
            out.append(f"if not {self.ref(schema['$ref'])}(v): return False")
        if "type" in schema:
            out.append(f"if not {_type(schema['type'])}: return False")
        if "enum" in schema:
            members = list(schema["enum"])
            strings = self.const(f"frozenset({literal([m for m in members if isinstance(m, str)])})")
            out.append(f"if not ((v in {strings}) if isinstance(v, str) else _enum(v, {self.const(literal(members))})):")
            out.append("    return False")
        if "const" in schema:
            out.append(f"if not equal(v, {self.const(literal(schema['const']))}): return False")
        out += self._scalars(schema) + self._object(schema) + self._array(schema) + self._combinators(schema)
        return out

    def _scalars(self, schema: dict[str, Any]) -> list[str]:
        out: list[str] = []
        strings = [f"len(v) {op} {_count(schema[key])}" for key, op in (("minLength", "<"), ("maxLength", ">")) if key in schema]
        if "pattern" in schema:
            pattern = schema["pattern"]
            try:
                re.compile(pattern)
                name = self.patterns.setdefault(pattern, f"P{len(self.patterns)}")
                strings.append(f"{name}(v) is None")
            except (re.error, TypeError):  # jsonschema raises on such a value: let it decide
                self.inexact += isinstance(pattern, str)
                strings = ["True"]
        if strings:
            out.append(f"if isinstance(v, str) and ({' or '.join(strings)}): return False")
        bounds = [f"v {op} {_bound(key, schema[key])}" for key, op in _BOUNDS if key in schema]
        if bounds:
            out.append(f"if {_NUMBER} and ({' or '.join(bounds)}): return False")
        for kind, low, high in (("list", "minItems", "maxItems"), ("dict", "minProperties", "maxProperties")):
            sizes = [f"len(v) {op} {_count(schema[key])}" for key, op in ((low, "<"), (high, ">")) if key in schema]
            if sizes:
                out.append(f"if isinstance(v, {kind}) and ({' or '.join(sizes)}): return False")
        return out

    def _object(self, schema: dict[str, Any]) -> list[str]:
        out: list[str] = []
        required = schema.get("required")
        if required:
            missing = " or ".join(f"{literal(n)} not in v" for n in required)
            out.append(f"if isinstance(v, dict) and ({missing}): return False")
        props = {k: self.node(s) for k, s in (schema.get("properties") or {}).items()}
        extra = schema.get("additionalProperties", True)
        rest = None if extra is True else self.node(extra)
        if props:
            table = self.const("{" + ", ".join(f"{literal(k)}: {name}" for k, name in props.items()) + "}")
            out += ["if isinstance(v, dict):", "    for k, x in v.items():", f"        f = {table}.get(k)"]
            if rest is None:
                out.append("        if f is not None and not f(x): return False")
            else:
                out += ["        if f is None:", f"            if not {rest}(x): return False", "        elif not f(x): return False"]
        elif rest is not None:
            out += ["if isinstance(v, dict):", "    for x in v.values():", f"        if not {rest}(x): return False"]
        if "propertyNames" in schema:
            names = self.node(schema["propertyNames"])
            out += ["if isinstance(v, dict):", "    for k in v:", f"        if not {names}(k): return False"]
        return out

    def _array(self, schema: dict[str, Any]) -> list[str]:
        out: list[str] = []
        items = schema.get("items", True)
        if isinstance(items, list):
            raise Unsupported("items as a list")
        if items is not True:
            out += ["if isinstance(v, list):", "    for x in v:", f"        if not {self.node(items)}(x): return False"]
        if schema.get("uniqueItems"):
            out.append("if isinstance(v, list) and not uniq(v): return False")
        return out

    def _combinators(self, schema: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for sub in schema.get("allOf", ()):
            out.append(f"if not {self.node(sub)}(v): return False")
        if "anyOf" in schema:
            anyof = " or ".join(f"{self.node(s)}(v)" for s in schema["anyOf"]) or "False"
            out.append(f"if not ({anyof}): return False")
        if "oneOf" in schema:
            self.branching += 1
            oneof = "".join(f" + {self.node(s)}(v)" for s in schema["oneOf"])
            out.append(f"if (0{oneof}) != 1: return False")
        if "not" in schema:
            self.branching += 1
            out.append(f"if {self.node(schema['not'])}(v): return False")
        if "if" in schema:  # jsonschema: "then" when "if" holds, else "else" (each optional)
            self.branching += 1
            condition = self.node(schema["if"])
            then = self.node(schema["then"]) if "then" in schema else "_true"
            otherwise = self.node(schema["else"]) if "else" in schema else "_true"
            out.append(f"if not ({then}(v) if {condition}(v) else {otherwise}(v)): return False")
        if "dependentSchemas" in schema:  # each sub-schema applies when its property is present
            for name, sub in schema["dependentSchemas"].items():
                out.append(f"if isinstance(v, dict) and {literal(name)} in v and not {self.node(sub)}(v): return False")
        return out


def _type(spec: Any) -> str:
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list) or not all(isinstance(n, str) and n in _TYPES for n in names):
        raise Unsupported(f"type {spec!r}")
    return "(" + (" or ".join(_TYPES[n] for n in names) or "False") + ")"


def _count(value: Any) -> str:
    if type(value) is not int:
        raise Unsupported(f"length {value!r}")
    return repr(value)


def _bound(key: str, value: Any) -> str:
    if type(value) not in (int, float):
        raise Unsupported(f"{key} {value!r}")
    return literal(value)
