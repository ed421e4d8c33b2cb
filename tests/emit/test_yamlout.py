"""Tests for :mod:`compiler.emit.yamlout`: exact style, quoting, round-trips through several readers."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.emit.yamlout import dump_document, dump_documents, load_documents, needs_quotes, order_keys

DEPLOYMENT = {
    "kind": "Deployment",
    "apiVersion": "apps/v1",
    "metadata": {"labels": {"app": "vllm"}, "namespace": "llm", "name": "vllm"},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {
                        "image": "vllm/vllm-openai:v0.6.3",
                        "name": "server",
                        "args": ["--port", "8000"],
                        "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "10Gi"}},
                    }
                ]
            }
        },
    },
}

DEPLOYMENT_YAML = """\
# Source: profiles/tier2.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vllm
  namespace: llm
  labels:
    app: vllm
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: server
          args:
            - "--port"
            - "8000"
          image: vllm/vllm-openai:v0.6.3
          resources:
            limits:
              memory: 10Gi
              nvidia.com/gpu: 1
"""


def _pyyaml():
    return pytest.importorskip("yaml")


def _ruamel_11(text: str):
    """Load one document with ruamel under explicit YAML 1.1 rules."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return YAML(typ="safe", pure=True).load("%YAML 1.1\n---\n" + text)


def _all_readers_agree(value) -> str:
    text = dump_document(value)
    assert load_documents(text) == [value]
    assert _pyyaml().safe_load(text) == value
    assert _ruamel_11(text) == value
    return text


def test_deployment_exact_bytes() -> None:
    assert dump_document(DEPLOYMENT, header="Source: profiles/tier2.yaml") == DEPLOYMENT_YAML


def test_multiple_documents_separated_and_header_only_once() -> None:
    text = dump_documents([{"b": 1, "a": 2}, {"x": []}], header="line one\n\nline three")
    assert text == "# line one\n#\n# line three\na: 2\nb: 1\n---\nx: []\n"
    assert load_documents(text) == [{"a": 2, "b": 1}, {"x": []}]


def test_empty_stream_and_empty_collections() -> None:
    assert dump_documents([]) == ""
    assert dump_documents([], header="h") == "# h\n"
    assert dump_document({}) == "{}\n"
    assert dump_document({"a": {}, "b": [], "c": [{}, []]}) == "a: {}\nb: []\nc:\n  - {}\n  - []\n"


def test_dump_documents_rejects_a_single_mapping() -> None:
    with pytest.raises(TypeError):
        dump_documents({"a": 1})  # type: ignore[arg-type]


def test_object_key_order() -> None:
    obj = {"zeta": 1, "data": {}, "spec": {}, "metadata": {"name": "n"}, "kind": "K", "apiVersion": "v1", "alpha": 2}
    assert order_keys(obj, root=True) == ["apiVersion", "kind", "metadata", "spec", "data", "alpha", "zeta"]
    # not a document root and no metadata: an ordinary mapping, name first then sorted
    ref = {"uid": "u", "kind": "K", "name": "n", "apiVersion": "v1"}
    assert order_keys(ref) == ["name", "apiVersion", "kind", "uid"]
    embedded = {"spec": {}, "metadata": {}, "kind": "PersistentVolumeClaim", "apiVersion": "v1"}
    assert order_keys(embedded) == ["apiVersion", "kind", "metadata", "spec"]


def test_metadata_and_name_first_order() -> None:
    meta = {"uid": "1", "annotations": {}, "labels": {}, "namespace": "ns", "name": "n", "finalizers": []}
    assert order_keys(meta, parent_key="metadata") == [
        "name", "namespace", "labels", "annotations", "finalizers", "uid"
    ]
    assert order_keys({"b": 1, "name": 2, "a": 3, "Z": 4}) == ["name", "Z", "a", "b"]
    text = dump_document({"spec": {"template": {"metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}}}}})
    assert text.index("labels:") < text.index("annotations:")


def test_non_string_keys_rejected() -> None:
    with pytest.raises(TypeError, match="keys must be strings"):
        dump_document({1: "a"})


def test_unsupported_value_rejected() -> None:
    with pytest.raises(TypeError, match="cannot serialise"):
        dump_document({"a": object()})


AMBIGUOUS = [
    "on", "off", "On", "OFF", "yes", "no", "Yes", "y", "n", "Y", "N", "true", "False", "null", "Null",
    "~", "", "0755", "0o17", "0x1F", "0b101", "1e3", "1E3", "1.5", ".5", "1.", "-1", "+1", "1_000",
    "12:30", "1:20:30.5", ".inf", "-.Inf", ".NaN", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5", "<<", "=", " lead", "trail ", "\tx", "*alias", "&anchor", "!tag",
    "%dir", "@at", "`bt", "{a}", "[a]", "-dash", "- item", "?q", ":colon", "#comment", "|pipe",
    ">fold", "'sq", '"dq', "a: b", "a #b", "ends:", "...", "---", ",comma", "a\u2028b", "a\x85b",
    "bell\x07", "bom\ufeff", "cr\rx", "nbsp\xa0", "\xa0nbsp",
]


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_ambiguous_strings_are_quoted_and_round_trip(text: str) -> None:
    assert needs_quotes(text)
    dumped = _all_readers_agree({"k": text, text: "v", "l": [text]})
    assert f"k: {text}\n" not in dumped


PLAIN = [
    "10Gi", "100m", "vllm/vllm-openai:v0.6.3", "http://example.com:80/a?b=c", "a#b", "1.2.3",
    ".dockerconfigjson", "nvidia.com/gpu", "hello world", "a:b", "v1", "o", "no-op", "yes!", "x-",
    "héllo wörld", "名前", "_", "__init__", "1a", "0x", "a {{ b }} c", "${VAR}", "100%", "a, b",
]


@pytest.mark.parametrize("text", PLAIN)
def test_ordinary_strings_stay_plain(text: str) -> None:
    assert not needs_quotes(text)
    assert _all_readers_agree({"k": text}) == f"k: {text}\n"


TEMPLATES = ["{{ .Values.image }}", "{{- include \"x\" . }}", "{% if a %}b{% endif %}", "${HOME}", "}}", "%}"]


@pytest.mark.parametrize("text", TEMPLATES)
def test_template_syntax_is_literal_data(text: str) -> None:
    dumped = _all_readers_agree({"k": text})
    assert text.replace('"', '\\"') in dumped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb", "k: |-\n  a\n  b\n"),
        ("a\nb\n", "k: |\n  a\n  b\n"),
        ("a\n\n", "k: |+\n  a\n\n"),
        ("a\n\nb\n", "k: |\n  a\n\n  b\n"),
        (" lead\nx", "k: |2-\n   lead\n  x\n"),
        ("\nx\n", "k: |2\n\n  x\n"),
        ("\tt\n  x", "k: |-\n  \tt\n    x\n"),
        ("---\n...\n# c", "k: |-\n  ---\n  ...\n  # c\n"),
        ("trailing \nspace", 'k: "trailing \\nspace"\n'),
        ("cr\r\nlf", 'k: "cr\\r\\nlf"\n'),
        ("\n\n", 'k: "\\n\\n"\n'),
    ],
)
def test_multiline_strings(text: str, expected: str) -> None:
    assert _all_readers_agree({"k": text}) == expected


def test_literal_blocks_inside_sequences_and_nested_mappings() -> None:
    value = {"a": [" x\ny\n", {"b": " z\n", "c": ["\n q"]}], "? long": "  two\n"}
    text = _all_readers_agree(value)
    assert "- |2\n" in text


def test_multiline_document_root_scalar() -> None:
    assert dump_document("a\nb\n") == "|\n  a\n  b\n"
    assert load_documents(dump_documents(["a\nb\n", " lead\nx", "plain"])) == ["a\nb\n", " lead\nx", "plain"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"), (True, "true"), (False, "false"), (0, "0"), (-7, "-7"), (10**30, str(10**30)),
        (1.0, "1.0"), (0.5, "0.5"), (1e16, "1.0e+16"), (1.5e-07, "1.5e-07"), (-0.0, "-0.0"),
        (math.inf, ".inf"), (-math.inf, "-.inf"),
    ],
)
def test_canonical_scalars(value, expected: str) -> None:
    assert _all_readers_agree({"k": value}) == f"k: {expected}\n"


def test_nan() -> None:
    text = dump_document({"k": math.nan})
    assert text == "k: .nan\n"
    assert math.isnan(load_documents(text)[0]["k"])


def test_no_anchors_for_shared_objects() -> None:
    shared = {"a": [1, 2]}
    text = dump_document({"x": shared, "y": shared, "z": [shared, shared]})
    assert "&" not in text and "*" not in text
    assert text.count("a:") == 4


def test_cycles_rejected() -> None:
    loop: dict = {"a": 1}
    loop["self"] = loop
    with pytest.raises(ValueError, match="self-referencing"):
        dump_document(loop)


def test_long_strings_not_wrapped_and_lf_only() -> None:
    long = "word " * 200 + "end"
    text = dump_document({"k": long, "m": "x\ny"})
    assert f"k: {long}\n" in text
    assert "\r" not in text and text.endswith("\n")


def test_very_long_key_uses_explicit_form() -> None:
    key = "k" * 1500
    text = _all_readers_agree({key: {"a": 1}, "b": 2, "c" * 1200: [1]})
    assert text.startswith("b: 2\n? ccc")


# --- properties ---------------------------------------------------------------------------

_TRICKY = st.text(
    alphabet=st.sampled_from(list(" \n\t:#-?{}[]'\"!&*|>%@`,.0123456789eExob_+~yYnNtrufalsO\\\r\x85\u2028é\x00")),
    max_size=12,
)
_STRINGS = st.one_of(st.text(max_size=20), _TRICKY)
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _STRINGS)
_TREES = st.recursive(
    _SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_STRINGS, children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TREES)
def test_round_trip_property(value) -> None:
    text = dump_document(value)
    assert load_documents(text) == [value]
    assert _pyyaml().safe_load(text) == value
    assert _ruamel_11(text) == value
    assert dump_document(value) == text
    assert dump_document(load_documents(text)[0]) == text


@settings(max_examples=300, deadline=None)
@given(_STRINGS)
def test_every_string_round_trips_as_key_value_and_item(text: str) -> None:
    _all_readers_agree({"k": text, text: [text, {"n": text}]})


@settings(max_examples=100, deadline=None)
@given(st.lists(_TREES, max_size=4))
def test_multi_document_round_trip(docs) -> None:
    text = dump_documents(docs, header="generated")
    assert load_documents(text) == docs
    assert list(_pyyaml().safe_load_all(text)) == docs


def _helm() -> str | None:
    found = shutil.which("helm")
    local = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "helm"
    return found or (str(local) if local.is_file() else None)


def test_go_yaml_reader_agrees_via_helm(tmp_path: Path) -> None:
    """helm reads values.yaml with go-yaml (YAML 1.1 flavoured); every string must survive it."""
    helm = _helm()
    if helm is None:
        pytest.skip("helm not installed")
    strings = AMBIGUOUS + PLAIN + TEMPLATES + ["a\nb", " lead\nx\n", "a\n\n", "\nx", "tab\there"]
    values = {f"k{i:03d}": s for i, s in enumerate(strings)} | {"list": strings}
    (tmp_path / "templates").mkdir()
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (tmp_path / "templates" / "out.txt").write_text("{{ toJson .Values }}\n")
    (tmp_path / "values.yaml").write_text(dump_document(values), encoding="utf-8")
    run = subprocess.run([helm, "template", str(tmp_path)], capture_output=True, text=True, check=True)
    rendered = json.loads(run.stdout.split("\n", 2)[2])
    assert rendered == values


def test_only_short_strings_are_cached() -> None:
    """Long texts (dashboards, configs) are unique per profile: the caches must not keep them alive."""
    from compiler.emit import yamlout

    def sizes() -> tuple[int, int]:
        return yamlout._string_cached.cache_info().currsize, yamlout._needs_quotes_cached.cache_info().currsize

    dump_document({"cacheTestData": {"cacheTestBig": "a", "cacheTestOne": "b"}})  # the keys are cached now
    before = sizes()
    doc = {"cacheTestData": {"cacheTestBig": "line\n" * 100 + "x" * yamlout.CACHED_LENGTH, "cacheTestOne": "y" * (yamlout.CACHED_LENGTH + 1)}}
    assert load_documents(dump_document(doc)) == [doc]
    assert sizes() == before
    dump_document({"cacheTestData": "z" * (yamlout.CACHED_LENGTH - 1)})
    assert sizes()[0] == before[0] + 1  # a short string is cached


_SCAN_ALPHABET = st.sampled_from(list(" \t\n\r\x00\x07\x1f\x7f\x80\x85\x9f\xa0é\u2028\u2029\ufeff\ud7ff\ue000\ufffe\uffff\U00010000a{}\"\\"))


#: The documented definition of "a line ending in a space or tab" (yamlout._literal_ok tests it
#: with substring scans).
_TRAILING_BLANK = re.compile("[ \t](?:\n|\\Z)")


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(alphabet=_SCAN_ALPHABET, max_size=16), st.text(max_size=16)))
def test_fast_scans_agree_with_the_regex_definitions(text: str) -> None:
    """The C string scans used for speed decide exactly what the documented regexes decide."""
    from compiler.emit import yamlout

    unprintable, in_block = re.compile(yamlout._UNPRINTABLE_RX), re.compile(yamlout._UNPRINTABLE_IN_BLOCK_RX)
    assert yamlout._all_printable(text) == (unprintable.search(text) is None)
    by_regex = ("\n" in text and bool(text.strip("\n")) and _TRAILING_BLANK.search(text) is None
                and in_block.search(text) is None)
    assert yamlout._literal_ok(text) == by_regex
    # a double-quoted scalar: written as is exactly when the escape regex finds nothing to escape
    plain = '"' + text + '"'
    assert (yamlout._double_quoted(text) == plain) == (re.compile(yamlout._NEEDS_ESCAPE_RX).search(text) is None)
