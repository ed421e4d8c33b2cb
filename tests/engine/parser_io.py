"""The protocol of the engine parser helpers (vllm_parse.py, sglang_parse.py), imported by them in
the pinned engine's own venv (the helper's directory is first on its ``sys.path``): the request
on stdin, the result line on stdout, and the flag lists of an argparse parser."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

MARK = "MCOMPILE-RESULT "


def flag_lists(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """The parser's ``--`` option strings: those that take a value, and switches (nargs 0)."""
    value, switch = set(), set()
    for action in parser._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                (switch if action.nargs == 0 else value).add(opt)
    return {"value": sorted(value), "switch": sorted(switch)}


def serve(parse: Callable[[list[str]], dict[str, object]], make_parser: Callable[[], argparse.ArgumentParser]) -> None:
    """Answer one request: ``{"cases": [{"id", "argv"}], "flags": bool}`` on stdin, the results
    (and the flag lists) on the last stdout line after :data:`MARK` (engines log to stdout too)."""
    req = json.load(sys.stdin)
    out: dict[str, object] = {"results": [{"id": c["id"], **parse(c["argv"])} for c in req["cases"]]}
    if req.get("flags"):
        out["flags"] = flag_lists(make_parser())
    sys.stdout.write("\n" + MARK + json.dumps(out) + "\n")
