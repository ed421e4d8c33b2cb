"""The fleet stage end to end: many profiles on shared clusters give one platform per cluster,
and every name two owners would fight over on one cluster is refused."""

from __future__ import annotations

from pathlib import Path

from compiler.build import build_all, check_outcomes, target_for
from compiler.errors import InputError
from compiler.fleet.stage import run_fleet

from .fleetkit import REPO, copy_profile, landings, outcomes, verifier


def test_fifty_tier2_copies_give_one_gpu_operator_per_cluster_and_no_collision(tmp_path: Path) -> None:
    paths = [copy_profile(tmp_path, "tier2", f"llama-{i:02d}", f"inference-{i:02d}") for i in range(50)]
    ver = verifier()
    outs = build_all([target_for(p, tmp_path / "out", (), ()) for p in paths], ver, jobs=2)
    scoped = check_outcomes(outs, ver)  # raises on any collision or disagreement
    assert [s for s, _ in scoped] == [f"llama-{i:02d}" for i in range(50)] + ["_platform"]
    platform = [f.path for f in scoped[-1][1]]
    operators = sorted(p for p in platform if p.endswith("-gpu-operator.yaml"))
    assert operators == [f"_platform/{c}/argocd/application-{c}-gpu-operator.yaml" for c in ("dev-use1", "prod-use1", "prod-usw2")]
    for name in ("keda", "kube-prometheus-stack", "istiod"):  # every shared controller once per cluster too
        assert sum(p.endswith(f"-{name}.yaml") for p in platform) == 3, name
    workload_apps = [f.path for _, files in scoped[:-1] for f in files if "/deploy/argocd/" in f.path]
    assert len(workload_apps) == 50 and not [p for p in workload_apps if "gpu-operator" in p]


def test_tier3_destination_gets_the_efa_device_plugin(tmp_path: Path) -> None:
    outs = outcomes([REPO / "profiles" / "tier3.yaml", REPO / "profiles" / "tier2.yaml"], tmp_path / "out")
    plan = run_fleet(landings(outs), [], verifier())
    assert plan.errors == ()
    efa = {c for c, dirs in plan.objects.items() for objs in dirs.values() for o in objs
           if o["kind"] == "HelmRelease" and o["metadata"]["name"] == "aws-efa-k8s-device-plugin"}
    assert efa == {"prod-use1-hpc"}  # where tier3 lands; the tier2 clusters have no EFA pool


def test_two_profiles_with_one_namespace_on_one_cluster_collide(tmp_path: Path) -> None:
    twin = copy_profile(tmp_path, "tier2", "llama-twin", "inference-llama")  # same namespace as llama-70b
    outs = outcomes([REPO / "profiles" / "tier2.yaml", twin], tmp_path / "out")
    try:
        check_outcomes(outs, verifier())
    except InputError as e:
        msgs = [str(d) for d in e.diagnostics]
    else:
        raise AssertionError("no collision reported")
    for cluster in ("dev-use1", "prod-use1", "prod-usw2"):
        assert any(f"Namespace inference-llama on cluster {cluster} is also rendered by llama-70b (tier2.yaml)" in m for m in msgs), msgs


def test_same_namespace_on_different_clusters_is_fine(tmp_path: Path) -> None:
    other = copy_profile(tmp_path, "tier2", "llama-east", "inference-llama", (
        ("{name: dev-use1, server: https://dev.eks.acme.internal", "{name: dev-east, server: https://dev-east.eks.acme.internal"),
        ("{name: prod-use1, server: https://prod-use1.eks.acme.internal", "{name: prod-east, server: https://prod-east.eks.acme.internal"),
        ("{name: prod-usw2, server: https://prod-usw2.eks.acme.internal", "{name: prod-west, server: https://prod-west.eks.acme.internal")))
    scoped = check_outcomes(outcomes([REPO / "profiles" / "tier2.yaml", other], tmp_path / "out"), verifier())
    assert [s for s, _ in scoped] == ["llama-70b", "llama-east", "_platform"]


def test_a_profile_namespace_may_not_be_a_platform_namespace(tmp_path: Path) -> None:
    p = copy_profile(tmp_path, "tier2", "llama-mon", "monitoring")
    try:
        check_outcomes(outcomes([p], tmp_path / "out"), verifier())
    except InputError as e:
        assert any("Namespace monitoring on cluster" in str(d) and "the platform of cluster" in str(d) for d in e.diagnostics)
    else:
        raise AssertionError("a profile in the platform's monitoring namespace was accepted")


def test_every_plain_manifest_in_the_committed_out_passes_the_verifier() -> None:
    """GitOps objects and every cluster's platform, as committed: kube schemas, real CRDs with CEL.
    (Charts and overlays are the render the verify stage checked: tests/emit proves helm template
    and kubectl kustomize give the same objects.)"""
    import yaml

    ver = verifier()
    files = sorted([*(REPO / "out").glob("*/deploy/**/*.yaml"), *(REPO / "out" / "_platform").rglob("*.yaml")])
    objs = [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]
    assert len(files) > 40 and {o["kind"] for o in objs} >= {"Application", "ApplicationSet", "HelmRelease", "HelmRepository", "GitRepository",
                                                             "Kustomization", "ConfigMap"}
    assert ver.objects(objs) == []
    assert ver.unchecked == set()  # every kind had its schema


def test_the_platform_scope_is_the_platform_directory() -> None:
    """stage.py names the scope without importing the platform module (a cache hit needs none)."""
    from compiler.fleet.platform import PLATFORM_DIR
    from compiler.fleet.stage import PLATFORM_SCOPE

    assert PLATFORM_SCOPE == PLATFORM_DIR
