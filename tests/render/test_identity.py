"""EKS Pod Identity (compiler/render/identity.py): ACK PodIdentityAssociations valid against the
real CRD, one per AWS caller we generate, or the equivalent CLI commands in the chart NOTES."""

from __future__ import annotations

import pytest

from compiler.render import identity
from compiler.verify.crds import CrdRegistry
from tests.conftest import find_crd_dirs
from tests.render.test_vllm import compiled, ctx_of, objects


@pytest.fixture(scope="module")
def registry() -> CrdRegistry:
    return CrdRegistry.load(find_crd_dirs())


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_one_association_per_aws_caller(tier: str, registry: CrdRegistry) -> None:
    c = compiled(tier)
    out = identity.render(ctx_of(c))
    accounts = {o["metadata"]["name"] for o in objects(c, "ServiceAccount")}
    assert {o["spec"]["serviceAccount"] for o in out} == {c.profile.serving.service_account, f"{c.profile.name}-bifrost"}
    for o in out:
        assert registry.validate(o) == []
        assert o["spec"]["serviceAccount"] in accounts and o["spec"]["namespace"] == c.profile.namespace
        assert o["spec"]["clusterName"] == c.profile.capacity.cluster_name
        assert int(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) < 0  # before the pods that need it
    model = next(o for o in out if o["spec"]["serviceAccount"] == c.profile.serving.service_account)
    assert model["spec"]["roleARN"] == c.profile.path.identity.model_role_arn


def test_a_bad_association_is_refused_by_the_crd(registry: CrdRegistry) -> None:
    o = identity.render(ctx_of(compiled("tier2")))[0]
    del o["spec"]["serviceAccount"]
    assert registry.validate(o)


def test_only_the_callers_that_exist() -> None:
    c = compiled("tier2", "fallback.enabled=false")
    assert [o["spec"]["serviceAccount"] for o in identity.render(ctx_of(c))] == [c.profile.serving.service_account]
    c = compiled("tier2", "model.source=hf://meta-llama/Llama-3.3-70B-Instruct", "fallback.enabled=false")
    assert identity.render(ctx_of(c)) == []


def test_without_ack_the_notes_print_the_cli_commands() -> None:
    c = compiled("tier2", "identity.ack=false")
    assert objects(c, "PodIdentityAssociation") == []
    cmds = identity.notes(c.profile)
    assert len(cmds) == 2
    for cmd in cmds:
        assert cmd.startswith(f"aws eks create-pod-identity-association --cluster-name {c.profile.capacity.cluster_name} "
                              f"--namespace {c.profile.namespace} --service-account ")
    assert "create-pod-identity-association" in identity.chart_notes(c.profile)
    assert identity.notes(compiled("tier2").profile) == []
