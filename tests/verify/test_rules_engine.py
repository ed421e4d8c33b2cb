"""engine-image, engine-flags and extra-args-conflict. Each class twice: the planner refuses the
profile (located, so validate refuses what the verifier would), and the rule fires on real rendered
objects mutated to show the same mistake (the rule guards what the renderers emit)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from compiler.errors import InputError
from compiler.verify.rules import check_rules
from tests.shipped import compile_tier

RULES = {"engine-image", "engine-flags", "extra-args-conflict"}


def refused(tier: str, *sets: str) -> str:
    with pytest.raises(InputError) as e:
        compile_tier(tier, tuple(sets))
    return str(e.value)


def mutate(tier: str, fn: Any, *sets: str) -> list:
    c = compile_tier(tier, tuple(sets))
    objs = copy.deepcopy(list(c.objects))
    for o in objs:
        for t in _templates(o):
            for cn in t["spec"]["containers"]:
                if cn.get("command") == ["vllm", "serve"]:
                    fn(cn)
    return [v for v in check_rules(objs, c.profile, c.plan) if v.rule in RULES]


def _templates(o: dict[str, Any]) -> list[dict[str, Any]]:
    if o["kind"] == "Deployment":
        return [o["spec"]["template"]]
    if o["kind"] == "LeaderWorkerSet":
        lwt = o["spec"]["leaderWorkerTemplate"]
        return [lwt[k] for k in ("leaderTemplate", "workerTemplate") if k in lwt]
    return []


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_shipped_profiles_pass_the_engine_rules(tier: str) -> None:
    c = compile_tier(tier)
    assert not {v.rule for v in check_rules(c.objects, c.profile, c.plan)} & RULES


# --- engine-image -----------------------------------------------------------------------------

@pytest.mark.parametrize("tier,sets,field", [
    ("tier1", ("serving.image.tag=v0.6.0",), "tag"),  # an old tag of the known image
    ("tier2", ("serving.image.repository=example.com/vllm",), "tag"),  # a mirror nobody declared
    ("tier3", ("serving.image.engineVersion=0.11.1", "serving.image.capabilities=[]"), "engineVersion"),  # a version outside the table
])
def test_an_image_outside_the_table_is_refused(tier: str, sets: tuple[str, ...], field: str) -> None:
    msg = refused(tier, *sets)
    assert f"$.serving.image.{field}:" in msg and "cannot be checked" in msg and "declare serving.image.capabilities" in msg


def test_declared_capabilities_stand_in_for_the_table_and_must_cover_what_is_used() -> None:
    """tier3 on an image of a version outside the table that declares only libfabric: the profile
    also uses S3 streaming, disaggregation, multi-node, data and expert parallel."""
    msg = refused("tier3", "serving.image.engineVersion=0.11.1")
    assert "$.serving.image.capabilities:" in msg
    assert "uses data-parallel, disaggregation, expert-parallel, multi-node, s3-streaming" in msg
    ok = ("serving.image.engineVersion=0.11.1",
          "serving.image.capabilities=[libfabric, s3-streaming, disaggregation, multi-node, data-parallel, expert-parallel]")
    c = compile_tier("tier3", ok)
    assert not {v.rule for v in check_rules(c.objects, c.profile, c.plan)} & RULES  # flags go unchecked: nothing to check them against


def test_a_declared_version_makes_a_mirror_checkable() -> None:
    c = compile_tier("tier2", ("serving.image.repository=example.com/vllm", "serving.image.engineVersion=0.28.0"))
    assert not {v.rule for v in check_rules(c.objects, c.profile, c.plan)} & RULES


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_the_rule_refuses_an_unknown_image_on_the_objects(tier: str) -> None:
    c = compile_tier(tier)
    img = c.profile.serving.image
    profile = c.profile.__class__(**{**c.profile.__dict__, "serving": c.profile.serving.__class__(
        **{**c.profile.serving.__dict__, "image": img.__class__(img.repository, "v0.6.0", None, img.pull_policy, None, ())})})
    [v] = [v for v in check_rules(c.objects, profile, c.plan) if v.rule == "engine-image"]
    assert v.profile_path == ("serving", "image", "tag")


# --- engine-flags -----------------------------------------------------------------------------

@pytest.mark.parametrize("tier,flag", [("tier1", "--use-v2-block-manager"), ("tier2", "--swap-space=4"), ("tier3", "--disable-log-requests")])
def test_extra_args_the_version_lacks_are_refused(tier: str, flag: str) -> None:
    msg = refused(tier, f"serving.extraArgs=[{flag}]")
    assert "$.serving.extraArgs[0]:" in msg and f"vLLM 0.28.0 has no {flag.split('=')[0]}" in msg


@pytest.mark.parametrize("tier,flag", [("tier1", "--use-v2-block-manager"), ("tier2", "--num-lookahead-slots"), ("tier3", "--worker-use-ray")])
def test_a_rendered_flag_the_version_lacks(tier: str, flag: str) -> None:
    vs = mutate(tier, lambda c: c["args"].append(flag))
    assert vs and {v.rule for v in vs} == {"engine-flags"} and all(flag in v.message for v in vs)


def test_a_rendered_vllm_variable_the_version_lacks() -> None:
    vs = mutate("tier1", lambda c: c["env"].append({"name": "VLLM_USE_V1", "value": "1"}))
    assert vs and "VLLM_USE_V1" in vs[0].message


@pytest.mark.parametrize("sets", [
    ("serving.image.repository=vllm/vllm-openai", "serving.image.tag=v0.28.0", "serving.image.capabilities=[]"),  # the stock image
    ("serving.image.capabilities=[]",),  # a custom image that does not declare libfabric
])
def test_libfabric_needs_an_image_that_carries_it(sets: tuple[str, ...]) -> None:
    msg = refused("tier3", *sets)
    assert "$.serving.image:" in msg and "needs libfabric" in msg


def test_the_rule_sees_libfabric_on_an_image_without_it() -> None:
    c = compile_tier("tier3")
    img = c.profile.serving.image
    stock = img.__class__("vllm/vllm-openai", "v0.28.0", None, img.pull_policy, None, ())
    profile = c.profile.__class__(**{**c.profile.__dict__, "serving": c.profile.serving.__class__(**{**c.profile.serving.__dict__, "image": stock})})
    vs = [v for v in check_rules(c.objects, profile, c.plan) if v.rule == "engine-flags"]
    assert {v.obj for v in vs} == {"LeaderWorkerSet/glm-5-prefill", "LeaderWorkerSet/glm-5-decode"} and "needs libfabric" in vs[0].message


def test_ucx_needs_no_image_capability() -> None:
    c = compile_tier("tier3", ("serving.image.capabilities=[]", "serving.disaggregation.backend=UCX"))
    assert "needs libfabric" not in " ".join(v.message for v in check_rules(c.objects, c.profile, c.plan))


def test_the_rule_refuses_pipeline_parallel_on_nixl() -> None:
    """The shipped tier3 shape before this change: TP=8 x PP=2 with NixlConnector."""
    def old_shape(c: dict[str, Any]) -> None:
        a = c["args"]
        a[a.index("--tensor-parallel-size") + 1] = "8"
        i = a.index("--data-parallel-size")
        a[i:i + 2] = ["--pipeline-parallel-size", "2"]
        a.remove("--enable-expert-parallel")
    vs = mutate("tier3", old_shape)
    pp = [v for v in vs if "pipeline parallel > 1" in v.message]
    assert {v.obj for v in pp} == {"LeaderWorkerSet/glm-5-prefill", "LeaderWorkerSet/glm-5-decode"}
    assert {v.profile_path for v in pp} == {("serving", "disaggregation", r, "pipeline") for r in ("prefill", "decode")}


def test_the_rule_refuses_an_unknown_connector() -> None:
    def other(c: dict[str, Any]) -> None:
        a = c["args"]
        i = a.index("--kv-transfer-config") + 1
        cfg = json.loads(a[i])
        cfg["kv_connector"] = "NoSuchConnector"
        a[i] = json.dumps(cfg)
    assert any("NoSuchConnector" in v.message for v in mutate("tier3", other))


@pytest.mark.parametrize("role", ["prefill", "decode"])
def test_pipeline_parallel_with_nixl_is_refused_by_the_planner_with_a_proposal(role: str) -> None:
    msg = refused("tier3", f"serving.disaggregation.{role}.tensor=8", f"serving.disaggregation.{role}.pipeline=2",
                  f"serving.disaggregation.{role}.data=1", f"serving.disaggregation.{role}.expert=false")
    assert f"disaggregation.{role}.pipeline" in msg and "does not support pipeline parallel > 1" in msg
    assert "TP=1 x PP=1 x DP=16 + EP" in msg


def test_expert_parallel_on_a_dense_model_is_refused() -> None:
    assert "needs a mixture-of-experts model" in refused("tier2", "serving.parallelism.expert=true")


# --- extra-args-conflict ----------------------------------------------------------------------

@pytest.mark.parametrize("tier,args,flag", [
    ("tier1", "[--port, '9000']", "--port"),
    ("tier2", "[--max-model-len=4096]", "--max-model-len"),
    ("tier3", "[--load-format, safetensors]", "--load-format"),
    ("tier2", "[--tensor-parallel-size, '8']", "--tensor-parallel-size"),
    ("tier3", "[--no-enable-expert-parallel]", "--no-enable-expert-parallel"),
])
def test_extra_args_that_contradict_generated_arguments(tier: str, args: str, flag: str) -> None:
    msg = refused(tier, f"serving.extraArgs={args}")
    assert "$.serving.extraArgs[0]:" in msg and f"{flag} " in msg and "set the profile field" in msg


def test_extra_args_restating_the_same_value_are_fine() -> None:
    c = compile_tier("tier1", ("serving.extraArgs=[--port, '8000']",))
    assert "extra-args-conflict" not in {v.rule for v in check_rules(c.objects, c.profile, c.plan)}


def test_the_rule_sees_a_contradiction_in_the_rendered_args() -> None:
    c = compile_tier("tier1", ("serving.extraArgs=[--port, '8000']",))
    objs = copy.deepcopy(list(c.objects))
    dep = next(o for o in objs if o["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["args"][-1] = "9000"  # extraArgs render last
    profile = c.profile.__class__(**{**c.profile.__dict__, "serving": c.profile.serving.__class__(
        **{**c.profile.serving.__dict__, "extra_args": ("--port", "9000")})})
    [v] = [v for v in check_rules(objs, profile, c.plan) if v.rule == "extra-args-conflict"]
    assert v.profile_path == ("serving", "extraArgs") and "--port 9000" in v.message


# --- SGLang (serving.engine: sglang) ------------------------------------------------------------

def mutate_sglang(tier: str, fn: Any, *sets: str) -> list:
    c = compile_tier(tier, tuple(sets))
    objs = copy.deepcopy(list(c.objects))
    for o in objs:
        for t in _templates(o):
            for cn in t["spec"]["containers"]:
                if cn.get("command") == ["python3", "-m", "sglang.launch_server"]:
                    fn(cn)
    return [v for v in check_rules(objs, c.profile, c.plan) if v.rule in RULES | {"tp-pp-gpus", "efa-coherence"}]


@pytest.mark.parametrize("tier", ["tier2-sglang", "tier3-sglang"])
def test_shipped_sglang_profiles_pass_the_engine_rules(tier: str) -> None:
    c = compile_tier(tier)
    assert not {v.rule for v in check_rules(c.objects, c.profile, c.plan)} & (RULES | {"tp-pp-gpus", "efa-coherence"})


@pytest.mark.parametrize("tier", ["tier2-sglang", "tier3-sglang"])
def test_a_rendered_sglang_flag_the_version_lacks(tier: str) -> None:
    vs = mutate_sglang(tier, lambda c: c["args"].append("--enable-ep-moe"))
    assert vs and {v.rule for v in vs} == {"engine-flags"}
    assert all("`python3 -m sglang.launch_server --enable-ep-moe`, which SGLang 0.5.23 does not have" in v.message for v in vs)


def test_a_vllm_flag_on_an_sglang_pod_is_refused() -> None:
    vs = mutate_sglang("tier2-sglang", lambda c: c["args"].extend(["--max-model-len", "4096"]))
    assert [v.rule for v in vs] == ["engine-flags"] and "--max-model-len" in vs[0].message


def test_a_rendered_sglang_variable_the_version_lacks() -> None:
    vs = mutate_sglang("tier2-sglang", lambda c: c["env"].append({"name": "SGLANG_NO_SUCH_KNOB", "value": "1"}))
    assert vs and "SGLANG_NO_SUCH_KNOB" in vs[0].message and "SGLang 0.5.23" in vs[0].message


def test_sglang_ranks_must_match_the_replicas_gpus() -> None:
    """--tp-size is SGLang's whole TP group: 8 on a 16-GPU group leaves half the GPUs idle."""
    def half(c: dict[str, Any]) -> None:
        a = c["args"]
        a[a.index("--tp-size") + 1] = "8"
    assert "tp-pp-gpus" in {v.rule for v in mutate_sglang("tier3-sglang", half)}


def test_ucx_on_efa_is_refused_for_sglang_too() -> None:
    def ucx(c: dict[str, Any]) -> None:
        for e in c["env"]:
            if e["name"] == "SGLANG_DISAGGREGATION_NIXL_BACKEND":
                e["value"] = "UCX"
    vs = mutate_sglang("tier3-sglang", ucx)
    assert any(v.rule == "efa-coherence" and "UCX silently falls back" in v.message for v in vs)


def test_the_rule_sees_libfabric_on_an_sglang_image_without_it() -> None:
    c = compile_tier("tier3-sglang")
    img = c.profile.serving.image
    stock = img.__class__("lmsysorg/sglang", "v0.5.23", None, img.pull_policy, None, ())
    profile = c.profile.__class__(**{**c.profile.__dict__, "serving": c.profile.serving.__class__(**{**c.profile.serving.__dict__, "image": stock})})
    vs = [v for v in check_rules(c.objects, profile, c.plan) if v.rule == "engine-flags"]
    assert {v.obj for v in vs} == {"LeaderWorkerSet/deepseek-v3-prefill", "LeaderWorkerSet/deepseek-v3-decode"}
    assert "needs libfabric" in vs[0].message and "stock lmsysorg/sglang" in vs[0].message


def test_the_rule_refuses_a_vllm_image_for_the_sglang_engine() -> None:
    c = compile_tier("tier2-sglang")
    img = c.profile.serving.image
    vllm_img = img.__class__("vllm/vllm-openai", "v0.28.0", None, img.pull_policy, None, ())
    profile = c.profile.__class__(**{**c.profile.__dict__, "serving": c.profile.serving.__class__(**{**c.profile.serving.__dict__, "image": vllm_img})})
    [v] = [v for v in check_rules(c.objects, profile, c.plan) if v.rule == "engine-image"]
    assert v.profile_path == ("serving", "image", "tag") and "SGLang 0.5.23" in v.message and "lmsysorg/sglang:v0.5.23" in v.message


def test_sglang_extra_args_conflict_on_the_rendered_args() -> None:
    c = compile_tier("tier2-sglang", ("serving.extraArgs=[--tp-size, '4']",))
    objs = copy.deepcopy(list(c.objects))
    dep = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "llama-70b-sglang")
    dep["spec"]["template"]["spec"]["containers"][0]["args"][-1] = "8"
    profile = c.profile.__class__(**{**c.profile.__dict__, "serving": c.profile.serving.__class__(
        **{**c.profile.serving.__dict__, "extra_args": ("--tp-size", "8")})})
    [v] = [v for v in check_rules(objs, profile, c.plan) if v.rule == "extra-args-conflict"]
    assert "--tp-size 8" in v.message and "--tp-size 4" in v.message
