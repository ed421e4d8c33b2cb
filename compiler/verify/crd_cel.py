"""Evaluation of CRD ``x-kubernetes-validations`` (CEL) rules with cel-python.

Each rule is compiled once into a :class:`CelRule` whose ``status`` is one of

* ``evaluated``: compiled; :func:`evaluate` checks it against a value;
* ``transition``: refers to ``oldSelf``. The API server evaluates such rules only
  on update, never on create, so they do not apply to a manifest;
* ``unsupported``: cel-python cannot parse it, or it calls a function this
  module does not provide. These must be reported by callers, never passed
  silently.

cel-python implements the CEL standard library and macros (``has``, ``all``,
``exists``, ``exists_one``, ``map``, ``filter``). The Kubernetes CEL extension
functions that CRDs use (strings: ``split``, ``lowerAscii``, ``substring``...;
regex: ``find``, ``findAll``; lists: ``isSorted``, ``sum``...) are added here.
Without cel-python installed every rule is ``unsupported``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

try:
    import celpy
    from celpy import celtypes
except ImportError:  # pragma: no cover - exercised only without cel-python
    celpy = None  # type: ignore[assignment]
    celtypes = None  # type: ignore[assignment]

EVALUATED = "evaluated"
TRANSITION = "transition"
UNSUPPORTED = "unsupported"

_MACROS = frozenset({"has", "all", "exists", "exists_one", "map", "filter"})


# --- Kubernetes CEL extension library (subset used by CRDs) -------------------

def _s(value: Any) -> Any:
    return celtypes.StringType(value)


def _find(text: str, pattern: str) -> Any:
    match = re.search(str(pattern), str(text))
    return _s(match.group(0) if match else "")


def _find_all(text: str, pattern: str, limit: int = -1) -> Any:
    found = [m.group(0) for m in re.finditer(str(pattern), str(text))]
    if limit >= 0:
        found = found[: int(limit)]
    return celtypes.ListType([_s(f) for f in found])


def _split(text: str, sep: str, limit: int = -1) -> Any:
    text, sep, limit = str(text), str(sep), int(limit)
    if limit == 0:
        parts: list[str] = []
    elif sep == "":
        parts = list(text)
        if limit > 0 and len(parts) > limit:
            parts = parts[: limit - 1] + ["".join(parts[limit - 1:])]
    else:
        parts = text.split(sep, limit - 1 if limit > 0 else -1)
    return celtypes.ListType([_s(p) for p in parts])


def _replace(text: str, old: str, new: str, count: int = -1) -> Any:
    return _s(str(text).replace(str(old), str(new), int(count)))


def _substring(text: str, start: int, end: int | None = None) -> Any:
    text = str(text)
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        raise ValueError(f"substring({start}, {end}) out of range")
    return _s(text[int(start):stop])


def _index_of(target: Any, item: Any, start: int = 0) -> Any:
    if isinstance(target, str):
        return celtypes.IntType(str(target).find(str(item), int(start)))
    for i, value in enumerate(target):
        if value == item:
            return celtypes.IntType(i)
    return celtypes.IntType(-1)


def _last_index_of(target: Any, item: Any) -> Any:
    if isinstance(target, str):
        return celtypes.IntType(str(target).rfind(str(item)))
    for i in range(len(target) - 1, -1, -1):
        if target[i] == item:
            return celtypes.IntType(i)
    return celtypes.IntType(-1)


def _char_at(text: str, index: int) -> Any:
    text = str(text)
    if int(index) == len(text):
        return _s("")
    return _s(text[int(index)])


def _join(items: Any, sep: str = "") -> Any:
    return _s(str(sep).join(str(i) for i in items))


def _is_sorted(items: Any) -> Any:
    return celtypes.BoolType(all(a <= b for a, b in zip(items, list(items)[1:])))


def _sum(items: Any) -> Any:
    items = list(items)
    total = items[0] if items else celtypes.IntType(0)
    for value in items[1:]:
        total = total + value
    return total


def _extensions() -> dict[str, Any]:
    return {
        "find": _find,
        "findAll": _find_all,
        "split": _split,
        "lowerAscii": lambda s: _s(str(s).lower()),
        "upperAscii": lambda s: _s(str(s).upper()),
        "trim": lambda s: _s(str(s).strip()),
        "replace": _replace,
        "substring": _substring,
        "indexOf": _index_of,
        "lastIndexOf": _last_index_of,
        "charAt": _char_at,
        "join": _join,
        "isSorted": _is_sorted,
        "sum": _sum,
        "dyn": lambda v: v,
    }


def known_functions() -> frozenset[str]:
    """Every function/method name a rule may call and still be evaluated."""
    if celpy is None:
        return frozenset()
    return frozenset(celpy.evaluation.base_functions) | frozenset(_extensions()) | _MACROS


# --- compiling and evaluating rules -------------------------------------------

@dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` entry, compiled (or not) for evaluation."""

    rule: str
    message: str
    field_path: str = ""
    status: str = UNSUPPORTED
    reason: str = ""
    program: Any = field(default=None, compare=False, repr=False)
    message_program: Any = field(default=None, compare=False, repr=False)

    @property
    def failure_message(self) -> str:
        """The message reported when the rule evaluates to false."""
        return self.message or f"failed rule: {self.rule}"


def _names(ast: Any) -> tuple[set[str], set[str]]:
    """Return (called function/method names, free identifiers) of a parsed rule."""
    calls: set[str] = set()
    idents: set[str] = set()
    bound: set[str] = set()
    for tree in ast.iter_subtrees():
        if tree.data == "member_dot_arg":
            name = str(tree.children[1])
            calls.add(name)
            if name in _MACROS and len(tree.children) > 2:
                first = next(iter(tree.children[2].children), None)
                for sub in first.iter_subtrees() if first is not None else ():
                    if sub.data == "ident":
                        bound.add(str(sub.children[0]))
        elif tree.data == "ident_arg":
            calls.add(str(tree.children[0]))
        elif tree.data == "ident":
            idents.add(str(tree.children[0]))
    return calls, idents - bound


@cache
def _env() -> Any:
    """One shared cel-python environment (building its parser is slow)."""
    return celpy.Environment()


def compile_rule(spec: dict[str, Any]) -> CelRule:
    """Compile one ``x-kubernetes-validations`` entry (``rule``, ``message``...)."""
    text = str(spec.get("rule", ""))
    message = str(spec.get("message") or "")
    field_path = str(spec.get("fieldPath") or "")
    base = CelRule(text, message, field_path)
    if celpy is None:
        return _replace_status(base, UNSUPPORTED, "cel-python (celpy) is not installed")
    env = _env()
    try:
        ast = env.compile(text)
    except Exception as exc:  # CELParseError and lark errors
        return _replace_status(base, UNSUPPORTED, f"cel-python cannot parse the rule: {exc}")
    calls, free = _names(ast)
    if "oldSelf" in free or spec.get("optionalOldSelf"):
        return _replace_status(base, TRANSITION, "transition rule (oldSelf): update-only")
    unknown = sorted(calls - known_functions())
    if unknown:
        return _replace_status(base, UNSUPPORTED, f"unsupported function(s): {', '.join(unknown)}")
    other = sorted(free - {"self"})
    if other:
        return _replace_status(base, UNSUPPORTED, f"unknown variable(s): {', '.join(other)}")
    program = env.program(ast, functions=_extensions())
    message_program = None
    if spec.get("messageExpression"):
        try:
            message_program = env.program(env.compile(str(spec["messageExpression"])), functions=_extensions())
        except Exception:  # fall back to the static message
            message_program = None
    return CelRule(text, message, field_path, EVALUATED, "", program, message_program)


def _replace_status(rule: CelRule, status: str, reason: str) -> CelRule:
    return CelRule(rule.rule, rule.message, rule.field_path, status, reason)


@dataclass(frozen=True)
class CelOutcome:
    """Result of evaluating one rule: ``passed`` is None if it could not be evaluated."""

    passed: bool | None
    message: str


def evaluate(rule: CelRule, value: Any) -> CelOutcome:
    """Evaluate ``rule`` with ``self`` bound to ``value`` (plain JSON-like data).

    A false result gives the rule's message; a CEL runtime error (e.g. ``int("x")``)
    fails the rule like the API server does; an internal cel-python limitation
    returns ``passed=None``.
    """
    if rule.status != EVALUATED:
        return CelOutcome(None, rule.reason)
    activation = {"self": celpy.json_to_cel(value)}
    try:
        result = rule.program.evaluate(activation)
    except celpy.CELEvalError as exc:
        result = exc
    except Exception as exc:  # cel-python internal problem, not a verdict
        return CelOutcome(None, f"cel-python failed: {type(exc).__name__}: {exc}")
    if isinstance(result, celpy.CELEvalError):
        text = str(result.args[0]) if result.args else str(result)
        if text.startswith("undeclared reference"):
            return CelOutcome(None, f"cel-python: {text}")
        return CelOutcome(False, f"{rule.failure_message} (rule evaluation error: {text})")
    if not isinstance(result, (bool, celtypes.BoolType)):
        return CelOutcome(False, f"rule did not return a bool: {rule.rule}")
    if bool(result):
        return CelOutcome(True, "")
    return CelOutcome(False, _message(rule, activation))


def _message(rule: CelRule, activation: dict[str, Any]) -> str:
    if rule.message_program is not None:
        try:
            text = rule.message_program.evaluate(activation)
            if isinstance(text, str) and text.strip():
                return str(text)
        except Exception:
            pass
    return rule.failure_message
