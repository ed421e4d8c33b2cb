"""What a build stores in the cache and reads back: a profile's result, the fleet's platform.

A profile entry's header holds what every build needs from an unchanged profile -- its name,
source, environments, the planner's warnings, the kinds left unchecked, and ``(path, sha256,
length)`` of every file -- plus the digest of its *fleet inputs* (landings and the objects it
applies to the Argo CD control plane). Section 0 holds those fleet inputs (read only when the
platform has to be recomputed), section 1 the files' bytes (read only for scopes written or
checked with differences). A fleet entry is keyed by the fleet-input digests of every profile of
the build, in order, and holds the platform files the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from ..types import OutputFile
from .codec import CodecError, decode, encode
from .entry import CorruptEntry, Entry, read_section

__all__ = ["ENTRY_KINDS", "entry_files", "fleet_inputs", "fleet_key", "fleet_section", "pack_files", "profile_header", "read_fleet_inputs"]

PROFILE, FLEET = "profile", "fleet"
ENTRY_KINDS = (PROFILE, FLEET)


def fleet_section(landings: Sequence[Any], hub: Sequence[Any]) -> bytes:
    """A profile's fleet inputs as canonical bytes (their sha256 is the profile's fleet digest)."""
    return json.dumps(encode({"landings": tuple(landings), "hub": tuple(hub)}), separators=(",", ":")).encode("utf-8")


def fleet_inputs(data: bytes) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    try:
        value = decode(json.loads(data))
        return tuple(value["landings"]), tuple(value["hub"])
    except (CodecError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CorruptEntry(f"fleet inputs: {exc}") from None


def read_fleet_inputs(entry: Entry) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return fleet_inputs(read_section(entry, 0))


def fleet_key(toolchain: str, profiles: Sequence[tuple[str, str, str]]) -> str:
    """Key of the fleet stage: the toolchain and (name, source, fleet digest) of every profile."""
    h = hashlib.sha256()
    h.update(json.dumps([toolchain, [list(p) for p in profiles]], separators=(",", ":")).encode("utf-8"))
    return h.hexdigest()


def pack_files(files: Sequence[OutputFile]) -> tuple[list[list[Any]], bytes]:
    """``[[path, sha256, length], ...]`` and the concatenated bytes."""
    listing = [[f.path, hashlib.sha256(f.content).hexdigest(), len(f.content)] for f in files]
    return listing, b"".join(f.content for f in files)


def entry_files(entry: Entry, section: int) -> list[OutputFile]:
    """The files of an entry, each checked against the digest its header lists."""
    data = read_section(entry, section)
    out, offset = [], 0
    try:
        for path, digest, length in entry.header["files"]:
            content = data[offset:offset + int(length)]
            offset += int(length)
            if hashlib.sha256(content).hexdigest() != digest:
                raise CorruptEntry(f"{path}: content does not match its digest")
            out.append(OutputFile(str(path), content))
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptEntry(f"file listing: {exc}") from None
    if offset != len(data):
        raise CorruptEntry("file listing does not cover the data")
    return out


def profile_header(display: str, name: str, source: str, envs: Sequence[str], unchecked: Sequence[tuple[str, str]],
                   warnings: Sequence[Any], listing: list[list[Any]], fleet_digest: str) -> dict[str, Any]:
    return {"kind": PROFILE, "display": display, "name": name, "source": source, "envs": list(envs),
            "unchecked": sorted([a, k] for a, k in unchecked), "warnings": encode(tuple(warnings)), "files": listing, "fleet": fleet_digest}
