"""CEL -> Python: cel-python's parse tree of a rule compiled to the source of a Python function
on plain JSON values, ~100x faster than cel-python's interpreter and with no cel-python at run time.

:func:`to_python` returns the source of ``def rule(v_self): return <expression>`` (run with the
helpers of :mod:`.cel_rt` as globals: :func:`load`), or None for a rule using a construct it does
not cover (doubles, unsigned ints, bytes, maps, ``*``/``/``/``%``, ``duration()``...). The program
returns what cel-python's interpreter returns, or :data:`.cel_rt.ERR`, or raises: only a ``True``
is taken from it (:func:`compiler.verify.crd_cel.evaluate`), anything else goes to the
interpreter. ``tests/verify/test_cel_py.py`` checks, over the shipped and mutated values of every
evaluated rule, that it never passes what the interpreter fails.
"""

from __future__ import annotations

from collections.abc import Callable
from types import CodeType
from typing import Any

from compiler.verify import cel_rt

#: Operators of the grammar's binary nodes -> helpers.
_RELATIONS = {"relation_lt": "lt", "relation_le": "le", "relation_gt": "gt", "relation_ge": "ge",
              "relation_eq": "eq", "relation_ne": "ne", "relation_in": "in_"}
_ADDITIONS = {"addition_add": "add", "addition_sub": "sub"}
_MACROS = {"all": "all_", "exists": "exists", "exists_one": "exists_one", "filter": "filter_", "map": "map_"}


class Unsupported(Exception):
    """The rule uses a construct :func:`to_python` does not compile."""


def to_python(ast: Any) -> str | None:
    """The Python source of the rule's program, or None when a construct is not covered."""
    try:
        body = _Compiler().expr(ast, frozenset({"self"}))
    except (Unsupported, RecursionError, ValueError):
        return None
    return f"def rule(v_self):\n    return {body}\n"


def load(source: str) -> Callable[[Any], Any]:
    """The compiled function of a :func:`to_python` source."""
    return function(compile_program(source))


def compile_program(source: str) -> CodeType:
    """The code of a :func:`to_python` source (what :mod:`.cel_bundle` keeps)."""
    return compile(source, "<cel>", "exec")


def function(code: CodeType) -> Callable[[Any], Any]:
    """The ``rule`` function the code of a :func:`to_python` source defines."""
    if not isinstance(code, CodeType):
        raise TypeError("not compiled code")
    namespace: dict[str, Any] = {name: getattr(cel_rt, name) for name in _HELPERS}
    exec(code, namespace)  # noqa: S102 - our own generated code
    rule = namespace["rule"]
    if not callable(rule):
        raise TypeError("not a rule program")
    return rule  # type: ignore[no-any-return]


_HELPERS = ("ERR", "get", "has", "index", "eq", "ne", "lt", "le", "gt", "ge", "in_", "and_", "or_", "not_",
            "cond", "add", "sub", "neg", "lst", "all_", "exists", "exists_one", "filter_", "map_", "call",
            *cel_rt.METHODS.values(), *cel_rt.FUNCTIONS.values())


def _token(node: Any) -> str:
    return str(node)


class _Compiler:
    """One method per grammar rule (cel-python's ``cel.lark``), each returning a Python expression."""

    def expr(self, tree: Any, names: frozenset[str]) -> str:
        kind = getattr(tree, "data", None)
        method = getattr(self, f"_{kind}", None)
        if method is None:
            raise Unsupported(str(kind))
        return str(method(tree, names))

    def _binary(self, tree: Any, names: frozenset[str], helpers: dict[str, str]) -> str:
        if len(tree.children) == 1:
            return self.expr(tree.children[0], names)
        op, right = tree.children
        if getattr(op, "data", None) not in helpers or len(op.children) != 1:
            raise Unsupported(str(getattr(op, "data", op)))
        left = self.expr(op.children[0], names)
        return f"{helpers[op.data]}({left}, {self.expr(right, names)})"

    def _expr(self, tree: Any, names: frozenset[str]) -> str:
        if len(tree.children) == 1:
            return self.expr(tree.children[0], names)
        test, yes, no = (self.expr(c, names) for c in tree.children)
        return f"(({yes}) if cond({test}) else ({no}))"

    def _conditionalor(self, tree: Any, names: frozenset[str]) -> str:
        if len(tree.children) == 1:
            return self.expr(tree.children[0], names)
        left, right = (self.expr(c, names) for c in tree.children)
        return f"or_({left}, {right})"  # both operands evaluated, as cel-python does

    def _conditionaland(self, tree: Any, names: frozenset[str]) -> str:
        if len(tree.children) == 1:
            return self.expr(tree.children[0], names)
        left, right = (self.expr(c, names) for c in tree.children)
        return f"and_({left}, {right})"

    def _relation(self, tree: Any, names: frozenset[str]) -> str:
        return self._binary(tree, names, _RELATIONS)

    def _addition(self, tree: Any, names: frozenset[str]) -> str:
        return self._binary(tree, names, _ADDITIONS)

    def _multiplication(self, tree: Any, names: frozenset[str]) -> str:
        return self._binary(tree, names, {})

    def _unary(self, tree: Any, names: frozenset[str]) -> str:
        if len(tree.children) == 1:
            return self.expr(tree.children[0], names)
        op, operand = tree.children
        helper = {"unary_not": "not_", "unary_neg": "neg"}.get(getattr(op, "data", ""))
        if helper is None:
            raise Unsupported("unary")
        return f"{helper}({self.expr(operand, names)})"

    def _member(self, tree: Any, names: frozenset[str]) -> str:
        (child,) = tree.children
        return self.expr(child, names)

    _primary = _member
    _paren_expr = _member

    def _member_dot(self, tree: Any, names: frozenset[str]) -> str:
        member, name = tree.children
        return f"get({self.expr(member, names)}, {_token(name)!r})"

    def _member_index(self, tree: Any, names: frozenset[str]) -> str:
        member, key = tree.children
        return f"index({self.expr(member, names)}, {self.expr(key, names)})"

    def _member_dot_arg(self, tree: Any, names: frozenset[str]) -> str:
        member, name, *rest = tree.children
        args = self._args(rest)
        receiver = self.expr(member, names)
        if str(name) in _MACROS:
            var = _bound_name(args[0]) if len(args) == 2 else None
            if var is None:
                raise Unsupported(f"macro {name}")
            body = self.expr(args[1], names | {var})
            return f"{_MACROS[str(name)]}({receiver}, lambda v_{var}: {body})"
        helper = cel_rt.METHODS.get(str(name))
        if helper is None:
            raise Unsupported(f"method {name}")
        return f"call({', '.join([helper, receiver, *(self.expr(a, names) for a in args)])})"

    def _ident_arg(self, tree: Any, names: frozenset[str]) -> str:
        name, *rest = tree.children
        args = self._args(rest)
        if str(name) == "has":
            if len(args) != 1:
                raise Unsupported("has")
            target = _skip_wrappers(args[0])
            if getattr(target, "data", None) != "member_dot":
                raise Unsupported("has() of a non-field")
            member, field = target.children
            return f"has({self.expr(member, names)}, {_token(field)!r})"
        helper = cel_rt.FUNCTIONS.get(str(name))
        if helper is None or len(args) != 1:
            raise Unsupported(f"function {name}")
        return f"call({helper}, {self.expr(args[0], names)})"

    def _ident(self, tree: Any, names: frozenset[str]) -> str:
        name = _token(tree.children[0])
        if name not in names:
            raise Unsupported(f"identifier {name}")
        return f"v_{name}"

    def _list_lit(self, tree: Any, names: frozenset[str]) -> str:
        items = [self.expr(a, names) for a in self._args(tree.children)]
        return f"lst({', '.join(items)})"

    def _literal(self, tree: Any, names: frozenset[str]) -> str:
        (token,) = tree.children
        return repr(_literal_value(token))

    @staticmethod
    def _args(rest: list[Any]) -> list[Any]:
        if not rest:
            return []
        (exprlist,) = rest
        if getattr(exprlist, "data", None) != "exprlist":
            raise Unsupported("arguments")
        return list(exprlist.children)


def _literal_value(token: Any) -> Any:
    """A literal's value, decoded by cel-python's own code (strings: escapes, raw strings)."""
    kind = getattr(token, "type", None)
    if kind == "BOOL_LIT":
        return str(token) == "true"
    if kind == "INT_LIT":
        from celpy import celtypes

        value = int(celtypes.IntType(token.value))
        if not cel_rt.INT64[0] <= value <= cel_rt.INT64[1]:
            raise Unsupported("int literal")
        return value
    if kind in ("STRING_LIT", "MLSTRING_LIT"):
        from celpy.evaluation import celstr

        return str(celstr(token))
    raise Unsupported(f"literal {kind}")


_WRAPPERS = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication",
                       "unary", "member", "primary"})


def _skip_wrappers(tree: Any) -> Any:
    while getattr(tree, "data", None) in _WRAPPERS and len(tree.children) == 1:
        tree = tree.children[0]
    return tree


def _bound_name(tree: Any) -> str | None:
    """The variable of a macro (``v`` in ``x.all(v, ...)``), or None if it is not a plain name."""
    node = _skip_wrappers(tree)
    if getattr(node, "data", None) == "ident":
        return _token(node.children[0])
    return None
