"""Run the real ``mcompile`` CLI in-process (fast) or as a subprocess (proves no traceback)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def mcompile(*args: str, cwd: Path | None = None) -> Run:
    """In-process run through the same entry point the console script uses."""
    import os

    from compiler.cli import app, build, completion, crds, diff, explain, main, plan, schema_cmd, validate  # noqa: F401

    old = Path.cwd()
    try:
        if cwd:
            os.chdir(cwd)
        result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    finally:
        os.chdir(old)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def mcompile_proc(*args: str, cwd: Path | None = None) -> Run:
    p = subprocess.run([sys.executable, "-m", "compiler", *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False)
    return Run(p.returncode, p.stdout, p.stderr)
