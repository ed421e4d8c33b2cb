"""Locate and run the external command-line tools mcompile relies on (helm, kubectl).

Search order for a tool binary:

1. ``$MCOMPILE_TOOLS_DIR`` (if set),
2. ``<repo root>/.tools/bin`` (populated by ``python scripts/install_tools.py``),
3. the directories on ``$PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

TOOLS_DIR_ENV = "MCOMPILE_TOOLS_DIR"
INSTALL_HINT = "run `python scripts/install_tools.py` to install helm and kubectl into .tools/bin"

#: Repository root: the parent of the ``compiler`` package directory.
REPO_ROOT = Path(__file__).resolve().parent.parent


class ToolNotFound(FileNotFoundError):
    """A required external tool is not installed anywhere mcompile looks."""

    def __init__(self, name: str, hint: str = INSTALL_HINT) -> None:
        self.name = name
        self.hint = hint
        super().__init__(f"tool {name!r} not found ({hint})")


def _executable(candidate: Path) -> bool:
    return candidate.is_file() and os.access(candidate, os.X_OK)


def search_dirs() -> list[Path]:
    """The project-specific directories searched before ``$PATH``, in order."""
    dirs: list[Path] = []
    env_dir = os.environ.get(TOOLS_DIR_ENV)
    if env_dir:
        dirs.append(Path(env_dir))
    dirs.append(REPO_ROOT / ".tools" / "bin")
    return dirs


def find_tool(name: str) -> Path:
    """Return the path of executable ``name``; raise :class:`ToolNotFound` if absent."""
    for directory in search_dirs():
        candidate = directory / name
        if _executable(candidate):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolNotFound(name)


def run_tool(
    name: str,
    args: Sequence[str],
    *,
    input: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run tool ``name`` with ``args`` (no shell), capturing text stdout/stderr.

    The return code is not checked: callers inspect ``returncode`` themselves.
    """
    binary = find_tool(name)
    return subprocess.run(
        [str(binary), *args],
        input=input,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
