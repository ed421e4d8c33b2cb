"""``keda-formula-syntax``: parse each ScaledObject's ``scalingModifiers.formula`` for real.

KEDA evaluates the formula with expr-lang (github.com/expr-lang/expr) and rejects the object when
it does not compile, or when the result is not a number. The profile schema admits only
``A-Za-z0-9_ +*/().-``, so the language reachable from a profile is arithmetic; this is a
recursive-descent parser for exactly that part of expr-lang's grammar:

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/" | "%") unary)*
    unary   := ("-" | "+") unary | power
    power   := primary ("**" unary)?
    primary := NUMBER | NAME | FUNC "(" expr ")" | "(" expr ")"

``FUNC`` is one of expr-lang's numeric builtins that take one argument (``abs ceil floor round int float max min``);
a word that is neither a builtin nor an identifier, two operands in a row, an operator without an
operand, unbalanced parentheses and numbers such as ``1.2.3`` are errors, reported with the
position (names themselves are checked by ``keda-formula-names``).
"""

from __future__ import annotations

import re

from .rules_base import RuleInput, Violation, objects_of, ref

FUNCS = frozenset({"abs", "ceil", "floor", "round", "int", "float", "max", "min"})
KEYWORDS = frozenset({"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith", "nil", "true", "false", "let", "if", "else"})
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:_\d+)*(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>\*\*|[-+*/%()])|(?P<bad>\S))")


class FormulaError(ValueError):
    pass


def tokens(text: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:  # trailing whitespace
            break
        kind = m.lastgroup or "bad"
        value = m.group(kind)
        if kind == "bad":
            raise FormulaError(f"unexpected {value!r} at column {m.start(kind) + 1}")
        if kind == "num" and m.end() < len(text) and (text[m.end()] == "." or text[m.end()].isalpha() or text[m.end()] == "_"):
            raise FormulaError(f"malformed number at column {m.start(kind) + 1}")
        out.append((kind, value, m.start(kind) + 1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise FormulaError("unexpected end of formula" + (f" (expected {value!r})" if value else ""))
        if value is not None and tok[1] != value:
            raise FormulaError(f"expected {value!r} at column {tok[2]}, found {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> None:
        if not self.toks:
            raise FormulaError("empty formula")
        self.expr()
        tok = self.peek()
        if tok is not None:
            raise FormulaError(f"unexpected {tok[1]!r} at column {tok[2]} (an operator is missing before it)")

    def expr(self) -> None:
        self.term()
        while (tok := self.peek()) and tok[1] in ("+", "-"):
            self.take()
            self.term()

    def term(self) -> None:
        self.unary()
        while (tok := self.peek()) and tok[1] in ("*", "/", "%"):
            self.take()
            self.unary()

    def unary(self) -> None:
        tok = self.peek()
        if tok and tok[1] in ("+", "-"):
            self.take()
            self.unary()
            return
        self.primary()
        if (tok := self.peek()) and tok[1] == "**":
            self.take()
            self.unary()

    def primary(self) -> None:
        kind, value, col = self.take()
        if kind == "num":
            return
        if kind == "name":
            nxt = self.peek()
            if nxt and nxt[1] == "(":
                if value not in FUNCS:
                    raise FormulaError(f"{value}() at column {col} is not a numeric builtin ({', '.join(sorted(FUNCS))})")
                self.take("(")
                self.expr()
                self.take(")")
                return
            if value in KEYWORDS or value in FUNCS:
                raise FormulaError(f"{value!r} at column {col} is not a number or a trigger name")
            return
        if value == "(":
            self.expr()
            self.take(")")
            return
        raise FormulaError(f"expected a number, a trigger name or '(' at column {col}, found {value!r}")


def parse(text: str) -> None:
    """Raise :class:`FormulaError` when ``text`` is not a well-formed arithmetic formula."""
    _Parser(text).parse()


def keda_formula_syntax(inp: RuleInput) -> list[Violation]:
    """``keda-formula-syntax``: KEDA compiles the formula when the ScaledObject is applied; one
    that does not parse is rejected by the admission webhook and nothing scales."""
    out = []
    for so in objects_of(inp, "ScaledObject"):
        formula = (((so.get("spec") or {}).get("advanced") or {}).get("scalingModifiers") or {}).get("formula")
        if formula is None:
            continue
        try:
            parse(str(formula))
        except FormulaError as e:
            out.append(Violation("keda-formula-syntax", ref(so), f"formula {formula!r} does not parse: {e}", ("autoscaling", "formula")))
    return out
