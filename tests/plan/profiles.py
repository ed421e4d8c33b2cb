"""Small profiles for planner tests, compiled through the real pipeline."""

from __future__ import annotations

from pathlib import Path

from compiler.pipeline import compile_env
from compiler.profile_read import from_resolved
from compiler.resolve import Request, resolve

TIER2 = """\
apiVersion: mcompile.io/v1alpha1
kind: InferenceProfile
metadata: {name: demo, namespace: inference}
tier: tier2
model: {id: meta-llama/Llama-3.3-70B-Instruct, source: s3://bucket-a/llama/, parametersB: 70.6, precision: bf16, maxContext: 8192}
workload: {inputTokens: 1024, outputTokens: 256, targetRPS: 4, slo: {e2eSeconds: 30}, pattern: steady}
serving:
  image: {repository: vllm/vllm-openai, tag: v0.28.0}
  parallelism: {tensor: 4}
  kvCacheDtype: auto
capacity:
  provisioner: karpenter
  clusterName: demo-cluster
  nodeRole: demo-node-role
  pools:
    - {name: baseline, role: baseline, capacityType: [on-demand], instanceTypes: [g6e.12xlarge]}
    - {name: burst, role: burst, capacityType: [spot], instanceFamilies: [g6e]}
gitops:
  repoURL: https://git.example/demo.git
  destinations: [{name: demo, server: "https://demo.example", environment: default}]
identity: {modelRoleArn: "arn:aws:iam::111122223333:role/demo-model"}
fallback: {enabled: false}
"""


def write(tmp_path: Path, text: str = TIER2) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def plan_of(tmp_path: Path, *sets: str, text: str = TIER2):
    c = compile_env(Request(write(tmp_path, text), "p.yaml", None, (), tuple(sets)))
    return c.plan


def profile_of(tmp_path: Path, *sets: str, text: str = TIER2):
    return from_resolved(resolve(Request(write(tmp_path, text), "p.yaml", None, (), tuple(sets))))
