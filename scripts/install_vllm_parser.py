#!/usr/bin/env python3
"""Install the pinned vLLM into ``<repo>/.tools/vllm-venv`` (git-ignored) for the real-parser test.

Only what vLLM needs to build its own argument parser and engine-args class on a CPU:
``torch==2.13.0`` (the version vLLM 0.28.0 pins; pip takes the CPU wheel this machine kind keeps
on disk), ``vllm==<pinned> --no-deps`` and ``scripts/vllm-parser-requirements.txt``. Measured on
this 2-core machine: about 60 s and 2.1 GB; the full ``pip install vllm==0.28.0`` takes 144 s and
5.5 GB and then fails to import on a CPU torch (its torchvision is built for another torch).

Idempotent: a stamp file records what was installed; a re-run with the same inputs does nothing.
Usage: ``python scripts/install_vllm_parser.py [--force]``. Stdlib only.
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
VENV = REPO / ".tools" / "vllm-venv"
REQUIREMENTS = REPO / "scripts" / "vllm-parser-requirements.txt"
#: The engine version the shipped profiles run and compiler/engine/vllm-<version>.yaml describes.
VLLM_VERSION = "0.28.0"
TORCH_VERSION = "2.13.0"


def stamp() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    return f"vllm=={VLLM_VERSION} torch=={TORCH_VERSION} requirements={digest}\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="reinstall even when the stamp matches")
    args = ap.parse_args()
    mark = VENV / "mcompile-stamp"
    if not args.force and mark.is_file() and mark.read_text() == stamp():
        return 0
    if VENV.exists():
        shutil.rmtree(VENV)
    venv.create(VENV, with_pip=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    steps = [
        pip + [f"torch=={TORCH_VERSION}", f"vllm=={VLLM_VERSION}", "--no-deps"],
        pip + ["-r", str(REQUIREMENTS)],
    ]
    for cmd in steps:
        print("install_vllm_parser:", " ".join(cmd[3:]), flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            print("install_vllm_parser: failed", file=sys.stderr)
            return 1
    mark.write_text(stamp())
    return 0


if __name__ == "__main__":
    sys.exit(main())
