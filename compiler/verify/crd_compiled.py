"""What validating one (group, version, kind) of a CRD needs, generated once and then kept in the
user cache (:mod:`.schema_cache`): the compiled accept-only check (:mod:`.accept`), the defaults
function (:mod:`.crd_defaults`) and the CEL rule tree; the strict JSON Schema and jsonschema's
validator are built only for a value the check refuses, and the CRD's schema itself is read only
then (or on a cache miss)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compiler.verify import crd_cel
from compiler.verify.accept import Check, Unsupported, check_source, compile_source, load_check, load_module
from compiler.verify.crd_defaults import defaults_source
from compiler.verify.crd_schema import (
    RuleNode,
    apply_defaults,
    build_rule_tree,
    copy_json,
    root_json_schema,
    rule_tree_data,
    rule_tree_from_data,
)

if TYPE_CHECKING:  # imported when a value fails its compiled check (or a schema has none)
    import jsonschema


@dataclass
class _Compiled:
    """Everything needed to validate one (group, version, kind)."""

    api_version: str
    kind: str
    load_root: Callable[[], dict[str, Any]] = field(repr=False)  # the served version's openAPIV3Schema
    rules: RuleNode | None = None
    accepts: Check | None = None  # compiled fast check (compiler.verify.accept), None: jsonschema only
    #: Applies the schema's defaults (compiler.verify.crd_defaults); None: the schema has none;
    #: False: copy_json + apply_defaults (a default that is not plain JSON).
    defaults: Any = None
    cel: Any = field(default=None, repr=False)  # the kind's CelBundle (compiler.verify.cel_bundle), None: no cache
    _schema: dict[str, Any] | None = field(default=None, repr=False)
    _validator: Any = field(default=None, repr=False)
    _root: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def root(self) -> dict[str, Any]:
        if self._root is None:
            self._root = self.load_root()
        return self._root

    @property
    def schema(self) -> dict[str, Any]:
        """The strict JSON Schema, translated on first need (a value refused by ``accepts``)."""
        if self._schema is None:
            self._schema = root_json_schema(self.root, self.api_version, self.kind)
        return self._schema

    @property
    def validator(self) -> jsonschema.Draft202012Validator:
        if self._validator is None:
            import jsonschema

            self._validator = jsonschema.Draft202012Validator(self.schema)
        return self._validator

    def prepare(self, obj: dict[str, Any]) -> Any:
        """``obj`` with the schema's defaults applied, as the API server stores it on create
        (shares unchanged parts with ``obj``: read-only)."""
        if self.defaults is None:
            return obj
        if self.defaults is False:
            value = copy_json(obj)
            apply_defaults(value, self.root)
            return value
        return self.defaults(obj)


def _generate(compiled: _Compiled) -> tuple[Any, Any, Any]:
    """What :func:`_load` makes a :class:`_Compiled` of: the code of its fast check (None:
    unsupported), of its defaults (None: none; False: unsupported) and its rule tree's data."""
    try:
        check: Any = compile_source(check_source(compiled.schema))
    except Unsupported:
        check = None
    try:
        source = defaults_source(compiled.root)
        defaults: Any = None if source is None else compile_source(source)
    except Unsupported:
        defaults = False
    return check, defaults, rule_tree_data(build_rule_tree(compiled.root, lambda rule: rule))


def _load(compiled: _Compiled, data: tuple[Any, Any, Any]) -> None:
    check, defaults, rules = data
    compiled.accepts = None if check is None else load_check(check)
    compiled.defaults = defaults if defaults is None or defaults is False else load_module(defaults)["defaults"]
    if compiled.defaults and not callable(compiled.defaults):
        raise TypeError("not a compiled defaults function")
    compiled.rules = rule_tree_from_data(rules, crd_cel.DeferredRule)  # each rule compiled when first reached

