#!/usr/bin/env python3
"""Install the pinned SGLang into ``<repo>/.tools/sglang-venv`` (git-ignored) for the real-parser test.

Only what SGLang needs to build its own server-args parser on a CPU: ``torch==2.13.0`` (the CPU
wheel this machine kind keeps on disk; sglang 0.5.23 pins 2.14.1, whose CUDA build the parser does
not need), ``sglang==<pinned> --no-deps`` and ``scripts/sglang-parser-requirements.txt`` (triton is
one of them: ``sglang.srt.utils.common`` imports it unconditionally). About 2.3 GB; the full
``pip install sglang==0.5.23`` pulls CUDA kernels (flashinfer, sglang-kernel, deep-gemm, ...) that
neither install nor import on a CPU machine.

Idempotent (the installer is ``scripts/parser_venv.py``, shared with the other engine).
Usage: ``python scripts/install_sglang_parser.py [--force]``. Stdlib only.
"""

from __future__ import annotations

import sys

#: The engine version compiler/engine/sglang-<version>.yaml describes and the SGLang profiles run.
SGLANG_VERSION = "0.5.23"
TORCH_VERSION = "2.13.0"


def main() -> int:
    from parser_venv import install  # scripts/ is on sys.path when this file runs as a script

    return install("sglang", SGLANG_VERSION, TORCH_VERSION, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
