"""The malformed-input corpus: every case exits 2 with exactly the located messages, no traceback.

Each case writes ``profile.yaml`` (BASE with one textual change, so line numbers are known) and
optional extra files into a temp dir, runs ``mcompile validate`` there (or the command the case
names), and compares stderr line by line with the expected messages (sorted, as the CLI prints
them). :func:`test_bad_input_leaves_a_built_out_dir_untouched` then runs ``mcompile build`` over
the same corpus into a project whose ``out/`` is already built, and proves ``out/`` byte-identical.

Categories: YAML syntax and safety (bombs, depth, size, encodings, NUL, tabs, tags), schema
(types, enums, ranges, lengths, patterns, unknown keys), names unsafe for Kubernetes or file names
(traversal, slashes, case, length, unicode, template syntax), layers (environments, -f files,
--set), cross-field rules and contradictions across layers, literal secrets, and CLI usage.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

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
  clusterName: acme-cluster
  nodeRole: acme-node-role
environments:
  dev:
    autoscaling: {minReplicas: 1}
  prod: {metadata: {namespace: inference-prod}}
identity: {ack: false, modelRoleArn: "arn:aws:iam::111122223333:role/demo-model"}
fallback: {enabled: false}
gitops:
  repoURL: https://git.example/acme.git
  destinations: [{name: cluster-dev, server: "https://dev.example", environment: dev}, {name: cluster-prod, server: "https://prod.example", environment: prod}]
"""

P = "profile.yaml"
PROD = "  prod: {metadata: {namespace: inference-prod}}"
SERVING = "  parallelism: {tensor: 4}\n"  # insert serving keys after it (line 22 onwards)
META = "  namespace: inference\n"  # insert metadata keys after it (line 6 onwards)


@dataclass
class Case:
    name: str
    expect: list[str]
    replace: tuple[str, str] | None = None
    profile: str | bytes | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    target: str | None = P  # the profile argument (None: the command takes none)
    cmd: tuple[str, ...] = ("validate",)
    usage: str | None = None  # a usage error: click's message contains this (no located lines)
    each: tuple[str, str] | None = None  # instead of ``expect``: every line starts and ends so (one per file)
    symlinks: dict[str, str] = field(default_factory=dict)  # link -> target, created before the run
    build: bool = True  # also part of the build corpus (build has no --env: it is dropped there)


def sub(old: str, new: str) -> tuple[str, str]:
    assert old in BASE, old
    return (old, new)


def serving(text: str) -> tuple[str, str]:
    return sub(SERVING, SERVING + text)


def meta(text: str) -> tuple[str, str]:
    return sub(META, META + text)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)
#: The same explosion through mappings: each level is a map of ten aliases to the previous map.
MAP_BOMB = "a: &a {x: 1, y: 1, z: 1, w: 1, v: 1, u: 1, t: 1, s: 1, r: 1, q: 1}\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} {{" + ", ".join(f"k{j}: *{chr(97 + i)}" for j in range(10)) + "}\n" for i in range(8)
)
DEEP_MAPS = "a:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(100))
HF = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345"  # shaped like a Hugging Face token (not a real one)
PROFILE_KEYS = "apiVersion, autoscaling, capacity, environments, fallback, gitops, identity, kind, metadata, model, monitoring, network, platform, routing, serving, tier, workload"
NAME_RE = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
LABEL_RE = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
LABEL_VALUE_RE = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
USE_SECRET_ENV = ("literal secrets end up in Git and in the rendered manifests; reference an existing Secret "
                  "(e.g. synced by External Secrets) with serving.secretEnv: [{name: ..., secretName: ..., key: ...}]")

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
    Case("min-gt-max", [f"{P}:33:19: $.autoscaling.minReplicas: minReplicas (5) is greater than maxReplicas (2)"], replace=sub("autoscaling: {minReplicas: 1}", "autoscaling: {minReplicas: 5, maxReplicas: 2}"), args=["--env", "dev"]),
    Case("unknown-env", [f"{P}:31:1: $.environments: unknown environment 'qa'; the profile defines: dev, prod"], args=["--env", "qa"], build=False),
    Case("missing-file", ["nope.yaml:1:1: $: file not found"], target="nope.yaml"),
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
    Case("two-documents", [f"{P}:40:1: $: YAML syntax error: expected a single YAML document, found more than one"], profile=BASE + "---\nkind: x\n"),
    Case("top-level-list", [f"{P}:1:1: $: expected a mapping at the top level, got list"], profile="- a\n- b\n"),
    Case("empty-file", [f"{P}:1:1: $: expected a mapping at the top level, got an empty document"], profile=""),
    Case("env-unknown-key", [f"{P}:33:19: $.autoscaling.minReplica: unknown key 'minReplica' (did you mean 'minReplicas'?)"], replace=sub("{minReplicas: 1}", "{minReplica: 1}"), args=["--env", "dev"]),
    Case("reserved-without-reservations", [f"{P}:27:7: $.capacity.pools[0].capacityType: capacityType reserved needs at least one entry in reservations"], replace=sub("capacityType: [on-demand]", "capacityType: [reserved]")),
    Case("reservation-id-and-tags", [f"{P}:30:11: $.capacity.pools[0].reservations[0]: {{'id': 'cr-0123', 'tags': {{'team': 'ml'}}}} is not allowed: a reservation selected by id cannot also have tags or ownerID"], replace=sub("      instanceTypes: [g6e.12xlarge]\n", "      instanceTypes: [g6e.12xlarge]\n      reservations:\n        - {id: cr-0123, tags: {team: ml}}\n")),
    Case("many-errors-sorted", [f"{P}:4:3: $.metadata.name: 'X' does not match the required format ^[a-z]([-a-z0-9]*[a-z0-9])?$", f"{P}:11:3: $.model.precision: 'fp3' is not one of 'bf16', 'fp16', 'fp8', 'int8', 'int4', 'fp4'", f"{P}:16:3: $.workload.targetRPS: -1 is out of range: must be > 0"], profile=BASE.replace("targetRPS: 4", "targetRPS: -1").replace("precision: fp8", "precision: fp3").replace("name: demo", "name: X")),
    Case("directory", ["sub:1:1: $: is a directory, expected a YAML file"], files={"sub/x": ""}, target="sub"),
    Case("env-null-deletes-required", [f"{P}:7:1: $.model: missing required key 'source'"], replace=sub(PROD, "  prod: {model: {source: null}}"), args=["--env", "prod"]),
    Case("bad-api-version", [f"{P}:1:1: $.apiVersion: 'mcompile.io/v1' is not one of 'mcompile.io/v1alpha1' (Profile format version.)"], replace=sub("mcompile.io/v1alpha1", "mcompile.io/v1")),
    Case("environments-as-list", [f"{P}:31:1: $.environments: expected a mapping of environment name to override block"], replace=sub("environments:\n  dev:\n    autoscaling: {minReplicas: 1}\n" + PROD + "\n", "environments:\n  - dev\n")),
    Case("merge-key-refused", [f"{P}:41:3: $.base: only plain scalar keys are allowed (no merge keys or complex keys)"], profile=BASE + "base:\n  <<: {a: 1}\n"),
    Case("disaggregation-outside-tier3", [f"{P}:22:20: $.serving.disaggregation.enabled: prefill/decode disaggregation is a tier3 feature (LeaderWorkerSet roles)"], replace=sub("  parallelism: {tensor: 4}\n", "  parallelism: {tensor: 4}\n  disaggregation: {enabled: true}\n")),
    Case("env-sets-tier", [f"{P}:34:10: $.tier: 'tier' can only be set in the profile itself, not in environment prod"], replace=sub(PROD, "  prod: {tier: tier3}"), args=["--env", "prod"]),
    Case("leader-ready-deadlock", [f"{P}:22:15: $.serving.multiNode.startupPolicy: LeaderReady deadlocks a multi-node group: workers start only after the leader is ready, and the leader is ready only once the workers joined; use LeaderCreated"], profile=BASE.replace("tier: tier2", "tier: tier3").replace("  parallelism: {tensor: 4}\n", "  parallelism: {tensor: 8, pipeline: 2}\n  multiNode: {startupPolicy: LeaderReady}\n")),
    Case("null-required-in-profile", [f"{P}:13:1: $.workload: missing required key 'pattern'"], replace=sub("  pattern: spiky", "  pattern: null")),
    # --- YAML safety: other bomb shapes, depth, size, encodings ---
    Case("yaml-bomb-maps", [f'{P}:1:59: $: document expands to more than 200000 nodes (alias bomb?)'], profile=MAP_BOMB),
    Case("deep-block-mappings", [f'{P}:66:131: $: document nests deeper than 64 levels'], profile=DEEP_MAPS),
    Case("deep-recursion", [f'{P}:1:68: $: document nests deeper than 64 levels'], profile="a: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    Case("huge-file", [f'{P}:1:1: $: file is larger than 2097152 bytes'], profile=BASE + "# " + "x" * (2 * 1024 * 1024) + "\n"),
    Case("huge-string", [f"{P}:4:3: $.metadata.name: '{'a' * 56}... is too long: at most 40 characters, got 1048576"], replace=sub("name: demo", "name: " + "a" * (1024 * 1024))),
    Case("huge-key", [f"{P}:7:3: $.{'k' * 95}[...]{'k' * 97}: unknown key '{'k' * 56}...; allowed: {PROFILE_KEYS}"], replace=sub("tier: tier2\n", "tier: tier2\n? " + "k" * 5000 + "\n: x\n")),
    Case("long-implicit-key", [f"{P}:7:5001: $: YAML syntax error: could not find expected ':'"], replace=sub("tier: tier2\n", "tier: tier2\n" + "k" * 5000 + ": x\n")),
    Case("huge-integer", [f'{P}:16:14: $.workload.targetRPS: integer with more than 100 digits'], replace=sub("targetRPS: 4", "targetRPS: " + "9" * 5000)),
    Case("huge-hex-integer", [f'{P}:16:14: $.workload.targetRPS: integer with more than 100 digits'], replace=sub("targetRPS: 4", "targetRPS: 0x" + "f" * 5000)),
    Case("nan", [f'{P}:16:3: $.workload.targetRPS: nan is not allowed: numbers must be finite'], replace=sub("targetRPS: 4", "targetRPS: .nan")),
    Case("infinity", [f'{P}:10:3: $.model.parametersB: inf is not allowed: numbers must be finite'], replace=sub("parametersB: 70.6", "parametersB: .inf")),
    Case("utf16-bom", [f'{P}:1:1: $: file is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8'], profile=BASE.encode("utf-16")),
    Case("utf16-be-bom", [f'{P}:1:1: $: file is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8'], profile=b"\xfe\xff" + BASE.encode("utf-16-be")),
    Case("nul-byte", [f'{P}:1:1: $: file contains a NUL byte'], profile=BASE.replace("name: demo", "name: de\x00mo")),
    Case("tab-indent", [f"{P}:5:1: $: YAML syntax error: found character '\\t' that cannot start any token"], replace=sub("  namespace: inference", "\tnamespace: inference")),
    Case("binary-tag", [f"{P}:4:9: $.metadata.name: tag 'tag:yaml.org,2002:binary' is not allowed"], replace=sub("name: demo", "name: !!binary ZGVtbw==")),
    Case("custom-tag", [f"{P}:4:9: $.metadata.name: tag '!Ref' is not allowed"], replace=sub("name: demo", "name: !Ref demo")),
    Case("complex-key", [f'{P}:7:3: $: only plain scalar keys are allowed (no merge keys or complex keys)'], replace=sub("tier: tier2\n", "tier: tier2\n? [a, b]\n: c\n")),
    Case("comments-only", [f'{P}:1:1: $: expected a mapping at the top level, got an empty document'], profile="# nothing but a comment\n"),
    Case("special-file-override", ['/dev/zero:1:1: $: file is larger than 2097152 bytes'], args=["-f", "/dev/zero"]),
    # --- names that are unsafe for Kubernetes or as file names ---
    Case("name-path-traversal", [f"{P}:4:3: $.metadata.name: '../../etc' does not match the required format {NAME_RE}"], replace=sub("name: demo", "name: ../../etc")),
    Case("name-slash", [f"{P}:4:3: $.metadata.name: 'a/b' does not match the required format {NAME_RE}"], replace=sub("name: demo", "name: a/b")),
    Case("name-uppercase", [f"{P}:4:3: $.metadata.name: 'Demo' does not match the required format {NAME_RE}"], replace=sub("name: demo", "name: Demo")),
    Case("name-64-chars", [f"{P}:4:3: $.metadata.name: '{'a' * 56}... is too long: at most 40 characters, got 64"], replace=sub("name: demo", "name: " + "a" * 64)),
    Case("name-unicode", [f"{P}:4:3: $.metadata.name: 'démö' does not match the required format {NAME_RE}"], replace=sub("name: demo", "name: dém\u00f6")),
    Case("name-template-go", [f"{P}:4:3: $.metadata.name: '{{{{ .Values }}}}' does not match the required format {NAME_RE}"], replace=sub("name: demo", "name: '{{ .Values }}'")),
    Case("namespace-template-shell", [f"{P}:5:3: $.metadata.namespace: '${{NS}}' does not match the required format {LABEL_RE}"], replace=sub("namespace: inference\n", "namespace: '${NS}'\n")),
    Case("label-value-template", [f"{P}:6:12: $.metadata.labels.team: '{{{{ .Values.team }}}}' does not match the required format {LABEL_VALUE_RE}"], replace=meta("  labels: {team: '{{ .Values.team }}'}\n")),
    Case("label-key-jinja", [f'{P}:6:12: $.metadata.labels["{{% raw %}}"]: \'{{% raw %}}\' does not match the required format ^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?$'], replace=meta("  labels: {'{% raw %}': x}\n")),
    Case("too-many-labels", [f'{P}:6:3: $.metadata.labels: too many keys: at most 32, got 33'], replace=meta("  labels: {" + ", ".join(f"l{i}: v" for i in range(33)) + "}\n")),
    Case("env-name-traversal", [f'{P}:34:3: $.environments["../x"]: \'../x\' does not match the required format {LABEL_RE}'], replace=sub(PROD, '  "../x": {}')),
    Case("env-name-slash", [f'{P}:34:3: $.environments["a/b"]: \'a/b\' does not match the required format {LABEL_RE}'], replace=sub(PROD, '  "a/b": {}')),
    Case("env-name-uppercase", [f"{P}:34:3: $.environments.Prod: 'Prod' does not match the required format {LABEL_RE}"], replace=sub(PROD, "  Prod: {}")),
    Case("too-many-environments", [f'{P}:31:1: $.environments: too many keys: at most 16, got 17'], replace=sub(PROD, "\n".join(f"  e{i}: {{metadata: {{namespace: ns{i}}}}}" for i in range(16)))),
    Case("env-block-not-a-mapping", [f'{P}:34:3: $: expected a mapping at the top level, got int'], replace=sub(PROD, "  prod: 3")),
    Case("pool-name-traversal", [f"{P}:25:7: $.capacity.pools[0].name: '../baseline' does not match the required format {LABEL_RE}"], replace=sub("    - name: baseline", "    - name: ../baseline")),
    # --- --set edge cases ---
    Case("set-empty-value", ['--set:1:19: $: empty value (write path=null to delete the key, path="" for an empty string) in --set \'serving.image.tag=\''], args=["--set", "serving.image.tag="]),
    Case("set-equals-only", ["--set:1:1: $: empty path in --set '='"], args=["--set", "="]),
    Case("set-unicode-path", ["--set:1:1: $: invalid path segment 'sérving' in --set 'sérving.port=1'"], args=["--set", "sérving.port=1"]),
    Case("set-index-on-named-list", ["--set:1:15: $.capacity.pools: no item named '0' in capacity.pools (items: baseline, burst): [0] added a new item; [..] selects items by name, not by position", "--set:1:26: $.capacity.pools[2]: missing required key 'capacityType'", "--set:1:26: $.capacity.pools[2]: missing required key 'role'", "--set:1:26: $.capacity.pools[2]: needs 'instanceFamilies' or 'instanceTypes'"], args=["--set", "capacity.pools[0].weight=3"]),
    Case("set-deep-unknown", [f"--set:1:13: $.a: unknown key 'a'; allowed: {PROFILE_KEYS}"], args=["--set", "a.b.c.d.e.f=1"]),
    Case("set-profile-only-key", ["--set:1:24: $.environments: 'environments' can only be set in the profile itself, not in --set"], args=["--set", "environments.prod.tier=tier1"]),
    Case("set-selector-without-key", ["--set:1:26: $: an item selector needs a key below it, e.g. capacity.pools[baseline].weight=... in --set 'capacity.pools[baseline]=3'"], args=["--set", "capacity.pools[baseline]=3"]),
    # --- override files ---
    Case("override-is-directory", ['over:1:1: $: is a directory, expected a YAML file'], files={"over/x.yaml": "a: 1\n"}, args=["-f", "over"]),
    Case("override-missing", ['nope.yaml:1:1: $: file not found'], args=["-f", "nope.yaml"]),
    Case("override-empty", ['over.yaml:1:1: $: expected a mapping at the top level, got an empty document'], files={"over.yaml": ""}, args=["-f", "over.yaml"]),
    Case("override-is-a-list", ['over.yaml:1:1: $: expected a mapping at the top level, got list'], files={"over.yaml": "- serving\n- capacity\n"}, args=["-f", "over.yaml"]),
    Case("override-not-utf8", ['over.yaml:2:10: $: file is not valid UTF-8'], files={"over.yaml": "serving:\n  port: 8\xe900\n".encode("latin-1")}, args=["-f", "over.yaml"]),
    # --- EFS compile cache and dashboards ---
    Case("efs-file-system-id-shape", [f"{P}:22:33: $.serving.compileCache.fileSystemId: 'fs-12345' does not match the required format ^fs-([0-9a-f]{{8}}|[0-9a-f]{{17}})$"], replace=serving("  compileCache: {enabled: true, fileSystemId: fs-12345}\n")),
    Case("efs-file-system-id-upper-case", [f"{P}:22:33: $.serving.compileCache.fileSystemId: 'FS-0123456789ABCDEF0' does not match the required format ^fs-([0-9a-f]{{8}}|[0-9a-f]{{17}})$"], replace=serving("  compileCache: {enabled: true, fileSystemId: FS-0123456789ABCDEF0}\n")),
    Case("efs-cache-without-source", [f"{P}:22:18: $.serving.compileCache.enabled: an enabled compile cache needs fileSystemId (an EFS file system, fs-...), storageClassName (an existing EFS StorageClass) or claimName (an existing ReadWriteMany PVC)"], replace=serving("  compileCache: {enabled: true}\n")),
    Case("efs-cache-two-sources", [f"{P}:22:69: $.serving.compileCache.claimName: set only one of fileSystemId, claimName"], replace=serving("  compileCache: {enabled: true, fileSystemId: fs-0123456789abcdef0, claimName: x}\n")),
    Case("dashboard-label-key-invalid", [f"{P}:31:36: $.monitoring.dashboards.labels[\"bad key!\"]: 'bad key!' does not match the required format ^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"], replace=sub("environments:\n", "monitoring: {dashboards: {labels: {'bad key!': '1'}}}\nenvironments:\n")),
    Case("dashboard-labels-empty", [f"{P}:31:42: $.monitoring.dashboards.labels: too few keys: at least 1, got 0"], replace=sub("environments:\n", "monitoring: {dashboards: {enabled: true, labels: {}}}\nenvironments:\n")),
    # --- contradictions across layers ---
    Case("env-sets-tensor-16-on-tier2", [f'{P}:34:34: $.serving.parallelism.tensor: 16 is not one of 4, 8 (tier2 uses TP 4..8.)'], replace=sub(PROD, "  prod: {serving: {parallelism: {tensor: 16}}}"), args=["--env", "prod"]),
    Case("override-automode-efa-on-tier3", ["over.yaml:2:3: $.capacity.provisioner: must be 'karpenter', got 'autoMode' (tier3 runs on Karpenter.)"], profile=BASE.replace("tier: tier2", "tier: tier3").replace(SERVING, "  parallelism: {tensor: 8, pipeline: 2}\n"),
         files={"over.yaml": "capacity:\n  provisioner: autoMode\n  pools:\n    - {name: baseline, efa: true}\n"}, args=["-f", "over.yaml"]),
    Case("set-efa-under-automode-tier1", ['--set:1:30: $.capacity.pools[1].efa: EFA pools need provisioner karpenter (Auto Mode NodeClass has no EFA setting)'], profile=BASE.replace("tier: tier2", "tier: tier1").replace(SERVING, "  parallelism: {tensor: 1}\n").replace("provisioner: karpenter", "provisioner: autoMode").replace("g6e.12xlarge", "g6e.xlarge").replace("70.6", "8"),
         args=["--set", "capacity.pools[baseline].efa=true"]),
    Case("env-renames-profile", [f"{P}:34:21: $.metadata.name: environment prod renames the profile to 'other' (the profile is 'demo'): the name is shared by all environments (output directory, chart, GitOps apps); set metadata.namespace per environment instead"],
         replace=sub(PROD, "  prod: {metadata: {name: other, namespace: inference-prod}}")),
    Case("gitops-envs-share-a-namespace", [f"{P}:39:3: $.gitops.destinations: dev@cluster-dev and prod@cluster-prod deploy to namespace 'inference' of the same cluster https://dev.example: list a destination per environment or give each environment its own metadata.namespace"],
         profile=BASE.replace(PROD + "\n", "  prod: {}\n").replace('server: "https://prod.example"', 'server: "https://dev.example"'), build=False),  # build: see test_build_locates_fleet_errors
    # --- literal secrets ---
    Case("secret-by-env-name", [f'{P}:22:26: $.serving.env[0].value: HF_TOKEN looks like a credential: {USE_SECRET_ENV}'], replace=serving("  env: [{name: HF_TOKEN, value: x}, {name: TOKENIZERS_PARALLELISM, value: 'false'}]\n")),
    Case("secret-by-value-shape", [f'{P}:22:22: $.serving.env[0].value: value looks like a credential: {USE_SECRET_ENV}'], replace=serving(f"  env: [{{name: NOTE, value: 'Bearer {HF}'}}]\n")),
    Case("secret-aws-key-in-label", [f'{P}:6:12: $.metadata.labels.key: value looks like a credential: {USE_SECRET_ENV}'], replace=meta("  labels: {key: AKIAABCDEFGHIJKLMNOP}\n")),
    Case("secret-private-key", [f'{P}:22:21: $.serving.env[0].value: value looks like a credential: {USE_SECRET_ENV}'], replace=serving("  env: [{name: TLS, value: '-----BEGIN RSA PRIVATE KEY-----abc'}]\n")),
    Case("secret-api-key-flag", [f'{P}:22:15: $.serving.extraArgs[0]: --api-key passes a credential on the command line: set VLLM_API_KEY / HF_TOKEN instead; {USE_SECRET_ENV}'], replace=serving("  extraArgs: [--api-key=s3cr3t]\n")),
    # --- CLI usage ---
    Case("out-is-a-file", [], files={"of": "x"}, args=["--out", "of"], cmd=("build",), usage="Invalid value for '--out': of is not a directory"),
    Case("out-below-a-file", [], files={"of": "x"}, args=["--out", "of/sub"], cmd=("build",), usage="Invalid value for '--out': of is not a directory"),
    Case("out-symlink-escapes", [], each=("o2:1:1: $: demo/", ": escapes the output directory through symlink demo"), files={"outside/keep": "k"}, symlinks={"o2/demo": "../outside"}, args=["--out", "o2"], cmd=("build",)),
    Case("unknown-command", [], cmd=("frobnicate",), usage="No such command 'frobnicate'", build=False),
    Case("plan-unknown-format", [], cmd=("plan",), args=["--env", "prod", "--format", "xml"], usage="Invalid value for --format: must be table, json or markdown", build=False),
    Case("diff-unknown-format", [], cmd=("diff",), target=None, args=["--format", "xml"], usage="Invalid value for --format: must be text, json or markdown", build=False),
    Case("explain-unknown-path", ['<argument>:1:1: $.serving.nope: no such path in the merged profile'], cmd=("explain",), args=["serving.nope", "--env", "prod"], build=False),
    Case("plan-bad-profile", [f'{P}:16:3: $.workload.targetRPS: nan is not allowed: numbers must be finite'], cmd=("plan",), replace=sub("targetRPS: 4", "targetRPS: .nan"), args=["--env", "prod"], build=False),
]

LOCATED = r"^[^\s:][^:]*:[1-9][0-9]*:[1-9][0-9]*: \$"


def _setup(case: Case, root: Path) -> None:
    text = BASE if case.profile is None and case.replace is None else case.profile
    if case.replace:
        text = BASE.replace(*case.replace, 1)
    if text is not None:
        (root / P).write_bytes(text if isinstance(text, bytes) else text.encode())
    for name, content in case.files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    for link, target in case.symlinks.items():
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / link)


def _argv(case: Case, *, build: bool = False) -> list[str]:
    args = list(case.args)
    if build:  # build compiles every environment and has no --env
        while "--env" in args:
            i = args.index("--env")
            del args[i : i + 2]
    return [*(("build",) if build else case.cmd), *([case.target] if case.target else []), *args]


def _tree(root: Path) -> dict[str, str]:
    """Every entry under ``root``: file bytes (hashed), symlink targets, directories. The writer's
    empty lock file (``.mcompile/lock``, taken before it checks anything) is not output, nor is
    the build cache (``.mcompile-cache/``: profiles that compiled are cached even when the output
    directory then refuses the write)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.endswith((".mcompile", ".mcompile/lock")) or rel.split("/")[0] == ".mcompile-cache":
            continue
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _assert_rejected(case: Case, code: int, stdout: str, stderr: str) -> None:
    import re

    assert code == 2, stdout + stderr
    assert "Traceback" not in stderr + stdout and "internal error" not in stderr
    if case.usage:
        assert case.usage in stderr
        return
    lines = stderr.splitlines()
    if case.each:
        assert len(lines) > 1 and all(line.startswith(case.each[0]) and line.endswith(case.each[1]) for line in lines[:-1]), lines
    else:
        assert lines[:-1] == case.expect
    assert lines[-1].startswith(f"mcompile: {len(lines) - 1} error")
    assert all(re.match(LOCATED, line) for line in lines[:-1]), lines


def rejected_untouched(case: Case, root: Path, *, build: bool = False) -> None:
    """Set ``case`` up in ``root``, run it (as ``build`` when asked): exit 2 with its located
    messages, and nothing under ``root`` changed. The other *_bad_inputs modules use it too."""
    _setup(case, root)
    before = _tree(root)
    r = mcompile(*_argv(case, build=build), cwd=root)
    _assert_rejected(case, r.code, r.stdout, r.stderr)
    assert _tree(root) == before


def built_project(root: Path, text: str) -> Path:
    """``root`` with ``text`` as the profile and its out/ built (a module fixture's body)."""
    (root / P).write_text(text)
    r = mcompile("build", P, cwd=root)
    assert r.code == 0, r.stderr
    return root


def copy_of(built: Path, tmp_path: Path) -> Path:
    """A copy of a built project for one case to work on."""
    root = tmp_path / "proj"
    shutil.copytree(built, root, symlinks=True)
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    rejected_untouched(case, tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A project whose out/ already holds BASE's build (built once; each case works on a copy)."""
    root = tmp_path_factory.mktemp("built")
    (root / P).write_text(BASE)
    r = mcompile("build", P, cwd=root)
    assert r.code == 0, r.stderr
    assert len(list((root / "out").rglob("*.yaml"))) > 20
    return root


BUILD_CASES = [c for c in CASES if c.build]


@pytest.mark.parametrize("case", BUILD_CASES, ids=[c.name for c in BUILD_CASES])
def test_bad_input_leaves_a_built_out_dir_untouched(case: Case, built: Path, tmp_path: Path) -> None:
    """build refuses the same inputs with the same messages, and out/ stays byte-identical."""
    root = tmp_path / "proj"
    shutil.copytree(built, root, symlinks=True)
    _setup(case, root)
    before = _tree(root)
    assert any(k.startswith("out/demo/chart/") for k in before)
    r = mcompile(*_argv(case, build=True), cwd=root)
    _assert_rejected(case, r.code, r.stdout, r.stderr)
    assert _tree(root) == before


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len(BUILD_CASES) >= 50
    assert len({c.name for c in CASES}) == len(CASES)


def test_bad_input_as_real_process_has_no_traceback(tmp_path) -> None:
    (tmp_path / P).write_text(BASE.replace("tier: tier2", "tier: tier9"))
    r = mcompile_proc("validate", str(tmp_path / P))
    assert r.code == 2
    assert "$.tier: 'tier9' is not one of 'tier1', 'tier2', 'tier3'" in r.stderr
    assert "Traceback" not in r.stderr


# --- inputs that look odd but are fine: accepted, and they come out literally ---


@pytest.mark.parametrize("encode", [lambda t: t.replace("\n", "\r\n").encode(), lambda t: b"\xef\xbb\xbf" + t.encode()], ids=["crlf", "utf8-bom"])
def test_crlf_and_utf8_bom_are_accepted(encode, tmp_path: Path) -> None:
    (tmp_path / P).write_bytes(encode(BASE))
    r = mcompile("validate", P, cwd=tmp_path)
    assert r.code == 0, r.stderr
    assert r.stdout.startswith(f"{P}: ok (dev, prod;")
    r = mcompile("explain", P, "metadata", "--env", "prod", cwd=tmp_path)
    assert '$.metadata.name = "demo"' in r.stdout and "\r" not in r.stdout


HOSTILE = "{{ .Values.secret }} {% raw %} ${HOME} }} {{ {{- end }}"


def test_template_syntax_in_free_text_is_accepted_literally(tmp_path: Path) -> None:
    """Template syntax is data in free-text fields: validated, compiled and explained verbatim."""
    import json

    from compiler.pipeline import compile_all
    from compiler.resolve import Request

    text = BASE.replace(SERVING, SERVING + f"  env: [{{name: NOTE, value: {json.dumps(HOSTILE)}}}]\n  extraArgs: ['--chat-template={{{{x}}}}']\n")
    (tmp_path / P).write_text(text)
    r = mcompile("validate", P, cwd=tmp_path)
    assert r.code == 0, r.stderr
    r = mcompile("explain", P, "serving.env", "--env", "prod", cwd=tmp_path)
    assert f"$.serving.env[0].value = {json.dumps(HOSTILE)}" in r.stdout
    for c in compile_all(Request(tmp_path / P, P)):
        deployment = next(o for o in c.objects if o["kind"] == "Deployment")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["NOTE"].replace("$$", "$") == HOSTILE  # Kubernetes turns $$ back into $
        assert "--chat-template={{x}}" in container["args"] + container.get("command", [])


def test_integral_floats_become_integers(tmp_path: Path) -> None:
    """``port: 8000.0`` is an integer to JSON Schema; it must not reach Kubernetes or vLLM as 8000.0."""
    from compiler.pipeline import compile_env
    from compiler.resolve import Request

    (tmp_path / P).write_text(BASE.replace(SERVING, "  parallelism: {tensor: 4.0}\n  port: 8000.0\n"))
    c = compile_env(Request(tmp_path / P, P, "prod"))
    assert c.resolved.values["serving"]["port"] == 8000 and isinstance(c.resolved.values["serving"]["port"], int)
    assert type(c.resolved.values["serving"]["parallelism"]["tensor"]) is int
    assert isinstance(c.resolved.values["model"]["parametersB"], float)  # numbers stay numbers
    rendered = repr(c.objects)
    assert "8000.0" not in rendered and "8000" in rendered


def test_set_can_still_add_a_complete_named_item(tmp_path: Path) -> None:
    """The new-item hint only explains failures: adding a whole env var by name is fine."""
    (tmp_path / P).write_text(BASE)
    r = mcompile("validate", P, "--set", "serving.env[FOO].value=bar", cwd=tmp_path)
    assert r.code == 0, r.stderr


def test_build_locates_fleet_errors(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == "gitops-envs-share-a-namespace")
    _setup(case, tmp_path)
    r = mcompile("build", P, cwd=tmp_path)
    _assert_rejected(case, r.code, r.stdout, r.stderr)


def test_credential_references_and_lookalike_names_are_accepted(tmp_path: Path) -> None:
    """The literal-secret rule must not refuse the right way (secretEnv) nor names that merely
    contain TOKEN (TOKENIZERS_PARALLELISM) or point at a mounted secret (HF_TOKEN_PATH)."""
    env = ("  env: [{name: TOKENIZERS_PARALLELISM, value: 'false'}, {name: MAX_NUM_BATCHED_TOKENS, value: '8192'}, "
           "{name: HF_TOKEN_PATH, value: /var/run/secrets/hf/token}]\n"
           "  secretEnv: [{name: HF_TOKEN, secretName: hf-token, key: token}]\n")
    (tmp_path / P).write_text(BASE.replace(SERVING, SERVING + env))
    r = mcompile("validate", P, cwd=tmp_path)
    assert r.code == 0, r.stderr
