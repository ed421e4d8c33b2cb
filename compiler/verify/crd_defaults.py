"""CRD schema ``default`` values, applied by generated code that copies only what changes.

:func:`compiler.verify.crd_schema.apply_defaults` fills defaults in place, so every object was
first deep-copied (``copy_json``), although most objects set the defaulted fields themselves or
have none below most of their nodes. :func:`defaults_source` compiles a structural schema into
one function per node that has a default somewhere below it; the function returns its value
unchanged (the same object) when nothing is defaulted, else a shallow copy with the defaults
and the changed children in it, exactly what ``apply_defaults`` would leave in a copy (the same
keys, in the same order). Unchanged subtrees are shared with the input, so the result must be
treated as read-only (validation and CEL only read it). Default values are written as Python
literals, which build a fresh value on every call. A default that is not plain JSON raises
:class:`~compiler.verify.accept.Unsupported` (the caller keeps ``copy_json`` + ``apply_defaults``).
``tests/verify/test_crd_defaults.py`` compares both on every shipped object and on mutations.
"""

from __future__ import annotations

from typing import Any

from .accept import Unsupported, literal


def defaults_source(root: dict[str, Any]) -> str | None:
    """Source of a module whose ``defaults(value)`` applies ``root``'s defaults (None: ``root``
    declares none)."""
    gen = _Generator()
    name = gen.node(root)
    if name is None:
        return None
    functions = [f"def {fn}(v):\n{body}\n    return v\n" for body, fn in gen.bodies.items()]
    consts = [f"{const} = {expr}" for expr, const in gen.consts.items()]
    return "\n".join([*functions, *consts, f"defaults = {name}", ""])


class _Generator:
    def __init__(self) -> None:
        self.bodies: dict[str, str] = {}
        self.consts: dict[str, str] = {}
        self.by_id: dict[int, str | None] = {}
        self.keep: list[Any] = []

    def node(self, node: Any) -> str | None:
        """Name of the function applying the defaults below ``node`` (None: there are none)."""
        if not isinstance(node, dict):
            raise Unsupported(f"schema node {node!r}")
        if id(node) in self.by_id:
            return self.by_id[id(node)]
        lines = self._object(node) + self._array(node)
        name = None
        if lines:
            body = "\n".join(f"    {line}" for line in lines)
            name = self.bodies.get(body) or self.bodies.setdefault(body, f"d{len(self.bodies)}")
        self.by_id[id(node)] = name
        self.keep.append(node)
        return name

    def _object(self, node: dict[str, Any]) -> list[str]:
        props = node.get("properties") or {}
        steps: list[str] = []
        for key, sub in props.items():
            child = self.node(sub)
            if "default" in sub:
                value = literal(sub["default"])
                steps += [f"if {key!r} not in v:", "    if o is None: o = dict(v)",
                          f"    o[{key!r}] = {f'{child}({value})' if child else value}"]
                if child:
                    steps.append("else:")
            elif child:
                steps.append(f"if {key!r} in v:")
            if child:
                steps += [f"    x = v[{key!r}]", f"    y = {child}(x)", "    if y is not x:",
                          "        if o is None: o = dict(v)", f"        o[{key!r}] = y"]
        extra = node.get("additionalProperties")
        rest = self.node(extra) if isinstance(extra, dict) else None
        if rest:
            names = self.consts.setdefault(f"frozenset({literal(list(props))})", f"K{len(self.consts)}")
            steps += ["for k, x in v.items():", f"    if k not in {names}:", f"        y = {rest}(x)",
                      "        if y is not x:", "            if o is None: o = dict(v)", "            o[k] = y"]
        if not steps:
            return []
        return ["if isinstance(v, dict):", "    o = None", *(f"    {s}" for s in steps), "    return v if o is None else o"]

    def _array(self, node: dict[str, Any]) -> list[str]:
        items = node.get("items")
        each = self.node(items) if isinstance(items, dict) else None
        if each is None:
            return []
        return ["if isinstance(v, list):", "    o = None", "    for i, x in enumerate(v):", f"        y = {each}(x)",
                "        if y is not x:", "            if o is None: o = list(v)", "            o[i] = y",
                "    return v if o is None else o"]
