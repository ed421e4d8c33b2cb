"""Strict validation of built-in kinds with the bundled kubernetes_validate schemas."""

from __future__ import annotations

import copy
import time

import pytest
from kubernetes_validate.utils import VersionNotSupportedError

from compiler.verify.findings import Finding
from compiler.verify.kube import KubeValidator


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "vllm", "namespace": "llm", "labels": {"app": "vllm"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "vllm"}},
            "template": {
                "metadata": {
                    "labels": {"app": "vllm"},
                    "annotations": {"karpenter.sh/do-not-disrupt": "true"},
                },
                "spec": {
                    "enableServiceLinks": False,
                    "containers": [{
                        "name": "vllm",
                        "image": "vllm/vllm-openai:v0.11.2",
                        "args": ["--tensor-parallel-size", "1"],
                        "ports": [{"containerPort": 8000, "name": "http"}],
                        "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "64Gi"}},
                        "startupProbe": {
                            "httpGet": {"path": "/health", "port": "http"},
                            "failureThreshold": 60, "periodSeconds": 10,
                        },
                    }],
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }


@pytest.fixture(scope="module")
def kube() -> KubeValidator:
    return KubeValidator()


def test_valid_deployment_passes(kube: KubeValidator) -> None:
    assert kube.validate(deployment()) == []


def test_unknown_field_in_deployment_fails(kube: KubeValidator) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["gpus"] = 1
    findings = kube.validate(obj)
    assert len(findings) == 1
    finding = findings[0]
    assert finding.path == "spec.template.spec.containers[0]"
    assert "'gpus' was unexpected" in finding.message
    assert (finding.kind, finding.name) == ("Deployment", "vllm")


def test_unknown_top_level_spec_field_fails(kube: KubeValidator) -> None:
    obj = deployment()
    obj["spec"]["replica"] = 3
    assert [f.path for f in kube.validate(obj)] == ["spec"]


def test_wrong_type_fails_with_path(kube: KubeValidator) -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    findings = kube.validate(obj)
    assert [f.path for f in findings] == ["spec.template.spec.containers[0].ports[0].containerPort"]
    assert "not of type 'integer'" in findings[0].message


def test_all_errors_are_reported(kube: KubeValidator) -> None:
    obj = deployment()
    obj["spec"]["bogus"] = 1
    obj["metadata"]["labelz"] = {}
    assert {f.path for f in kube.validate(obj)} == {"spec", "metadata"}


def test_service_int_or_string_port(kube: KubeValidator) -> None:
    svc = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "vllm-svc"},
        "spec": {"selector": {"app": "vllm"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    assert kube.validate(svc) == []
    svc["spec"]["ports"][0]["targetPort"] = 8000
    assert kube.validate(svc) == []
    svc["spec"]["ports"][0]["targetPort"] = 1.5
    assert kube.validate(svc) != []


def test_is_builtin(kube: KubeValidator) -> None:
    assert kube.is_builtin(deployment())
    assert kube.is_builtin({"apiVersion": "v1", "kind": "ConfigMap"})
    assert kube.is_builtin({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler"})
    assert not kube.is_builtin({"apiVersion": "karpenter.sh/v1", "kind": "NodePool"})
    assert not kube.is_builtin({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject"})
    # The schema file name drops the group's domain; the exact group must still match.
    assert not kube.is_builtin({"apiVersion": "apps.example.com/v1", "kind": "Deployment"})
    assert not kube.is_builtin({"kind": "Deployment"})


def test_non_builtin_kind_yields_a_finding(kube: KubeValidator) -> None:
    obj = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "gpu"}}
    findings = kube.validate(obj)
    assert findings == [
        Finding("", "no built-in Kubernetes 1.33 schema for karpenter.sh/v1 NodePool", "NodePool", "gpu")
    ]


def test_version_selection() -> None:
    assert KubeValidator().schema_version == "1.33"
    assert KubeValidator("v1.30.4").schema_version == "1.30"
    assert KubeValidator("1.25").schema_version == "1.25"
    with pytest.raises(VersionNotSupportedError):
        KubeValidator("1.99")
    with pytest.raises(VersionNotSupportedError):
        KubeValidator("1.10")


def test_version_matters() -> None:
    # flowcontrol.apiserver.k8s.io/v1beta3 was removed in Kubernetes 1.32.
    obj = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema"}
    assert KubeValidator("1.29").is_builtin(obj)
    assert not KubeValidator("1.33").is_builtin(obj)


def test_validation_does_not_mutate_input(kube: KubeValidator) -> None:
    obj = deployment()
    before = copy.deepcopy(obj)
    kube.validate(obj)
    assert obj == before


def test_validators_are_cached() -> None:
    """A fresh instance reuses compiled validators: 200 validations stay far below 200 x 17 ms."""
    KubeValidator().validate(deployment())
    start = time.perf_counter()
    for _ in range(200):
        assert KubeValidator().validate(deployment()) == []
    elapsed = time.perf_counter() - start
    assert elapsed < 1.5, f"200 validations took {elapsed:.2f}s: validators not cached?"
