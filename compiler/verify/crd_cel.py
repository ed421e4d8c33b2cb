"""Evaluation of CRD ``x-kubernetes-validations`` (CEL) rules.

Each rule is compiled once into a :class:`CelRule` whose ``status`` is one of

* ``evaluated``: compiled; :func:`evaluate` checks it against a value;
* ``transition``: refers to ``oldSelf``. The API server evaluates such rules only
  on update, never on create, so they do not apply to a manifest;
* ``unsupported``: cel-python cannot parse it, or it calls a function this
  module does not provide. These must be reported by callers, never passed
  silently.

The reference is cel-python's interpreter: it implements the CEL standard library and macros
(``has``, ``all``, ``exists``, ``exists_one``, ``map``, ``filter``), and :mod:`.cel_ext` adds the
Kubernetes CEL extension functions that CRDs use (strings: ``split``, ``lowerAscii``,
``substring``...; regex: ``find``, ``findAll``; lists: ``isSorted``, ``sum``...). A rule is first
run as the Python function :mod:`.cel_py` compiled it to; only a ``true`` from it is taken, and
anything else (false, an error, a value it refuses) is decided by the interpreter, with its exact
message. A rule's facts and program are kept in the user cache (:mod:`.cel_meta`), so a run whose
rules all pass that way never imports cel-python. Without cel-python every rule is ``unsupported``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from . import cel_meta, cel_py, schema_cache
from .cel_ext import _extensions, known_functions

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
    #: The only fields of ``self`` that the rule (and its messageExpression) read, when every use
    #: of ``self`` is ``self.<field>``; None when the rule may read all of ``self``.
    self_fields: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    #: True when the rule is exactly ``self.all(v, body)`` with ``body`` not reading ``self``: it
    #: passes for a list (or map) iff it passes for each one-element list (or one-key map).
    per_element: bool = field(default=False, compare=False, repr=False)
    #: The rule as a Python function on JSON values (:mod:`.cel_py`), or None.
    fast: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
    message_expression: str = field(default="", compare=False, repr=False)
    #: cel-python's programs of the rule and its messageExpression, built when first needed.
    programs: list[Any] = field(default_factory=list, compare=False, repr=False)

    @property
    def failure_message(self) -> str:
        """The message reported when the rule evaluates to false."""
        return self.message or f"failed rule: {self.rule}"


@cache
def _env() -> Any:
    """One shared cel-python environment (building its parser is slow: see :func:`_parser`)."""
    import celpy
    from celpy.celparser import CELParser

    if CELParser.CEL_PARSER is None:
        CELParser.CEL_PARSER = _parser()
    return celpy.Environment()


def _parser() -> Any:
    """cel-python's own Lark parser (same grammar and options), with Lark's grammar-analysis
    cache in the user's cache directory: 0.3 s of every run becomes 0.02 s. The cache file is
    keyed by the grammar, the options and the Lark version (Lark checks all three on load);
    None or an unwritable directory just means no cache."""
    import celpy
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
    return schema_cache.cache_dir()  # one definition of the user cache for every verify cache


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


RuleKey = tuple[str, str, bool]


def rule_key(spec: dict[str, Any]) -> RuleKey:
    """What a rule's facts and program depend on: its text, messageExpression, optionalOldSelf."""
    return str(spec.get("rule", "")), str(spec.get("messageExpression") or ""), bool(spec.get("optionalOldSelf"))


#: Rules whose facts and program a kind's bundle (:mod:`.cel_bundle`) provided, by :func:`rule_key`.
PRIMED: dict[RuleKey, tuple[cel_meta.RuleMeta, Any]] = {}
#: The facts of every rule compiled in this process that no bundle provided (what bundles save).
COMPILED: dict[RuleKey, cel_meta.RuleMeta] = {}


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

    def ready(self) -> bool:
        """Compiled already (reached by a value)."""
        return self._rule is not None

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
    import pickle  # only here: a process whose rules all come from cel-py/ entries or bundles never loads it

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

    import celpy
    import lark

    grammar = (Path(celpy.__file__).parent / "cel.lark").read_bytes()
    return f"{hashlib.sha256(grammar).hexdigest()}-{version('cel-python')}-{lark.__version__}-TranspilerTree"


@cache
def _compile_rule(text: str, message: str, field_path: str, message_expression: str, optional_old_self: bool) -> CelRule:
    key = (text, message_expression, optional_old_self)
    meta, code = PRIMED.get(key, (None, None))
    if meta is None:  # not in a bundle: this rule's own entry, else derived (and stored)
        path = cel_meta.entry_path(cache_dir(), text, message_expression, optional_old_self)
        meta = cel_meta.load(path)
        if meta is None:
            meta = _derive(text, message_expression, optional_old_self)
            cel_meta.store(path, meta)
        COMPILED[key] = meta
    fast = None
    if meta.source is not None:
        try:
            fast = cel_py.function(code if code is not None else cel_py.compile_program(meta.source))
        except Exception:  # noqa: BLE001 - not a program after all: the interpreter alone
            fast = None
    return CelRule(text, message, field_path, meta.status, meta.reason, meta.self_fields, meta.per_element, fast,
                   message_expression)


def _derive(text: str, message_expression: str, optional_old_self: bool) -> cel_meta.RuleMeta:
    """A rule's facts from its parse tree (cel-python's parser: imported now)."""
    try:
        import celpy  # noqa: F401
    except ImportError:  # pragma: no cover - exercised only without cel-python
        return cel_meta.RuleMeta(UNSUPPORTED, "cel-python (celpy) is not installed")
    env = _env()
    try:
        ast = _parse(env, text)
    except Exception as exc:  # CELParseError and lark errors
        return cel_meta.RuleMeta(UNSUPPORTED, f"cel-python cannot parse the rule: {exc}")
    calls, free = cel_meta.names(ast)
    if "oldSelf" in free or optional_old_self:
        return cel_meta.RuleMeta(TRANSITION, "transition rule (oldSelf): update-only")
    unknown = sorted(calls - known_functions())
    if unknown:
        return cel_meta.RuleMeta(UNSUPPORTED, f"unsupported function(s): {', '.join(unknown)}")
    other = sorted(free - {"self"})
    if other:
        return cel_meta.RuleMeta(UNSUPPORTED, f"unknown variable(s): {', '.join(other)}")
    reads = cel_meta.self_fields(ast)
    if message_expression:
        try:
            more = cel_meta.self_fields(_parse(env, message_expression))
            reads = None if reads is None or more is None else tuple(sorted({*reads, *more}))
        except Exception:  # noqa: BLE001, S110 - the static message is used (see _programs)
            pass
    return cel_meta.RuleMeta(EVALUATED, "", reads, cel_meta.is_self_all(ast), cel_py.to_python(ast))


def _programs(rule: CelRule) -> list[Any]:
    """cel-python's programs of the rule and of its messageExpression (None if that does not
    compile), built on first need: only a rule the fast path does not pass needs them."""
    if not rule.programs:
        env = _env()
        program = env.program(_parse(env, rule.rule), functions=_extensions())
        message_program = None
        if rule.message_expression:
            try:
                message_program = env.program(_parse(env, rule.message_expression), functions=_extensions())
            except Exception:  # noqa: BLE001 - fall back to the static message
                message_program = None
        rule.programs[:] = [program, message_program]
    return rule.programs


@dataclass(frozen=True)
class CelOutcome:
    """Result of evaluating one rule: ``passed`` is None if it could not be evaluated."""

    passed: bool | None
    message: str


_PASSED = CelOutcome(True, "")


def evaluate(rule: CelRule, value: Any) -> CelOutcome:
    """Evaluate ``rule`` with ``self`` bound to ``value`` (plain JSON-like data).

    A false result gives the rule's message; a CEL runtime error (e.g. ``int("x")``)
    fails the rule like the API server does; an internal cel-python limitation
    returns ``passed=None``. A ``true`` from the rule's Python program (:mod:`.cel_py`) is a
    pass; anything else is decided by cel-python's interpreter.
    """
    if rule.status != EVALUATED:
        return CelOutcome(None, rule.reason)
    if rule.fast is not None:
        try:
            if rule.fast(value) is True:
                return _PASSED
        except Exception:  # noqa: BLE001, S110 - refused or failed: the interpreter decides
            pass
    return interpret(rule, value)


def interpret(rule: CelRule, value: Any) -> CelOutcome:
    """cel-python's interpreter: the reference verdict and message."""
    import celpy
    from celpy import celtypes

    program, message_program = _programs(rule)
    activation = {"self": celpy.json_to_cel(value)}
    try:
        result = program.evaluate(activation)
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
        return _PASSED
    return CelOutcome(False, _message(rule, message_program, activation))


def _message(rule: CelRule, message_program: Any, activation: dict[str, Any]) -> str:
    if message_program is not None:
        try:
            text = message_program.evaluate(activation)
            if isinstance(text, str) and text.strip():
                return str(text)
        except Exception:
            pass
    return rule.failure_message
