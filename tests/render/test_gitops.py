"""GitOps family: Argo CD ApplicationSets and Flux Kustomizations, validated against the real
upstream CRDs and checked for the behaviour that makes them work in a cluster."""

from __future__ import annotations

import dataclasses
import json
import re
from functools import cache
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
TEMPLATE_EXPR = re.compile(r"\{\{(.*?)\}\}")
ALLOWED_EXPR = re.compile(r"^\s*\.(env|cluster|server|namespace)\s*$")
ENVS = {"tier2": ("dev", "prod"), "tier3": ("prod",)}


@pytest.fixture(scope="module")
def registry(crds: Path) -> CrdRegistry:
    return CrdRegistry.load([crds])


@cache
def contexts(tier: str, sets: tuple[str, ...] = ()) -> tuple[Context, ...]:
    path = REPO / "profiles" / f"{tier}.yaml"
    out = []
    for env in ENVS[tier]:
        c = compile_env(Request(path, f"profiles/{tier}.yaml", env, (), sets))
        out.append(Context(c.profile, c.plan))
    return tuple(out)


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
    "tier2-argocd": ("tier2", ()),
    "tier2-flux": ("tier2", ("gitops.engine=flux",)),
    "tier3-flux": ("tier3", ()),
    "tier3-argocd": ("tier3", ("gitops.engine=argocd", "gitops.controllerNamespace=argocd")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_object_validates_against_the_real_crds(registry: CrdRegistry, case: str) -> None:
    tier, sets = CASES[case]
    objs = all_objects(render_gitops(contexts(tier, sets)))
    assert objs
    for obj in objs:
        assert registry.validate(obj) == [], obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/component"] == "gitops"
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mcompile"


def test_output_is_deterministic() -> None:
    a = render_gitops(contexts("tier2"))
    b = render_gitops(list(reversed(contexts("tier2"))))
    assert json.dumps(a) == json.dumps(b)


# --------------------------------------------------------------------------- Argo CD


def test_appset_elements_are_the_profile_destinations() -> None:
    out = render_gitops(contexts("tier2"))
    assert list(out) == ["deploy/argocd"]
    workload = appsets(out)["llama-70b"]
    expected = [(d["name"], d["server"], d["environment"]) for d in profile_yaml("tier2")["gitops"]["destinations"]]
    assert [(e["cluster"], e["server"], e["env"]) for e in elements(workload)] == expected
    assert {e["namespace"] for e in elements(workload)} == {profile_yaml("tier2")["metadata"]["namespace"]}
    assert workload["metadata"]["namespace"] == "argocd"
    assert workload["spec"]["goTemplate"] is True
    assert workload["spec"]["goTemplateOptions"] == ["missingkey=error"]


def test_each_application_uses_the_values_file_of_its_env() -> None:
    workload = appsets(render_gitops(contexts("tier2")))["llama-70b"]
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
    spec = appsets(render_gitops(contexts("tier2")))["llama-70b"]["spec"]["template"]["spec"]
    sp = spec["syncPolicy"]
    assert sp["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=false" in sp["syncOptions"] and "ServerSideApply=true" in sp["syncOptions"]
    assert sp["retry"]["limit"] > 0 and sp["retry"]["backoff"]["factor"] >= 2
    # KEDA owns replicas: selfHeal must not reset them, and sync must respect the ignore.
    kinds = {(d["group"], d["kind"]) for d in spec["ignoreDifferences"] if d["jsonPointers"] == ["/spec/replicas"]}
    assert kinds == {("apps", "Deployment"), ("leaderworkerset.x-k8s.io", "LeaderWorkerSet")}
    assert "RespectIgnoreDifferences=true" in sp["syncOptions"]


def test_no_replica_ignore_without_autoscaling() -> None:
    spec = appsets(render_gitops(contexts("tier2", ("autoscaling.enabled=false",))))["llama-70b"]["spec"]["template"]["spec"]
    assert "ignoreDifferences" not in spec
    assert "RespectIgnoreDifferences=true" not in spec["syncPolicy"]["syncOptions"]


def test_sync_waves_are_quoted_and_the_workload_syncs_after_the_platform() -> None:
    """The platform Applications (compiler/fleet) use negative waves; the workload is wave 0."""
    sets = appsets(render_gitops(contexts("tier2")))
    assert list(sets) == ["llama-70b"]  # no per-profile GPU Operator: the fleet installs one per cluster
    wl = sets["llama-70b"]
    for meta in (wl["metadata"], wl["spec"]["template"]["metadata"]):
        assert meta["annotations"][WAVE] == "0"


def test_template_expressions_only_reference_element_keys() -> None:
    for tier, sets in (("tier2", ()), ("tier3", ("gitops.engine=argocd",))):
        for obj in render_gitops(contexts(tier, sets))["deploy/argocd"]:
            exprs = TEMPLATE_EXPR.findall(json.dumps(obj))
            assert exprs
            assert all(ALLOWED_EXPR.match(x) for x in exprs), exprs
            keys = {x.strip().lstrip(".") for x in exprs}
            assert all(keys <= set(e) for e in elements(obj)), (keys, elements(obj))


def test_profile_text_that_looks_like_a_template_is_rejected() -> None:
    ctxs = contexts("tier2", ("gitops.repoURL=https://example.com/{{.env}}.git",))
    assert ctxs[0].profile.gitops.repo_url == "https://example.com/{{.env}}.git"  # the schema lets it through
    with pytest.raises(InputError, match="repoURL"):
        render_gitops(ctxs)


def test_destination_of_an_undefined_environment_is_rejected() -> None:
    dests = (Destination("staging-use1", "https://staging.example", "staging"),)
    with pytest.raises(InputError, match="staging"):
        render_gitops(with_gitops(contexts("tier2"), destinations=dests))


def test_fleet_settings_must_agree_across_envs() -> None:
    dev, prod = contexts("tier2")
    (prod2,) = with_gitops((prod,), revision="release")
    with pytest.raises(InputError, match="revision"):
        render_gitops([dev, prod2])


def test_contexts_must_cover_every_env_of_one_profile() -> None:
    dev, prod = contexts("tier2")
    with pytest.raises(ValueError, match="missing: prod"):
        render_gitops([dev])
    with pytest.raises(ValueError):
        render_gitops([dev, dev, prod])


# --------------------------------------------------------------------------- Flux


def flux_by_kind(objs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def test_flux_env_dir_depends_on_the_cluster_platform() -> None:
    out = render_gitops(contexts("tier3"))
    assert list(out) == ["deploy/flux/prod"]
    objs = flux_by_kind(out["deploy/flux/prod"])
    assert list(objs) == [("GitRepository", "glm-5"), ("Kustomization", "glm-5")]
    repo = objs[("GitRepository", "glm-5")]
    assert repo["metadata"]["namespace"] == "flux-system"
    assert repo["spec"]["url"] == "https://github.com/acme/inference-platform.git" and repo["spec"]["ref"] == {"branch": "main"}
    workload = objs[("Kustomization", "glm-5")]["spec"]
    assert workload["path"] == "./" + GitopsPaths("out", "glm-5").overlay("prod") == "./out/glm-5/kustomize/overlays/prod"
    assert workload["dependsOn"] == [{"name": "mcompile-platform"}]  # out/_platform/<cluster>/flux
    assert "targetNamespace" not in workload
    assert workload["prune"] is True and workload["wait"] is True
    assert workload["sourceRef"] == {"kind": "GitRepository", "name": "glm-5"}


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ms|s|m|h)", duration))


def test_flux_workload_timeout_covers_model_load() -> None:
    for tier, sets in (("tier3", ()), ("tier2", ("gitops.engine=flux",))):
        ctxs = contexts(tier, sets)
        out = render_gitops(ctxs)
        for ctx in ctxs:
            wl = flux_by_kind(out[f"deploy/flux/{ctx.profile.env}"])[("Kustomization", ctx.name)]
            budget = max(r.startup_budget_seconds for r in ctx.plan.roles)
            assert seconds(wl["spec"]["timeout"]) >= budget


def test_engine_flux_on_tier2_renders_flux_only(registry: CrdRegistry) -> None:
    out = render_gitops(contexts("tier2", ("gitops.engine=flux",)))
    assert list(out) == ["deploy/flux/dev", "deploy/flux/prod"]
    objs = all_objects(out)
    assert not [o for o in objs if o["apiVersion"].startswith("argoproj.io")]
    for env in ("dev", "prod"):
        wl = flux_by_kind(out[f"deploy/flux/{env}"])[("Kustomization", "llama-70b")]
        assert wl["spec"]["path"] == f"./out/llama-70b/kustomize/overlays/{env}"
        assert wl["metadata"]["labels"]["mcompile.io/environment"] == env
    for obj in objs:
        assert registry.validate(obj) == []


def test_flux_git_urls_and_refs(registry: CrdRegistry) -> None:
    assert gitops.flux_url("git@github.com:acme/repo.git") == "ssh://git@github.com/acme/repo.git"
    assert gitops.flux_url("https://github.com/acme/repo.git") == "https://github.com/acme/repo.git"
    assert gitops.flux_ref("main") == {"branch": "main"}
    assert gitops.flux_ref("refs/tags/v1.2.0") == {"name": "refs/tags/v1.2.0"}
    assert gitops.flux_ref("0123456789abcdef0123456789abcdef01234567") == {"commit": "0123456789abcdef0123456789abcdef01234567"}
    ctxs = contexts("tier3", ("gitops.repoURL=git@github.com:acme/inference-platform.git",))
    repo = flux_by_kind(render_gitops(ctxs)["deploy/flux/prod"])[("GitRepository", "glm-5")]
    assert repo["spec"]["url"] == "ssh://git@github.com/acme/inference-platform.git"
    assert repo["spec"]["secretRef"] == {"name": "glm-5-git"}
    assert registry.validate(repo) == []


def test_gitops_paths() -> None:
    p = GitopsPaths("deploy/out", "llama-70b")
    assert p.chart() == "deploy/out/llama-70b/chart"
    assert p.overlay("prod") == "deploy/out/llama-70b/kustomize/overlays/prod"
    assert GitopsPaths(".", "x").chart() == "x/chart"


