"""The rules' shared readers (compiler/verify/rules_base.py, rules_pods.py): objects by kind in
render order, and engine flags read like argparse reads them."""

from __future__ import annotations

from typing import Any

from compiler.verify.rules_base import RuleInput, objects_of
from compiler.verify.rules_pods import flag


def _objs() -> tuple[dict[str, Any], ...]:
    return (
        {"kind": "Service", "metadata": {"name": "a"}},
        {"kind": "Deployment", "metadata": {"name": "b"}},
        "not an object",  # type: ignore[return-value]
        {"kind": "LeaderWorkerSet", "metadata": {"name": "c"}},
        {"kind": "Deployment", "metadata": {"name": "d"}},
        {"metadata": {"name": "no kind"}},
    )


def test_objects_of_keeps_render_order_across_kinds() -> None:
    inp = RuleInput(_objs(), None, None)  # type: ignore[arg-type]
    names = [o["metadata"]["name"] for o in objects_of(inp, "Deployment", "LeaderWorkerSet")]
    assert names == ["b", "c", "d"]
    assert [o["metadata"]["name"] for o in objects_of(inp, "LeaderWorkerSet", "Deployment", "Deployment")] == ["b", "c", "d"]
    assert [o["metadata"]["name"] for o in objects_of(inp, "Service")] == ["a"]
    assert objects_of(inp, "Pod") == []
    assert objects_of(RuleInput((), None, None), "Pod") == []  # type: ignore[arg-type]


def test_the_last_occurrence_of_a_flag_wins_in_either_form() -> None:
    c = {"command": ["vllm", "serve", "m", "--tensor-parallel-size", "4"], "args": ["--tensor-parallel-size=8", "-tp", "2"]}
    assert flag(c, "--tensor-parallel-size", "-tp") == "2"
    c["args"] = ["-tp", "2", "--tensor-parallel-size=8"]
    assert flag(c, "--tensor-parallel-size", "-tp") == "8"
    assert flag({"args": ["--tensor-parallel-size"]}, "--tensor-parallel-size") is None  # no value follows
    assert flag({"args": ["--tensor-parallel-size-extra=3"]}, "--tensor-parallel-size") is None
