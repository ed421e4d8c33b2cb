"""Tests for :mod:`compiler.emit.yamlout_general`, the general (reference) path of the emitter.

It is the emitter as it was before ``yamlout`` got its fast path, kept unchanged: the fast path
must write every document exactly as it does. Differential tests: every document the compiler
emits for every shipped profile, and an adversarial corpus, through both paths; the adversarial
corpus is also pinned to golden bytes (a snapshot made with the emitter before the fast path).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from compiler.build import target_for
from compiler.emit import chart, layout, yamlout
from compiler.emit.yamlout import dump_document, dump_documents, load_documents
from compiler.emit.yamlout_general import emit_general
from compiler.pipeline import compile_resolved, render_delivery
from compiler.resolve import resolve_all

from .test_yamlout import AMBIGUOUS, PLAIN, TEMPLATES

REPO = Path(__file__).resolve().parents[2]

EXTRA = [
    "0", "-0", "1.0", "1e-3", "+.5", "0x_1", "1:2", "2026-12-03", "2026-12-03T13:51:54Z", "True", "NULL", "~x",
    " ", "  two  ", "\t", "a\tb", "x: y: z", "a # b", "#", ": ", "key:", "- ", "?", "-", "[]", "{}", "{{", "}}",
    "{{ .Values.x }}", '{{ include "x" . | toJson }}', "{% raw %}{{ x }}{% endraw %}", "${{ secrets.X }}",
    "Grüße", "日本語テキスト", "emoji 🚀", "\u00e9\u0301", "zero\u200bwidth", "line\u2028sep", "nul\x00", "esc\x1b[0m",
    "multi\nline", "multi\nline\n", " lead\nline\n", "\nlead newline", "trail\n\n\n", "tab\tin\nblock\n", "x\n \ny",
    "trailing space \nx", "a\r\nb", "\x85next", "é\nü\n", "{{ a }}\n{% b %}\n", "# not a comment\n- not a list\n",
    "long " * 300, ("long line\n" * 8) + "end", "q" * 257, "r" * 256, '"' * 300, "'single'", "back\\slash",
]
STRINGS = AMBIGUOUS + PLAIN + TEMPLATES + EXTRA
SCALARS: list[Any] = [None, True, False, 0, -1, 2**70, 0.0, -0.0, 1.5, 1e16, 1e-7, float("inf"), float("-inf"), *STRINGS]


def _adversarial() -> dict[str, Any]:
    """Every scalar as a value, a key, a list item, deep inside objects, next to empty containers."""
    keyed = {s: i for i, s in enumerate(STRINGS) if len(s) <= 1000}
    return {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "adversarial", "labels": {"x": "y"}, "annotations": {"": ""}},
        "data": {f"k{i:03d}": s for i, s in enumerate(STRINGS)},
        "keys": keyed,
        "items": SCALARS,
        "nested": [[s, {"name": s, "deep": [[{"v": s}], {}, []]}] for s in SCALARS],
        "empty": {"map": {}, "list": [], "listOfEmpty": [{}, [], [[]], [{}]], "tuple": ()},
        "object": [{"kind": "Pod", "apiVersion": "v1", "metadata": {"namespace": "n", "name": "p", "uid": "u"}, "spec": {"z": 1, "name": "a"}}],
    }


def _fast(doc: Any) -> str:
    """``doc`` through the fast path only (it must not hand the document to the general path)."""
    out: list[str] = []
    if isinstance(doc, dict):
        yamlout._fast_mapping(out, doc, 0, True, None)
    else:
        yamlout._fast_sequence(out, doc, 0)
    return "\n".join(out) + "\n"


def _general(doc: Any) -> str:
    return "\n".join(emit_general(doc)) + "\n"


def test_adversarial_corpus_fast_equals_general_and_round_trips() -> None:
    doc = _adversarial()
    text = _fast(doc)
    assert text == _general(doc)
    loaded = load_documents(text)[0]
    assert loaded["data"] == doc["data"] and loaded["keys"] == doc["keys"] and loaded["items"] == doc["items"]
    assert dump_document(doc) == text


def test_adversarial_corpus_golden_bytes(snapshot) -> None:
    """The bytes the emitter wrote for this corpus before the fast path existed."""
    doc = _adversarial()
    del doc["nested"]  # (the same scalars again, deeper: compared with the general path above)
    assert dump_document(doc) == snapshot


@pytest.mark.parametrize("value", SCALARS, ids=range(len(SCALARS)))
def test_each_scalar_in_every_position(value: Any) -> None:
    for doc in ({"k": value}, [value], {"a": [[value]]}, [{"name": value, "x": [value]}], {"metadata": {"labels": {"l": value}}}):
        assert _fast(doc) == _general(doc)
    if isinstance(value, str) and len(value) <= 1000:
        assert _fast({value: value}) == _general({value: value})


def _shipped_documents() -> list[Any]:
    """Every document the emit stage writes for every shipped profile (objects, chart templates,
    values, overlays, patches, GitOps objects)."""
    seen: list[Any] = []
    original = yamlout._document

    def record(doc: Any) -> list[str]:
        seen.append(doc)
        return original(doc)

    yamlout._document = record
    paired = chart.pair_lines  # (the kustomize bases, otherwise written in their templates' walk)
    chart.pair_lines = lambda *args: None
    try:
        for path in sorted((REPO / "profiles").glob("*.yaml")):
            target = target_for(path, REPO / "out", (), ())
            compiled = [compile_resolved(r) for r in resolve_all(target.request)]
            layout.profile_files(compiled, render_delivery(compiled))
    finally:
        yamlout._document = original
        chart.pair_lines = paired
    return seen


def test_every_shipped_document_fast_equals_general() -> None:
    docs = [d for d in _shipped_documents() if isinstance(d, (dict, list)) and d]
    assert len(docs) > 500
    mismatched = [i for i, d in enumerate(docs) if _fast(d) != _general(d)]
    assert not mismatched, _general(docs[mismatched[0]])


def test_other_types_take_the_general_path_with_the_same_bytes() -> None:
    class Text(str):
        pass

    class Count(int):
        pass

    plain = {"b": [1, "x", {"c": 2.5}], "a": {"name": "n", "s": "multi\nline\n"}}
    exotic = MappingProxyType({"b": (Count(1), Text("x"), OrderedDict(c=2.5)), "a": MappingProxyType({"name": Text("n"), "s": Text("multi\nline\n")})})
    assert dump_document(exotic) == dump_document(plain) == _general(plain)
    with pytest.raises(yamlout._Slow):
        _fast({"b": [Count(1)]})


def test_refusals_come_from_the_general_path() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match="self-referencing"):
        dump_documents([{"ok": 1}, {"a": {"b": loop}}])
    with pytest.raises(TypeError, match="keys must be strings"):
        dump_document({"a": [{"x": 1, 2: "y"}]})
    with pytest.raises(TypeError, match="cannot serialise bytes"):
        dump_document({"a": [{"x": b"raw"}]})
    long_key = "k" * 1001
    assert dump_document({"a": {long_key: 1}}) == _general({"a": {long_key: 1}})
