"""verify/__init__.py: a profile that says its cluster runs a newer Kubernetes than --kube-version
has its built-in kinds checked against that version (capped at the newest bundled schemas)."""

from __future__ import annotations

from compiler.verify import make_verifier, verify_compiled
from compiler.verify.kube import available_versions

from ..shipped import compile_tier


def test_for_cluster_picks_the_newer_version_only() -> None:
    v = make_verifier(kube_version="1.33")
    assert v.for_cluster(None) is v
    assert v.for_cluster("1.32") is v
    assert v.for_cluster("1.34").kube.schema_version == "1.34"
    newest = available_versions()[-1]
    assert v.for_cluster("1.99").kube.schema_version == f"{newest[0]}.{newest[1]}"


def test_dra_profile_verifies_with_its_cluster_version_and_not_without() -> None:
    c = compile_tier("tier2-dra")
    v = make_verifier(kube_version="1.33")
    assert verify_compiled(c, v) == []
    # the same objects checked as a 1.33 cluster: resource.k8s.io/v1 does not exist there
    found = [m for _, m in v.objects(c.objects)]
    assert any("ResourceClaimTemplate" in m or "resource.k8s.io/v1" in m for m in found), found
