"""Tests for :mod:`compiler.emit.chart_template`: the one-walk template writer gives exactly the
bytes of the two-pass reference (``chart._two_passes``) on every template of every shipped
profile and on adversarial templates, and steps aside where it could differ."""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.build import target_for
from compiler.emit import chart
from compiler.emit.chart_template import TOKEN, NsSplitter, ns_pattern, template_lines
from compiler.emit.layout import analysis_of
from compiler.emit.variance import ValueRef
from compiler.emit.yamlout import dump_document
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
    fast, definition, by_hand = ns_pattern("llm"), _ns_definition("llm"), NsSplitter("llm")
    for n in range(1, 5):
        for fragments in itertools.product(_NS_FRAGMENTS, repeat=n):
            text = "".join(fragments)
            assert fast.split(text) == definition.split(text), text
            assert by_hand.split(text) == definition.split(text), text  # what the one-walk writers use
    assert fast.split('up{namespace="llm"} x.llm.svc job="llm/x" namespace="llm-a"') == \
        ['up{namespace="', '"} x.', '.svc job="', '/x" namespace="llm-a"']


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["llm", "llm-a", "a.b"]), st.lists(st.sampled_from(_NS_FRAGMENTS + ["a.b", "a"]), max_size=16))
def test_namespace_pattern_on_longer_texts(ns: str, fragments: list[str]) -> None:
    text = "".join(fragments)
    assert ns_pattern(ns).split(text) == _ns_definition(ns).split(text)
    assert NsSplitter(ns).split(text) == _ns_definition(ns).split(text)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["llm", "a.b", "ab", "a"]), st.lists(st.sampled_from([*'ab.lmsvcx"\\/=_é1 -', "job=", "namespace=", ".svc"]), max_size=40))
def test_namespace_splitter_on_any_text(ns: str, pieces: list[str]) -> None:
    """The hand-written splitter against the regex definition on arbitrary text (word and non-word
    characters after ``.svc``, overlapping and repeated namespaces)."""
    text = "".join(pieces)
    assert NsSplitter(ns).split(text) == _ns_definition(ns).split(text)


@pytest.mark.parametrize("after", ["", ".", "-", " ", ":", "_", "x", "1", "é", "\u0663", "\"", "/"])
def test_namespace_splitter_word_boundary_after_svc(after: str) -> None:
    """``\\b`` after ``.svc``: a word character (letters, digits, ``_``, any script) continues the
    word and is no match; anything else, or the end of the text, is one."""
    for text in (f"http://a.llm.svc{after}", f"a.llm.svc{after}x.llm.svc{after}"):
        assert NsSplitter("llm").split(text) == _ns_definition("llm").split(text), text


# --- a template and its kustomize base in one walk (chart.template_and_base) ------------------

def _separately(template: Any, base: Any, ns: str | None, guard: str | None = None) -> tuple[str, str]:
    return chart.template_text(template, "Profile: p", guard, "c", ns), dump_document(base, header="Source: p")


def _concrete(node: Any, leaf: Any) -> Any:
    """A base object for a template: its value nodes replaced by ``leaf(node)``."""
    if isinstance(node, ValueRef):
        return leaf(node)
    if isinstance(node, dict):
        return {k: _concrete(v, leaf) for k, v in node.items()}
    if isinstance(node, list):
        return [_concrete(v, leaf) for v in node]
    return node


BASE_LEAVES = [
    lambda r: "r.io/a/b:1.0", lambda r: 3, lambda r: None, lambda r: True, lambda r: 1.5, lambda r: {"a": [1, {"b": "c"}]},
    lambda r: [1, "x", {}], lambda r: {}, lambda r: [], lambda r: "multi\nline\n", lambda r: " lead\n", lambda r: "llm",
    lambda r: 'up{namespace="llm"}', lambda r: (1, 2),
]


def test_every_shipped_template_and_base_in_one_walk() -> None:
    from compiler.emit.chart_template import pair_lines
    paired = 0
    for path in sorted((REPO / "profiles").glob("*.yaml")):
        compiled = [compile_resolved(r) for r in resolve_all(target_for(path, REPO / "out", (), ()).request)]
        profile = compiled[0].profile
        analysis = analysis_of(compiled)
        for v in analysis.variants:
            base = v.per_env[analysis.base_env]
            if base is None:
                continue
            for ns in (profile.namespace, None):
                assert chart.template_and_base(v.template, "Profile: p", "g", "c", ns, base, "Source: p") == _separately(v.template, base, ns, "g")
                paired += pair_lines(v.template, base, ns) is not None
    assert paired > 400  # the one walk wrote them (not the fallback)


@pytest.mark.parametrize("ns", [NS, None])
@pytest.mark.parametrize("leaf", range(len(BASE_LEAVES)))
def test_adversarial_template_and_base(ns: str | None, leaf: int) -> None:
    from compiler.emit.chart_template import pair_lines
    base = _concrete(ADVERSARIAL, BASE_LEAVES[leaf])
    assert pair_lines(ADVERSARIAL, base, ns) is not None  # the one walk writes it
    assert chart.template_and_base(ADVERSARIAL, "Profile: p", None, "c", ns, base, "Source: p") == _separately(ADVERSARIAL, base, ns)


@pytest.mark.parametrize(("change", "general"), [
    (lambda b: b["spec"].update(n=1, b=1), False),  # equal values of other types (1.5 vs 1, True vs 1)
    (lambda b: b["spec"].update(n=-0.0, none=0), False),
    (lambda b: b["spec"].update(block="other\ntext\n", query="q"), False),  # strings that differ (literal blocks too)
    (lambda b: b["spec"]["matchNames"].append("more"), False),  # a list of another length
    (lambda b: b["spec"]["matchNames"].__setitem__(1, 5), False),  # list items of other types / that differ
    (lambda b: b["spec"]["containers"][0]["args"].__setitem__(0, "--other"), False),
    (lambda b: b["spec"]["matchNames"].__setitem__(3, {"k": "other", "z": [1]}), False),
    (lambda b: b["spec"].update(deep={"other": "keys"}, empty={"a": 1}), False),  # mappings with other keys
    (lambda b: b["spec"].update(deep=[1], matchNames={"k": 1}), False),  # other container types
    (lambda b: b["spec"].update(deep=OrderedDict(a=1)), True),  # only the general path writes it
    (lambda b: b["spec"].update(deep={"k" * 1001: 1}), True),  # a key too long for the fast path
    (lambda b: b["spec"].update(deep={1: "x"}), True),  # a key that is refused
    (lambda b: b["spec"]["containers"][0].update(args=("--ns", "llm")), False),  # a tuple where the template has a list
    (lambda b: b.update(spec="text"), False),
])
def test_template_and_base_that_differ(change: Any, general: bool) -> None:
    from compiler.emit.chart_template import pair_lines
    base = _concrete(ADVERSARIAL, lambda r: 7)
    change(base)
    # the one walk writes both unless only the general path can write the base
    assert (pair_lines(ADVERSARIAL, base, NS) is None) == general
    try:
        expected = _separately(ADVERSARIAL, base, NS)
    except TypeError:  # the refused key: refused the same way
        with pytest.raises(TypeError):
            chart.template_and_base(ADVERSARIAL, "Profile: p", None, "c", NS, base, "Source: p")
        return
    assert chart.template_and_base(ADVERSARIAL, "Profile: p", None, "c", NS, base, "Source: p") == expected


def test_template_and_base_list_items() -> None:
    """Scalars in lists of other types or values, nested lists of other lengths."""
    from compiler.emit.chart_template import pair_lines
    template = {"apiVersion": "v1", "kind": "K", "nums": [1, True, 1.5, None, 2, "s"], "deep": [[1, "a"], [2], [ValueRef(("v",))]], "m": {"a": [1]}}
    base = {"apiVersion": "v1", "kind": "K", "nums": [True, 1, 1, None, 3, 4], "deep": [[1, "a", 3], [2.0], ["x"]], "m": {"a": [1]}}
    assert pair_lines(template, base, None) is not None
    assert chart.template_and_base(template, "Profile: p", None, "c", None, base, "Source: p") == _separately(template, base, None)
