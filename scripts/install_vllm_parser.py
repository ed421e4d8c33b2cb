#!/usr/bin/env python3
"""Install the pinned vLLM into ``<repo>/.tools/vllm-venv`` (git-ignored) for the real-parser test.

Only what vLLM needs to build its own argument parser and engine-args class on a CPU:
``torch==2.13.0`` (the version vLLM 0.28.0 pins; pip takes the CPU wheel this machine kind keeps
on disk), ``vllm==<pinned> --no-deps`` and ``scripts/vllm-parser-requirements.txt``. Measured on
this 2-core machine: about 60 s and 2.1 GB; the full ``pip install vllm==0.28.0`` takes 144 s and
5.5 GB and then fails to import on a CPU torch (its torchvision is built for another torch).

Idempotent (the installer is ``scripts/parser_venv.py``, shared with the other engine).
Usage: ``python scripts/install_vllm_parser.py [--force]``. Stdlib only.
"""

from __future__ import annotations

import sys

#: The engine version the shipped profiles run and compiler/engine/vllm-<version>.yaml describes.
VLLM_VERSION = "0.28.0"
TORCH_VERSION = "2.13.0"


def main() -> int:
    from parser_venv import install  # scripts/ is on sys.path when this file runs as a script

    return install("vllm", VLLM_VERSION, TORCH_VERSION, (__doc__ or "").splitlines()[0])


if __name__ == "__main__":
    sys.exit(main())
