"""``out/.mcompile/manifest.json``: which files each scope (profile) owns, with their sha256.

The manifest is the writer's record of ownership: a file is regenerated or deleted only if the
manifest says this tool wrote it. Its bytes are canonical (sorted keys, fixed indentation), so
``mcompile check`` can compare it byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path

from .paths import ABSENT, read_state, syntax_problems

__all__ = ["GITIGNORE", "GITIGNORE_NAME", "LOCK_NAME", "MANIFEST_FORMAT", "MANIFEST_NAME", "STATE_DIR", "read_manifest", "render_manifest", "render_manifest_json"]

STATE_DIR = ".mcompile"
MANIFEST_NAME = f"{STATE_DIR}/manifest.json"
LOCK_NAME = f"{STATE_DIR}/lock"
GITIGNORE_NAME = f"{STATE_DIR}/.gitignore"
#: Keeps the transient state out of users' commits (the manifest is meant to be committed).
GITIGNORE = b"# Written by mcompile: transient state, not for version control. Commit manifest.json.\nlock\nstage/\n"
MANIFEST_FORMAT = "mcompile-manifest/v1"
_SHA_RE = re.compile(r"[0-9a-f]{64}")

Scopes = dict[str, dict[str, str]]


_LAST: list[tuple[str, bytes, Scopes, list[str]]] = []  # the last manifest parsed: (name, bytes, scopes, problems)


def read_manifest(root: Path, name: str) -> tuple[Scopes, bytes | None, list[str]]:
    """Parse the manifest: ``(scopes, raw bytes or None, problems)``. A build reads it more than
    once (orphans, then the plan): bytes equal to the last parsed ones are not parsed again, so
    callers must not change the scopes they get."""
    kind, raw = read_state(root / name)
    if raw is None:
        return {}, None, [] if kind == ABSENT else [f"{name}: manifest is a {kind}"]
    if _LAST and _LAST[0][0] == name and _LAST[0][1] == raw:
        return _LAST[0][2], raw, list(_LAST[0][3])
    scopes, problems = _parse(raw, name)
    _LAST[:] = [(name, raw, scopes, list(problems))]
    return scopes, raw, problems


def _parse(raw: bytes, name: str) -> tuple[Scopes, list[str]]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        return {}, [f"{name}: manifest is not valid JSON ({exc}); fix or remove it"]
    scopes = data.get("scopes") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(scopes, dict):
        return {}, [f"{name}: not an {MANIFEST_FORMAT} manifest"]
    problems: list[str] = []
    owners: dict[str, str] = {}
    for scope, entries in scopes.items():
        if not isinstance(entries, dict) or not all(isinstance(d, str) and _SHA_RE.fullmatch(d) for d in entries.values()):
            problems.append(f"{name}: scope {scope!r} must map paths to sha256 hex digests")
            continue
        for path in entries:
            problems += [f"{name}: listed path {path!r} {p}" for p in syntax_problems(path)]
            if path.split("/")[0] == STATE_DIR:
                problems.append(f"{name}: listed path {path!r} is inside {STATE_DIR}/")
            if path in owners:
                problems.append(f"{name}: {path} listed by scopes {owners[path]!r} and {scope!r}")
            owners[path] = scope
    return scopes, problems


def render_manifest(scopes: Mapping[str, Mapping[str, str]]) -> bytes:
    """The canonical bytes: ``json.dumps(sort_keys=True, indent=2, ensure_ascii=False)`` plus a
    newline. Written here line by line (json's indenting encoder is pure Python: 0.36 s for a
    fleet's 105,000 entries); anything but str keys and values goes through json itself."""
    kept = {s: e for s, e in scopes.items() if e}
    if not all(isinstance(s, str) and all(isinstance(p, str) and isinstance(d, str) for p, d in e.items()) for s, e in kept.items()):
        return render_manifest_json(scopes)
    quote = encode_basestring
    lines = ['{', f'  "format": {quote(MANIFEST_FORMAT)},', '  "scopes": {' if kept else '  "scopes": {}']
    for i, scope in enumerate(sorted(kept)):
        lines.append(f"    {quote(scope)}: {{")
        lines.append(",\n".join([f"      {quote(p)}: {quote(d)}" for p, d in sorted(kept[scope].items())]))
        lines.append("    }," if i < len(kept) - 1 else "    }")
    if kept:
        lines.append("  }")
    lines.append("}\n")
    return "\n".join(lines).encode("utf-8")


def render_manifest_json(scopes: Mapping[str, Mapping[str, str]]) -> bytes:
    """The reference for :func:`render_manifest` (its tests compare the two byte for byte)."""
    body = {"format": MANIFEST_FORMAT, "scopes": {s: dict(e) for s, e in scopes.items() if e}}
    return (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
