"""Every SGLang command line mcompile generates, parsed by the pinned SGLang itself.

``scripts/install_sglang_parser.py`` (run by ``scripts/test``) installs ``sglang==0.5.23`` into
``.tools/sglang-venv``; this test feeds it the ``python3 -m sglang.launch_server`` arguments of every
serving pod (Deployment pods, LeaderWorkerSet leaders and workers) of every shipped SGLang profile
(and variants reaching the other branches of compiler/render/sglang.py), with the kubelet's
``$(VAR)`` expansion done first, and requires SGLang's own parser and ``prepare_server_args`` to
accept them with nothing left over. It also proves the capability table: its flag lists are the
parser's option strings. Marked ``sglang_parser`` (``-m "not sglang_parser"`` skips it locally). A
missing SGLang install fails, never skips.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler.engine import pinned
from compiler.render.sglang import LAUNCH
from tests.engine.engine_cli import REPO, command_argvs, run_helper
from tests.shipped import compile_tier

pytestmark = pytest.mark.sglang_parser

PYTHON = REPO / ".tools" / "sglang-venv" / "bin" / "python"
HELPER = Path(__file__).with_name("sglang_parse.py")
#: (profile, --set values, env): the shipped SGLang profiles and variants that reach the other
#: branches (prefix cache off, online FP8, dense DP, PP, a single-pod role with EP).
CASES = [
    ("tier2-sglang", (), "prod"),
    ("tier3-sglang", (), "prod"),
    ("tier2-sglang", ("serving.prefixCaching=false", "serving.kvCacheDtype=auto"), "prod"),
    ("tier2-sglang", ("serving.parallelism.data=2", "capacity.pools[baseline].instanceTypes=[g6e.48xlarge]"), "prod"),
]


def run_parser(cases: list[dict[str, Any]], flags: bool = False) -> dict[str, Any]:
    return run_helper(PYTHON, HELPER, "scripts/install_sglang_parser.py", cases, flags)


def launch_argvs(objects: tuple[dict[str, Any], ...]) -> list[tuple[str, list[str]]]:
    """(where, argv after ``python3 -m sglang.launch_server``) for every pod template that runs it."""
    return command_argvs(objects, LAUNCH)


@cache
def shipped_cases() -> tuple[tuple[str, tuple[str, ...]], ...]:
    cases = []
    for tier, sets, env in CASES:
        for where, argv in launch_argvs(compile_tier(tier, sets, env).objects):
            cases.append((f"{tier}{list(sets) if sets else ''}/{env} {where}", tuple(argv)))
    return tuple(cases)


def test_every_generated_sglang_command_line_parses_on_the_pinned_sglang() -> None:
    cases = shipped_cases()
    ids = {c[0] for c in cases}
    # both shipped profiles, both LWS positions and the P/D and wide-EP flags are really exercised
    assert {"tier2-sglang/prod", "tier3-sglang/prod"} <= {i.split(" ")[0] for i in ids}
    assert any(i.endswith("worker") for i in ids)
    assert any("--attn-dp-size" in a and "--disaggregation-mode" in a and "--dist-init-addr" in a for _, a in cases)
    assert any("--dp-size" in a for _, a in cases) and any("--disable-radix-cache" in a for _, a in cases)
    got = run_parser([{"id": i, "argv": list(a)} for i, a in cases])["results"]
    bad = [r for r in got if not r["ok"]]
    assert not bad, json.dumps(bad, indent=1)
    assert len(got) == len(cases) >= 7


def test_a_flag_the_pinned_version_lacks_fails() -> None:
    """``--enable-ep-moe`` was SGLang's expert-parallel switch before ``--ep-size`` and is gone in
    0.5.23: the check must fail (the planner refuses such an extraArgs entry before it renders,
    see tests/plan/test_sglang_checks.py)."""
    (where, argv), = launch_argvs(compile_tier("tier2-sglang", (), "prod").objects)
    r = run_parser([{"id": where, "argv": [*argv, "--enable-ep-moe"]}])["results"][0]
    assert r["ok"] is False and r["leftover"] == ["--enable-ep-moe"]


def test_a_bad_value_fails() -> None:
    r = run_parser([{"id": "bad", "argv": ["--model-path", "m", "--tp-size", "eight"]}])["results"][0]
    assert r["ok"] is False and "argparse" in r["error"]


def test_the_capability_table_lists_exactly_the_parsers_flags() -> None:
    flags = run_parser([], flags=True)["flags"]
    row = pinned("sglang")
    assert row.version == "0.5.23"
    assert sorted(row.value_flags) == flags["value"]
    assert sorted(row.switch_flags) == flags["switch"]
