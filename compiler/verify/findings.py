"""The common result type of every manifest validator in :mod:`compiler.verify`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Finding:
    """One problem found in one Kubernetes object.

    ``path`` is JSON-path-like (``spec.template.spec.requirements[0].key``; empty for
    the object root), ``kind`` and ``name`` identify the object (``metadata.name``).
    """

    path: str
    message: str
    kind: str
    name: str

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.kind}/{self.name}{where}: {self.message}"


def format_path(parts: Iterable[Any]) -> str:
    """Render a sequence of keys/indices as ``a.b[0].c``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


def object_identity(obj: Any) -> tuple[str, str]:
    """Return ``(kind, metadata.name)`` of ``obj``, with ``""`` for whatever is missing."""
    if not isinstance(obj, dict):
        return "", ""
    kind = obj.get("kind")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return (kind if isinstance(kind, str) else ""), (name if isinstance(name, str) else "")
