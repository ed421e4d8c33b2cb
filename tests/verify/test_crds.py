"""Strict CRD validation (schema, defaults, ObjectMeta, CEL) against the real upstream CRDs."""

from __future__ import annotations

import collections
import copy
import shutil
from pathlib import Path

import pytest
import yaml

from compiler.verify import crd_cel
from compiler.verify.crds import CrdRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry(crd_dir: Path) -> CrdRegistry:
    return CrdRegistry.load([crd_dir])


# --- sample objects -----------------------------------------------------------

def nodepool(key: str = "karpenter.k8s.aws/instance-family") -> dict:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu-baseline"},
        "spec": {
            "weight": 100,
            "template": {
                "metadata": {"labels": {"mcompile.io/tier": "tier2"}},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                    "requirements": [
                        {"key": key, "operator": "In", "values": ["g6e", "p5"]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand", "reserved"]},
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
                },
            },
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never",
                           "budgets": [{"nodes": "0"}]},
            "limits": {"nvidia.com/gpu": "64"},
        },
    }


def ec2nodeclass() -> dict:
    return {
        "apiVersion": "karpenter.k8s.aws/v1",
        "kind": "EC2NodeClass",
        "metadata": {"name": "gpu"},
        "spec": {
            "role": "KarpenterNodeRole-llm",
            "amiSelectorTerms": [{"alias": "bottlerocket@latest"}],
            "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "llm"}}],
            "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "llm"}}],
            "capacityReservationSelectorTerms": [{"id": "cr-0123456789abcdef0"}],
            "userData": '[settings.container-runtime]\nsnapshotter = "soci"\n',
        },
    }


POD_SPEC = {
    "enableServiceLinks": False,
    "containers": [{
        "name": "vllm",
        "image": "vllm/vllm-openai:v0.11.2",
        "command": ["sh", "-c", "vllm serve /models/glm --tensor-parallel-size 8 --pipeline-parallel-size 2"],
        "env": [
            {"name": "FI_PROVIDER", "value": "efa"},
            {"name": "VLLM_NIXL_SIDE_CHANNEL_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ],
        "ports": [{"containerPort": 8000, "name": "http"}],
        "resources": {"limits": {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": 32, "memory": "1500Gi"}},
        "readinessProbe": {"httpGet": {"path": "/v1/models", "port": 8000}, "periodSeconds": 10},
        "securityContext": {"capabilities": {"add": ["IPC_LOCK"]}},
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }],
    "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "20Gi"}}],
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


def leaderworkerset() -> dict:
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "glm5", "namespace": "llm"},
        "spec": {
            "replicas": 1,
            "startupPolicy": "LeaderCreated",
            "rolloutStrategy": {"type": "RollingUpdate",
                                "rollingUpdateConfiguration": {"maxUnavailable": 0, "maxSurge": "50%"}},
            "leaderWorkerTemplate": {
                "size": 2,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {"metadata": {"labels": {"role": "leader"}}, "spec": copy.deepcopy(POD_SPEC)},
                "workerTemplate": {"metadata": {"labels": {"role": "worker"}}, "spec": copy.deepcopy(POD_SPEC)},
            },
        },
    }


def scaledobject() -> dict:
    prom = "http://prometheus.monitoring:9090"
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "vllm", "namespace": "llm"},
        "spec": {
            "scaleTargetRef": {"name": "vllm"},
            "pollingInterval": 2,
            "cooldownPeriod": 300,
            "minReplicaCount": 1,
            "maxReplicaCount": 8,
            "advanced": {
                "scalingModifiers": {"formula": "running + (waiting * 10)", "target": "25", "activationTarget": "5"},
                "horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": {
                    "stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 900, "periodSeconds": 15},
                                 {"type": "Pods", "value": 9, "periodSeconds": 15}],
                }}},
            },
            "triggers": [
                {"type": "prometheus", "name": "running", "metadata": {
                    "serverAddress": prom, "threshold": "10",
                    "query": 'sum(vllm:num_requests_running{namespace="llm",model_name="m"})'}},
                {"type": "prometheus", "name": "waiting", "metadata": {
                    "serverAddress": prom, "threshold": "10",
                    "query": 'sum(vllm:num_requests_waiting{namespace="llm",model_name="m"})'}},
            ],
        },
    }


def application() -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "llm-tier2", "namespace": "argocd",
                     "annotations": {"argocd.argoproj.io/sync-wave": "1"}},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://github.com/example/llm-deploy", "targetRevision": "main",
                       "path": "charts/tier2", "helm": {"valuesObject": {"vllm": {"tp": 8}}}},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "llm"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                           "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"]},
        },
    }


def messages(findings) -> list[str]:
    return [f.message for f in findings]


# --- Karpenter ------------------------------------------------------------------

def test_nodepool_valid(registry: CrdRegistry) -> None:
    obj = nodepool()
    assert registry.validate(obj) == []
    assert registry.unevaluated_rules(obj) == []


def test_nodepool_restricted_aws_requirement_key_fails_via_cel(registry: CrdRegistry) -> None:
    findings = registry.validate(nodepool("karpenter.k8s.aws/instance-foo"))
    assert [(f.path, f.message) for f in findings] == [
        ("spec.template.spec.requirements[0].key", 'label domain "karpenter.k8s.aws" is restricted')
    ]
    assert (findings[0].kind, findings[0].name) == ("NodePool", "gpu-baseline")


def test_nodepool_restricted_template_label_fails_via_cel(registry: CrdRegistry) -> None:
    obj = nodepool()
    obj["spec"]["template"]["metadata"]["labels"]["kubernetes.io/hostname"] = "x"
    assert messages(registry.validate(obj)) == ['label "kubernetes.io/hostname" is restricted']


def test_nodepool_consolidation_policy_never_fails(registry: CrdRegistry) -> None:
    obj = nodepool()
    obj["spec"]["disruption"]["consolidationPolicy"] = "Never"
    findings = registry.validate(obj)
    assert [f.path for f in findings] == ["spec.disruption.consolidationPolicy"]
    assert "'Never' is not one of" in findings[0].message


def test_nodepool_consolidate_after_required_when_disruption_set(registry: CrdRegistry) -> None:
    obj = nodepool()
    del obj["spec"]["disruption"]["consolidateAfter"]
    findings = registry.validate(obj)
    assert [f.path for f in findings] == ["spec.disruption"]
    assert "'consolidateAfter' is a required property" in findings[0].message


def test_nodepool_defaults_are_applied_before_validation(registry: CrdRegistry) -> None:
    obj = nodepool()
    del obj["spec"]["disruption"]  # defaults to {consolidateAfter: 0s}
    assert registry.validate(obj) == []
    assert "disruption" not in obj["spec"], "validate must not mutate its input"


def test_nodepool_cel_operator_rules(registry: CrdRegistry) -> None:
    obj = nodepool()
    obj["spec"]["template"]["spec"]["requirements"].append(
        {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["1", "2"]})
    obj["spec"]["template"]["spec"]["requirements"].append(
        {"key": "karpenter.k8s.aws/instance-gpu-name", "operator": "In", "values": []})
    assert sorted(messages(registry.validate(obj))) == [
        "requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value",
        "requirements with operator 'In' must have a value defined",
    ]


def test_nodepool_budget_schedule_needs_duration(registry: CrdRegistry) -> None:
    obj = nodepool()
    obj["spec"]["disruption"]["budgets"] = [{"nodes": "0", "schedule": "0 9 * * mon-fri"}]
    findings = registry.validate(obj)
    assert [(f.path, f.message) for f in findings] == [
        ("spec.disruption.budgets", "'schedule' must be set with 'duration'")
    ]


def test_ec2nodeclass_valid_and_cel_rules(registry: CrdRegistry) -> None:
    assert registry.validate(ec2nodeclass()) == []
    both = ec2nodeclass()
    both["spec"]["instanceProfile"] = "profile"
    assert messages(registry.validate(both)) == ["must specify exactly one of ['role', 'instanceProfile']"]
    alias = ec2nodeclass()
    alias["spec"]["amiSelectorTerms"] = [{"alias": "ubuntu@latest"}]
    assert any("family is not supported" in m for m in messages(registry.validate(alias)))


# --- KEDA, Argo CD, LWS -------------------------------------------------------

def test_scaledobject_with_scaling_modifiers_validates(registry: CrdRegistry) -> None:
    assert registry.validate(scaledobject()) == []


def test_scaledobject_unknown_field_fails(registry: CrdRegistry) -> None:
    obj = scaledobject()
    obj["spec"]["advanced"]["scalingModifiers"]["metricType"] = "AverageValue"  # declared: fine
    obj["spec"]["advanced"]["scalingModifiers"]["formulae"] = "running"
    obj["spec"]["pollingIntervalSeconds"] = 2
    findings = registry.validate(obj)
    assert [(f.path, f.message) for f in findings] == [
        ("spec.advanced.scalingModifiers.formulae", 'unknown field "formulae"'),
        ("spec.pollingIntervalSeconds", 'unknown field "pollingIntervalSeconds"'),
    ]


def test_scaledobject_trigger_metadata_must_be_strings(registry: CrdRegistry) -> None:
    obj = scaledobject()
    obj["spec"]["triggers"][0]["metadata"]["threshold"] = 10
    findings = registry.validate(obj)
    assert [f.path for f in findings] == ["spec.triggers[0].metadata.threshold"]


def test_scaledobject_min_above_max_fails_via_cel(registry: CrdRegistry) -> None:
    obj = scaledobject()
    obj["spec"]["minReplicaCount"] = 9
    assert messages(registry.validate(obj)) == ["minReplicaCount must be less than or equal to maxReplicaCount"]


def test_argo_application_validates(registry: CrdRegistry) -> None:
    assert registry.validate(application()) == []


def test_argo_application_unknown_field_fails(registry: CrdRegistry) -> None:
    obj = application()
    obj["spec"]["source"]["values"] = "x: 1"
    assert [f.path for f in registry.validate(obj)] == ["spec.source.values"]


def test_leaderworkerset_with_pod_template_validates(registry: CrdRegistry) -> None:
    assert registry.validate(leaderworkerset()) == []


def test_leaderworkerset_nested_pod_spec_is_strict(registry: CrdRegistry) -> None:
    obj = leaderworkerset()
    worker = obj["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    worker["containers"][0]["resources"]["limit"] = {"cpu": "1"}
    worker["containers"][0]["ports"][0]["containerPort"] = "8000"
    findings = registry.validate(obj)
    base = "spec.leaderWorkerTemplate.workerTemplate.spec.containers[0]"
    assert [(f.path, f.message) for f in findings] == [
        (f"{base}.ports[0].containerPort", "'8000' is not of type 'integer'"),
        (f"{base}.resources.limit", 'unknown field "limit"'),
    ]


def test_leaderworkerset_int_or_string_and_list_map_keys(registry: CrdRegistry) -> None:
    obj = leaderworkerset()
    obj["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxSurge"] = 1
    assert registry.validate(obj) == []
    obj["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxSurge"] = True
    assert [f.path for f in registry.validate(obj)] == ["spec.rolloutStrategy.rollingUpdateConfiguration.maxSurge"]
    dup = leaderworkerset()
    containers = dup["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"]
    containers.append({"name": "vllm", "image": "busybox"})
    findings = registry.validate(dup)
    assert [(f.path, f.message) for f in findings] == [
        ("spec.leaderWorkerTemplate.leaderTemplate.spec.containers[1]", "duplicate entry with name='vllm'")
    ]


# --- ObjectMeta, apiVersion/kind ------------------------------------------------

def test_metadata_is_checked(registry: CrdRegistry) -> None:
    obj = scaledobject()
    obj["metadata"]["lables"] = {"a": "b"}
    obj["metadata"]["name"] = "vLLM_Scaler"
    paths = sorted(f.path for f in registry.validate(obj))
    assert paths == ["metadata.lables", "metadata.name"]
    unnamed = scaledobject()
    del unnamed["metadata"]["name"]
    assert [f.path for f in registry.validate(unnamed)] == ["metadata"]
    bad_label = scaledobject()
    bad_label["metadata"]["labels"] = {"app": "has spaces"}
    assert [f.path for f in registry.validate(bad_label)] == ["metadata.labels.app"]


def test_unserved_version_and_unknown_kind(registry: CrdRegistry) -> None:
    obj = nodepool()
    obj["apiVersion"] = "karpenter.sh/v1beta1"
    assert messages(registry.validate(obj)) == [
        "NodePool version v1beta1 is not served by the CRD (served: v1)"
    ]
    assert not registry.has("karpenter.sh/v1beta1", "NodePool")
    other = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert messages(registry.validate(other)) == ["no CRD found for Widget in API group example.com"]
    assert messages(registry.validate({"kind": "Widget"})) == ["object has no apiVersion/kind"]


def test_kinds_and_has(registry: CrdRegistry, crd_dir: Path) -> None:
    kinds = registry.kinds()
    assert len(kinds) == len(list(crd_dir.rglob("*.yaml")))
    for pair in [
        ("karpenter.sh/v1", "NodePool"), ("karpenter.k8s.aws/v1", "EC2NodeClass"),
        ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"), ("keda.sh/v1alpha1", "ScaledObject"),
        ("argoproj.io/v1alpha1", "Application"), ("inference.networking.k8s.io/v1", "InferencePool"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"), ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    ]:
        assert pair in kinds
        assert registry.has(*pair)
    assert not registry.has("apps/v1", "Deployment")


# --- loading --------------------------------------------------------------------

def test_loading_is_lazy(crd_dir: Path) -> None:
    reg = CrdRegistry.load([crd_dir])
    assert reg.parsed_files == []
    assert reg.validate(nodepool()) == []
    parsed = {p.relative_to(crd_dir).parts[0] for p in reg.parsed_files}
    assert parsed == {"karpenter"}
    assert len(reg.parsed_files) <= 3


def test_multi_document_and_list_files(tmp_path: Path, crd_dir: Path) -> None:
    docs = [yaml.safe_load((crd_dir / "keda" / n).read_text())
            for n in ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml")]
    (tmp_path / "multi.yml").write_text(yaml.safe_dump_all(docs))
    as_list = {"apiVersion": "v1", "kind": "List", "items": [
        yaml.safe_load((crd_dir / "karpenter" / "karpenter.sh_nodepools.yaml").read_text())]}
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.yaml").write_text(yaml.safe_dump(as_list))
    (tmp_path / "README.md").write_text("not yaml")
    reg = CrdRegistry.load([tmp_path])
    assert reg.kinds() == {
        ("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
        ("karpenter.sh/v1", "NodePool"),
    }
    assert reg.validate(scaledobject()) == []
    assert reg.validate(nodepool("karpenter.k8s.aws/instance-foo")) != []


def _core_flavour(crd_dir: Path, dest: Path) -> None:
    """A karpenter-core-like NodePool CRD: the AWS one minus its karpenter.k8s.aws rules."""
    text = (crd_dir / "karpenter" / "karpenter.sh_nodepools.yaml").read_text()
    crd = yaml.safe_load(text)

    def strip(node: object) -> None:
        if isinstance(node, dict):
            rules = node.get("x-kubernetes-validations")
            if rules:
                node["x-kubernetes-validations"] = [r for r in rules if "karpenter.k8s.aws" not in r["rule"]]
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(crd)
    dest.mkdir(parents=True)
    (dest / "karpenter.sh_nodepools.yaml").write_text(yaml.safe_dump(crd))


def test_first_definition_in_sorted_order_wins(tmp_path: Path, crd_dir: Path) -> None:
    shutil.copytree(crd_dir / "karpenter", tmp_path / "karpenter")
    _core_flavour(crd_dir, tmp_path / "karpenter-core")
    foo = nodepool("karpenter.k8s.aws/instance-foo")
    reg = CrdRegistry.load([tmp_path])
    assert reg.source_of("karpenter.sh/v1", "NodePool") == tmp_path / "karpenter" / "karpenter.sh_nodepools.yaml"
    assert reg.validate(foo) != []
    # Explicit path order beats directory order.
    core_first = CrdRegistry.load([tmp_path / "karpenter-core", tmp_path / "karpenter"])
    assert core_first.validate(foo) == []
    # Even when another file defining the kind got parsed first.
    reg2 = CrdRegistry.load([tmp_path])
    reg2.validate(ec2nodeclass())
    assert reg2.validate(foo) != []


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CrdRegistry.load([tmp_path / "absent"])


# --- CEL coverage and reporting -----------------------------------------------------

SYNTHETIC_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "self.size > 0"
              message: size must be positive
            - rule: "self.name.lowerAscii() == self.name"
              messageExpression: "'name ' + self.name + ' must be lower case'"
            - rule: "quantity(self.mem).isGreaterThan(quantity('1Gi'))"
              message: mem must exceed 1Gi
            - rule: "self.size >= oldSelf.size"
              message: size cannot shrink
            properties:
              size: {type: integer}
              name: {type: string, nullable: true}
              mem: {type: string}
              free:
                type: object
                x-kubernetes-preserve-unknown-fields: true
  - name: v0
    served: false
    storage: false
    schema:
      openAPIV3Schema: {type: object}
"""


def test_cel_unsupported_rules_are_reported_not_passed(tmp_path: Path) -> None:
    (tmp_path / "widget.yaml").write_text(SYNTHETIC_CRD)
    reg = CrdRegistry.load([tmp_path])
    ok = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
          "spec": {"size": 1, "name": "abc", "mem": "2Gi", "free": {"any": {"thing": 1}}}}
    assert reg.validate(ok) == []
    unevaluated = reg.unevaluated_rules(ok)
    assert len(unevaluated) == 1 and "quantity(self.mem)" in unevaluated[0]
    assert "unsupported function(s): isGreaterThan, quantity" in unevaluated[0]
    bad = copy.deepcopy(ok)
    bad["spec"].update(size=0, name="ABC")
    assert sorted(messages(reg.validate(bad))) == ["name ABC must be lower case", "size must be positive"]
    nullable = copy.deepcopy(ok)
    nullable["spec"]["name"] = None  # nullable: true
    assert [f.path for f in reg.validate(nullable)] == ["spec"]  # CEL: lowerAscii() of null
    nulled = copy.deepcopy(ok)
    nulled["spec"]["size"] = None  # not nullable
    assert "spec.size" in [f.path for f in reg.validate(nulled)]
    statuses = collections.Counter(s.status for s in reg.cel_rules())
    assert statuses == {crd_cel.EVALUATED: 2, crd_cel.UNSUPPORTED: 1, crd_cel.TRANSITION: 1}
    assert reg.kinds() == {("example.com/v1", "Widget")}


def test_all_shared_crd_cel_rules_compile(registry: CrdRegistry) -> None:
    """Every CEL rule in the shared CRDs is either evaluated or an update-only transition rule."""
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for status in registry.cel_rules():
        by_kind[status.kind][status.status] += 1
    unsupported = [s for s in registry.cel_rules() if s.status == crd_cel.UNSUPPORTED]
    assert unsupported == []
    assert by_kind["NodePool"] == {crd_cel.EVALUATED: 17, crd_cel.TRANSITION: 3}
    assert by_kind["EC2NodeClass"] == {crd_cel.EVALUATED: 54}
    print("\nCEL rules per kind:", {k: dict(v) for k, v in sorted(by_kind.items())})


def test_cel_runtime_error_fails_the_rule(registry: CrdRegistry) -> None:
    obj = nodepool()
    obj["spec"]["template"]["spec"]["requirements"].append(
        {"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["many"]})
    findings = registry.validate(obj)
    assert len(findings) == 1
    assert "must have a single positive integer value" in findings[0].message
    assert "evaluation error" in findings[0].message


# --- many objects (timings live in bench/, never in tests) -------------------------

def test_registry_validates_many_objects_and_knows_every_kind(crd_dir: Path) -> None:
    reg = CrdRegistry.load([crd_dir])
    assert ("karpenter.sh/v1", "NodePool") in reg.kinds()
    objects = [nodepool(), ec2nodeclass(), leaderworkerset(), scaledobject(), application()] * 20
    assert [f for obj in objects for f in reg.validate(obj)] == []


# --- memoized CEL outcomes (values repeat across environments and profiles) ----------------

def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every real CEL evaluation (rule text) the registry performs."""
    calls: list[str] = []
    real = crd_cel.evaluate

    def counted(rule, value):
        calls.append(rule.rule)
        return real(rule, value)

    monkeypatch.setattr(crd_cel, "evaluate", counted)
    return calls


def test_cel_outcomes_are_reused_for_equal_values(crd_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = CrdRegistry.load([crd_dir])
    calls = _counting(monkeypatch)
    assert reg.validate(nodepool()) == []
    first = len(calls)
    assert first > 0
    assert reg.validate(nodepool()) == []
    assert len(calls) == first  # the same object again: no rule is evaluated twice


def test_cel_passes_are_reused_for_values_equal_on_the_fields_a_rule_reads(crd_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = CrdRegistry.load([crd_dir])
    assert reg.validate(scaledobject()) == []
    calls = _counting(monkeypatch)
    other = scaledobject()
    other["metadata"]["name"] = other["spec"]["scaleTargetRef"]["name"] = "another"
    assert reg.validate(other) == []
    min_max = [c for c in calls if c.startswith("!has(self.minReplicaCount)")]
    assert min_max == []  # reads only min/maxReplicaCount, which did not change
    other["spec"]["maxReplicaCount"] = 9
    assert reg.validate(other) == []
    assert [c for c in calls if c.startswith("!has(self.minReplicaCount)")] != []


def test_cel_failures_are_not_reused_for_other_values(crd_dir: Path) -> None:
    """A failure of one value never stands in for another (its message may quote the value)."""
    reg = CrdRegistry.load([crd_dir])
    bad = scaledobject()
    bad["spec"]["minReplicaCount"] = 9
    assert messages(reg.validate(bad)) == ["minReplicaCount must be less than or equal to maxReplicaCount"]
    good = scaledobject()
    good["spec"]["minReplicaCount"] = 8
    assert reg.validate(good) == []
    bad["metadata"]["name"] = "renamed"  # same fields for the rule, a different value
    assert messages(reg.validate(bad)) == ["minReplicaCount must be less than or equal to maxReplicaCount"]


def test_cel_memo_tells_one_from_one_point_zero_and_true(crd_dir: Path) -> None:
    reg = CrdRegistry.load([crd_dir])
    obj = scaledobject()
    obj["spec"]["minReplicaCount"] = 1
    assert reg.validate(obj) == []
    obj["spec"]["minReplicaCount"] = True  # JSON true: a schema error, never a cached pass
    assert [f.path for f in reg.validate(obj)] == ["spec.minReplicaCount"]


@pytest.mark.parametrize(("rule", "fields"), [
    ("has(self.role) && !has(self.instanceProfile)", ("instanceProfile", "role")),
    ("self.a.b == self.c", ("a", "c")),
    ("self.x.all(y, y.z == self.q)", ("q", "x")),
    ("self.all(k, k != '')", None),  # self used whole
    ("self['a'] == 1", None),  # indexed
    ("size(self) > 0", None),
    ("self.x.all(self, self.q)", None),  # rebound by a macro
])
def test_cel_rule_self_fields(rule: str, fields: tuple[str, ...] | None) -> None:
    assert crd_cel.compile_rule({"rule": rule}).self_fields == fields


def test_cel_rule_self_fields_include_the_message_expression() -> None:
    assert crd_cel.compile_rule({"rule": "self.a > 0", "messageExpression": "'x' + string(self.b)"}).self_fields == ("a", "b")
    assert crd_cel.compile_rule({"rule": "self.a > 0", "messageExpression": "'x' + string(self)"}).self_fields is None


def test_lookups_are_answered_once(crd_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind's lookup (found or not) scans the CRD texts once, not once per object."""
    from compiler.verify import crds

    reg = CrdRegistry.load([crd_dir])
    assert reg.has("karpenter.sh/v1", "NodePool") and not reg.has("eks.amazonaws.com/v1", "NodeClass")
    parsed = list(reg.parsed_files)
    scans: list[str] = []
    real = crds._SourceFile.may_define
    monkeypatch.setattr(crds._SourceFile, "may_define", lambda self, g, k: (scans.append(k), real(self, g, k))[1])
    for _ in range(3):
        assert reg.has("karpenter.sh/v1", "NodePool") and not reg.has("eks.amazonaws.com/v1", "NodeClass")
    assert scans == [] and reg.parsed_files == parsed
    assert reg.has("keda.sh/v1alpha1", "ScaledObject") and scans  # a new kind is still looked up


@pytest.mark.parametrize(("rule", "each"), [
    ('self.all(x, x != "")', True),
    ("self.all(x, x.all(y, y > x))", True),
    ("self.all(x, x != self[0])", False),  # the body reads self
    ("self.all(x, x > 0) && size(self) < 3", False),  # more than the all()
    ("self.exists(x, x > 0)", False),
    ("self.x.all(y, y > 0)", False),
])
def test_cel_rule_per_element(rule: str, each: bool) -> None:
    assert crd_cel.compile_rule({"rule": rule}).per_element is each


def test_cel_all_rules_are_checked_element_by_element(crd_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = CrdRegistry.load([crd_dir])
    assert reg.validate(nodepool()) == []
    calls = _counting(monkeypatch)
    obj = nodepool()
    obj["spec"]["template"]["metadata"]["labels"]["team"] = "ml"  # a map of template labels
    assert reg.validate(obj) == []
    hostname = [c for c in calls if c == 'self.all(x, x != "kubernetes.io/hostname")']
    assert len(hostname) == 1  # only the new label key is evaluated, on its own
    obj["spec"]["template"]["metadata"]["labels"]["kubernetes.io/hostname"] = "n1"
    assert messages(reg.validate(obj)) == ['label "kubernetes.io/hostname" is restricted']


# --- caches in the user cache directory (parsed CRDs, the CEL grammar) -----------------------

def test_parsed_crds_are_cached_as_json_and_equal_the_yaml(crd_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compiler.verify import crds

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    lws = next(crd_dir.rglob("leaderworkerset.x-k8s.io_leaderworkersets.yaml"))
    text = lws.read_text()
    expected = list(yaml.load_all(text, Loader=yaml.SafeLoader))
    assert crds._documents(text) == expected  # parsed, then stored
    [cached] = list((tmp_path / "mcompile" / "parsed-crds").glob("*.json"))
    assert crds._documents(text) == expected  # read back
    cached.write_text("{not json")  # a damaged cache entry is parsed again and replaced
    assert crds._documents(text) == expected
    reg = CrdRegistry.load([lws])
    assert reg.validate(leaderworkerset()) == []
    odd = "a: 1\n---\n1: int key\n"  # not exactly JSON: parsed, never cached
    assert crds._documents(odd) == [{"a": 1}, {1: "int key"}] == crds._documents(odd)
    assert len(list((tmp_path / "mcompile" / "parsed-crds").glob("*.json"))) == 1


def test_no_cache_when_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    assert crd_cel.cache_dir() is None
    monkeypatch.delenv("MCOMPILE_NO_CACHE")
    assert crd_cel.cache_dir() == tmp_path / "mcompile"


def test_cached_cel_parser_parses_every_rule_like_cel_pythons_own(registry: CrdRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lark
    from celpy.celparser import CELParser

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    crd_cel._parser()  # writes the grammar cache
    cached = crd_cel._parser()  # loads it
    assert list((tmp_path / "mcompile").glob("cel-grammar-*.lark"))
    saved = CELParser.CEL_PARSER
    try:
        CELParser.CEL_PARSER = None
        CELParser(tree_class=lark.Tree)  # cel-python builds its own, uncached
        own = CELParser.CEL_PARSER
    finally:
        CELParser.CEL_PARSER = saved
    rules = sorted({s.rule for s in registry.cel_rules()}) + ["true && x == false", "a in [1, 2.0, 'x', b\"y\"]"]
    assert len(rules) > 50
    for rule in rules:
        assert cached.parse(rule) == own.parse(rule), rule


def test_may_define_agrees_with_a_search_of_the_text(tmp_path: Path, crd_dir: Path) -> None:
    """The per-file sets of ``group:``/``kind:`` values answer exactly what a search would."""
    import re

    from compiler.verify.crds import _SourceFile

    odd = tmp_path / "odd.yaml"
    odd.write_text('group: apigroup: karpenter.sh\nkind: "NodePool"\n"group" :  x.io-\nkind: Pod2 kind: Pod\ngroup:a.b.c\n')
    files = [_SourceFile(odd), *(_SourceFile(p) for p in sorted(crd_dir.rglob("*.yaml"))[:12])]
    groups = ["karpenter.sh", "x.io", "x.io-", "a.b", "a.b.c", "apigroup", "apps", "eks.amazonaws.com", "karpenter.k8s.aws", "group"]
    kinds = ["NodePool", "Pod", "Pod2", "EC2NodeClass", "NodeClaim", "Node", "kind", "Weird Kind"]
    seen = {True: 0, False: 0}
    for source in files:
        text = source.read()
        for group in groups:
            for kind in kinds:
                expected = all(
                    re.search(rf"""{key}["']?\s*:\s*["']?{re.escape(value)}["']?(?![\w.-])""", text)
                    for key, value in (("group", group), ("kind", kind)))
                assert source.may_define(group, kind) == expected, (source.path.name, group, kind)
                seen[expected] += 1
    assert seen[True] > 5 and seen[False] > 100, seen
