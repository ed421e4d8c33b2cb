"""Every vLLM command line mcompile generates, parsed by the pinned vLLM itself.

``scripts/install_vllm_parser.py`` (run by ``scripts/test``) installs ``vllm==0.28.0`` into
``.tools/vllm-venv``; this test feeds it the ``vllm serve`` arguments of every serving pod (Deployment
pods, LeaderWorkerSet leaders and workers) of every shipped profile and environment, with the
kubelet's ``$(VAR)`` expansion done first, and requires vLLM's parser and ``AsyncEngineArgs`` to
accept them with nothing left over. It also proves the capability table: its flag lists are the
parser's option strings. Marked ``vllm_parser`` (its own CI job; ``-m "not vllm_parser"`` skips it
locally). A missing vLLM install fails, never skips.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from compiler.engine import pinned
from tests.engine.engine_cli import REPO, command_argvs, run_helper
from tests.shipped import compile_tier, shipped_envs, shipped_profiles

pytestmark = pytest.mark.vllm_parser

PYTHON = REPO / ".tools" / "vllm-venv" / "bin" / "python"
HELPER = Path(__file__).with_name("vllm_parse.py")
SHIPPED = {stem: tuple(e for s, e in shipped_envs() if s == stem) for stem in shipped_profiles()}  # every profile in profiles/
#: Variants compiled beside the shipped files: a time-sliced GPU (--gpu-memory-utilization split 4 ways).
VARIANTS = {"small-shared/timeSlicing": ("small-shared", ("serving.gpuSharing={mode: timeSlicing, replicas: 4}",), "prod")}


def run_parser(cases: list[dict[str, Any]], flags: bool = False) -> dict[str, Any]:
    return run_helper(PYTHON, HELPER, "scripts/install_vllm_parser.py", cases, flags)


def serve_argvs(objects: tuple[dict[str, Any], ...]) -> list[tuple[str, list[str]]]:
    """(where, argv after ``vllm serve``) for every pod template that runs vllm serve."""
    return command_argvs(objects, ["vllm", "serve"])


@cache
def shipped_cases() -> tuple[tuple[str, tuple[str, ...]], ...]:
    cases = []
    for tier, envs in SHIPPED.items():
        for env in envs:
            for where, argv in serve_argvs(compile_tier(tier, (), env).objects):
                cases.append((f"{tier}/{env} {where}", tuple(argv)))
    for name, (tier, sets, env) in VARIANTS.items():
        cases += [(f"{name} {where}", tuple(argv)) for where, argv in serve_argvs(compile_tier(tier, sets, env).objects)]
    return tuple(cases)


def test_every_shipped_command_line_parses_on_the_pinned_vllm() -> None:
    cases = shipped_cases()
    ids = {c[0] for c in cases}
    # every tier, both LWS positions of tier3 and the tier3 wide-EP flags are really exercised
    assert {"tier1/prod", "tier2/dev", "tier3/prod"} <= {i.split(" ")[0] for i in ids}
    assert any(i.endswith("worker") for i in ids) and any("--enable-expert-parallel" in a for _, a in cases)
    got = run_parser([{"id": i, "argv": list(a)} for i, a in cases])["results"]
    bad = [r for r in got if not r["ok"]]
    assert not bad, json.dumps(bad, indent=1)
    assert len(got) == len(cases) >= 7


def test_a_flag_the_pinned_version_lacks_fails() -> None:
    """``--use-v2-block-manager`` existed in old vLLM and is gone in 0.28.0: the check must fail
    (the shipped tier2 command line with it appended, as an extraArgs entry would render; the
    planner refuses such a profile before it renders, see tests/verify/test_rules_engine.py)."""
    (where, argv), = serve_argvs(compile_tier("tier2", (), "prod").objects)
    r = run_parser([{"id": where, "argv": [*argv, "--use-v2-block-manager"]}])["results"][0]
    assert r["ok"] is False and r["leftover"] == ["--use-v2-block-manager"]


def test_a_bad_value_fails() -> None:
    r = run_parser([{"id": "bad", "argv": ["m", "--tensor-parallel-size", "eight"]}])["results"][0]
    assert r["ok"] is False and "argparse" in r["error"]


def test_the_capability_table_lists_exactly_the_parsers_flags() -> None:
    flags = run_parser([], flags=True)["flags"]
    row = pinned()
    assert row.version == "0.28.0"
    assert sorted(row.value_flags) == flags["value"]
    assert sorted(row.switch_flags) == flags["switch"]
