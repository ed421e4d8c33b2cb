"""validate_nodegroups.py: every refusal of the DRA path is a located error (file:line:col,
JSON path, what to do), exit 2, from ``validate`` and ``build`` alike, with nothing written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from .clirun import mcompile

REPO = Path(__file__).resolve().parents[1]

#: (id, profile, text replaced, replacement, expected line (regex), line number of the blamed text or None)
CASES = [
    ("managed-without-node-role-arn", "tier2-dra", "  nodeRole: arn:aws:iam::111122223333:role/acme-gpu-prod-nodes\n", "  nodeRole: acme-gpu-prod-nodes\n",
     r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.nodeRole: managedNodeGroup needs the node role's ARN \(arn:aws:iam::<account>:role/acme-gpu-prod-nodes\)",
     "  nodeRole: acme-gpu-prod-nodes"),
    ("managed-without-node-role", "tier2-dra", "  nodeRole: arn:aws:iam::111122223333:role/acme-gpu-prod-nodes\n", "",
     r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.nodeRole: required: set capacity\.nodeRole to the IAM role", "capacity:"),
    ("managed-without-subnets", "tier2-dra", "  subnets: [subnet-0a1b2c3d4e5f60718, subnet-0f1e2d3c4b5a69788]\n", "",
     r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.subnets: required: set capacity\.subnets to the subnet IDs the managed node groups launch into",
     "capacity:"),
    ("managed-without-autoscaler-role", "tier2-dra",
     "  clusterAutoscaler:\n    roleArn: arn:aws:iam::111122223333:role/acme-gpu-prod-cluster-autoscaler\n", "",
     (r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.clusterAutoscaler\.roleArn: required: set capacity\.clusterAutoscaler\.roleArn to the IAM role "
     r"the Cluster Autoscaler assumes through EKS Pod Identity"), "capacity:"),
    ("managed-without-kubernetes-version", "tier2-dra", '  kubernetesVersion: "1.34"               # resource.k8s.io/v1 (DRA GA)\n', "",
     r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.kubernetesVersion: required: set capacity\.kubernetesVersion to the cluster's Kubernetes minor version",
     "capacity:"),
    ("managed-two-capacity-types", "tier2-dra", "      capacityType: [spot]\n", "      capacityType: [spot, on-demand]\n",
     r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.pools\[1\]\.capacityType: a managed node group has exactly one capacity type, on-demand or spot",
     "      capacityType: [spot, on-demand]"),
    ("managed-families", "tier2-dra", "      instanceFamilies: null ", "      instanceFamilies: [g6e] ",
     r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.pools\[1\]\.instanceFamilies: a managed node group takes instance types \(instanceTypes\), not families",
     "      instanceFamilies: [g6e]"),
    ("managed-efa", "tier2-dra", "      instanceTypes: [g6e.12xlarge]\n", "      instanceTypes: [g6e.12xlarge]\n      efa: true\n",
     r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.pools\[0\]\.efa: EFA on managed node groups needs a launch template", "      efa: true"),
    ("dra-on-karpenter", "tier2", "  parallelism: {tensor: 4}\n", "  parallelism: {tensor: 4}\n  gpuAllocation: dra\n",
     (r"^profiles/tier2\.yaml:(\d+):\d+: \$\.serving\.gpuAllocation: gpuAllocation dra needs capacity\.provisioner managedNodeGroup: karpenter "
     r"\(Karpenter / EKS Auto Mode\) does not provision nodes for pods that claim devices"), "  gpuAllocation: dra"),
    ("dra-on-auto-mode", "tier1", "serving:\n", "serving:\n  gpuAllocation: dra\n",
     r"^profiles/tier1\.yaml:(\d+):\d+: \$\.serving\.gpuAllocation: gpuAllocation dra needs capacity\.provisioner managedNodeGroup: autoMode",
     "  gpuAllocation: dra"),
    ("dra-on-kubernetes-1.33", "tier2-dra", '  kubernetesVersion: "1.34"', '  kubernetesVersion: "1.33"',
     (r"^profiles/tier2-dra\.yaml:(\d+):\d+: \$\.capacity\.kubernetesVersion: gpuAllocation dra needs Kubernetes 1\.34 or newer "
     r"\(resource\.k8s\.io/v1 is GA and on by default from 1\.34\); the cluster runs 1\.33"), '  kubernetesVersion: "1.33"'),
    ("karpenter-with-role-arn", "tier2", "  nodeRole: KarpenterNodeRole-acme-prod\n", "  nodeRole: arn:aws:iam::111122223333:role/KarpenterNodeRole-acme-prod\n",
     r"^profiles/tier2\.yaml:(\d+):\d+: \$\.capacity\.nodeRole: provisioner karpenter takes the node role's name, not its ARN .*: KarpenterNodeRole-acme-prod$",
     "  nodeRole: arn:aws:iam::111122223333:role/KarpenterNodeRole-acme-prod"),
    ("karpenter-with-subnets", "tier2", "  provisioner: karpenter\n", "  provisioner: karpenter\n  subnets: [subnet-0a1b2c3d4e5f60718]\n",
     r"^profiles/tier2\.yaml:(\d+):\d+: \$\.capacity\.subnets: capacity\.subnets is only used with provisioner managedNodeGroup",
     "  subnets: [subnet-0a1b2c3d4e5f60718]"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_refusal_is_a_located_error(tmp_path: Path, case: tuple[str, str, str, str, str, str]) -> None:
    _, profile, old, new, expected, blamed = case
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    path = tmp_path / "profiles" / f"{profile}.yaml"
    text = path.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    path.write_text(text)
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines, 1) if t.startswith(blamed))
    for cmd in ("validate", "build"):
        r = mcompile(cmd, f"profiles/{profile}.yaml", cwd=tmp_path)
        assert r.code == 2, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        hits = [m for m in (re.match(expected, x) for x in r.stderr.splitlines()) if m]
        assert hits, r.stderr
        assert int(hits[0].group(1)) == line, r.stderr
    assert not (tmp_path / "out").exists()


def test_the_shipped_dra_profile_validates(tmp_path: Path) -> None:
    r = mcompile("validate", "profiles/tier2-dra.yaml", "--strict", cwd=REPO)
    assert r.code == 0, r.stdout + r.stderr
    assert "profiles/tier2-dra.yaml: ok (dev, prod;" in r.stdout
