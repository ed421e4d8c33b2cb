#!/usr/bin/env python3
"""Install the pinned SGLang into ``<repo>/.tools/sglang-venv`` (git-ignored) for the real-parser test.

Only what SGLang needs to build its own server-args parser on a CPU: ``torch==2.13.0`` (the CPU
wheel this machine kind keeps on disk; sglang 0.5.23 pins 2.14.1, whose CUDA build the parser does
not need), ``sglang==<pinned> --no-deps`` and ``scripts/sglang-parser-requirements.txt`` (triton is
one of them: ``sglang.srt.utils.common`` imports it unconditionally). About 2.3 GB; the full
``pip install sglang==0.5.23`` pulls CUDA kernels (flashinfer, sglang-kernel, deep-gemm, ...) that
neither install nor import on a CPU machine.

Idempotent: a stamp file records what was installed; a re-run with the same inputs does nothing.
Usage: ``python scripts/install_sglang_parser.py [--force]``. Stdlib only.
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
VENV = REPO / ".tools" / "sglang-venv"
REQUIREMENTS = REPO / "scripts" / "sglang-parser-requirements.txt"
#: The engine version compiler/engine/sglang-<version>.yaml describes and the SGLang profiles run.
SGLANG_VERSION = "0.5.23"
TORCH_VERSION = "2.13.0"


def stamp() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    return f"sglang=={SGLANG_VERSION} torch=={TORCH_VERSION} requirements={digest}\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
        pip + [f"torch=={TORCH_VERSION}", f"sglang=={SGLANG_VERSION}", "--no-deps"],
        pip + ["-r", str(REQUIREMENTS)],
    ]
    for cmd in steps:
        print("install_sglang_parser:", " ".join(cmd[3:]), flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            print("install_sglang_parser: failed", file=sys.stderr)
            return 1
    mark.write_text(stamp())
    return 0


if __name__ == "__main__":
    sys.exit(main())
