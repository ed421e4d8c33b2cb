"""CRD files for :class:`compiler.verify.crds.CrdRegistry`: listing, cheap lookups, parsing.

A file's text is searched for ``group:`` / ``kind:`` values (:meth:`_SourceFile.may_define`, a
cheap superset test) before it is parsed. Parsing goes through two user-cache layers: the YAML
documents as JSON (:func:`_documents`, keyed by the text's sha256), and the file's CRD index
(position, group, kind, served versions; kept by :mod:`.schema_cache` with the compiled checks),
so a build whose checks all come from the cache reads a CRD's schema only when a value is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.verify import crd_cel


@dataclass
class _CrdDef:
    """One CustomResourceDefinition: its served versions' schemas and where it came from."""

    group: str
    kind: str
    source: Path
    versions: tuple[str, ...]  # served, in the CRD's order
    digest: str = ""  # sha256 of the source file's text ("": not known, nothing cached)
    load: Callable[[], dict[str, dict[str, Any]]] | None = field(default=None, repr=False)
    _schemas: dict[str, dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def schemas(self) -> dict[str, dict[str, Any]]:
        """Served version -> ``openAPIV3Schema``, read from the file on first need (a build whose
        checks all come from the user cache never parses the CRD itself)."""
        if self._schemas is None:
            assert self.load is not None
            self._schemas = self.load()
        return self._schemas


#: Every value written after ``group:`` / ``kind:`` (quoted or not) in a text. The value is read
#: by a lookahead, not consumed, so a ``group:`` ending it (``apigroup: x``) is found too.
_MENTIONS = {key: re.compile(rf"""{key}["']?\s*:\s*["']?(?=([\w.-]+))""") for key in ("group", "kind")}
_TOKEN = re.compile(r"[\w.-]+")


@dataclass
class _SourceFile:
    path: Path
    parsed: bool = False
    text: str | None = field(default=None, repr=False)
    mentions: dict[str, frozenset[str]] | None = field(default=None, repr=False)
    digest: str | None = None  # sha256 of the text, when known (from :func:`file_facts`)

    def read(self) -> str:
        if self.text is None:
            self.text = self.path.read_text(encoding="utf-8")
        return self.text

    def may_define(self, group: str, kind: str) -> bool:
        """Cheap superset test: does the text mention both ``group:`` and ``kind:``, each value
        followed by neither a word character, ``.`` nor ``-``? The values so written are
        collected once per file; a value of other characters is searched for directly."""
        if self.mentions is None:
            self.mentions = _mentioned(self.read())
        return all(
            value in self.mentions[key] if _TOKEN.fullmatch(value) else self._mentions(key, value)
            for key, value in (("group", group), ("kind", kind))
        )

    def _mentions(self, key: str, value: str) -> bool:
        return re.search(rf"""{key}["']?\s*:\s*["']?{re.escape(value)}["']?(?![\w.-])""", self.read()) is not None


def _mentioned(text: str) -> dict[str, frozenset[str]]:
    """The ``group:`` and ``kind:`` values written in a text (see :meth:`_SourceFile.may_define`)."""
    return {key: frozenset(pattern.findall(text)) for key, pattern in _MENTIONS.items()}


#: What :func:`file_facts` computes from a text: a change here must give other memo entries.
_FACTS = "crd-file-facts/v1 sha256 " + " ".join(p.pattern for p in _MENTIONS.values())


def file_facts(files: Sequence[_SourceFile]) -> bool:
    """Give every file its text's sha256 and its ``group:``/``kind:`` values without reading it:
    memoized in the user cache by the stat of every file (:mod:`compiler.cache.memo`, as the
    build cache's digest of these same CRD trees is), so a warm run reads no CRD text to find
    which file defines a kind, nor to key its cached index and checks. On a miss every file is
    read once. False (nothing set) when the user cache is off: the files are then read lazily."""
    from compiler.cache.memo import Fingerprint, memoized, user_cache_dir

    if user_cache_dir() is None or not files:
        return False
    name = "\0".join([_FACTS, *(str(f.path) for f in files)])  # one entry per list of files
    fingerprint = Fingerprint()
    for f in files:
        fingerprint.add(str(f.path), f.path)

    def compute() -> str:
        facts = []
        for f in files:
            text = f.path.read_text(encoding="utf-8")
            found = _mentioned(text)
            facts.append([hashlib.sha256(text.encode()).hexdigest(), sorted(found["group"]), sorted(found["kind"])])
        return json.dumps(facts)

    try:
        data = json.loads(memoized(name, fingerprint, compute))
        facts = [(str(d), frozenset(map(str, g)), frozenset(map(str, k))) for d, g, k in data]
    except (OSError, UnicodeDecodeError, ValueError, TypeError):  # unreadable now: found lazily, as without the memo
        return False
    if len(facts) != len(files):
        return False
    for f, (digest, groups, kinds) in zip(files, facts, strict=True):
        f.digest, f.mentions = digest, {"group": groups, "kind": kinds}
    return True


def _iter_yaml_files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
        yield from sorted(found, key=lambda p: p.relative_to(path).parts)
    elif path.is_file():
        yield path
    else:
        raise FileNotFoundError(f"CRD path not found: {path}")


def _documents(text: str, digest: str | None = None) -> list[Any]:
    """The YAML documents of a CRD file, through a JSON copy in the user cache keyed by the
    text's sha256: CRDs are large (LeaderWorkerSet: 650 kB, 0.25 s to parse as YAML, 7 ms as
    JSON) and the same on every run. Only data that JSON represents exactly is cached."""
    where = crd_cel.cache_dir()
    if where is None:
        return _yaml_documents(text)
    path = where / "parsed-crds" / f"{digest or hashlib.sha256(text.encode()).hexdigest()}.json"
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        pass
    docs = _yaml_documents(text)
    try:
        data = json.dumps(docs, ensure_ascii=False, allow_nan=False)
        if json.loads(data) == docs:  # e.g. int keys or timestamps would not survive: not cached
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(data, encoding="utf-8")
            os.replace(tmp, path)
    except (TypeError, ValueError, OSError):
        pass
    return docs


def _yaml_documents(text: str) -> list[Any]:
    """PyYAML's documents of a text, with libyaml when PyYAML has it. PyYAML is imported here, not
    with the module: a build whose CRD indexes and checks come from the user cache parses no CRD."""
    import yaml

    return list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def _yaml_error() -> type[Exception]:
    import yaml

    return yaml.YAMLError  # type: ignore[no-any-return]


def _parse_text(path: Path, text: str, digest: str) -> dict[int, _CrdDef]:
    """The CRDs of one file by position (YAML errors as ValueError naming the file)."""
    try:
        docs = _documents(text, digest)
    except _yaml_error() as exc:
        raise ValueError(f"cannot parse CRD file {path}: {exc}") from exc
    return {position: crd for position, doc in enumerate(_crd_documents(docs)) if (crd := _crd_def(doc, path, digest)) is not None}


def _index_entries(data: Any) -> list[tuple[int, str, str, list[str]]]:
    """A file's cached CRD index, checked for shape (else it counts as a damaged entry)."""
    out = []
    for position, group, kind, versions in data:
        if not (type(position) is int and isinstance(group, str) and isinstance(kind, str)
                and isinstance(versions, list) and all(isinstance(v, str) for v in versions)):
            raise TypeError("not a CRD index")
        out.append((position, group, kind, versions))
    return out


def _crd_documents(docs: Sequence[Any]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "CustomResourceDefinition":
            yield doc
        elif doc.get("kind") in ("List", "CustomResourceDefinitionList"):
            yield from _crd_documents(doc.get("items") or [])


def _crd_def(doc: dict[str, Any], source: Path, digest: str = "") -> _CrdDef | None:
    spec = doc.get("spec") or {}
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        return None
    legacy = (spec.get("validation") or {}).get("openAPIV3Schema")  # apiextensions v1beta1
    schemas: dict[str, dict[str, Any]] = {}
    versions = spec.get("versions") or ([{"name": spec["version"]}] if spec.get("version") else [])
    for version in versions:
        if version.get("served", True) is False:
            continue
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or legacy
        schemas[str(version["name"])] = schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return _CrdDef(group, kind, source, tuple(schemas), digest, _schemas=schemas)


