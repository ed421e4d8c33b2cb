"""Refused GPU sharing (issue 13, item 1): each a located error, exit 2, nothing written, through
``validate`` and through ``build`` over an existing out/ (which stays byte-identical). Same harness
as tests/test_bad_inputs.py (cases carry their whole profile), with a BASE that shares H100s as MIG 2g.20gb slices (accepted: see
:func:`test_shared_base_is_accepted`); each case changes the one field it breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from .clirun import mcompile
from .test_bad_inputs import Case, P, built_project, copy_of, rejected_untouched

BASE = """\
apiVersion: mcompile.io/v1alpha1
kind: InferenceProfile
metadata:
  name: small
  namespace: inference
tier: tier1
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  source: s3://acme-models/llama-8b-fp8/
  parametersB: 8.03
  precision: fp8
  maxContext: 16384
workload:
  inputTokens: 1024
  outputTokens: 256
  targetRPS: 10
  slo: {e2eSeconds: 20}
  pattern: spiky
serving:
  image: {repository: vllm/vllm-openai, tag: v0.28.0}
  parallelism: {tensor: 1}
  gpuSharing: {mode: mig, migProfile: 2g.20gb}
  resources: {cpu: 6, memoryGi: 64, shmGi: 4}
capacity:
  provisioner: karpenter
  amiAlias: al2023@v20260101
  pools:
    - {name: gpu, role: baseline, capacityType: [on-demand], instanceTypes: [p5.48xlarge], instanceFamilies: null}
  clusterName: acme-cluster
  nodeRole: acme-node-role
environments:
  prod: {}
identity: {ack: false, modelRoleArn: "arn:aws:iam::111122223333:role/demo-model"}
fallback: {enabled: false}
gitops:
  repoURL: https://git.example/acme.git
  destinations: [{name: cluster-prod, server: "https://prod.example", environment: prod}]
"""

SHARING = "  gpuSharing: {mode: mig, migProfile: 2g.20gb}\n"
POOL = "    - {name: gpu, role: baseline, capacityType: [on-demand], instanceTypes: [p5.48xlarge], instanceFamilies: null}\n"


def sharing(text: str) -> tuple[str, str]:
    return (SHARING, f"  gpuSharing: {text}\n")


def instance_types(types: str) -> tuple[str, str]:
    return (POOL, POOL.replace("[p5.48xlarge]", f"[{types}]"))


def tensor_parallel() -> str:
    """tier2 (TP 4) time-slicing p5 GPUs: the tier's burst pool restricted to p5 as well."""
    text = BASE.replace("tier: tier1", "tier: tier2").replace("parallelism: {tensor: 1}", "parallelism: {tensor: 4}")
    text = text.replace(SHARING, "  gpuSharing: {mode: timeSlicing, replicas: 4}\n")
    return text.replace(POOL, "    - {name: baseline, role: baseline, capacityType: [on-demand], instanceTypes: [p5.48xlarge]}\n"
                              "    - {name: burst, role: burst, capacityType: [spot], instanceFamilies: [p5]}\n")


EXPECT: dict[str, list[str]] = {
    'mig-on-auto-mode': [
        'profile.yaml:22:16: $.serving.gpuSharing.mode: MIG is not possible on EKS Auto Mode: it runs its own NVIDIA driver and device plugin, which no GPU Operator MIG manager or time-slicing config reaches; use provisioner karpenter (with an al2023 AMI) for shared GPUs',
    ],
    'time-slicing-on-auto-mode': [
        'profile.yaml:22:16: $.serving.gpuSharing.mode: GPU time-slicing is not possible on EKS Auto Mode: it runs its own NVIDIA driver and device plugin, which no GPU Operator MIG manager or time-slicing config reaches; use provisioner karpenter (with an al2023 AMI) for shared GPUs',
    ],
    'mig-on-l40s': [
        'profile.yaml:28:62: $.capacity.pools[0].instanceTypes: MIG needs GPUs with Multi-Instance GPU (A100, H100, H200): pool gpu may launch g6e.12xlarge (L40S), which has no MIG; use p4d/p5/p5e/p5en types, or timeSlicing',
    ],
    'mig-on-a10g': [
        'profile.yaml:28:62: $.capacity.pools[0].instanceTypes: MIG needs GPUs with Multi-Instance GPU (A100, H100, H200): pool gpu may launch g5.12xlarge (A10G), which has no MIG; use p4d/p5/p5e/p5en types, or timeSlicing',
    ],
    'mig-on-l4': [
        'profile.yaml:28:62: $.capacity.pools[0].instanceTypes: MIG needs GPUs with Multi-Instance GPU (A100, H100, H200): pool gpu may launch g6.12xlarge (L4), which has no MIG; use p4d/p5/p5e/p5en types, or timeSlicing',
    ],
    'mig-profile-of-another-gpu': [
        'profile.yaml:22:27: $.serving.gpuSharing.migProfile: H100 has no MIG profile 1g.5gb; its profiles are 1g.10gb, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb (compiler/catalog/instances.yaml)',
    ],
    'mig-slice-too-small': [
        'profile.yaml:22:27: $.serving.gpuSharing.migProfile: MIG slice 1g.10gb (10 GB) is too small for meta-llama/Llama-3.1-8B-Instruct (fp8): needs 13.2 GB (weights 8.0 + overhead 3 + KV for maxContext 16384: 2.1), has 9.0 GB at gpu-memory-utilization 0.9; profiles of H100 that fit: 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb',
    ],
    'time-slice-too-small': [
        'profile.yaml:22:35: $.serving.gpuSharing.replicas: time-slicing H100 16 ways leaves 5.0 GB per pod, too small for meta-llama/Llama-3.1-8B-Instruct (fp8): needs 13.2 GB (weights 8.0 + overhead 3 + KV for maxContext 16384: 2.1), has 4.5 GB at gpu-memory-utilization 0.9; at most 5 replicas fit',
    ],
    'time-slicing-tensor-parallel': [
        'profile.yaml:21:17: $.serving.parallelism.tensor: GPU time-slicing gives each replica one slice of one GPU, but serve runs tensor 4 x pipeline 1 x data 1: a parallel replica needs whole GPUs (MIG slices have no GPU-to-GPU peer-to-peer, and time-sliced shares requested together may be one physical GPU); set gpuSharing.mode none or parallelism 1',
    ],
    'mig-on-bottlerocket': [
        "profile.yaml:26:3: $.capacity.amiAlias: MIG is configured through the GPU Operator's device plugin and MIG manager, but Bottlerocket (bottlerocket@v1.63.0) runs its own NVIDIA device plugin, so the operator's plugin stays off on its nodes; use an al2023@... AMI alias",
    ],
    'mig-without-profile': [
        'profile.yaml:22:3: $.serving.gpuSharing.migProfile: required with mode mig: the MIG profile of each slice (e.g. 1g.10gb on H100)',
    ],
    'time-slicing-without-replicas': [
        'profile.yaml:22:3: $.serving.gpuSharing.replicas: required with mode timeSlicing: how many pods share one GPU (2..16)',
    ],
    'time-slicing-one-replica': [
        'profile.yaml:22:35: $.serving.gpuSharing.replicas: 1 is out of range: must be >= 2',
    ],
    'mig-profile-shape': [
        "profile.yaml:22:27: $.serving.gpuSharing.migProfile: '2g20gb' does not match the required format ^[1-7]g\\.[0-9]{1,3}gb$",
    ],
    'sharing-unknown-key': [
        "profile.yaml:22:48: $.serving.gpuSharing.slices: unknown key 'slices'; allowed: migProfile, migStrategy, mode, replicas",
    ],
}

CASES = [
    Case("mig-on-auto-mode", EXPECT["mig-on-auto-mode"], profile=BASE.replace("  provisioner: karpenter\n", "  provisioner: autoMode\n", 1)),
    Case("time-slicing-on-auto-mode", EXPECT["time-slicing-on-auto-mode"],
         profile=BASE.replace("  provisioner: karpenter\n", "  provisioner: autoMode\n").replace(SHARING, "  gpuSharing: {mode: timeSlicing, replicas: 2}\n")),
    Case("mig-on-l40s", EXPECT["mig-on-l40s"], profile=BASE.replace(*instance_types("g6e.12xlarge"), 1)),
    Case("mig-on-a10g", EXPECT["mig-on-a10g"], profile=BASE.replace(*instance_types("g5.12xlarge"), 1)),
    Case("mig-on-l4", EXPECT["mig-on-l4"], profile=BASE.replace(*instance_types("g6.12xlarge"), 1)),
    Case("mig-profile-of-another-gpu", EXPECT["mig-profile-of-another-gpu"], profile=BASE.replace(*sharing("{mode: mig, migProfile: 1g.5gb}"), 1)),
    Case("mig-slice-too-small", EXPECT["mig-slice-too-small"], profile=BASE.replace(*sharing("{mode: mig, migProfile: 1g.10gb}"), 1)),
    Case("time-slice-too-small", EXPECT["time-slice-too-small"], profile=BASE.replace(*sharing("{mode: timeSlicing, replicas: 16}"), 1)),
    Case("time-slicing-tensor-parallel", EXPECT["time-slicing-tensor-parallel"], profile=tensor_parallel()),
    Case("mig-on-bottlerocket", EXPECT["mig-on-bottlerocket"], profile=BASE.replace("  amiAlias: al2023@v20260101\n", "  amiAlias: bottlerocket@v1.63.0\n", 1)),
    Case("mig-without-profile", EXPECT["mig-without-profile"], profile=BASE.replace(*sharing("{mode: mig}"), 1)),
    Case("time-slicing-without-replicas", EXPECT["time-slicing-without-replicas"], profile=BASE.replace(*sharing("{mode: timeSlicing}"), 1)),
    Case("time-slicing-one-replica", EXPECT["time-slicing-one-replica"], profile=BASE.replace(*sharing("{mode: timeSlicing, replicas: 1}"), 1)),
    Case("mig-profile-shape", EXPECT["mig-profile-shape"], profile=BASE.replace(*sharing("{mode: mig, migProfile: 2g20gb}"), 1)),
    Case("sharing-unknown-key", EXPECT["sharing-unknown-key"], profile=BASE.replace(*sharing("{mode: mig, migProfile: 2g.20gb, slices: 3}"), 1)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_sharing_input(case: Case, tmp_path: Path) -> None:
    rejected_untouched(case, tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return built_project(tmp_path_factory.mktemp("built"), BASE)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_sharing_input_leaves_a_built_out_dir_untouched(case: Case, built: Path, tmp_path: Path) -> None:
    rejected_untouched(case, copy_of(built, tmp_path), build=True)


def test_shared_base_is_accepted(tmp_path: Path) -> None:
    """The cases above differ from an accepted profile by the one field they break."""
    (tmp_path / P).write_text(BASE)
    r = mcompile("validate", P, cwd=tmp_path)
    assert r.code == 0, r.stderr
