"""What :mod:`.crd_cel` derives from a rule's parse tree (status, reason, the fields of ``self`` it
reads, whether it is a per-element ``self.all``, the Python program of :mod:`.cel_py`), and the
user cache that keeps it across processes and runs (``cel-py/``): a process whose rules are all
cached neither parses a rule nor imports cel-python, Lark or pendulum.

The cache key covers the rule text, its ``messageExpression`` and ``optionalOldSelf``, the
installed cel-python and Lark (path, size and mtime of their grammar and evaluator files) and a
digest of this compiler's own source files. Each entry is JSON behind a SHA-256 of its body,
written to a temporary file and renamed into place; an entry that is missing, truncated, corrupt
or of the wrong shape is ignored and rewritten. ``MCOMPILE_NO_CACHE`` disables it (``cache_dir``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..usercache import library_stamp
from .cel_ext import _MACROS

_CHAIN = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary", "member"})
#: This compiler's sources: a change to any of them gives new cache keys.
_SOURCES = ("cel_meta.py", "cel_py.py", "cel_rt.py", "cel_ext.py", "crd_cel.py", "cel_bundle.py")
_LIBRARIES = (("celpy", ("cel.lark", "evaluation.py", "celtypes.py", "celparser.py", "__init__.py")), ("lark", ("__init__.py",)))


@dataclass(frozen=True)
class RuleMeta:
    """A rule's compiled facts (see :class:`compiler.verify.crd_cel.CelRule`)."""

    status: str
    reason: str = ""
    self_fields: tuple[str, ...] | None = None
    per_element: bool = False
    source: str | None = None  # the :mod:`.cel_py` program

    def to_json(self) -> dict[str, Any]:
        fields = None if self.self_fields is None else list(self.self_fields)
        return {"status": self.status, "reason": self.reason, "self_fields": fields,
                "per_element": self.per_element, "source": self.source}

    @classmethod
    def from_json(cls, data: Any) -> RuleMeta | None:
        if not isinstance(data, dict) or set(data) != {"status", "reason", "self_fields", "per_element", "source"}:
            return None
        fields, source = data["self_fields"], data["source"]
        if not (isinstance(data["status"], str) and isinstance(data["reason"], str) and isinstance(data["per_element"], bool)
                and (fields is None or (isinstance(fields, list) and all(isinstance(f, str) for f in fields)))
                and (source is None or isinstance(source, str))):
            return None
        return cls(data["status"], data["reason"], None if fields is None else tuple(fields), data["per_element"], source)


@cache
def code_key() -> str:
    """Digest of this compiler's sources and of the installed cel-python and Lark."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _SOURCES:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes())
    for module, files in _LIBRARIES:
        digest.update(b"\0" + library_stamp(module, files).encode())
    return digest.hexdigest()


def entry_path(where: Path | None, text: str, message_expression: str, optional_old_self: bool) -> Path | None:
    if where is None:
        return None
    key = hashlib.sha256(f"{code_key()}\0{text}\0{message_expression}\0{optional_old_self}".encode()).hexdigest()
    return where / "cel-py" / f"{key}.json"


def load(path: Path | None) -> RuleMeta | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
        if hashlib.sha256(data[32:]).digest() != data[:32]:
            return None
        return RuleMeta.from_json(json.loads(data[32:]))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def store(path: Path | None, meta: RuleMeta) -> None:
    if path is None:
        return
    body = json.dumps(meta.to_json(), sort_keys=True).encode()
    try:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(hashlib.sha256(body).digest() + body)
        os.replace(tmp, path)
    except OSError:
        pass


# --- facts of a parse tree -------------------------------------------------------------------

def names(ast: Any) -> tuple[set[str], set[str]]:
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


def _single(tree: Any) -> Any:
    """Skip the grammar's one-child wrapper nodes (``expr`` -> ... -> ``member``)."""
    while getattr(tree, "data", None) in _CHAIN and len(tree.children) == 1 and hasattr(tree.children[0], "data"):
        tree = tree.children[0]
    return tree


def is_self_all(ast: Any) -> bool:
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
    _, free = names(args[1])
    return free <= {str(var.children[0].children[0])}


def self_fields(ast: Any) -> tuple[str, ...] | None:
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
    _, free = names(ast)
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
