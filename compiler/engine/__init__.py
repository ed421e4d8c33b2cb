"""The engine capability table: per engine (vLLM, SGLang) and version, which flags exist, what each KV connector
supports (pipeline/data/expert parallel, transport backends and what they need in the image),
default ports and the ``VLLM_*`` variables mcompile sets. Data lives in ``vllm-<version>.yaml``
beside this module (``sglang-<version>.yaml`` for SGLang), each fact with its source; the
real-parser tests prove the flag lists against the pinned vLLM and SGLang themselves.

An image is resolved to a table row by its repository and tag (a known image), or by what the
profile declares (``serving.image.engineVersion`` + ``capabilities``) for any other image. An
image the table does not know, with nothing declared, cannot be checked: that is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .. import datafile

if TYPE_CHECKING:
    from ..profile import Serving

_DIR = Path(__file__).resolve().parent
#: ``serving.engine`` -> display name; the table files are ``<engine>-<version>.yaml``.
ENGINE_NAMES = {"vllm": "vLLM", "sglang": "SGLang"}
#: The stock image repository of each engine (for messages that propose one).
STOCK_IMAGES = {"vllm": "vllm/vllm-openai", "sglang": "lmsysorg/sglang"}


@dataclass(frozen=True)
class Connector:
    """A KV-transfer connector of an engine version and the parallelism it supports."""

    name: str
    pipeline_parallel: bool
    data_parallel: bool
    expert_parallel: bool
    backends: tuple[str, ...]
    needs: tuple[tuple[str, str], ...]  # (backend, image capability it needs)

    def needed(self, backend: str) -> str | None:
        return dict(self.needs).get(backend)


@dataclass(frozen=True)
class KnownImage:
    """An engine image the table knows, with its capabilities."""

    repository: str
    tag: str
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class EngineVersion:
    """What one pinned engine version runs: images, features, load formats, connectors."""

    version: str
    images: tuple[KnownImage, ...]
    features: tuple[tuple[str, tuple[str, ...]], ...]
    load_formats: tuple[str, ...]
    connectors: tuple[Connector, ...]
    ports: tuple[tuple[str, int], ...]
    env: tuple[str, ...]
    value_flags: frozenset[str]
    switch_flags: frozenset[str]
    engine: str = "vllm"
    #: The KV connector / transfer backend prefill/decode disaggregation renders with.
    disagg_connector: str = "NixlConnector"

    @property
    def label(self) -> str:
        """``vLLM 0.28.0`` / ``SGLang 0.5.23``, for messages."""
        return f"{ENGINE_NAMES.get(self.engine, self.engine)} {self.version}"

    @property
    def flags(self) -> frozenset[str]:
        return self.value_flags | self.switch_flags

    def connector(self, name: str) -> Connector | None:
        return next((c for c in self.connectors if c.name == name), None)

    def port(self, name: str) -> int:
        return dict(self.ports)[name]

    def feature_of(self, flag: str) -> str | None:
        return next((f for f, flags in self.features if flag in flags), None)


@dataclass(frozen=True)
class ImageEngine:
    """What an image runs: the table row (None when unknown) and the image's capabilities."""

    engine: EngineVersion | None
    capabilities: frozenset[str]
    known_image: bool  # listed in the table (not only declared by the profile)


def _load(path: Path) -> EngineVersion:
    d = datafile.load(path)
    return EngineVersion(
        str(d["version"]),
        tuple(KnownImage(i["repository"], str(i["tag"]), tuple(i.get("capabilities") or ())) for i in d["images"]),
        tuple((k, tuple(v["flags"])) for k, v in d["features"].items()),
        tuple(d["loadFormats"]),
        tuple(Connector(n, bool(c["pipelineParallel"]), bool(c["dataParallel"]), bool(c["expertParallel"]), tuple(c["backends"]),
                        tuple(sorted((c.get("needs") or {}).items()))) for n, c in d["kvConnectors"].items()),
        tuple(sorted((k, int(v)) for k, v in d["ports"].items())),
        tuple(d["env"]),
        frozenset(d["valueFlags"]),
        frozenset(d["switchFlags"]),
        str(d.get("engine", "vllm")),
        str(d.get("disaggregationConnector", "NixlConnector")),
    )


@lru_cache(maxsize=1)
def _rows() -> dict[tuple[str, str], EngineVersion]:
    rows = [_load(p) for e in ENGINE_NAMES for p in sorted(_DIR.glob(f"{e}-*.yaml"))]
    return {(r.engine, r.version): r for r in rows}


def table(engine: str = "vllm") -> dict[str, EngineVersion]:
    """Every version of one engine in the table, by version string (``0.28.0``)."""
    return {v: r for (e, v), r in _rows().items() if e == engine}


def versions(engine: str = "vllm") -> list[str]:
    return sorted(table(engine), key=lambda v: tuple(int(x) for x in v.split(".")))


def pinned(engine: str = "vllm") -> EngineVersion:
    """The version the shipped profiles and the real-parser test use (the newest in the table)."""
    return table(engine)[versions(engine)[-1]]


def resolve(repository: str, tag: str, declared_version: str | None, declared_capabilities: tuple[str, ...], engine: str = "vllm") -> ImageEngine:
    """The engine an image runs. A declared version wins (a custom image built on it); else the
    known image of that repository and tag; else unknown. Only rows of ``engine`` are considered."""
    rows = table(engine)
    for row in rows.values():
        for img in row.images:
            if img.repository == repository and img.tag == tag:
                if declared_version and declared_version != row.version:
                    break
                return ImageEngine(row, frozenset(img.capabilities) | frozenset(declared_capabilities), True)
    if declared_version:
        return ImageEngine(rows.get(declared_version), frozenset(declared_capabilities), False)
    return ImageEngine(None, frozenset(declared_capabilities), False)


def of_profile(serving: Serving) -> ImageEngine:
    """:func:`resolve` for a profile's ``serving`` (its image and engine)."""
    img = serving.image
    return resolve(img.repository, img.tag, img.engine_version, img.capabilities, serving.engine)
