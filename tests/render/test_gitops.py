"""GitOps family: Argo CD ApplicationSets and Flux Kustomizations, validated against the real
upstream CRDs and checked for the behaviour that makes them work in a cluster."""

from __future__ import annotations

import dataclasses
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.errors import InputError
from compiler.pipeline import compile_env
from compiler.profile import Destination
from compiler.render import gitops
from compiler.render.gitops import GitopsPaths, render_gitops
from compiler.render.meta import Context
from compiler.resolve import Request
from compiler.verify.crds import CrdRegistry

REPO = Path(__file__).resolve().parents[2]
WAVE = "argocd.argoproj.io/sync-wave"
OPERATOR = {"driver": {"enabled": False}, "toolkit": {"enabled": False}}
OTHER_OPERATOR = {"driver": {"enabled": False}, "toolkit": {"enabled": False}, "mig": {"strategy": "single"}}
TEMPLATE_EXPR = re.compile(r"\{\{(.*?)\}\}")
ALLOWED_EXPR = re.compile(r"^\s*\.(env|cluster|server|namespace)\s*$")
ENVS = {"tier2": ("dev", "prod"), "tier3": ("prod",)}


@pytest.fixture(scope="module")
def registry(crds: Path) -> CrdRegistry:
    return CrdRegistry.load([crds])


@lru_cache(maxsize=None)
def contexts(tier: str, sets: tuple[str, ...] = ()) -> tuple[Context, ...]:
    path = REPO / "profiles" / f"{tier}.yaml"
    out = []
    for env in ENVS[tier]:
        c = compile_env(Request(path, f"profiles/{tier}.yaml", env, (), sets))
        out.append(Context(c.profile, c.plan))
    return tuple(out)


def values_for(tier: str, v: dict[str, Any] | None = OPERATOR) -> dict[str, dict[str, Any] | None]:
    return {env: v for env in ENVS[tier]}


def profile_yaml(tier: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "profiles" / f"{tier}.yaml").read_text())


def all_objects(out: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [o for objs in out.values() for o in objs]


def appsets(out: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in out["deploy/argocd"]}


def elements(appset: dict[str, Any]) -> list[dict[str, Any]]:
    (gen,) = appset["spec"]["generators"]
    return gen["list"]["elements"]


def expand(text: str, element: dict[str, str]) -> str:
    """What Argo CD's goTemplate makes of ``{{.key}}`` for one element (missingkey=error)."""
    return TEMPLATE_EXPR.sub(lambda m: element[m.group(1).strip().lstrip(".")], text)


def with_profile(ctxs: tuple[Context, ...], **changes: Any) -> list[Context]:
    return [Context(dataclasses.replace(c.profile, **changes), c.plan) for c in ctxs]


def with_gitops(ctxs: tuple[Context, ...] | list[Context], **changes: Any) -> list[Context]:
    return [Context(dataclasses.replace(c.profile, gitops=dataclasses.replace(c.profile.gitops, **changes)), c.plan) for c in ctxs]


CASES = {
    "tier2-argocd": ("tier2", (), OPERATOR),
    "tier2-argocd-no-operator": ("tier2", (), None),
    "tier2-flux": ("tier2", ("gitops.engine=flux",), OPERATOR),
    "tier3-flux": ("tier3", (), OPERATOR),
    "tier3-flux-no-operator": ("tier3", (), None),
    "tier3-argocd": ("tier3", ("gitops.engine=argocd", "gitops.controllerNamespace=argocd"), OPERATOR),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_object_validates_against_the_real_crds(registry: CrdRegistry, case: str) -> None:
    tier, sets, v = CASES[case]
    objs = all_objects(render_gitops(contexts(tier, sets), values_for(tier, v)))
    assert objs
    for obj in objs:
        assert registry.validate(obj) == [], obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/component"] == "gitops"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mcompile"


def test_output_is_deterministic() -> None:
    a = render_gitops(contexts("tier2"), values_for("tier2"))
    b = render_gitops(list(reversed(contexts("tier2"))), values_for("tier2"))
    assert json.dumps(a) == json.dumps(b)


# --------------------------------------------------------------------------- Argo CD


def test_appset_elements_are_the_profile_destinations() -> None:
    out = render_gitops(contexts("tier2"), values_for("tier2"))
    assert list(out) == ["deploy/argocd"]
    workload = appsets(out)["llama-70b"]
    expected = [(d["name"], d["server"], d["environment"]) for d in profile_yaml("tier2")["gitops"]["destinations"]]
    assert [(e["cluster"], e["server"], e["env"]) for e in elements(workload)] == expected
    assert {e["namespace"] for e in elements(workload)} == {profile_yaml("tier2")["metadata"]["namespace"]}
    assert workload["metadata"]["namespace"] == "argocd"
    assert workload["spec"]["goTemplate"] is True
    assert workload["spec"]["goTemplateOptions"] == ["missingkey=error"]


def test_each_application_uses_the_values_file_of_its_env() -> None:
    workload = appsets(render_gitops(contexts("tier2"), values_for("tier2")))["llama-70b"]
    tmpl = workload["spec"]["template"]
    src = tmpl["spec"]["source"]
    assert src["path"] == GitopsPaths("out", "llama-70b").chart() == "out/llama-70b/chart"
    assert src["repoURL"] == "https://github.com/acme/inference-platform.git" and src["targetRevision"] == "main"
    assert src["helm"]["releaseName"] == "llama-70b"
    generated = {expand(tmpl["metadata"]["name"], e): [expand(f, e) for f in src["helm"]["valueFiles"]] for e in elements(workload)}
    assert generated == {"llama-70b-dev-dev-use1": ["values-dev.yaml"], "llama-70b-prod-prod-use1": ["values-prod.yaml"],
                         "llama-70b-prod-prod-usw2": ["values-prod.yaml"]}
    dest = tmpl["spec"]["destination"]
    assert {expand(dest["server"], e) for e in elements(workload)} == {d["server"] for d in profile_yaml("tier2")["gitops"]["destinations"]}


def test_workload_sync_policy_converges_and_leaves_namespace_to_the_chart() -> None:
    spec = appsets(render_gitops(contexts("tier2"), values_for("tier2")))["llama-70b"]["spec"]["template"]["spec"]
    sp = spec["syncPolicy"]
    assert sp["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=false" in sp["syncOptions"] and "ServerSideApply=true" in sp["syncOptions"]
    assert sp["retry"]["limit"] > 0 and sp["retry"]["backoff"]["factor"] >= 2
    # KEDA owns replicas: selfHeal must not reset them, and sync must respect the ignore.
    kinds = {(d["group"], d["kind"]) for d in spec["ignoreDifferences"] if d["jsonPointers"] == ["/spec/replicas"]}
    assert kinds == {("apps", "Deployment"), ("leaderworkerset.x-k8s.io", "LeaderWorkerSet")}
    assert "RespectIgnoreDifferences=true" in sp["syncOptions"]


def test_no_replica_ignore_without_autoscaling() -> None:
    spec = appsets(render_gitops(contexts("tier2", ("autoscaling.enabled=false",)), values_for("tier2")))["llama-70b"]["spec"]["template"]["spec"]
    assert "ignoreDifferences" not in spec
    assert "RespectIgnoreDifferences=true" not in spec["syncPolicy"]["syncOptions"]


def test_sync_waves_are_quoted_and_the_operator_syncs_first() -> None:
    sets = appsets(render_gitops(contexts("tier2"), values_for("tier2")))
    op, wl = sets["llama-70b-gpu-operator"], sets["llama-70b"]
    for obj in (op, wl):
        for meta in (obj["metadata"], obj["spec"]["template"]["metadata"]):
            assert isinstance(meta["annotations"][WAVE], str)
    assert wl["spec"]["template"]["metadata"]["annotations"][WAVE] == "0"
    assert int(op["spec"]["template"]["metadata"]["annotations"][WAVE]) < int(wl["spec"]["template"]["metadata"]["annotations"][WAVE])
    assert int(op["metadata"]["annotations"][WAVE]) < int(wl["metadata"]["annotations"][WAVE])


def test_operator_application_installs_the_pinned_chart_with_the_env_values() -> None:
    op = appsets(render_gitops(contexts("tier2"), values_for("tier2")))["llama-70b-gpu-operator"]
    spec = op["spec"]["template"]["spec"]
    assert spec["source"] == {"repoURL": "https://helm.ngc.nvidia.com/nvidia", "chart": "gpu-operator", "targetRevision": "v26.7.0",
                              "helm": {"releaseName": "gpu-operator", "valuesObject": OPERATOR}}
    assert spec["destination"]["namespace"] == "gpu-operator"
    assert "CreateNamespace=true" in spec["syncPolicy"]["syncOptions"]
    assert [e["cluster"] for e in elements(op)] == ["dev-use1", "prod-use1", "prod-usw2"]
    names = {expand(op["spec"]["template"]["metadata"]["name"], e) for e in elements(op)}
    assert len(names) == 3


def test_template_expressions_only_reference_element_keys() -> None:
    for tier, sets in (("tier2", ()), ("tier3", ("gitops.engine=argocd",))):
        for obj in render_gitops(contexts(tier, sets), values_for(tier))["deploy/argocd"]:
            exprs = TEMPLATE_EXPR.findall(json.dumps(obj))
            assert exprs
            assert all(ALLOWED_EXPR.match(x) for x in exprs), exprs
            keys = {x.strip().lstrip(".") for x in exprs}
            assert all(keys <= set(e) for e in elements(obj)), (keys, elements(obj))


def test_profile_text_that_looks_like_a_template_is_rejected() -> None:
    ctxs = contexts("tier2", ("gitops.repoURL=https://example.com/{{.env}}.git",))
    assert ctxs[0].profile.gitops.repo_url == "https://example.com/{{.env}}.git"  # the schema lets it through
    with pytest.raises(InputError, match="repoURL"):
        render_gitops(ctxs, values_for("tier2"))
    with pytest.raises(ValueError, match="template"):
        render_gitops(contexts("tier2"), {"dev": OPERATOR, "prod": {"driver": {"version": "{{.env}}"}}})


def test_no_operator_values_no_operator_app() -> None:
    out = render_gitops(contexts("tier2"), values_for("tier2", None))
    assert list(appsets(out)) == ["llama-70b"]
    assert "gpu-operator" not in json.dumps(out)


def test_envs_without_operator_values_get_no_operator_element() -> None:
    out = render_gitops(contexts("tier2"), {"dev": None, "prod": OPERATOR})
    op = appsets(out)["llama-70b-gpu-operator"]
    assert [(e["cluster"], e["env"]) for e in elements(op)] == [("prod-use1", "prod"), ("prod-usw2", "prod")]
    assert len(elements(appsets(out)["llama-70b"])) == 3


def test_different_operator_values_get_one_appset_per_env() -> None:
    sets = appsets(render_gitops(contexts("tier2"), {"dev": OPERATOR, "prod": OTHER_OPERATOR}))
    assert sorted(sets) == ["llama-70b", "llama-70b-gpu-operator-dev", "llama-70b-gpu-operator-prod"]
    assert {e["env"] for e in elements(sets["llama-70b-gpu-operator-prod"])} == {"prod"}
    assert sets["llama-70b-gpu-operator-prod"]["spec"]["template"]["spec"]["source"]["helm"]["valuesObject"] == OTHER_OPERATOR
    assert sets["llama-70b-gpu-operator-dev"]["spec"]["template"]["spec"]["source"]["helm"]["valuesObject"] == OPERATOR


def test_without_destinations_each_env_goes_to_the_local_cluster(registry: CrdRegistry) -> None:
    ctxs = with_gitops(contexts("tier2"), destinations=())
    ctxs = [Context(dataclasses.replace(c.profile, namespace=f"inference-{c.profile.env}"), c.plan) for c in ctxs]
    sets = appsets(render_gitops(ctxs, values_for("tier2")))
    assert elements(sets["llama-70b"]) == [
        {"cluster": "in-cluster", "server": "https://kubernetes.default.svc", "env": "dev", "namespace": "inference-dev"},
        {"cluster": "in-cluster", "server": "https://kubernetes.default.svc", "env": "prod", "namespace": "inference-prod"}]
    # The operator is a cluster singleton: installed once even though two envs share the cluster.
    assert elements(sets["llama-70b-gpu-operator"]) == [{"cluster": "in-cluster", "server": "https://kubernetes.default.svc", "env": "dev"}]
    for obj in sets.values():
        assert registry.validate(obj) == []


def test_two_envs_in_the_same_namespace_of_one_cluster_are_rejected() -> None:
    with pytest.raises(InputError, match="same cluster"):
        render_gitops(with_gitops(contexts("tier2"), destinations=()), values_for("tier2"))


def test_shared_cluster_with_conflicting_operator_values_is_rejected() -> None:
    ctxs = with_gitops(contexts("tier2"), destinations=())
    ctxs = [Context(dataclasses.replace(c.profile, namespace=f"inference-{c.profile.env}"), c.plan) for c in ctxs]
    with pytest.raises(InputError, match="GPU Operator"):
        render_gitops(ctxs, {"dev": OPERATOR, "prod": OTHER_OPERATOR})


def test_destination_of_an_undefined_environment_is_rejected() -> None:
    dests = (Destination("staging-use1", "https://staging.example", "staging"),)
    with pytest.raises(InputError, match="staging"):
        render_gitops(with_gitops(contexts("tier2"), destinations=dests), values_for("tier2"))


def test_fleet_settings_must_agree_across_envs() -> None:
    dev, prod = contexts("tier2")
    (prod2,) = with_gitops((prod,), revision="release")
    with pytest.raises(InputError, match="revision"):
        render_gitops([dev, prod2], values_for("tier2"))


def test_contexts_must_cover_every_env_of_one_profile() -> None:
    dev, prod = contexts("tier2")
    with pytest.raises(ValueError, match="missing: prod"):
        render_gitops([dev], values_for("tier2"))
    with pytest.raises(ValueError):
        render_gitops([dev, dev, prod], values_for("tier2"))


# --------------------------------------------------------------------------- Flux


def flux_by_kind(objs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def test_flux_env_dir_and_platform() -> None:
    out = render_gitops(contexts("tier3"), values_for("tier3"))
    assert list(out) == ["deploy/flux/prod", "platform/flux"]
    objs = flux_by_kind(out["deploy/flux/prod"])
    assert list(objs) == [("GitRepository", "glm-5"), ("Kustomization", "glm-5-platform"), ("Kustomization", "glm-5")]
    repo = objs[("GitRepository", "glm-5")]
    assert repo["metadata"]["namespace"] == "flux-system"
    assert repo["spec"]["url"] == "https://github.com/acme/inference-platform.git" and repo["spec"]["ref"] == {"branch": "main"}
    platform, workload = objs[("Kustomization", "glm-5-platform")]["spec"], objs[("Kustomization", "glm-5")]["spec"]
    assert platform["path"] == "./" + GitopsPaths("out", "glm-5").platform_flux() == "./out/glm-5/platform/flux"
    assert workload["path"] == "./" + GitopsPaths("out", "glm-5").overlay("prod") == "./out/glm-5/kustomize/overlays/prod"
    assert workload["dependsOn"] == [{"name": "glm-5-platform"}]
    assert "targetNamespace" not in workload
    for spec in (platform, workload):
        assert spec["prune"] is True and spec["wait"] is True
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "glm-5"}
    release = flux_by_kind(out["platform/flux"])[("HelmRelease", "gpu-operator")]["spec"]
    assert release["chart"]["spec"]["chart"] == "gpu-operator" and release["chart"]["spec"]["version"] == "v26.7.0"
    assert release["chart"]["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "nvidia"}
    assert release["targetNamespace"] == "gpu-operator" and release["install"]["createNamespace"] is True
    assert release["values"] == OPERATOR
    assert flux_by_kind(out["platform/flux"])[("HelmRepository", "nvidia")]["spec"]["url"] == "https://helm.ngc.nvidia.com/nvidia"


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ms|s|m|h)", duration))


def test_flux_workload_timeout_covers_model_load() -> None:
    for tier, sets in (("tier3", ()), ("tier2", ("gitops.engine=flux",))):
        ctxs = contexts(tier, sets)
        out = render_gitops(ctxs, values_for(tier))
        for ctx in ctxs:
            wl = flux_by_kind(out[f"deploy/flux/{ctx.profile.env}"])[("Kustomization", ctx.name)]
            budget = max(r.startup_budget_seconds for r in ctx.plan.roles)
            assert seconds(wl["spec"]["timeout"]) >= budget


def test_engine_flux_on_tier2_renders_flux_only(registry: CrdRegistry) -> None:
    out = render_gitops(contexts("tier2", ("gitops.engine=flux",)), values_for("tier2"))
    assert list(out) == ["deploy/flux/dev", "deploy/flux/prod", "platform/flux"]
    objs = all_objects(out)
    assert not [o for o in objs if o["apiVersion"].startswith("argoproj.io")]
    for env in ("dev", "prod"):
        wl = flux_by_kind(out[f"deploy/flux/{env}"])[("Kustomization", "llama-70b")]
        assert wl["spec"]["path"] == f"./out/llama-70b/kustomize/overlays/{env}"
        assert wl["metadata"]["labels"]["mcompile.io/environment"] == env
    for obj in objs:
        assert registry.validate(obj) == []


def test_flux_without_operator_values_has_no_platform() -> None:
    out = render_gitops(contexts("tier3"), values_for("tier3", None))
    assert list(out) == ["deploy/flux/prod"]
    objs = flux_by_kind(out["deploy/flux/prod"])
    assert list(objs) == [("GitRepository", "glm-5"), ("Kustomization", "glm-5")]
    assert "dependsOn" not in objs[("Kustomization", "glm-5")]["spec"]


def test_flux_platform_per_env_when_values_differ(registry: CrdRegistry) -> None:
    out = render_gitops(contexts("tier2", ("gitops.engine=flux",)), {"dev": OPERATOR, "prod": OTHER_OPERATOR})
    assert list(out) == ["deploy/flux/dev", "deploy/flux/prod", "platform/flux/dev", "platform/flux/prod"]
    for env, v in (("dev", OPERATOR), ("prod", OTHER_OPERATOR)):
        platform = flux_by_kind(out[f"deploy/flux/{env}"])[("Kustomization", "llama-70b-platform")]
        assert platform["spec"]["path"] == f"./out/llama-70b/platform/flux/{env}"
        assert flux_by_kind(out[f"platform/flux/{env}"])[("HelmRelease", "gpu-operator")]["spec"]["values"] == v
    for obj in all_objects(out):
        assert registry.validate(obj) == []


def test_flux_git_urls_and_refs(registry: CrdRegistry) -> None:
    assert gitops.flux_url("git@github.com:acme/repo.git") == "ssh://git@github.com/acme/repo.git"
    assert gitops.flux_url("https://github.com/acme/repo.git") == "https://github.com/acme/repo.git"
    assert gitops.flux_ref("main") == {"branch": "main"}
    assert gitops.flux_ref("refs/tags/v1.2.0") == {"name": "refs/tags/v1.2.0"}
    assert gitops.flux_ref("0123456789abcdef0123456789abcdef01234567") == {"commit": "0123456789abcdef0123456789abcdef01234567"}
    ctxs = contexts("tier3", ("gitops.repoURL=git@github.com:acme/inference-platform.git",))
    repo = flux_by_kind(render_gitops(ctxs, values_for("tier3"))["deploy/flux/prod"])[("GitRepository", "glm-5")]
    assert repo["spec"]["url"] == "ssh://git@github.com/acme/inference-platform.git"
    assert repo["spec"]["secretRef"] == {"name": "glm-5-git"}
    assert registry.validate(repo) == []


def test_gitops_paths() -> None:
    p = GitopsPaths("deploy/out", "llama-70b")
    assert p.chart() == "deploy/out/llama-70b/chart"
    assert p.overlay("prod") == "deploy/out/llama-70b/kustomize/overlays/prod"
    assert p.platform_flux() == "deploy/out/llama-70b/platform/flux"
    assert p.platform_flux("dev") == "deploy/out/llama-70b/platform/flux/dev"
    assert GitopsPaths(".", "x").chart() == "x/chart"


def test_real_operator_values_when_available(registry: CrdRegistry) -> None:
    """Once the nodepools family exports ``gpu_operator_values(ctx)``, render with its output."""
    from compiler.render import nodepools

    produce = getattr(nodepools, "gpu_operator_values", None)
    for tier, sets in (("tier2", ()), ("tier3", ())):
        ctxs = contexts(tier, sets)
        values = {c.profile.env: (produce(c) if produce else OPERATOR) for c in ctxs}
        for obj in all_objects(render_gitops(ctxs, values)):
            assert registry.validate(obj) == []
