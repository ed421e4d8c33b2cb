"""Tests for :mod:`compiler.emit.jsonout`: byte-identical to ``json.dumps(indent=2, sort_keys=True)``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.emit.jsonout import dumps_indented

REPO = Path(__file__).resolve().parents[2]


def _reference(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", "é", "\u2028", "\x00", '"', "\\", "日本", "\U0001f680", "a/b"]))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(_TEXT, children, max_size=4),
                               st.lists(children, max_size=3).map(tuple)),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(_JSON)
def test_same_bytes_as_json_dumps(value: Any) -> None:
    assert dumps_indented(value) == _reference(value)


@pytest.mark.parametrize("value", [
    {}, [], (), {"a": {}}, {"a": []}, [[], {}], 0, -0.0, 1e16, 1.5e-7, math.inf, -math.inf, math.nan, 2**80, True, None, "x",
    {"b": 1, "a": [1, {"z": None, "y": [True, False]}]},
])
def test_edge_values(value: Any) -> None:
    assert dumps_indented(value) == _reference(value)


def test_other_types_and_refusals_are_json_dumps() -> None:
    class Text(str):
        pass

    assert dumps_indented({"a": Text("x"), "t": (1, 2)}) == _reference({"a": "x", "t": [1, 2]})
    with pytest.raises(TypeError):
        dumps_indented({1: 1, "a": 2})  # sort_keys with mixed key types: json's own TypeError
    with pytest.raises(TypeError):
        dumps_indented({"a": object()})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        dumps_indented(loop)


def test_the_shipped_charts_values_schemas() -> None:
    schemas = list((REPO / "out").glob("*/chart/values.schema.json")) + list((REPO / "out").glob("*/plan.json"))
    assert len(schemas) >= 6
    for path in schemas:
        text = path.read_text(encoding="utf-8")
        assert dumps_indented(json.loads(text)) + "\n" == text
