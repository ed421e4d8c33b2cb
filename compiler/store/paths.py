"""Path safety and on-disk state for the output writer (``writer.py``) and ``check.py``.

Every path the writer handles is a normalised, relative POSIX path under the output directory.
These functions say why a path is unsafe (syntax, or a parent that is a symlink or a file) and
read what is on disk at a path without following a final symlink or opening a non-file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from .durable import TMP_RE

__all__ = ["ABSENT", "ParentCache", "fingerprint", "parent_problem", "read_state", "sha", "syntax_problems"]

ABSENT = "absent"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: Paths that pass every check below at a glance: segments of ASCII letters, digits, ``.``, ``_``
#: and ``-`` that do not start with ``.`` (so never ``.``, ``..`` or a temp name), <= 255 bytes.
_PLAIN = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}/)*[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")


def syntax_problems(path: object) -> list[str]:
    """Reasons ``path`` is not a normalised, relative POSIX path (empty list when fine)."""
    if isinstance(path, str) and _PLAIN.fullmatch(path):
        return []  # the common case (105,000 paths in a fleet's manifest), without the checks
    if not isinstance(path, str) or not path:
        return ["path must be a non-empty string"]
    segments = path.lstrip("/").split("/")
    checks = [
        ("\0" in path, "contains a NUL byte"),
        ("\\" in path, "contains a backslash"),
        (path.startswith("/"), "is absolute"),
        ("" in segments, "has an empty segment"),
        (any(s in (".", "..") for s in segments), "is not normalised ('.' or '..' segment)"),
        (any(len(s.encode("utf-8", "surrogatepass")) > 255 for s in segments), "has a segment longer than 255 bytes"),
        (bool(TMP_RE.fullmatch(segments[-1])), "file name matches the writer's temporary-file pattern"),
    ]
    return [message for failed, message in checks if failed]


def parent_problem(root: Path, rel: str) -> str | None:
    """Why the parent directories of ``rel`` are unsafe (symlink, not a directory), if they are."""
    current = root
    for depth, segment in enumerate(rel.split("/")[:-1], start=1):
        current = current / segment
        where = "/".join(rel.split("/")[:depth])
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"cannot inspect parent {where}: {exc.strerror}"
        if stat.S_ISLNK(st.st_mode):
            target = os.path.realpath(current)
            if target != str(root) and not target.startswith(str(root) + os.sep):
                return f"escapes the output directory through symlink {where}"
            return f"passes through symlink {where}"
        if not stat.S_ISDIR(st.st_mode):
            return f"parent {where} is not a directory"
    return None


class ParentCache:
    """:func:`parent_problem` for many paths, checking each parent directory once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.known: dict[str, str | None] = {}

    def problem(self, rel: str) -> str | None:
        parent = rel.rpartition("/")[0]
        if parent not in self.known:
            self.known[parent] = parent_problem(self.root, rel)
        return self.known[parent]


def read_state(target: Path) -> tuple[str, bytes | None]:
    """``(kind, content)`` of ``target`` without following a final symlink or opening non-files."""
    try:
        st = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        return ABSENT, None
    if stat.S_ISLNK(st.st_mode):
        return "symlink", None
    if stat.S_ISDIR(st.st_mode):
        return "directory", None
    if not stat.S_ISREG(st.st_mode):
        return "special file", None
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        return "file", fh.read()


def fingerprint(root: Path, rel: str) -> str:
    """``sha256:<hex>`` of a regular file, else its kind (``absent``, ``symlink``, ...)."""
    kind, data = read_state(root / rel)
    return f"sha256:{sha(data)}" if data is not None else kind
