"""Run by the interpreter of ``.tools/vllm-venv`` (the pinned vLLM), not by the test process.

stdin: JSON ``{"cases": [{"id": str, "argv": [str, ...]}], "flags": bool}``; ``argv`` is what
follows ``vllm serve`` (model first). stdout: JSON ``{"results": [{"id", "ok", "leftover",
"error"}], "flags": {"value": [...], "switch": [...]}}`` on the last line, after ``MCOMPILE-RESULT``. Parses exactly as ``vllm serve`` does:
vLLM's own ``make_arg_parser(FlexibleArgumentParser())``, then ``AsyncEngineArgs.from_cli_args``.
"""

from __future__ import annotations

import os

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")

from parser_io import serve
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.openai.cli_args import make_arg_parser
from vllm.utils.argparse_utils import FlexibleArgumentParser


def parse(argv: list[str]) -> dict[str, object]:
    if argv and not argv[0].startswith("-"):  # `vllm serve MODEL ...`: the positional model_tag
        argv = ["--model", argv[0], *argv[1:]]
    parser = make_arg_parser(FlexibleArgumentParser())
    try:
        ns, leftover = parser.parse_known_args(argv)
        AsyncEngineArgs.from_cli_args(ns)
    except SystemExit as e:  # argparse: bad value / choice
        return {"ok": False, "leftover": [], "error": f"argparse exit {e.code}"}
    except Exception as e:  # noqa: BLE001 - any engine-args failure is a finding
        return {"ok": False, "leftover": [], "error": f"{type(e).__name__}: {e}"}
    return {"ok": not leftover, "leftover": leftover, "error": None}


def _parser() -> FlexibleArgumentParser:
    return make_arg_parser(FlexibleArgumentParser())


if __name__ == "__main__":
    serve(parse, _parser)
