"""engine-image, engine-flags and extra-args-conflict: failing fixtures per class, shipped shapes included."""

from __future__ import annotations

import pytest

from compiler.errors import InputError
from compiler.verify.rules import check_rules
from tests.shipped import compile_tier


def violations(tier: str, *sets: str, env: str = "prod") -> list:
    c = compile_tier(tier, tuple(sets), env)
    return check_rules(c.objects, c.profile, c.plan)


def rules_of(vs: list) -> set[str]:
    return {v.rule for v in vs}


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_shipped_profiles_pass_the_engine_rules(tier: str) -> None:
    assert not rules_of(violations(tier)) & {"engine-image", "engine-flags", "extra-args-conflict"}


@pytest.mark.parametrize("tier,sets", [
    ("tier1", ("serving.image.tag=v0.6.0",)),  # an old tag of the known image
    ("tier2", ("serving.image.repository=example.com/vllm",)),  # a mirror nobody declared
    ("tier3", ("serving.image.engineVersion=0.11.1",)),  # a declared version outside the table
])
def test_an_image_outside_the_table_is_refused(tier: str, sets: tuple[str, ...]) -> None:
    [v] = [v for v in violations(tier, *sets) if v.rule == "engine-image"]
    assert v.profile_path[:2] == ("serving", "image") and "cannot be checked" in v.message


def test_a_declared_version_makes_a_mirror_checkable() -> None:
    vs = violations("tier2", "serving.image.repository=example.com/vllm", "serving.image.engineVersion=0.28.0")
    assert not rules_of(vs) & {"engine-image", "engine-flags"}


@pytest.mark.parametrize("tier,flag", [("tier1", "--use-v2-block-manager"), ("tier2", "--swap-space=4"), ("tier3", "--disable-log-requests")])
def test_flags_the_version_lacks(tier: str, flag: str) -> None:
    vs = [v for v in violations(tier, f"serving.extraArgs=[{flag}]") if v.rule == "engine-flags"]
    assert vs and all(v.profile_path == ("serving", "extraArgs") for v in vs)
    assert flag.split("=")[0] in vs[0].message and "0.28.0" in vs[0].message


@pytest.mark.parametrize("sets", [
    ("serving.image.repository=vllm/vllm-openai", "serving.image.tag=v0.28.0", "serving.image.capabilities=[]"),  # stock image
    ("serving.image.capabilities=[]",),  # a custom image that does not declare libfabric
])
def test_libfabric_needs_an_image_that_carries_it(sets: tuple[str, ...]) -> None:
    vs = [v for v in violations("tier3", *sets) if v.rule == "engine-flags"]
    assert {v.obj for v in vs} == {"LeaderWorkerSet/glm-5-prefill", "LeaderWorkerSet/glm-5-decode"}
    assert all("needs libfabric" in v.message and v.profile_path == ("serving", "image") for v in vs)


def test_ucx_needs_no_image_capability() -> None:
    vs = violations("tier3", "serving.image.capabilities=[]", "serving.disaggregation.backend=UCX")
    assert "needs libfabric" not in " ".join(v.message for v in vs)


@pytest.mark.parametrize("role", ["prefill", "decode"])
def test_pipeline_parallel_with_nixl_is_refused_by_the_planner_with_a_proposal(role: str) -> None:
    """The shipped tier3 shape before this change (TP=8 x PP=2 over NIXL)."""
    with pytest.raises(InputError) as e:
        compile_tier("tier3", (f"serving.disaggregation.{role}.tensor=8", f"serving.disaggregation.{role}.pipeline=2",
                               f"serving.disaggregation.{role}.data=1", f"serving.disaggregation.{role}.expert=false"))
    msg = str(e.value)
    assert f"disaggregation.{role}.pipeline" in msg and "does not support pipeline parallel > 1" in msg
    assert "TP=1 x PP=1 x DP=16 + EP" in msg


def test_expert_parallel_on_a_dense_model_is_refused() -> None:
    with pytest.raises(InputError) as e:
        compile_tier("tier2", ("serving.parallelism.expert=true",))
    assert "needs a mixture-of-experts model" in str(e.value)


@pytest.mark.parametrize("tier,args", [
    ("tier1", "[--port, '9000']"),
    ("tier2", "[--max-model-len=4096]"),
    ("tier3", "[--load-format, safetensors]"),
    ("tier2", "[--tensor-parallel-size, '8']"),
])
def test_extra_args_that_contradict_generated_arguments(tier: str, args: str) -> None:
    vs = [v for v in violations(tier, f"serving.extraArgs={args}") if v.rule == "extra-args-conflict"]
    assert vs and vs[0].profile_path == ("serving", "extraArgs") and "set the profile field" in vs[0].message


def test_extra_args_restating_the_same_value_are_fine() -> None:
    assert "extra-args-conflict" not in rules_of(violations("tier1", "serving.extraArgs=[--port, '8000']"))
