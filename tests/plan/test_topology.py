"""compiler/plan/topology.py: what the planner proposes, refuses and explains."""

from __future__ import annotations

from compiler.engine import pinned
from compiler.plan.topology import Layout, choose, explain, problems
from compiler.profile import Model, Role

MOE = Model("zai-org/GLM-5-FP8", "s3://b/glm/", "glm-5", 744, 40, "fp8", 65536, None)
DENSE = Model("meta-llama/Llama-3.3-70B-Instruct", "s3://b/l/", "l", 70.6, 70.6, "fp8", 32768, None)


def role(tensor: int, pipeline: int = 1, data: int = 1, expert: bool = False) -> Role:
    return Role("decode", tensor, pipeline, data, 1, 2, None, "kv_consumer", expert)


def test_choose_wide_ep_for_moe_and_tp_within_a_node_for_dense() -> None:
    assert choose(MOE, 16, 8) == Layout(1, 1, 16, True)
    assert choose(DENSE, 16, 8) == Layout(8, 1, 2, False)
    assert choose(DENSE, 4, 8) == Layout(4, 1, 1, False)


def test_pp_with_nixl_is_a_problem_and_wide_ep_is_not() -> None:
    found = problems(role(8, pipeline=2), MOE, pinned(), disaggregated=True)
    assert [f for f, _ in found] == ["pipeline"] and "does not support pipeline parallel > 1" in found[0][1]
    assert problems(role(1, data=16, expert=True), MOE, pinned(), disaggregated=True) == []
    assert problems(role(8, pipeline=2), MOE, pinned(), disaggregated=False) == []  # no connector: PP is fine


def test_expert_parallel_needs_moe() -> None:
    assert [f for f, _ in problems(role(4, expert=True), DENSE, pinned(), disaggregated=False)] == ["expert"]


def test_explain_says_what_and_why() -> None:
    text = explain(role(1, data=16, expert=True), MOE, 8, 2, pinned(), disaggregated=True)
    assert text.startswith("TP=1 x PP=1 x DP=16 + EP on 2 nodes x 8 GPUs")
    assert "experts sharded over 16 ranks" in text and "NixlConnector (vLLM 0.28.0) supports DP, EP, not PP" in text
