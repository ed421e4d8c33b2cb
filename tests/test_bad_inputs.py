"""The malformed-input corpus: every case exits 2 with exactly the located messages, no traceback.

Each case writes ``profile.yaml`` (BASE with one textual change, so line numbers are known) and
optional extra files into a temp dir, runs ``mcompile validate`` there, and compares stderr
line by line with the expected messages (sorted, as the CLI prints them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from .clirun import mcompile, mcompile_proc

BASE = """\
apiVersion: mcompile.io/v1alpha1
kind: InferenceProfile
metadata:
  name: demo
  namespace: inference
tier: tier2
model:
  id: meta-llama/Llama-3.3-70B-Instruct
  source: s3://acme-models/llama/
  parametersB: 70.6
  precision: fp8
  maxContext: 32768
workload:
  inputTokens: 2048
  outputTokens: 512
  targetRPS: 4
  slo: {e2eSeconds: 30}
  pattern: spiky
serving:
  image: {repository: vllm/vllm-openai, tag: v0.28.0}
  parallelism: {tensor: 4}
capacity:
  provisioner: karpenter
  pools:
    - name: baseline
      role: baseline
      capacityType: [on-demand]
      instanceTypes: [g6e.12xlarge]
environments:
  dev:
    autoscaling: {minReplicas: 1}
  prod: {}
"""

P = "profile.yaml"


@dataclass
class Case:
    name: str
    expect: list[str]
    replace: tuple[str, str] | None = None
    profile: str | bytes | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


def sub(old: str, new: str) -> tuple[str, str]:
    assert old in BASE, old
    return (old, new)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)

CASES = [
    Case("yaml-syntax", [f"{P}:22:9: $: YAML syntax error: expected ',' or '}}', but got ':'"], replace=sub("  parallelism: {tensor: 4}\n", "  parallelism: {tensor: 4\n")),
    Case("duplicate-key", [f"{P}:7:1: $.tier: duplicate key 'tier' (first defined at line 6)"], replace=sub("tier: tier2\n", "tier: tier2\ntier: tier3\n")),
    Case("wrong-type", [f"{P}:16:3: $.workload.targetRPS: expected number, got string 'four'"], replace=sub("targetRPS: 4", "targetRPS: four")),
    Case("unknown-top-key", [f"{P}:7:1: $.tire: unknown key 'tire' (did you mean 'tier'?)"], replace=sub("tier: tier2\n", "tier: tier2\ntire: tier2\n")),
    Case("unknown-nested-key", [f"{P}:11:3: $.model.parametersb: unknown key 'parametersb' (did you mean 'parametersB'?)"], replace=sub("  parametersB: 70.6\n", "  parametersB: 70.6\n  parametersb: 70\n")),
    Case("out-of-range", [f"{P}:22:3: $.serving.gpuMemoryUtilization: 1.5 is out of range: must be <= 0.98"], replace=sub("  parallelism: {tensor: 4}\n", "  parallelism: {tensor: 4}\n  gpuMemoryUtilization: 1.5\n")),
    Case("bad-enum", [f"{P}:11:3: $.model.precision: 'fp12' is not one of 'bf16', 'fp16', 'fp8', 'int8', 'int4', 'fp4'"], replace=sub("precision: fp8", "precision: fp12")),
    Case("missing-required", [f"{P}:7:1: $.model: missing required key 'source'"], replace=sub("  source: s3://acme-models/llama/\n", "")),
    Case("bad-name", [f"{P}:4:3: $.metadata.name: 'Demo_1' does not match the required format ^[a-z]([-a-z0-9]*[a-z0-9])?$"], replace=sub("name: demo", "name: Demo_1")),
    Case("latest-tag", [f"{P}:20:41: $.serving.image.tag: 'latest' is not allowed: 'latest' is not a pinned tag"], replace=sub("tag: v0.28.0", "tag: latest")),
    Case("type-as-family", [f"{P}:28:26: $.capacity.pools[0].instanceFamilies[0]: 'g5.12xlarge' does not match the required format ^[a-z][a-z0-9-]*$"], replace=sub("instanceTypes: [g6e.12xlarge]", "instanceFamilies: [g5.12xlarge]")),
    Case("consolidate-never-lowercase", [f"{P}:29:7: $.capacity.pools[0].consolidateAfter: 'never' does not match the required format ^(Never|[0-9]+(s|m|h))$"], replace=sub("      instanceTypes: [g6e.12xlarge]\n", "      instanceTypes: [g6e.12xlarge]\n      consolidateAfter: never\n")),
    Case("tier1-tp4", [f"{P}:21:17: $.serving.parallelism.tensor: must be 1, got 4 (tier1 serves one GPU per pod.)", f"{P}:23:3: $.capacity.provisioner: must be 'autoMode', got 'karpenter' (tier1 runs on EKS Auto Mode.)"], replace=sub("tier: tier2", "tier: tier1")),
    Case("min-gt-max", [f"{P}:31:19: $.autoscaling.minReplicas: minReplicas (5) is greater than maxReplicas (2)"], replace=sub("autoscaling: {minReplicas: 1}", "autoscaling: {minReplicas: 5, maxReplicas: 2}"), args=["--env", "dev"]),
    Case("unknown-env", [f"{P}:29:1: $.environments: unknown environment 'qa'; the profile defines: dev, prod"], args=["--env", "qa"]),
    Case("missing-file", ["nope.yaml:1:1: $: file not found"], profile=None, args=["__nope__"]),
    Case("override-unknown-key", ["over.yaml:2:5: $.serving.imag: unknown key 'imag' (did you mean 'image'?)"], files={"over.yaml": "serving:\n    imag: {tag: v1}\n"}, args=["-f", "over.yaml"]),
    Case("override-sets-tier", ["over.yaml:1:1: $.tier: 'tier' can only be set in the profile itself, not in override"], files={"over.yaml": "tier: tier1\n"}, args=["-f", "over.yaml"]),
    Case("set-no-equals", ["--set:1:1: $: expected path=value in --set 'serving.image.tag'"], args=["--set", "serving.image.tag"]),
    Case("set-bad-segment", ["--set:1:9: $: invalid path segment '' in --set 'serving..tag=x'"], args=["--set", "serving..tag=x"]),
    Case("set-unknown-key", ["--set:1:20: $.serving.image.tags: unknown key 'tags' (did you mean 'tag'?)"], args=["--set", "serving.image.tags=x"]),
    Case("set-wrong-type", ["--set:2:28: $.serving.parallelism.tensor: expected integer, got string 'four'"], args=["--set", "serving.port=8080", "--set", "serving.parallelism.tensor=four"]),
    Case("set-selector-on-plain-list", ["--set:1:1: $: serving.extraArgs is not a list of named items; [..] selects items by name in --set 'serving.extraArgs[x].y=1'"], args=["--set", "serving.extraArgs[x].y=1"]),
    Case("set-bad-yaml-value", ["--set:1:25: $: YAML syntax error: expected the node content, but found '<stream end>' in --set 'serving.extraArgs=[--a, '"], args=["--set", "serving.extraArgs=[--a, "]),
    Case("python-tag", [f"{P}:8:7: $.model.id: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"], replace=sub("id: meta-llama/Llama-3.3-70B-Instruct", "id: !!python/object/apply:os.system [ls]")),
    Case("yaml-bomb", [f"{P}:1:32: $: document expands to more than 200000 nodes (alias bomb?)"], profile=BOMB),
    Case("too-deep", [f"{P}:1:68: $: document nests deeper than 64 levels"], profile="a: " + "[" * 70 + "]" * 70 + "\n"),
    Case("not-utf8", [f"{P}:4:10: $: file is not valid UTF-8"], profile=BASE.replace("name: demo", "name: d\xe9mo").encode("latin-1")),
    Case("two-documents", [f"{P}:33:1: $: YAML syntax error: expected a single YAML document, found more than one"], profile=BASE + "---\nkind: x\n"),
    Case("top-level-list", [f"{P}:1:1: $: expected a mapping at the top level, got list"], profile="- a\n- b\n"),
    Case("empty-file", [f"{P}:1:1: $: expected a mapping at the top level, got an empty document"], profile=""),
    Case("env-unknown-key", [f"{P}:31:19: $.autoscaling.minReplica: unknown key 'minReplica' (did you mean 'minReplicas'?)"], replace=sub("{minReplicas: 1}", "{minReplica: 1}"), args=["--env", "dev"]),
    Case("reserved-without-reservations", [f"{P}:27:7: $.capacity.pools[0].capacityType: capacityType reserved needs at least one entry in reservations"], replace=sub("capacityType: [on-demand]", "capacityType: [reserved]")),
    Case("reservation-id-and-tags", [f"{P}:30:11: $.capacity.pools[0].reservations[0]: {{'id': 'cr-0123', 'tags': {{'team': 'ml'}}}} is not allowed: a reservation selected by id cannot also have tags or ownerID"], replace=sub("      instanceTypes: [g6e.12xlarge]\n", "      instanceTypes: [g6e.12xlarge]\n      reservations:\n        - {id: cr-0123, tags: {team: ml}}\n")),
    Case("many-errors-sorted", [f"{P}:4:3: $.metadata.name: 'X' does not match the required format ^[a-z]([-a-z0-9]*[a-z0-9])?$", f"{P}:11:3: $.model.precision: 'fp3' is not one of 'bf16', 'fp16', 'fp8', 'int8', 'int4', 'fp4'", f"{P}:16:3: $.workload.targetRPS: -1 is out of range: must be > 0"], profile=BASE.replace("targetRPS: 4", "targetRPS: -1").replace("precision: fp8", "precision: fp3").replace("name: demo", "name: X")),
    Case("directory", ["sub:1:1: $: is a directory, expected a YAML file"], files={"sub/x": ""}, args=["__sub__"]),
    Case("env-null-deletes-required", [f"{P}:7:1: $.model: missing required key 'source'"], replace=sub("  prod: {}", "  prod: {model: {source: null}}"), args=["--env", "prod"]),
    Case("bad-api-version", [f"{P}:1:1: $.apiVersion: 'mcompile.io/v1' is not one of 'mcompile.io/v1alpha1' (Profile format version.)"], replace=sub("mcompile.io/v1alpha1", "mcompile.io/v1")),
    Case("environments-as-list", [f"{P}:29:1: $.environments: expected a mapping of environment name to override block"], replace=sub("environments:\n  dev:\n    autoscaling: {minReplicas: 1}\n  prod: {}\n", "environments:\n  - dev\n")),
    Case("merge-key-refused", [f"{P}:34:3: $.base: only plain scalar keys are allowed (no merge keys or complex keys)"], profile=BASE + "base:\n  <<: {a: 1}\n"),
    Case("disaggregation-outside-tier3", [f"{P}:22:20: $.serving.disaggregation.enabled: prefill/decode disaggregation is a tier3 feature (LeaderWorkerSet roles)"], replace=sub("  parallelism: {tensor: 4}\n", "  parallelism: {tensor: 4}\n  disaggregation: {enabled: true}\n")),
    Case("env-sets-tier", [f"{P}:32:10: $.tier: 'tier' can only be set in the profile itself, not in environment prod"], replace=sub("  prod: {}", "  prod: {tier: tier3}"), args=["--env", "prod"]),
    Case("leader-ready-deadlock", [f"{P}:22:15: $.serving.multiNode.startupPolicy: LeaderReady deadlocks a multi-node group: workers start only after the leader is ready, and the leader is ready only once the workers joined; use LeaderCreated"], profile=BASE.replace("tier: tier2", "tier: tier3").replace("  parallelism: {tensor: 4}\n", "  parallelism: {tensor: 8, pipeline: 2}\n  multiNode: {startupPolicy: LeaderReady}\n")),
    Case("null-required-in-profile", [f"{P}:13:1: $.workload: missing required key 'pattern'"], replace=sub("  pattern: spiky", "  pattern: null")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path) -> None:
    text = BASE if case.profile is None and case.replace is None else case.profile
    if case.replace:
        text = BASE.replace(*case.replace, 1)
    if text is not None:
        (tmp_path / P).write_bytes(text if isinstance(text, bytes) else text.encode())
    for name, content in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    target = P
    args = list(case.args)
    if args and args[0].startswith("__"):
        target = args.pop(0).strip("_") + (".yaml" if case.name == "missing-file" else "")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    r = mcompile("validate", target, *args, cwd=tmp_path)
    assert r.code == 2, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert lines[:-1] == case.expect
    assert lines[-1].startswith(f"mcompile: {len(case.expect)} error")
    assert "Traceback" not in r.stderr + r.stdout
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_bad_input_as_real_process_has_no_traceback(tmp_path) -> None:
    (tmp_path / P).write_text(BASE.replace("tier: tier2", "tier: tier9"))
    r = mcompile_proc("validate", str(tmp_path / P))
    assert r.code == 2
    assert "$.tier: 'tier9' is not one of 'tier1', 'tier2', 'tier3'" in r.stderr
    assert "Traceback" not in r.stderr
