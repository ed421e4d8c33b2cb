"""Bad request-path input (issue 11): each a located error, exit 2, nothing written, through
``validate`` and through ``build`` over an existing out/ (which stays byte-identical). Same harness
and BASE profile as tests/test_bad_inputs.py; the cases replace its last two lines
(``identity`` at line 33, ``fallback`` at line 34)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .clirun import mcompile
from .test_bad_inputs import BASE, Case, P, built_project, copy_of, rejected_untouched

IDENTITY = 'identity: {ack: false, modelRoleArn: "arn:aws:iam::111122223333:role/demo-model"}\n'
FALLBACK_OFF = "fallback: {enabled: false}\n"
ROLE = '"arn:aws:iam::111122223333:role/demo-bedrock"'


def cascade(cluster: str = "{name: cluster, timeoutSeconds: 20}",
            bedrock: str = f"{{name: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: us-east-1, timeoutSeconds: 8, roleArn: {ROLE}}}",
            extra: str = "") -> tuple[str, str]:
    """Replace the fallback line by a cascade (lines 34-37, an extra step at 38)."""
    text = f"fallback:\n  cascade:\n    - {cluster}\n    - {bedrock}\n" + (f"    - {extra}\n" if extra else "")
    return (FALLBACK_OFF, text)


def tail(text: str) -> tuple[str, str]:
    """Append after the fallback line (line 35 onwards)."""
    return (FALLBACK_OFF, FALLBACK_OFF + text)


#: What each case must print: every problem located at the profile line that causes it.
EXPECT: dict[str, list[str]] = {
    'gateway-class-shape': [
        "profile.yaml:37:21: $.routing.gateway.className: 'Istio_GW' does not match the required format ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ],
    'bedrock-model-id-shape': [
        "profile.yaml:39:23: $.fallback.cascade[1].modelId: 'Llama 3.3 70B' does not match the required format ^([a-z]{2,7}\\.)?[a-z0-9-]+\\.[a-z0-9][a-z0-9.-]*(:[0-9]+)?$",
    ],
    'bedrock-region-shape': [
        "profile.yaml:39:65: $.fallback.cascade[1].region: 'US East 1' does not match the required format ^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$",
    ],
    'cascade-repeats-a-step': [
        "profile.yaml:40:7: $.fallback.cascade[2]: step 'again' repeats step 'bedrock' (bedrock meta.llama3-3-70b-instruct-v1:0 us-east-1): a retry of the same target is not a fallback",
    ],
    'cascade-two-gateways': [
        "profile.yaml:40:7: $.fallback.cascade[2]: step 'cluster2' repeats step 'cluster' (gateway): a retry of the same target is not a fallback",
    ],
    'cascade-without-gateway': [
        "profile.yaml:37:3: $.fallback.cascade: the cascade has no 'gateway' step: the in-cluster model would never be used",
    ],
    'fallback-timeouts-over-slo': [
        'profile.yaml:37:3: $.fallback.cascade: fallback timeouts (cluster 25s + bedrock 8s = 33s) exceed the end-to-end SLO (workload.slo.e2eSeconds = 30s): the client gives up before the last step answers',
    ],
    'fallback-unset-timeouts-leave-nothing': [
        'profile.yaml:37:3: $.fallback.cascade: fallback timeouts (cluster 30s + bedrock 1s = 31s) exceed the end-to-end SLO (workload.slo.e2eSeconds = 30s): the client gives up before the last step answers',
    ],
    'bedrock-step-missing-role': [
        "profile.yaml:39:7: $.fallback.cascade[1]: Bedrock step 'bedrock' needs roleArn (a value only you know; or set fallback.enabled: false)",
    ],
    'bedrock-steps-two-roles': [
        'profile.yaml:37:3: $.fallback.cascade: Bedrock steps use different roleArn values (arn:aws:iam::111122223333:role/demo-bedrock, arn:aws:iam::111122223333:role/other): the fallback gateway has one ServiceAccount and EKS Pod Identity gives it one role; use one role that may invoke every model',
    ],
    'bedrock-role-arn-shape': [
        "profile.yaml:39:84: $.fallback.cascade[1].roleArn: 'my-role' does not match the required format ^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$",
    ],
    'scorer-weight-over-range': [
        'profile.yaml:37:21: $.routing.scorers.prefixCache: 101 is out of range: must be <= 100',
    ],
    'scorer-weight-negative': [
        'profile.yaml:37:21: $.routing.scorers.queueDepth: -1 is out of range: must be >= 0',
    ],
    'route-timeout-over-slo': [
        'profile.yaml:37:11: $.routing.requestTimeoutSeconds: 31s exceeds the end-to-end SLO (workload.slo.e2eSeconds = 30s): the client gives up first',
    ],
    's3-model-without-role': [  # (capacity.clusterName is required for every profile now: tests/test_validate.py)
        'profile.yaml:9:3: $.model.source: model.source is on S3: identity.modelRoleArn (the IAM role that reads it through EKS Pod Identity) is required',
    ],
    'ack-without-cluster-name': [  # BASE names the cluster; with ACK on, the fleet needs each destination's region
        'profile.yaml:39:18: $.gitops.destinations: required: set region on the destination cluster-dev (demo (profile.yaml, environment dev) renders PodIdentityAssociation objects: the platform installs the ACK EKS controller, which calls the EKS API of that region)',
        'profile.yaml:39:88: $.gitops.destinations: required: set region on the destination cluster-prod (demo (profile.yaml, environment prod) renders PodIdentityAssociation objects: the platform installs the ACK EKS controller, which calls the EKS API of that region)',
    ],
    'sidecar-image-latest': [
        "profile.yaml:37:78: $.routing.sidecar.image.tag: 'latest' is not allowed: 'latest' is not a pinned tag",
    ],
}

CASES = [
    Case("gateway-class-shape", EXPECT["gateway-class-shape"],
         replace=tail("routing: {gateway: {className: Istio_GW}}\n")),
    Case("bedrock-model-id-shape", EXPECT["bedrock-model-id-shape"], replace=cascade(bedrock=f"{{name: bedrock, modelId: Llama 3.3 70B, region: us-east-1, roleArn: {ROLE}}}")),
    Case("bedrock-region-shape", EXPECT["bedrock-region-shape"], replace=cascade(bedrock=f"{{name: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: US East 1, roleArn: {ROLE}}}")),
    Case("cascade-repeats-a-step", EXPECT["cascade-repeats-a-step"], replace=cascade(extra=f"{{name: again, kind: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: us-east-1, timeoutSeconds: 1, roleArn: {ROLE}}}")),
    Case("cascade-two-gateways", EXPECT["cascade-two-gateways"], replace=cascade(extra="{name: cluster2, kind: gateway, timeoutSeconds: 1}")),
    Case("cascade-without-gateway", EXPECT["cascade-without-gateway"], replace=cascade(cluster="{name: cluster, kind: bedrock, modelId: meta.llama3-1-8b-instruct-v1:0, region: us-west-2, "
                                                           f"timeoutSeconds: 5, roleArn: {ROLE}}}")),
    Case("fallback-timeouts-over-slo", EXPECT["fallback-timeouts-over-slo"], replace=cascade(cluster="{name: cluster, timeoutSeconds: 25}")),
    Case("fallback-unset-timeouts-leave-nothing", EXPECT["fallback-unset-timeouts-leave-nothing"], replace=cascade(cluster="{name: cluster, timeoutSeconds: 30}",
                                                                     bedrock=f"{{name: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: us-east-1, roleArn: {ROLE}}}")),
    Case("bedrock-step-missing-role", EXPECT["bedrock-step-missing-role"], replace=cascade(bedrock="{name: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: us-east-1}")),
    Case("bedrock-steps-two-roles", EXPECT["bedrock-steps-two-roles"], replace=cascade(extra="{name: west, kind: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: us-west-2, timeoutSeconds: 1, "
                                                              'roleArn: "arn:aws:iam::111122223333:role/other"}')),
    Case("bedrock-role-arn-shape", EXPECT["bedrock-role-arn-shape"], replace=cascade(bedrock="{name: bedrock, modelId: meta.llama3-3-70b-instruct-v1:0, region: us-east-1, roleArn: my-role}")),
    Case("scorer-weight-over-range", EXPECT["scorer-weight-over-range"], replace=tail("routing: {scorers: {prefixCache: 101}}\n")),
    Case("scorer-weight-negative", EXPECT["scorer-weight-negative"], replace=tail("routing: {scorers: {queueDepth: -1}}\n")),
    Case("route-timeout-over-slo", EXPECT["route-timeout-over-slo"], replace=tail("routing: {requestTimeoutSeconds: 31}\n")),
    Case("s3-model-without-role", EXPECT["s3-model-without-role"], replace=(IDENTITY, "")),
    Case("ack-without-cluster-name", EXPECT["ack-without-cluster-name"], replace=(IDENTITY, 'identity: {modelRoleArn: "arn:aws:iam::111122223333:role/demo-model"}\n')),
    Case("sidecar-image-latest", EXPECT["sidecar-image-latest"], replace=tail("routing: {sidecar: {image: {repository: ghcr.io/llm-d/llm-d-routing-sidecar, tag: latest}}}\n")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_path_input(case: Case, tmp_path: Path) -> None:
    rejected_untouched(case, tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return built_project(tmp_path_factory.mktemp("built"), BASE)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_path_input_leaves_a_built_out_dir_untouched(case: Case, built: Path, tmp_path: Path) -> None:
    rejected_untouched(case, copy_of(built, tmp_path), build=True)


def test_base_with_a_full_cascade_is_accepted(tmp_path: Path) -> None:
    """The cases above differ from an accepted profile by the one field they break."""
    (tmp_path / P).write_text(BASE.replace(*cascade(), 1))
    r = mcompile("validate", P, cwd=tmp_path)
    assert r.code == 0, r.stderr


def test_sidecar_engine_port_must_not_collide(repo: Path, tmp_path: Path) -> None:
    """tier3: vLLM behind the sidecar cannot share the serving port or a NIXL side-channel port."""
    for port, what in (("8000", "serving.port"), ("5603", "a NIXL side-channel port")):
        r = mcompile("validate", str(repo / "profiles" / "tier3.yaml"), "--set", f"routing.sidecar.enginePort={port}", cwd=tmp_path)
        assert r.code == 2 and r.stderr.startswith(f"--set:1:28: $.routing.sidecar.enginePort: {port} is {what} of the decode pods"), r.stderr
    r = mcompile("validate", str(repo / "profiles" / "tier3.yaml"), "--set", "routing.sidecar.enginePort=5616", cwd=tmp_path)
    assert r.code == 0, r.stderr
