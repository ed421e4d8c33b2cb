"""Tests for :mod:`compiler.emit.chart_template`: the one-walk template writer gives exactly the
bytes of the two-pass reference (``chart._two_passes``) on every template of every shipped
profile and on adversarial templates, and steps aside where it could differ."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.build import target_for
from compiler.emit import chart
from compiler.emit.chart_template import TOKEN, ns_pattern, template_lines
from compiler.emit.layout import analysis_of
from compiler.emit.variance import ValueRef
from compiler.pipeline import compile_resolved
from compiler.resolve import resolve_all

REPO = Path(__file__).resolve().parents[2]


def _shipped() -> list[tuple[str, str, Any]]:
    out = []
    for path in sorted((REPO / "profiles").glob("*.yaml")):
        compiled = [compile_resolved(r) for r in resolve_all(target_for(path, REPO / "out", (), ()).request)]
        profile = compiled[0].profile
        out += [(profile.name, profile.namespace, v.template) for v in analysis_of(compiled).variants]
    return out


def test_every_shipped_template_one_walk_equals_two_passes() -> None:
    templates = _shipped()
    assert len(templates) > 200
    for name, namespace, template in templates:
        for ns in (namespace, None):
            fast = chart._one_walk(template, "Profile: p\nheader", name, ns)
            assert fast is not None
            assert fast == chart._two_passes(template, "Profile: p\nheader", name, ns)


NS = "llm"
ADVERSARIAL: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Namespace", "matchNames": [NS, "x"],  # (depth 2: the whole namespace)
    "metadata": {"name": NS, "namespace": NS, "labels": {"kubernetes.io/metadata.name": NS, "x": NS}},
    "spec": {
        "matchNames": [NS, "other", "x-llm", {"k": NS}, [NS, [NS]]],  # items' items: parent is an index
        "containers": [{"name": "matchNames", "v": NS, "args": ["--ns", NS, 'up{namespace="llm"}', "a.llm.svc:80"]},
                       {"name": "c", "image": ValueRef(("image",), helper="image"), "list": [ValueRef(("a", "b")), [NS, {}], []]}],
        "query": 'sum(rate(x{namespace="llm", job="llm/pod"}[5m]))\nby (pod)\n',
        "json": '{"expr": "up{namespace=\\"llm\\"}", "url": "http://svc.llm.svc:8080"}',
        "block": " lead\nllm.svc\n", "empty": {}, "none": None, "n": 1.5, "b": True,
        "deep": {"matchNames": {"k": NS}, "namespace": NS, "z": [{"namespace": NS}], "metadata": {"name": NS}},
        "quoted": "{{ llm }}", "value": ValueRef(("x", "value")),
    },
}


@pytest.mark.parametrize("ns", [NS, None, "other"])
def test_adversarial_template(ns: str | None) -> None:
    fast = chart._one_walk(ADVERSARIAL, "h", "c", ns)
    assert fast is not None and fast == chart._two_passes(ADVERSARIAL, "h", "c", ns)
    if ns == NS:
        assert fast.count('include "c.namespace"') >= 12


def test_token_text_in_data_takes_the_reference_path() -> None:
    tricky = {"kind": "ConfigMap", "a": TOKEN.format(0), "b": ValueRef(("b",)), "c": ValueRef(("c",)), "d": "MCVALUE"}
    assert chart._one_walk(tricky, "h", "c", None) is None
    text = chart.template_text(tricky, "h", None, "c")
    assert text == chart._two_passes(tricky, "h", "c", None)
    assert chart._one_walk({"kind": "K", "a": ValueRef(("x",))}, "MCVALUE in the header", "c", None) is None
    odd = {"kind": "K", "v": ValueRef(("MCVALUE1X",)), "w": ValueRef(("w",))}  # an action spelling a token
    assert chart._one_walk(odd, "h", "c", None) is None
    assert chart.template_text(odd, "h", None, "c") == chart._two_passes(odd, "h", "c", None)


def test_other_types_take_the_reference_path() -> None:
    assert template_lines({"kind": "K", "t": (1, ValueRef(("x",)))}, None) is None
    assert template_lines({"kind": "K", "k" * 1001: 1}, None) is None
    assert chart.template_text({"kind": "K", "t": (1, 2), "v": ValueRef(("v",))}, "h", "g", "c") == \
        "# h\n{{- if .Values.g.enabled }}\nkind: K\nt:\n  - 1\n  - 2\nv: {{ toJson .Values.v }}\n{{- end }}\n"


_NS_FRAGMENTS = ['namespace="', 'namespace=\\"', 'job="', 'job=\\"', ".", ".svc", ".svcx", '"', '\\"', "/", "x", " ", "-", "llm", "llm-a", "l", "m"]


def _ns_definition(ns: str) -> re.Pattern[str]:
    n = re.escape(ns)
    return re.compile(rf'(?<=namespace="){n}(?=")|(?<=namespace=\\"){n}(?=\\")|(?<=job="){n}(?=/)|(?<=job=\\"){n}(?=/)'
                      rf'|(?<=\.){n}(?=\.svc\b)')


def test_namespace_pattern_matches_where_the_lookbehind_spelling_does() -> None:
    """The namespace regex leads with the literal (fast); it must split text exactly where the
    plain lookbehind form (the definition) does: every text of up to four fragments."""
    fast, definition = ns_pattern("llm"), _ns_definition("llm")
    for n in range(1, 5):
        for fragments in itertools.product(_NS_FRAGMENTS, repeat=n):
            text = "".join(fragments)
            assert fast.split(text) == definition.split(text), text
    assert fast.split('up{namespace="llm"} x.llm.svc job="llm/x" namespace="llm-a"') == \
        ['up{namespace="', '"} x.', '.svc job="', '/x" namespace="llm-a"']


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["llm", "llm-a", "a.b"]), st.lists(st.sampled_from(_NS_FRAGMENTS + ["a.b", "a"]), max_size=16))
def test_namespace_pattern_on_longer_texts(ns: str, fragments: list[str]) -> None:
    text = "".join(fragments)
    assert ns_pattern(ns).split(text) == _ns_definition(ns).split(text)
