"""The one installer behind ``install_vllm_parser.py`` and ``install_sglang_parser.py``: a venv
under ``<repo>/.tools/<engine>-venv`` (git-ignored) with ``torch==<torch>`` (the CPU wheel),
``<engine>==<version> --no-deps`` and ``scripts/<engine>-parser-requirements.txt``; just enough
for the engine to build its own argument parser on a CPU, for the real-parser tests.

Idempotent: a stamp file records what was installed; a re-run with the same inputs does nothing.
Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stamp(engine: str, version: str, torch: str) -> str:
    digest = hashlib.sha256((REPO / "scripts" / f"{engine}-parser-requirements.txt").read_bytes()).hexdigest()[:16]
    return f"{engine}=={version} torch=={torch} requirements={digest}\n"


def install(engine: str, version: str, torch: str, description: str) -> int:
    """Parse ``[--force]`` and install ``engine`` unless its stamp already matches."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--force", action="store_true", help="reinstall even when the stamp matches")
    args = ap.parse_args()
    env, name = REPO / ".tools" / f"{engine}-venv", f"install_{engine}_parser"
    mark = env / "mcompile-stamp"
    if not args.force and mark.is_file() and mark.read_text() == stamp(engine, version, torch):
        return 0
    if env.exists():
        shutil.rmtree(env)
    venv.create(env, with_pip=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    steps = [
        pip + [f"torch=={torch}", f"{engine}=={version}", "--no-deps"],
        pip + ["-r", str(REPO / "scripts" / f"{engine}-parser-requirements.txt")],
    ]
    for cmd in steps:
        print(f"{name}:", " ".join(cmd[3:]), flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            print(f"{name}: failed", file=sys.stderr)
            return 1
    mark.write_text(stamp(engine, version, torch))
    return 0
