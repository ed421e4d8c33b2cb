"""One cache entry on disk: a checksummed header and checksummed sections, written atomically.

    mcompile-cache-entry/v1\\n
    <header length>\\n <header JSON> <sha256 of the header, hex>\\n
    <section 0> <section 1> ...                    (lengths and sha256s listed in the header)

The header is small (what a no-op build needs: names, file digests, warnings); the sections --
a profile's fleet inputs, the files' bytes -- are read only when a later stage asks for them,
and each is checked against its digest then. A file whose size is not what the header says (a
truncated or partially copied entry) is refused when the header is read. Entries are written
to a temporary file in the same directory and renamed into place, so a reader sees a whole
entry or none; a crash leaves at most a temporary file (``*.tmp``), which is never read.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAGIC", "CorruptEntry", "Entry", "read_entry", "read_section", "write_entry"]

MAGIC = b"mcompile-cache-entry/v1\n"
_MAX_HEADER = 64 * 1024 * 1024
_FIRST_READ = 32 * 1024  # most headers fit: a no-op build reads little beyond them


class CorruptEntry(ValueError):
    """An entry that is not whole and intact; the caller treats it as absent."""


@dataclass(frozen=True)
class Entry:
    path: Path
    header: dict[str, Any]
    sections: tuple[tuple[int, int, str], ...]  # (offset, length, sha256 hex)


def write_entry(path: Path, header: dict[str, Any], sections: Sequence[bytes]) -> None:
    """Write atomically (temporary file + rename). Raises OSError when the disk refuses."""
    full = {**header, "sections": [[len(s), hashlib.sha256(s).hexdigest()] for s in sections]}
    body = json.dumps(full, sort_keys=True, separators=(",", ":")).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(MAGIC + b"%d\n" % len(body) + body + hashlib.sha256(body).hexdigest().encode() + b"\n")
            fh.writelines(sections)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def read_entry(path: Path) -> Entry | None:
    """The entry's header, checked; None when there is no entry. Raises :class:`CorruptEntry`
    when the file is not a whole, intact entry."""
    try:
        fh = open(path, "rb")  # noqa: SIM115  (closed below; FileNotFoundError is the common miss)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptEntry(f"cannot open: {exc.strerror}") from None
    with fh:
        head = fh.read(_FIRST_READ)
        if not head.startswith(MAGIC):
            raise CorruptEntry("not a cache entry (bad magic)")
        line_end = head.find(b"\n", len(MAGIC))
        try:
            size = int(head[len(MAGIC):line_end])
        except ValueError:
            raise CorruptEntry("bad header length") from None
        if line_end < 0 or not 0 < size <= _MAX_HEADER:
            raise CorruptEntry("bad header length")
        start = line_end + 1
        need = start + size + 65
        if len(head) < need:
            head += fh.read(need - len(head))
        body, digest = head[start:start + size], head[start + size:need]
        if len(digest) != 65 or digest[64:] != b"\n" or hashlib.sha256(body).hexdigest().encode() != digest[:64]:
            raise CorruptEntry("header checksum mismatch (truncated or altered)")
        try:
            header = json.loads(body)
            raw = header["sections"]
            lengths = [(int(n), str(d)) for n, d in raw]
        except (ValueError, KeyError, TypeError):
            raise CorruptEntry("unreadable header") from None
        total = os.fstat(fh.fileno()).st_size
    offset, sections = need, []
    for n, d in lengths:
        sections.append((offset, n, d))
        offset += n
    if offset != total:
        raise CorruptEntry(f"size {total} bytes, expected {offset} (truncated or appended)")
    return Entry(path, header, tuple(sections))


def read_section(entry: Entry, index: int) -> bytes:
    """Section ``index`` of ``entry``, checked against its digest (:class:`CorruptEntry` if not)."""
    offset, length, digest = entry.sections[index]
    try:
        with open(entry.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
    except OSError as exc:
        raise CorruptEntry(f"cannot read: {exc.strerror}") from None
    if len(data) != length or hashlib.sha256(data).hexdigest() != digest:
        raise CorruptEntry("section checksum mismatch (the entry changed after its header was read)")
    return data
