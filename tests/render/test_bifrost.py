"""The Bifrost cascade fallback gateway (compiler/render/bifrost.py): config.json validates against
Bifrost's own schema (the real file in ../shared, draft 2019-09), the cascade follows the profile's
order and budgets, and no credential exists anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft201909Validator

from compiler.pipeline import compile_env
from compiler.plan.path import gateway_service, step_timeouts
from compiler.render import bifrost
from compiler.resolve import Request
from compiler.verify.kube import KubeValidator
from tests.conftest import REPO
from tests.render.test_vllm import compiled, ctx_of, matches, objects
from tests.shipped import shipped_envs

SCHEMA = json.loads((REPO.parent / "shared" / "upstream" / "bifrost" / "config.schema.json").read_text())
TIERS = ("tier1", "tier2", "tier3")


def config(tier: str, *sets: str) -> dict[str, Any]:
    (cm,) = [o for o in bifrost.render(ctx_of(compiled(tier, *sets))) if o["kind"] == "ConfigMap"]
    return json.loads(cm["data"]["config.json"])


@pytest.mark.parametrize("tier", TIERS)
def test_config_validates_against_bifrosts_schema(tier: str) -> None:
    assert SCHEMA["$schema"].endswith("2019-09/schema")
    errors = sorted(e.message for e in Draft201909Validator(SCHEMA).iter_errors(config(tier)))
    assert errors == []


def test_the_schema_check_can_fail() -> None:
    cfg = config("tier2")
    cfg["providers"]["bedrock"]["keys"][0]["bedrock_key_config"]["regoin"] = "us-east-1"
    del cfg["providers"]["vllm"]["keys"][0]["vllm_key_config"]["url"]
    assert len(list(Draft201909Validator(SCHEMA).iter_errors(cfg))) >= 2


@pytest.mark.parametrize("tier", TIERS)
def test_cascade_order_targets_and_budgets(tier: str) -> None:
    c = compiled(tier)
    cfg = config(tier)
    steps = c.profile.path.fallback.cascade
    (rule,) = cfg["governance"]["routing_rules"]
    assert (rule["provider"], rule["model"]) == ("vllm", c.profile.model.served_name)
    bedrock = [s for s in steps if s.kind == "bedrock"]
    assert rule["fallbacks"] == [f"bedrock/{s.model_id}" for s in bedrock]
    (key,) = cfg["providers"]["vllm"]["keys"]
    assert key["vllm_key_config"]["url"] == f"http://{gateway_service(c.profile)}.{c.profile.namespace}.svc.cluster.local:80"
    budgets = step_timeouts(c.profile)
    assert cfg["providers"]["vllm"]["network_config"]["default_request_timeout_in_seconds"] == budgets["cluster"]
    assert cfg["providers"]["bedrock"]["network_config"]["default_request_timeout_in_seconds"] == budgets["bedrock"]
    assert [k["bedrock_key_config"]["region"] for k in cfg["providers"]["bedrock"]["keys"]] == [s.region for s in bedrock]
    assert all(p["network_config"]["max_retries"] == 0 for p in cfg["providers"].values())
    assert cfg["config_store"] == {"enabled": False} and cfg["logs_store"] == {"enabled": False}


@pytest.mark.parametrize("tier", TIERS)
def test_no_static_keys_and_no_secret(tier: str) -> None:
    c = compiled(tier)
    assert objects(c, "Secret") == []
    text = json.dumps(config(tier))
    for word in ("access_key", "secret_key", "session_token", '"value"'):
        assert word not in text
    (dep,) = [d for d in objects(c, "Deployment") if d["metadata"]["name"] == f"{c.profile.name}-bifrost"]
    pod = dep["spec"]["template"]["spec"]
    assert all("valueFrom" not in e or "secretKeyRef" not in e["valueFrom"] for cn in pod["containers"] for e in cn.get("env", []))
    assert pod["serviceAccountName"] == f"{c.profile.name}-bifrost"
    (pia,) = [o for o in objects(c, "PodIdentityAssociation") if o["spec"]["serviceAccount"] == pod["serviceAccountName"]]
    assert pia["spec"]["roleARN"] == next(s.role_arn for s in c.profile.path.fallback.cascade if s.kind == "bedrock")


def test_workload_is_valid_and_mounts_its_config(kube: KubeValidator) -> None:
    c = compiled("tier2")
    objs = {o["kind"]: o for o in bifrost.render(ctx_of(c))}
    for o in objs.values():
        assert kube.validate(o) == [], o["kind"]
    pod = objs["Deployment"]["spec"]["template"]
    assert matches(objs["Service"]["spec"]["selector"], pod["metadata"]["labels"])
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert vols["config"]["configMap"]["name"] == objs["ConfigMap"]["metadata"]["name"]
    mounts = {m["mountPath"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts[f"{bifrost.APP_DIR}/config.json"]["subPath"] == "config.json"


def test_off_renders_nothing() -> None:
    assert bifrost.render(ctx_of(compiled("tier2", "fallback.enabled=false"))) == []


@pytest.mark.parametrize("stem,env", shipped_envs())
def test_config_text_is_json_dumps_indented(stem: str, env: str) -> None:
    """config.json is written by emit.jsonout (C-encoded strings): the bytes of
    ``json.dumps(config, indent=2, sort_keys=True)`` on every shipped profile and environment."""
    ctx = ctx_of(compile_env(Request(REPO / "profiles" / f"{stem}.yaml", f"profiles/{stem}.yaml", env, (), ())))
    maps = [o for o in bifrost.render(ctx) if o["kind"] == "ConfigMap"]
    for cm in maps:
        assert cm["data"]["config.json"] == json.dumps(bifrost.config(ctx), indent=2, sort_keys=True) + "\n"
    assert maps or not ctx.profile.path.fallback.enabled
