"""``--format json`` for validate, check and diff: one JSON document on stdout, also on failure
(exit codes unchanged), so scripts and CI never parse the human text."""

from __future__ import annotations

import json
from typing import Any

from ..errors import Diagnostic, InputError
from .failures import Exit
from .term import echo


def diagnostic(d: Diagnostic) -> dict[str, Any]:
    s = d.source
    return {"file": s.file if s else None, "line": s.line if s else None, "column": s.col if s else None,
            "layer": (s.layer or None) if s else None, "path": d.path, "message": d.message, "text": str(d)}


def emit(doc: dict[str, Any]) -> None:
    echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))


def fail(e: InputError, doc: dict[str, Any]) -> None:
    """Print ``doc`` with every error of ``e`` (sorted) and exit 2."""
    emit({**doc, "ok": False, "errors": [diagnostic(d) for d in e.sorted()]})
    raise Exit(2)
