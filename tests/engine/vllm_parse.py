"""Run by the interpreter of ``.tools/vllm-venv`` (the pinned vLLM), not by the test process.

stdin: JSON ``{"cases": [{"id": str, "argv": [str, ...]}], "flags": bool}``; ``argv`` is what
follows ``vllm serve`` (model first). stdout: JSON ``{"results": [{"id", "ok", "leftover",
"error"}], "flags": {"value": [...], "switch": [...]}}`` on the last line, after ``MCOMPILE-RESULT``. Parses exactly as ``vllm serve`` does:
vLLM's own ``make_arg_parser(FlexibleArgumentParser())``, then ``AsyncEngineArgs.from_cli_args``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
MARK = "MCOMPILE-RESULT "

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


def flag_lists() -> dict[str, list[str]]:
    parser = make_arg_parser(FlexibleArgumentParser())
    value, switch = set(), set()
    for action in parser._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                (switch if action.nargs == 0 else value).add(opt)
    return {"value": sorted(value), "switch": sorted(switch)}


def main() -> None:
    req = json.load(sys.stdin)
    out = {"results": [{"id": c["id"], **parse(c["argv"])} for c in req["cases"]]}
    if req.get("flags"):
        out["flags"] = flag_lists()
    sys.stdout.write("\n" + MARK + json.dumps(out) + "\n")  # vLLM logs to stdout too


if __name__ == "__main__":
    main()
