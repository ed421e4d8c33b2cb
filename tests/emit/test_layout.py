"""The equivalence that proves the chart and overlays: for every profile and environment, the
internal render == `helm template chart -f values-<env>.yaml` == `kubectl kustomize overlays/<env>`
(real binaries, compared as data; tooling.IGNORED_FIELDS lists what is ignored: nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.build import build_files, target_for
from compiler.emit.layout import deployed_objects
from compiler.pipeline import compile_all
from compiler.resolve import Request
from compiler.store.writer import write_outputs
from compiler.verify import make_verifier

from ..shipped import shipped_profiles
from .tooling import IGNORED_FIELDS, by_identity, first_difference, helm_lint, helm_template, kustomize

REPO = Path(__file__).resolve().parents[2]
SHIPPED = shipped_profiles()  # every profile in profiles/


def _build(tmp_path: Path, profile: Path, sets: tuple[str, ...] = ()) -> tuple[Path, list]:
    out = tmp_path / "out"
    target = target_for(profile, out, (), sets)
    for scope, files in build_files([target], make_verifier()):
        write_outputs(out, files, scope=scope)
    return out, compile_all(Request(profile, target.display, None, (), sets))


def _assert_equivalent(out: Path, compiled: list) -> None:
    assert IGNORED_FIELDS == ()
    _, labelled = deployed_objects(compiled)
    for c in compiled:
        name, env = c.profile.name, c.profile.env
        ours = by_identity(labelled[env])
        assert all(o["metadata"]["labels"]["helm.sh/chart"].startswith(f"{name}-1.0.") for o in ours.values())
        assert {k: _unlabelled(o) for k, o in ours.items()} == by_identity(c.objects)  # only the chart label is added
        chart = out / name / "chart"
        helm_lint(chart, chart / f"values-{env}.yaml")
        via_helm = helm_template(chart, name, chart / f"values-{env}.yaml")
        via_kustomize = kustomize(out / name / "kustomize" / "overlays" / env)
        assert via_helm == ours, f"{env} helm: " + first_difference(ours, via_helm)
        assert via_kustomize == ours, f"{env} kustomize: " + first_difference(ours, via_kustomize)


def _unlabelled(obj: dict) -> dict:
    labels = {k: v for k, v in obj["metadata"]["labels"].items() if k != "helm.sh/chart"}
    return {**obj, "metadata": {**obj["metadata"], "labels": labels}}


@pytest.mark.parametrize("tier", SHIPPED)
def test_shipped_profiles_three_way_equivalent(tmp_path: Path, tier: str) -> None:
    out, compiled = _build(tmp_path, REPO / "profiles" / f"{tier}.yaml")
    assert len(compiled) >= 1
    _assert_equivalent(out, compiled)


HOSTILE = '{{ .Values.secret }} {% raw %} ${HOME} }} {{'


def test_template_syntax_in_profile_strings_comes_out_literally(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    text = (REPO / "profiles" / "tier2.yaml").read_text()
    text = text.replace("  serviceAccount: {name: llama-70b-vllm}", "  serviceAccount: {name: llama-70b-vllm}\n  env:\n    - {name: NOTE, value: '" + HOSTILE + "'}\n  extraArgs: ['--chat-template-content-format={{x}}']")
    profile.write_text(text)
    out, compiled = _build(tmp_path, profile)
    _assert_equivalent(out, compiled)
    helm_out = (out / "llama-70b" / "chart" / "templates" / "deployment-llama-70b.yaml").read_text()
    assert '{{ "{{" }}' in helm_out  # escaped in the template text, literal after rendering
    deployment = next(o for o in compiled[0].objects if o["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    # Kubernetes reduces "$$" to "$" when it expands env values: the container sees HOSTILE exactly.
    assert env["NOTE"].replace("$$", "$") == HOSTILE


def test_structural_differences_between_environments(tmp_path: Path) -> None:
    """An object only one env has, and a list of a different length, survive both tools."""
    profile = tmp_path / "p.yaml"
    text = (REPO / "profiles" / "tier2.yaml").read_text()
    text = text.replace("  dev:\n", "  dev:\n    network: {policy: false}\n    monitoring: {alerts: false}\n    serving: {extraArgs: [--enforce-eager]}\n")
    profile.write_text(text)
    out, compiled = _build(tmp_path, profile)
    kinds = {c.profile.env: sorted(o["kind"] for o in c.objects) for c in compiled}
    assert "NetworkPolicy" in kinds["prod"] and "NetworkPolicy" not in kinds["dev"]
    assert "PrometheusRule" in kinds["prod"] and "PrometheusRule" not in kinds["dev"]
    _assert_equivalent(out, compiled)


def test_image_digest_and_a_per_environment_tag_survive_both_tools(tmp_path: Path) -> None:
    """The chart-wide image values: a digest, and an environment on another tag (values-dev.yaml)."""
    profile = tmp_path / "p.yaml"
    text = (REPO / "profiles" / "tier2.yaml").read_text()
    text = text.replace("  dev:\n", "  dev:\n    serving: {image: {tag: v0.28.1, capabilities: [s3-streaming]}}\n")
    profile.write_text(text)
    out, compiled = _build(tmp_path, profile, ("serving.image.digest=sha256:" + "0f" * 32,))
    _assert_equivalent(out, compiled)
    dev_values = (out / "llama-70b" / "chart" / "values-dev.yaml").read_text()
    assert "image:\n  tag: v0.28.1\n" in dev_values


def test_adversarial_strings_of_one_environment_survive_the_overlay_patches(tmp_path: Path) -> None:
    """Profile strings that differ in dev only reach kustomize as inline patch ops (and helm as
    values-dev.yaml) and come out exactly: tests/emit/test_kustomize.ADVERSARIAL as env values."""
    import json

    from .test_kustomize import ADVERSARIAL

    values = [s for s in ADVERSARIAL if s and len(s) < 600]
    base = "".join(f"    - {{name: ADV_{i}, value: base}}\n" for i in range(len(values)))
    dev = "".join(f"        - {{name: ADV_{i}, value: {json.dumps(s, ensure_ascii=False)}}}\n" for i, s in enumerate(values))
    profile = tmp_path / "p.yaml"
    text = (REPO / "profiles" / "tier2.yaml").read_text()
    text = text.replace("  serviceAccount: {name: llama-70b-vllm}", "  serviceAccount: {name: llama-70b-vllm}\n  env:\n" + base.rstrip("\n"))
    text = text.replace("  dev:\n", "  dev:\n    serving:\n      env:\n" + dev)
    profile.write_text(text)
    out, compiled = _build(tmp_path, profile)
    _assert_equivalent(out, compiled)
    by_env = {c.profile.env: c for c in compiled}
    deployment = next(o for o in by_env["dev"].objects if o["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert [env[f"ADV_{i}"].replace("$$", "$") for i in range(len(values))] == values
    kustomization = (out / "llama-70b" / "kustomize" / "overlays" / "dev" / "kustomization.yaml").read_text()
    assert "ADV_" not in kustomization and "path: /spec/template/spec/containers/0/env/" in kustomization
