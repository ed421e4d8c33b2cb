"""Run by the interpreter of ``.tools/sglang-venv`` (the pinned SGLang), not by the test process.

stdin: JSON ``{"cases": [{"id": str, "argv": [str, ...]}], "flags": bool}``; ``argv`` is what
follows ``python3 -m sglang.launch_server``. stdout: JSON ``{"results": [{"id", "ok", "leftover",
"error"}], "flags": {"value": [...], "switch": [...]}}`` on the last line, after ``MCOMPILE-RESULT``.
Parses exactly as ``sglang.launch_server`` does: ``ServerArgs.add_cli_args`` on an
``argparse.ArgumentParser`` (leftovers of ``parse_known_args`` are unknown flags), then
``prepare_server_args`` itself (``parse_args`` + ``ServerArgs.from_cli_args``), which exits on
anything SGLang would refuse at the command line.
"""

from __future__ import annotations

import argparse

from parser_io import serve
from sglang.srt.server_args import ServerArgs, prepare_server_args


def parse(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    try:
        _, leftover = parser.parse_known_args(argv)
        if leftover:
            return {"ok": False, "leftover": leftover, "error": None}
        prepare_server_args(argv)
    except SystemExit as e:  # argparse: bad value / choice
        return {"ok": False, "leftover": [], "error": f"argparse exit {e.code}"}
    except Exception as e:  # noqa: BLE001 - any server-args failure is a finding
        return {"ok": False, "leftover": [], "error": f"{type(e).__name__}: {e}"}
    return {"ok": True, "leftover": [], "error": None}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    return parser


if __name__ == "__main__":
    serve(parse, _parser)
