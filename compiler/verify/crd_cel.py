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
regex: ``find``, ``findAll``; lists: ``isSorted``, ``sum``...) are in :mod:`.cel_ext`.
Without cel-python installed every rule is ``unsupported``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .cel_ext import _MACROS, _extensions, known_functions  # noqa: F401  (known_functions: part of this module's API)

try:
    import celpy
    from celpy import celtypes
except ImportError:  # pragma: no cover - exercised only without cel-python
    celpy = None  # type: ignore[assignment]
    celtypes = None  # type: ignore[assignment]

EVALUATED = "evaluated"
TRANSITION = "transition"
UNSUPPORTED = "unsupported"

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
    #: The only fields of ``self`` that the rule (and its messageExpression) read, when every use
    #: of ``self`` is ``self.<field>``; None when the rule may read all of ``self``.
    self_fields: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    #: True when the rule is exactly ``self.all(v, body)`` with ``body`` not reading ``self``: it
    #: passes for a list (or map) iff it passes for each one-element list (or one-key map).
    per_element: bool = field(default=False, compare=False, repr=False)
    #: The parse tree, for the transpiled program (:func:`_fast_program`).
    ast: Any = field(default=None, compare=False, repr=False)
    #: Use count, then cel-python's transpiled (Python bytecode) program or None (:func:`_fast_program`).
    fast: list[Any] = field(default_factory=list, compare=False, repr=False)

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
    """One shared cel-python environment (building its parser is slow: see :func:`_parser`)."""
    from celpy.celparser import CELParser

    if CELParser.CEL_PARSER is None:
        CELParser.CEL_PARSER = _parser()
    return celpy.Environment()


def _parser() -> Any:
    """cel-python's own Lark parser (same grammar and options), with Lark's grammar-analysis
    cache in the user's cache directory: 0.3 s of every run becomes 0.02 s. The cache file is
    keyed by the grammar, the options and the Lark version (Lark checks all three on load);
    None or an unwritable directory just means no cache."""
    import lark
    from celpy.celparser import CELParser
    from celpy.evaluation import TranspilerTree  # a lark.Tree both runners accept

    grammar = (Path(celpy.__file__).parent / "cel.lark").read_text(encoding="utf-8")
    options: dict[str, Any] = {
        "parser": "lalr", "start": "expr", "debug": True, "g_regex_flags": re.MULTILINE,
        "lexer_callbacks": {"IDENT": CELParser.ambiguous_literals}, "propagate_positions": True,
        "maybe_placeholders": False, "priority": "invert", "tree_class": TranspilerTree,
    }
    where = cache_dir()
    if where is not None:
        key = hashlib.sha256(f"{grammar}\0{lark.__version__}\0TranspilerTree".encode()).hexdigest()[:16]
        try:
            return lark.Lark(grammar, cache=str(where / f"cel-grammar-{key}.lark"), **options)
        except Exception:  # a damaged or unreadable cache file: build without it
            pass
    return lark.Lark(grammar, **options)


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/mcompile`` (``~/.cache/mcompile``), created if need be; None when it
    cannot be (read-only home) or ``MCOMPILE_NO_CACHE`` is set."""
    if os.environ.get("MCOMPILE_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    where = Path(base) / "mcompile"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return where if os.access(where, os.W_OK) else None


def compile_rule(spec: dict[str, Any]) -> CelRule:
    """Compile one ``x-kubernetes-validations`` entry (``rule``, ``message``...).

    Compiled once per process: the same entry (every served version of a CRD repeats its rules,
    and every registry loads the same files) gives the same :class:`CelRule` object, whose
    program is reused for every object it checks. Parse trees are also kept across processes
    and runs (:func:`_parse`)."""
    return _compile_rule(
        str(spec.get("rule", "")), str(spec.get("message") or ""), str(spec.get("fieldPath") or ""),
        str(spec.get("messageExpression") or ""), bool(spec.get("optionalOldSelf")),
    )


class DeferredRule:
    """An ``x-kubernetes-validations`` entry compiled on first use (:meth:`get`).

    A CRD declares rules for every field it has (Karpenter's NodePool: dozens) while an object
    sets a few of them: a registry compiles a rule only when a value reaches its node, so a build
    parses the rules it evaluates, not every rule of every CRD it touches. Attribute access is
    passed to the compiled rule, so a deferred rule reads like a :class:`CelRule`."""

    __slots__ = ("_rule", "spec")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self._rule: CelRule | None = None

    def get(self) -> CelRule:
        if self._rule is None:
            self._rule = compile_rule(self.spec)
        return self._rule

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def compiled(rule: CelRule | DeferredRule) -> CelRule:
    """The :class:`CelRule` of a rule-tree entry (compiling a deferred one now)."""
    return rule.get() if isinstance(rule, DeferredRule) else rule


def _parse(env: Any, text: str) -> Any:
    """``env.compile(text)``: cel-python's parse tree of a rule, kept in the user cache
    (``cel-ast/``) so that a new process (a worker, the next run) does not parse it again (the
    Lark parse is ~1.5 ms per rule, the whole of compiling). The key covers the rule text, the
    CEL grammar and the cel-python and Lark versions; each file carries a SHA-256 of its body,
    and a file that is missing, truncated, corrupt or not a parse tree is ignored and rewritten.
    Parse errors are not cached. Like Lark's grammar cache, the files are pickles in the user's
    own cache directory."""
    from celpy.evaluation import TranspilerTree

    where = cache_dir()
    key = hashlib.sha256(f"{_parser_key()}\0{text}".encode()).hexdigest()
    path = where / "cel-ast" / f"{key}.pickle" if where else None
    if path is not None:
        try:
            data = path.read_bytes()
            if hashlib.sha256(data[32:]).digest() == data[:32]:
                tree = pickle.loads(data[32:])
                if isinstance(tree, TranspilerTree):
                    return tree
        except Exception:  # noqa: BLE001, S110 - unreadable or undecodable: parse again
            pass
    tree = env.compile(text)
    if path is not None:
        try:
            body = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(hashlib.sha256(body).digest() + body)
            os.replace(tmp, path)
        except (OSError, pickle.PicklingError, RecursionError):
            pass
    return tree


@cache
def _parser_key() -> str:
    """What a cached parse tree depends on besides the rule: the grammar and both libraries."""
    from importlib.metadata import version

    import lark

    grammar = (Path(celpy.__file__).parent / "cel.lark").read_bytes()
    return f"{hashlib.sha256(grammar).hexdigest()}-{version('cel-python')}-{lark.__version__}-TranspilerTree"


@cache
def _compile_rule(text: str, message: str, field_path: str, message_expression: str, optional_old_self: bool) -> CelRule:
    spec = {"messageExpression": message_expression, "optionalOldSelf": optional_old_self}
    base = CelRule(text, message, field_path)
    if celpy is None:
        return _replace_status(base, UNSUPPORTED, "cel-python (celpy) is not installed")
    env = _env()
    try:
        ast = _parse(env, text)
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
    message_program, reads = None, _self_fields(ast)
    if spec.get("messageExpression"):
        try:
            message_ast = _parse(env, str(spec["messageExpression"]))
            message_program = env.program(message_ast, functions=_extensions())
            more = _self_fields(message_ast)
            reads = None if reads is None or more is None else tuple(sorted({*reads, *more}))
        except Exception:  # fall back to the static message
            message_program = None
    return CelRule(text, message, field_path, EVALUATED, "", program, message_program, reads, _is_self_all(ast), ast)


_CHAIN = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary", "member"})


def _single(tree: Any) -> Any:
    """Skip the grammar's one-child wrapper nodes (``expr`` -> ... -> ``member``)."""
    while getattr(tree, "data", None) in _CHAIN and len(tree.children) == 1 and hasattr(tree.children[0], "data"):
        tree = tree.children[0]
    return tree


def _is_self_all(ast: Any) -> bool:
    """True for exactly ``self.all(v, body)`` where ``body`` reads nothing but ``v``."""
    call = _single(ast)
    if getattr(call, "data", None) != "member_dot_arg" or len(call.children) != 3 or str(call.children[1]) != "all":
        return False
    if _self_ident(call.children[0]) is None or getattr(call.children[2], "data", None) != "exprlist":
        return False
    args = call.children[2].children
    if len(args) != 2:
        return False
    var = _single(args[0])
    if getattr(var, "data", None) != "primary" or len(var.children) != 1 or getattr(var.children[0], "data", None) != "ident":
        return False
    _, free = _names(args[1])
    return free <= {str(var.children[0].children[0])}


def _self_fields(ast: Any) -> tuple[str, ...] | None:
    """The field names ``f`` when every ``self`` in the expression is the operand of ``self.f``
    (``has(self.f)`` included); None when ``self`` is used whole, indexed, or rebound by a macro.

    Such a rule's outcome depends only on those fields, which lets verification reuse it for
    values that differ elsewhere (a NodePool's name does not matter to ``self.limits`` rules).
    """
    covered: set[int] = set()
    fields: set[str] = set()
    for tree in ast.iter_subtrees():
        if tree.data == "member_dot" and len(tree.children) == 2:
            ident = _self_ident(tree.children[0])
            if ident is not None:
                covered.add(id(ident))
                fields.add(str(tree.children[1]))
    uses = [t for t in ast.iter_subtrees() if t.data == "ident" and str(t.children[0]) == "self"]
    _, free = _names(ast)
    if "self" not in free and uses:  # bound by a macro: not the value's self
        return None
    if any(id(t) not in covered for t in uses):
        return None
    return tuple(sorted(fields))


def _self_ident(node: Any) -> Any:
    """The ``ident self`` tree when ``node`` is exactly ``member(primary(ident self))``."""
    for expected in ("member", "primary"):
        if getattr(node, "data", None) != expected or len(node.children) != 1:
            return None
        node = node.children[0]
    if getattr(node, "data", None) == "ident" and str(node.children[0]) == "self":
        return node
    return None


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
    fast = _fast_program(rule)
    if fast is not None and _fast_passes(fast, activation):
        return CelOutcome(True, "")
    outcome = _interpret(rule, activation)
    if fast is not None and outcome.passed:  # the transpiled program refused a pass: stop using it
        rule.fast[1] = None
    return outcome


def _interpret(rule: CelRule, activation: dict[str, Any]) -> CelOutcome:
    """cel-python's interpreter: the reference verdict and message."""
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


def _fast_passes(program: Any, activation: dict[str, Any]) -> bool:
    """True when cel-python's transpiled program (~4x faster than its interpreter) returns true.

    Only a pass is taken from it: a false result, an error or anything else is decided by the
    interpreter (the reference, with its exact messages), as cel-python's transpiler is stricter
    on error paths. ``tests/verify/test_crd_cel.py`` checks over the shipped and mutated values of
    every evaluated rule that the transpiled program never passes what the interpreter fails.
    A rule whose transpiled program refuses a value the interpreter passes stops using it."""
    try:
        result = program.evaluate(activation)
    except Exception:  # noqa: BLE001 - any problem: the interpreter decides
        return False
    return isinstance(result, (bool, celtypes.BoolType)) and bool(result)


#: Evaluations of a rule before it is transpiled: transpiling (~4 ms) only pays off for rules
#: that run on many distinct values (a fleet); a single build interprets most rules once or twice.
TRANSPILE_AFTER = 3


def _fast_program(rule: CelRule, *, now: bool = False) -> Any:
    """The rule's transpiled program once the rule is hot (``now``: at once); None before that
    or when cel-python cannot transpile it. ``rule.fast`` holds ``[uses]`` then ``[uses, program]``."""
    slot = rule.fast
    if not slot:
        slot.append(0)
    if len(slot) == 1:
        slot[0] += 1
        if slot[0] < TRANSPILE_AFTER and not now:
            return None
        try:
            # the transpiler only adds attributes to the tree, which the interpreter ignores
            slot.append(_compiled_env().program(rule.ast, functions=_extensions()))
        except Exception:  # noqa: BLE001 - not transpilable: the interpreter alone
            slot.append(None)
    return slot[1]


@cache
def _compiled_env() -> Any:
    """A cel-python environment whose programs are transpiled to Python (parse trees from the
    shared parser of :func:`_env`). Its failures are logged at ERROR by cel-python and then
    handled here (the interpreter decides): that logger is silenced so they never reach stderr."""
    _env()
    logging.getLogger("celpy.Transpiler").disabled = True
    return celpy.Environment(runner_class=celpy.CompiledRunner)


def _message(rule: CelRule, activation: dict[str, Any]) -> str:
    if rule.message_program is not None:
        try:
            text = rule.message_program.evaluate(activation)
            if isinstance(text, str) and text.strip():
                return str(text)
        except Exception:
            pass
    return rule.failure_message
