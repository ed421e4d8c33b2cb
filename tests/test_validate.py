"""validate.py: the values a cluster needs and nobody can default are required, each missing one
a located error saying what to set (never a placeholder in the output)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .clirun import mcompile

REPO = Path(__file__).resolve().parents[1]

#: (name, profile, text removed from it, expected located message)
MISSING = [
    ("clusterName", "tier2", "  clusterName: acme-prod\n",
     r"^profiles/tier2\.yaml:\d+:1: \$\.capacity\.clusterName: required: set capacity\.clusterName to the EKS cluster name"),
    ("nodeRole (Karpenter)", "tier2", "  nodeRole: KarpenterNodeRole-acme-prod\n",
     r"^profiles/tier2\.yaml:\d+:1: \$\.capacity\.nodeRole: required: set capacity\.nodeRole to the IAM role name of the GPU nodes"),
    ("nodeRole (Auto Mode)", "tier1", "  nodeRole: AmazonEKSAutoNodeRole-acme-prod\n",
     r"^profiles/tier1\.yaml:\d+:1: \$\.capacity\.nodeRole: required: set capacity\.nodeRole"),
    ("repoURL", "tier3", "  repoURL: https://github.com/acme/inference-platform.git\n",
     r"^profiles/tier3\.yaml:\d+:1: \$\.gitops\.repoURL: required: set gitops\.repoURL to the Git repository holding out/"),
    ("destinations", "tier3", "  destinations:\n    - {name: prod-use1-hpc, server: https://prod-use1-hpc.eks.acme.internal, environment: prod, region: us-east-1}\n",
     r"^profiles/tier3\.yaml:\d+:1: \$\.gitops\.destinations: required: list the cluster\(s\) environment 'prod' deploys to"),
]


@pytest.mark.parametrize("name,tier,remove,expected", MISSING, ids=[m[0] for m in MISSING])
def test_each_missing_cluster_value_is_a_located_error(tmp_path: Path, name: str, tier: str, remove: str, expected: str) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    path = tmp_path / "profiles" / f"{tier}.yaml"
    text = path.read_text()
    assert remove in text
    path.write_text(text.replace(remove, ""))
    for cmd in ("validate", "build"):
        r = mcompile(cmd, f"profiles/{tier}.yaml", cwd=tmp_path)
        assert r.code == 2, r.stdout + r.stderr
        lines = [line for line in r.stderr.splitlines() if not line.startswith("mcompile:")]
        assert any(re.match(expected, line) for line in lines), lines
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_environment_without_a_destination_is_named(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    path = tmp_path / "profiles" / "tier1.yaml"
    path.write_text(path.read_text().replace("    - {name: staging-use1, server: https://staging.eks.acme.internal, environment: staging, region: us-east-1}\n", ""))
    r = mcompile("validate", "profiles/tier1.yaml", cwd=tmp_path)
    assert r.code == 2
    assert "required: list the cluster(s) environment 'staging' deploys to" in r.stderr
    assert "environment 'prod'" not in r.stderr


def test_bring_your_own_prometheus_needs_its_address_namespace_and_labels(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    r = mcompile("validate", "profiles/tier2.yaml", "--set", "platform.prometheus.install=false", cwd=tmp_path)
    assert r.code == 2
    for key in ("serverAddress", "namespace", "selectorLabels"):
        assert f"$.platform.prometheus.{key}: required with platform.prometheus.install: false" in r.stderr
    r = mcompile("validate", "profiles/tier2.yaml", "--set", "platform.prometheus.serverAddress=http://p:9090", cwd=tmp_path)
    assert r.code == 2 and "$.platform.prometheus.serverAddress: platform.prometheus.serverAddress is fixed by the installed kube-prometheus-stack" in r.stderr
