"""Strict schema validation of built-in Kubernetes kinds with ``kubernetes_validate``.

``kubernetes_validate.validate()`` re-reads and re-parses the 1.4 MB
``_definitions.json`` and rebuilds the validator on every call (~17 ms). This
module reuses the library's bundled JSON schemas and lookup rules but caches:

* per Kubernetes schema version: the parsed, crawled ``referencing`` registry of
  shared definitions;
* per (schema version, kind, apiVersion): the compiled Draft 2020-12 validator
  (or the fact that no schema exists).

The ``-strict`` schema variant is used, so fields that the API does not declare
are errors, as with ``kubectl apply --validate=strict``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from compiler.verify import schema_cache
from compiler.verify.accept import Check, Unsupported, check_source, compile_source, load_check
from compiler.verify.findings import Finding, format_path, object_identity

if TYPE_CHECKING:  # jsonschema and referencing are imported when an object fails its compiled check
    import jsonschema
    import referencing

DEFAULT_KUBERNETES_VERSION = "1.33"

def _schema_root() -> Path:
    """The bundled schemas, found without importing kubernetes_validate (its package imports
    jsonschema, which a build whose objects all pass never needs)."""
    from importlib.util import find_spec

    spec = find_spec("kubernetes_validate")
    where = list(spec.submodule_search_locations or ()) if spec else []
    if where:
        return Path(where[0]) / "kubernetes-json-schema"
    from importlib import resources

    return Path(str(resources.files("kubernetes_validate") / "kubernetes-json-schema"))


_SCHEMA_ROOT = _schema_root()
_DIR_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")


def _minor(version: str) -> tuple[int, int]:
    """Parse ``"1.33"``, ``"v1.33.2"`` into ``(1, 33)``."""
    match = re.match(r"^v?(\d+)\.(\d+)", version.strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {version!r}")
    return int(match.group(1)), int(match.group(2))


def kube_minor(version: str) -> tuple[int, int]:
    """``"1.34"`` -> ``(1, 34)`` (public name of :func:`_minor`)."""
    return _minor(version)


@cache
def available_versions() -> tuple[tuple[int, int], ...]:
    """The (major, minor) versions for which strict schemas are bundled, ascending."""
    found = []
    for entry in _SCHEMA_ROOT.iterdir():
        match = _DIR_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return tuple(sorted(found))


def resolve_schema_dir(version: str) -> Path:
    """Pick the newest bundled strict schema directory not newer than ``version``.

    Mirrors ``kubernetes_validate.validate``; raises ``VersionNotSupportedError``
    for versions newer than the newest bundled (or older than the oldest).
    """
    wanted = _minor(version)
    candidates = [v for v in available_versions() if v <= wanted]
    if not candidates or wanted > available_versions()[-1]:
        from kubernetes_validate.utils import VersionNotSupportedError

        raise VersionNotSupportedError(version=f"{wanted[0]}.{wanted[1]}")
    major, minor = candidates[-1]
    return _SCHEMA_ROOT / f"v{major}.{minor}.0-local-strict"


def schema_file_name(kind: str, api_version: str) -> str:
    """File name kubernetes_validate uses: ``deployment-apps-v1.json``, ``service-v1.json``."""
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api}.json"


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


@cache
def _registry(schema_dir: Path) -> referencing.Registry:
    """Parsed and crawled registry holding ``_definitions.json`` for one version."""
    import referencing
    import referencing.jsonschema

    resource = referencing.Resource.from_contents(
        _definitions_file(schema_dir), default_specification=referencing.jsonschema.DRAFT202012
    )
    return (resource @ referencing.Registry()).crawl()


@cache
def _definitions_file(schema_dir: Path) -> dict[str, Any]:
    """``_definitions.json`` of one version, parsed once per process (jsonschema's registry
    and the compiled checks of :mod:`.accept` share it)."""
    with open(schema_dir / "_definitions.json", encoding="utf-8") as fh:
        return dict(json.load(fh))


@cache
def _definitions_digest(schema_dir: Path) -> str:
    """Identifies ``_definitions.json`` in a cache key without reading its 1.4 MB: its path, size,
    modification time and inode (installing another kubernetes-validate changes them)."""
    path = schema_dir / "_definitions.json"
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _definitions(schema_dir: Path) -> dict[str, Any]:
    return dict(_definitions_file(schema_dir).get("$defs") or {})


def _resolver(schema_dir: Path) -> Callable[[str], Any]:
    """``$ref`` -> schema for the two forms the bundled files use (else :class:`Unsupported`)."""

    defs = _definitions(schema_dir)

    def resolve(ref: str) -> Any:
        for prefix in ("/api/_definitions.json#/$defs/", "#/$defs/"):
            if ref.startswith(prefix) and ref[len(prefix):] in defs:
                return defs[ref[len(prefix):]]
        raise Unsupported(f"$ref {ref}")

    return resolve


@dataclass
class _Entry:
    """A cached lookup result: the kind's schema, or None when no schema matches; ``accepts`` is
    its compiled fast check (:mod:`.accept`), None when the schema needs jsonschema alone.
    jsonschema's validator (and the crawled ``referencing`` registry it needs) is built only for
    an object the fast check refuses."""

    schema: dict[str, Any] | None
    schema_dir: Path | None = None
    accepts: Check | None = None
    _validator: Any = field(default=None, repr=False)

    @property
    def validator(self) -> jsonschema.protocols.Validator:
        if self._validator is None:
            import jsonschema

            assert self.schema is not None and self.schema_dir is not None
            self._validator = jsonschema.Draft202012Validator(self.schema, registry=_registry(self.schema_dir))
        return self._validator


class KubeValidator:
    """Validate built-in Kubernetes objects strictly against one Kubernetes version.

    Instances are cheap; compiled validators are shared through a process-wide
    cache keyed by (schema dir, kind, apiVersion). Thread-safe.
    """

    _cache: ClassVar[dict[tuple[Path, str, str], _Entry]] = {}
    _lock = threading.Lock()

    def __init__(self, version: str = DEFAULT_KUBERNETES_VERSION) -> None:
        self.version = version
        self.schema_dir = resolve_schema_dir(version)

    @property
    def schema_version(self) -> str:
        """The bundled schema version actually used, e.g. ``"1.33"``."""
        match = _DIR_RE.match(self.schema_dir.name)
        assert match is not None
        return f"{match.group(1)}.{match.group(2)}"

    def _entry(self, api_version: str, kind: str) -> _Entry:
        key = (self.schema_dir, kind, api_version)
        entry = self._cache.get(key)
        if entry is not None:
            return entry
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                entry = self._load(api_version, kind)
                self._cache[key] = entry
        return entry

    def _load(self, api_version: str, kind: str) -> _Entry:
        path = self.schema_dir / schema_file_name(kind, api_version)
        if not path.is_file():
            return _Entry(None)
        raw = path.read_bytes()
        schema = json.loads(raw)
        # The file name drops the group's domain (apps.example.com/v1 -> apps-v1),
        # so confirm the exact group/version/kind before calling a kind built-in.
        group, version = _split_api_version(api_version)
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if not any(
            g.get("group", "") == group and g.get("version") == version and g.get("kind") == kind
            for g in gvks
        ):
            return _Entry(None)
        def generate() -> Any:
            try:
                return compile_source(check_source(schema, _resolver(self.schema_dir)))
            except Unsupported:
                return None

        # the check's code is kept in the user cache: a warm run never parses _definitions.json
        parts = ("kube", self.schema_dir.name, kind, api_version, hashlib.sha256(raw).hexdigest(), _definitions_digest(self.schema_dir))
        accepts = schema_cache.cached(parts, generate, lambda code: None if code is None else load_check(code))
        return _Entry(schema, self.schema_dir, accepts)

    def is_builtin(self, obj: dict[str, Any]) -> bool:
        """True if a built-in schema exists for ``obj``'s apiVersion/kind."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            return False
        return self._entry(api_version, kind).schema is not None

    def validate(self, obj: dict[str, Any]) -> list[Finding]:
        """Return every schema violation in ``obj`` (empty list if valid).

        An object without a built-in schema yields one finding saying so; call
        :meth:`is_builtin` first to route custom resources elsewhere.
        """
        kind, name = object_identity(obj)
        api_version = obj.get("apiVersion") if isinstance(obj, dict) else None
        if not isinstance(api_version, str) or not kind:
            return [Finding("", "object has no apiVersion/kind", kind, name)]
        entry = self._entry(api_version, kind)
        if entry.schema is None:
            return [
                Finding(
                    "",
                    f"no built-in Kubernetes {self.schema_version} schema for "
                    f"{api_version} {kind}",
                    kind,
                    name,
                )
            ]
        if entry.accepts is not None and entry.accepts(obj):
            return []  # valid: jsonschema would find nothing (see compiler.verify.accept)
        findings = [
            Finding(format_path(err.absolute_path), _message(err), kind, name)
            for err in entry.validator.iter_errors(obj)
        ]
        return sorted(set(findings))


def _message(err: jsonschema.ValidationError) -> str:
    """Make oneOf/anyOf errors readable by quoting their most relevant sub-error."""
    if err.context:
        import jsonschema

        best = jsonschema.exceptions.best_match(err.context)
        if best is not None:
            return f"{err.message}: {best.message}"
    return err.message
