"""Bad Hybrid Nodes and Capacity Block input (issue 13): each a located error, exit 2, nothing
written, through ``validate`` and through ``build`` over an existing out/ (which stays
byte-identical). Same harness and BASE profile as tests/test_bad_inputs.py (its pool
``baseline`` on g6e.12xlarge at lines 23-27, ``fallback: {enabled: false}`` at line 34)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .clirun import mcompile
from .test_bad_inputs import BASE, Case, P, built_project, copy_of, rejected_untouched

POOL = "      instanceTypes: [g6e.12xlarge]\n"
FALLBACK_OFF = "fallback: {enabled: false}\n"
ROLE = '"arn:aws:iam::111122223333:role/demo-bedrock"'
HYBRID = ("  hybrid: {nodes: 2, gpusPerNode: 8, gpu: {name: H100, memoryGB: 80}, cpu: 192, memoryGi: 2048, "
          "remotePodNetworks: [10.200.0.0/16]")
CASCADE = (f"fallback:\n  cascade:\n    - {{name: onprem, kind: hybrid, timeoutSeconds: 10}}\n    - {{name: cluster, timeoutSeconds: 12}}\n"
           f"    - {{name: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: us-east-1, timeoutSeconds: 6, roleArn: {ROLE}}}\n")
BLOCK = ("      reservations:\n        - id: cr-0b1c2d3e4f5a6b7c8\n          capacityBlock: {instanceType: p5.48xlarge, instanceCount: 2, "
         'start: "2027-01-04T11:30:00Z", end: "2027-01-18T11:30:00Z", pricePerGpuHour: 3.93')


def hybrid(extra: str = "", cascade: str = CASCADE) -> tuple[str, str]:
    """capacity.hybrid after the pool (line 28), the three-step cascade instead of fallback-off (line 35 on)."""
    return (POOL + "  clusterName: acme-cluster\n", POOL + HYBRID + extra + "}\n  clusterName: acme-cluster\n")


def block(capacity: str = "[reserved]", types: str = "[p5.48xlarge]", extra: str = "") -> tuple[str, str]:
    """The pool becomes a Capacity Block pool (lines 26-30)."""
    return ("      capacityType: [on-demand]\n" + POOL,
            f"      capacityType: {capacity}\n      instanceTypes: {types}\n" + BLOCK + extra + "}\n")


def both(*pairs: tuple[str, str]) -> str:
    text = BASE
    for old, new in pairs:
        assert old in text
        text = text.replace(old, new, 1)
    return text


def hybrid_profile(extra: str = "", cascade: str = CASCADE) -> str:
    return both(hybrid(extra), (FALLBACK_OFF, cascade))


EXPECT: dict[str, list[str]] = {
    'hybrid-step-without-pool': [
        "profile.yaml:38:22: $.fallback.cascade[2].kind: step 'onprem' sends requests to the on-premises replicas, but the profile declares no capacity.hybrid (the hybrid nodes' GPUs, CPUs and memory)",
    ],
    'hybrid-pool-without-step': [
        "profile.yaml:29:3: $.capacity.hybrid: the on-premises replicas are reached through the fallback gateway's cascade, which has no step of kind hybrid: enable fallback",
    ],
    'hybrid-gpus-per-node-below-tp': [
        'profile.yaml:29:22: $.capacity.hybrid.gpusPerNode: a replica needs 4 GPUs (TP x PP x DP) but an on-premises server has 2',
    ],
    'hybrid-gpu-too-small-for-model': [
        'profile.yaml:29:56: $.capacity.hybrid.gpu.memoryGB: meta-llama/Llama-3.3-70B-Instruct (fp8) does not fit 4 x H100 16 GB: 20.6 GB/GPU of weights + overhead and a 32768-token context need more than 14.4 GB at gpu-memory-utilization 0.9',
    ],
    'hybrid-server-too-small-for-pod': [
        'profile.yaml:29:71: $.capacity.hybrid.cpu: an on-premises server (32) cannot hold one serving pod (serving.resources: 40 + 1)',
    ],
    'hybrid-replicas-over-servers': [
        'profile.yaml:29:133: $.capacity.hybrid.replicas: 9 replicas do not fit 2 servers x 2 pods per server = 4',
    ],
    'hybrid-public-pod-network': [
        'profile.yaml:29:117: $.capacity.hybrid.remotePodNetworks[0]: 8.8.0.0/16: EKS remote pod networks must lie inside an RFC 1918 range (10/8, 172.16/12, 192.168/16), /8 to /32',
    ],
    'hybrid-pod-network-host-bits': [
        'profile.yaml:29:117: $.capacity.hybrid.remotePodNetworks[0]: 10.200.0.1/16 is not a network address: 10.200.0.1/16 has host bits set',
    ],
    'hybrid-unknown-cascade-kind': [
        "profile.yaml:39:22: $.fallback.cascade[0].kind: 'onprem' is not one of 'gateway', 'hybrid', 'bedrock'",
    ],
    'block-without-reserved': [
        'profile.yaml:27:7: $.capacity.pools[0].capacityType: pool baseline selects a Capacity Block but does not allow capacity type reserved: Karpenter launches into capacity reservations only for NodePools that allow karpenter.sh/capacity-type reserved',
    ],
    'block-with-spot': [
        'profile.yaml:27:7: $.capacity.pools[0].capacityType: pool baseline holds a Capacity Block and also allows spot: when the block ends (or is full) the baseline it backs would move to interruptible capacity; keep spot in a burst pool',
    ],
    'block-ends-before-start': [
        'profile.yaml:31:103: $.capacity.pools[0].reservations[0].capacityBlock.end: Capacity Block cr-0b1c2d3e4f5a6b7c8 ends (2027-01-03T11:30:00Z) before it starts (2027-01-04T11:30:00Z)',
    ],
    'block-type-not-in-pool': [
        'profile.yaml:31:27: $.capacity.pools[0].reservations[0].capacityBlock.instanceType: Capacity Block cr-0b1c2d3e4f5a6b7c8 holds p5.48xlarge, which pool baseline never launches (it may launch g6e.12xlarge for the serving pods): the block would sit unused',
    ],
    'block-type-unknown': [
        "profile.yaml:31:27: $.capacity.pools[0].reservations[0].capacityBlock.instanceType: p9.48xlarge is not in the planner's catalog (compiler/catalog/instances.yaml): its GPUs, and so the block's price, are unknown",
    ],
    'block-id-pattern': [
        "profile.yaml:30:11: $.capacity.pools[0].reservations[0].id: 'cb-0b1c2d3e4f5a6b7c8' does not match the required format ^cr-[0-9a-z]+$",
    ],
    'block-without-id': [
        "profile.yaml:30:11: $.capacity.pools[0].reservations[0]: missing required key 'id'",
    ],
    'block-time-not-utc': [
        "profile.yaml:31:72: $.capacity.pools[0].reservations[0].capacityBlock.start: '2027-01-04 11:30' does not match the required format ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?Z$",
    ],
    'block-price-zero': [
        'profile.yaml:31:132: $.capacity.pools[0].reservations[0].capacityBlock.pricePerGpuHour: 0 is out of range: must be > 0',
    ],
}

CASES = [
    Case("hybrid-step-without-pool", EXPECT["hybrid-step-without-pool"], profile=both((FALLBACK_OFF, CASCADE))),
    Case("hybrid-pool-without-step", EXPECT["hybrid-pool-without-step"], replace=hybrid()),
    Case("hybrid-gpus-per-node-below-tp", EXPECT["hybrid-gpus-per-node-below-tp"], profile=hybrid_profile().replace("gpusPerNode: 8", "gpusPerNode: 2")),
    Case("hybrid-gpu-too-small-for-model", EXPECT["hybrid-gpu-too-small-for-model"], profile=hybrid_profile().replace("memoryGB: 80", "memoryGB: 16")),
    Case("hybrid-server-too-small-for-pod", EXPECT["hybrid-server-too-small-for-pod"], profile=hybrid_profile().replace("cpu: 192", "cpu: 32")),
    Case("hybrid-replicas-over-servers", EXPECT["hybrid-replicas-over-servers"], profile=hybrid_profile(", replicas: 9")),
    Case("hybrid-public-pod-network", EXPECT["hybrid-public-pod-network"], profile=hybrid_profile().replace("10.200.0.0/16", "8.8.0.0/16")),
    Case("hybrid-pod-network-host-bits", EXPECT["hybrid-pod-network-host-bits"], profile=hybrid_profile().replace("10.200.0.0/16", "10.200.0.1/16")),
    Case("hybrid-unknown-cascade-kind", EXPECT["hybrid-unknown-cascade-kind"], profile=hybrid_profile().replace("kind: hybrid", "kind: onprem")),
    Case("block-without-reserved", EXPECT["block-without-reserved"], replace=block(capacity="[on-demand]")),
    Case("block-with-spot", EXPECT["block-with-spot"], replace=block(capacity="[reserved, spot]")),
    Case("block-ends-before-start", EXPECT["block-ends-before-start"], profile=both(block()).replace('end: "2027-01-18T11:30:00Z"', 'end: "2027-01-03T11:30:00Z"')),
    Case("block-type-not-in-pool", EXPECT["block-type-not-in-pool"], replace=block(types="[g6e.12xlarge]")),
    Case("block-type-unknown", EXPECT["block-type-unknown"], profile=both(block()).replace("capacityBlock: {instanceType: p5.48xlarge", "capacityBlock: {instanceType: p9.48xlarge")),
    Case("block-id-pattern", EXPECT["block-id-pattern"], profile=both(block()).replace("id: cr-0b1c2d3e4f5a6b7c8", "id: cb-0b1c2d3e4f5a6b7c8")),
    Case("block-without-id", EXPECT["block-without-id"], profile=both(block()).replace("        - id: cr-0b1c2d3e4f5a6b7c8\n          capacityBlock", "        - capacityBlock")),
    Case("block-time-not-utc", EXPECT["block-time-not-utc"], profile=both(block()).replace('start: "2027-01-04T11:30:00Z"', 'start: "2027-01-04 11:30"')),
    Case("block-price-zero", EXPECT["block-price-zero"], profile=both(block()).replace("pricePerGpuHour: 3.93", "pricePerGpuHour: 0")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_capacity_input(case: Case, tmp_path: Path) -> None:
    rejected_untouched(case, tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return built_project(tmp_path_factory.mktemp("built"), BASE)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_capacity_input_leaves_a_built_out_dir_untouched(case: Case, built: Path, tmp_path: Path) -> None:
    rejected_untouched(case, copy_of(built, tmp_path), build=True)


def test_the_cases_differ_from_accepted_profiles_by_the_broken_field(tmp_path: Path) -> None:
    for text in (hybrid_profile(), both(block(capacity="[reserved, on-demand]"))):
        (tmp_path / P).write_text(text)
        r = mcompile("validate", P, cwd=tmp_path)
        assert r.code == 0, r.stderr


def test_disaggregated_profile_with_hybrid_pool_is_refused(repo: Path, tmp_path: Path) -> None:
    """tier3 runs prefill/decode LeaderWorkerSets over EFA: nothing of it goes to hybrid nodes."""
    r = mcompile("validate", str(repo / "profiles" / "tier3.yaml"),
                 "--set", "capacity.hybrid={nodes: 2, gpusPerNode: 8, gpu: {name: H200, memoryGB: 141}, cpu: 192, memoryGi: 2048, remotePodNetworks: [10.200.0.0/16]}",
                 "--set", "fallback.cascade=[{name: onprem, kind: hybrid}, {name: cluster, kind: gateway, timeoutSeconds: 30}]", cwd=tmp_path)
    assert r.code == 2
    assert r.stderr.startswith("--set:1:"), r.stderr
    assert "$.capacity.hybrid: prefill/decode disaggregation is not placed on hybrid nodes" in r.stderr
