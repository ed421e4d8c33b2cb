"""Syntax of strings a profile hands to other systems, parsed once for every stage that checks
them (validate, render, verify): KEDA ``scalingModifiers`` formulas (expr-lang) and Amazon
Managed Prometheus workspace URLs."""

from __future__ import annotations

import re

AMP_URL = re.compile(r"^https://aps-workspaces\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?/workspaces/[^/\s]+/?$")


#: expr-lang keywords and builtins KEDA's scalingModifiers formulas may use (not trigger names).
EXPR_WORDS = frozenset({
    "and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "true", "false", "nil", "let", "if", "else",
    "abs", "ceil", "floor", "round", "min", "max", "int", "float", "string", "len", "sum", "mean", "median", "all", "any",
    "none", "one", "filter", "map", "count", "find", "first", "last", "toJSON", "fromJSON", "now", "duration", "date",
    "upper", "lower", "trim", "split", "join", "type", "reduce", "sort", "keys", "values", "get",
})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_IDENT = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)(\s*\()?")


def formula_identifiers(formula: str) -> list[str]:
    """Variable names in an expr-lang formula: no numbers, strings, members, calls or keywords."""
    text = _STRING.sub(" ", formula)
    names = []
    for m in _IDENT.finditer(text):
        name = m.group(1)
        if m.group(2) or name in EXPR_WORDS or name in names:
            continue
        names.append(name)
    return names
