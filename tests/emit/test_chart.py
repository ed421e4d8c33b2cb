"""The Helm chart as a Helm user meets it, through the real helm binary: the values schema refuses
what the profile schema refuses, keys read plainly, values.yaml explains itself, the image and
replica bounds are values, the version is SemVer, the namespace follows `-n`, the standard labels
are there and NOTES say what was installed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from compiler.build import build_files, target_for
from compiler.store.writer import write_outputs
from compiler.toolchain import run_tool
from compiler.verify import make_verifier

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32


def _build(out: Path, profile: Path, sets: tuple[str, ...] = ()) -> None:
    target = target_for(profile, out, (), sets)
    for scope, files in build_files([target], make_verifier()):
        write_outputs(out, files, scope=scope)


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("charts") / "out"
    for tier in ("tier1", "tier2", "tier3", "tier2-dra"):
        _build(out, REPO / "profiles" / f"{tier}.yaml")
    return out


def _helm(*args: str) -> tuple[int, str]:
    p = run_tool("helm", list(args))
    return p.returncode, p.stdout + p.stderr


def _objects(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("name", ["qwen3-32b", "llama-70b", "glm-5", "llama-70b-dra"])
def test_defaults_and_every_environment_pass_strict_lint(charts: Path, name: str) -> None:
    chart = charts / name / "chart"
    for values in [chart / "values.yaml", *sorted(chart.glob("values-*.yaml"))]:
        code, text = _helm("lint", "--strict", str(chart), "-f", str(values))
        assert code == 0 and "[WARNING]" not in text and "[ERROR]" not in text, text


BAD_VALUES = [
    ("scaledObject.minReplicaCount=-5", "minimum"),
    ("scaledObject.maxReplicaCount=0", "minimum"),
    ("scaledObject.pollingInterval=0", "minimum"),
    ("scaledObject.cooldownPeriod=100000", "maximum"),
    ("nodePoolBurst.weight=500", "maximum"),
    ("nodePoolBaseline.weight=0", "minimum"),
    ("nodePoolBaseline.limits.cpu=lots", "pattern"),
    ("scaledObject.advanced.scalingModifiers.target=abc", "pattern"),
    ("environment=bogus", "value must be one of"),
    ("image.tag=latest", "not"),
    ("image.tag=v1 2", "pattern"),
    ("image.repository=Not/Valid", "pattern"),
    ("image.digest=sha256:xyz", "anyOf"),
    ("image.pullPolicy=Sometimes", "value must be one of"),
    ("namespace=Bad_Name", "pattern"),
    ("scaledobject.minReplicaCount=1", "additional properties"),
]


@pytest.mark.parametrize(("setting", "why"), BAD_VALUES)
def test_out_of_range_values_are_refused_by_template_and_lint(charts: Path, setting: str, why: str) -> None:
    chart = str(charts / "llama-70b" / "chart")
    code, text = _helm("template", "x", chart, "--set-string" if "=v1 2" in setting else "--set", setting)
    assert code != 0, f"helm template accepted {setting}"
    assert why in text, text
    code, text = _helm("lint", "--strict", chart, "--set", setting)
    assert code != 0 and "values don't meet the specifications of the schema" in text, text


def test_schema_carries_the_profile_rules_and_descriptions(charts: Path) -> None:
    schema = json.loads((charts / "llama-70b" / "chart" / "values.schema.json").read_text())
    props = schema["properties"]
    assert props["scaledObject"]["properties"]["minReplicaCount"]["minimum"] == 0
    assert props["nodePoolBurst"]["properties"]["weight"]["maximum"] == 100
    assert props["environment"]["enum"] == ["dev", "prod"]
    assert props["image"]["properties"]["tag"]["not"]["enum"] == ["latest"]
    assert set(schema["required"]) >= {"environment", "image", "namespace", "scaledObject", "nodePoolBurst"}

    def leaves(node: dict, path: str):
        for k, sub in node.get("properties", {}).items():
            if "properties" in sub and sub.get("type") == "object" and sub.get("additionalProperties") is False:
                yield from leaves(sub, f"{path}.{k}")
            else:
                yield f"{path}.{k}", sub

    for path, sub in leaves(schema, ""):
        assert sub.get("description"), f"{path} has no description"


def _inside_list_item(lines: list[str], i: int) -> bool:
    """Whether line ``i`` sits below a ``- `` list item (walking up its ancestors by indentation)."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    for ln in reversed(lines[:i]):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        own = len(ln) - len(ln.lstrip())
        if own < indent:
            if ln.lstrip().startswith("- "):
                return True
            indent = own
    return False


def _parent(lines: list[str], i: int) -> str:
    """The nearest less-indented, non-comment line above line ``i``, stripped."""
    indent = len(lines[i]) - len(lines[i].lstrip())
    for ln in reversed(lines[:i]):
        if ln.strip() and not ln.lstrip().startswith("#") and len(ln) - len(ln.lstrip()) < indent:
            return ln.strip()
    return ""


def test_keys_are_readable_camel_case_and_every_key_is_commented(charts: Path) -> None:
    for values in charts.glob("*/chart/values.yaml"):
        lines = values.read_text().splitlines()
        keys = [(i, ln) for i, ln in enumerate(lines) if re.match(r"^\s*[A-Za-z\"].*:", ln) and not ln.lstrip().startswith("#")]
        nested_quantities = {"cpu", "memory", '"nvidia.com/gpu"', "nvidia.com/gpu", '"vpc.amazonaws.com/efa"'}
        for i, ln in keys:
            key = ln.strip().split(":")[0]
            if key in nested_quantities or _inside_list_item(lines, i) or _parent(lines, i) == "tags:":
                continue  # data inside a value (e.g. an AWS tag key in selector terms or a node group's tags), not a values key
            assert re.fullmatch(r"[a-z][a-z0-9]*([A-Z][a-z0-9]*)*", key), f"{values}: {key!r} is not readable camelCase"
            assert lines[i - 1].lstrip().startswith("# "), f"{values}: {key} has no comment"
        text = values.read_text()
        assert "eC2" not in text and "mcompileIo" not in text


def test_image_and_replica_bounds_are_values(charts: Path) -> None:
    chart = str(charts / "llama-70b" / "chart")
    code, text = _helm("template", "x", chart, "--set", "image.tag=v0.29.0", "--set", f"image.digest={DIGEST}",
                       "--set", "scaledObject.minReplicaCount=3", "--set", "scaledObject.maxReplicaCount=9")
    assert code == 0, text
    objs = {(o["kind"], o["metadata"]["name"]): o for o in _objects(text)}
    container = objs[("Deployment", "llama-70b")]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"vllm/vllm-openai:v0.29.0@{DIGEST}"
    assert objs[("Deployment", "llama-70b")]["metadata"]["labels"]["app.kubernetes.io/version"] == "v0.29.0"
    so = objs[("ScaledObject", "llama-70b")]["spec"]
    assert (so["minReplicaCount"], so["maxReplicaCount"]) == (3, 9)
    # tier3: both LeaderWorkerSets, leader and worker templates, read the same image values
    code, text = _helm("template", "x", str(charts / "glm-5" / "chart"), "--set", "image.repository=123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm")
    assert code == 0, text
    images = re.findall(r"image: (.+)", text)
    engine = [i for i in images if "amazonaws.com/vllm" in i]  # the picker, sidecar and Bifrost run their own images
    assert len(engine) == 4 and set(engine) == {'"123456789012.dkr.ecr.us-east-1.amazonaws.com/vllm:v0.28.0-efa1"'}
    assert not any("vllm/vllm-openai" in i for i in images)


def test_chart_version_is_plain_semver_and_follows_the_output(tmp_path: Path, charts: Path) -> None:
    profile = REPO / "profiles" / "tier2.yaml"

    def version(out: Path) -> str:
        return yaml.safe_load((out / "llama-70b" / "chart" / "Chart.yaml").read_text())["version"]

    v1 = version(charts)
    assert re.fullmatch(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", v1)
    _build(tmp_path / "same", profile)
    _build(tmp_path / "changed", profile, ("autoscaling.cooldownPeriod=600",))
    assert version(tmp_path / "same") == v1
    assert version(tmp_path / "changed") != v1


@pytest.mark.parametrize(("name", "namespace"), [("qwen3-32b", "inference-qwen3"), ("llama-70b", "inference-llama"), ("glm-5", "inference-glm")])
def test_release_namespace_replaces_the_profile_namespace_everywhere(charts: Path, name: str, namespace: str) -> None:
    chart = str(charts / name / "chart")
    code, text = _helm("template", "x", chart, "-n", "other")
    assert code == 0, text
    objs = _objects(text)
    # Every namespace reference the templates hold follows: metadata, selectors, PromQL matchers,
    # Prometheus job names, in-cluster URLs. (Values are data: a string that differs between
    # environments is a value and keeps its text; cluster-scoped names derived from the
    # namespace stay names.)
    for o in objs:
        if o["kind"] in ("Deployment", "LeaderWorkerSet", "Service", "ServiceAccount", "ScaledObject", "PrometheusRule", "PodMonitor",
                         "NetworkPolicy", "InferencePool", "PodDisruptionBudget", "Namespace"):
            assert namespace not in json.dumps(o), f"{o['kind']} {o['metadata']['name']} still names {namespace}"
    assert all(o["metadata"].get("namespace", "other") == "other" for o in objs)
    assert any(o["kind"] == "Namespace" and o["metadata"]["name"] == "other" for o in objs)
    code, text = _helm("template", "x", chart)  # no -n: the profile's namespace (the values default)
    assert {o["metadata"]["namespace"] for o in _objects(text) if "namespace" in o["metadata"]} == {namespace}


def test_standard_labels_and_one_component_name_per_role(charts: Path) -> None:
    for chart in sorted(charts.glob("*/chart")):
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        code, text = _helm("template", "x", str(chart))
        assert code == 0, text
        components = set()
        for o in _objects(text):
            labels = o["metadata"]["labels"]
            assert labels["helm.sh/chart"] == f"{meta['name']}-{meta['version']}"
            assert labels["app.kubernetes.io/version"] == meta["appVersion"]
            components.add(labels["app.kubernetes.io/component"])
        assert "serving" not in components, components


def test_notes_say_what_was_installed(charts: Path) -> None:
    code, text = _helm("install", "x", str(charts / "llama-70b" / "chart"), "--dry-run=client", "-n", "team-a", "-f", str(charts / "llama-70b" / "chart" / "values-dev.yaml"))
    assert code == 0, text
    notes = text.split("NOTES:", 1)[1]
    assert "in namespace team-a, environment dev" in notes
    assert "image vllm/vllm-openai:v0.28.0" in notes
    assert "3 Deployment" in notes and "1 ScaledObject" in notes  # vLLM, endpoint picker, Bifrost
    assert "http://llama-70b.team-a.svc:8000/v1" in notes
    assert "http://llama-70b-bifrost.team-a.svc:8080/v1" in notes and "inference-llama" not in notes
    assert "{{" not in notes



@pytest.mark.parametrize("text", ["", "plain", 'q"uote', "back\\slash", "ctl\x00\x1f\x7f", "é日本\U0001f680", "\u2028", "{{ x }}"])
def test_string_encoders_write_what_json_dumps_writes(text: str) -> None:
    """chart.py encodes namespace pieces and README cells with json's C string encoders."""
    from json.encoder import encode_basestring, encode_basestring_ascii

    assert encode_basestring(text) == json.dumps(text, ensure_ascii=False)
    assert encode_basestring_ascii(text) == json.dumps(text, sort_keys=True)
