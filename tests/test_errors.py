"""JSON paths of diagnostics (compiler/errors.py): the path a tree walk builds step by step equals
the path built from the whole list of parts, and both parse back to the parts."""

from __future__ import annotations

import pytest

from compiler.errors import json_path, json_step, parse_json_path
from compiler.load import MAX_DEPTH, _flow_too_deep

CASES = [
    ((), "$"),
    (("capacity", "pools", 0, "weight"), "$.capacity.pools[0].weight"),
    (("metadata", "labels", "app.kubernetes.io/name"), '$.metadata.labels["app.kubernetes.io/name"]'),
    (("a b", 12, "_x-1"), '$["a b"][12]._x-1'),
    (("1abc", 'q"uote'), '$["1abc"]["q\\"uote"]'),
]


@pytest.mark.parametrize(("parts", "text"), CASES)
def test_json_path_and_its_steps(parts: tuple, text: str) -> None:
    assert json_path(parts) == text
    assert "$" + "".join(json_step(p) for p in parts) == text
    assert parse_json_path(text) == list(parts)


def test_flow_depth_prescan_counts_nesting_not_brackets() -> None:
    """The pre-scan's shortcut (no more brackets than the limit: nothing to scan) and its scan
    agree at the boundary: MAX_DEPTH nested brackets pass, one more is refused where it opens."""
    assert _flow_too_deep("a: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n") is None
    assert _flow_too_deep("a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n") == (1, 3 + MAX_DEPTH + 1)
    many_shallow = "a: [" + ", ".join("[1]" for _ in range(3 * MAX_DEPTH)) + "]\n"
    assert _flow_too_deep(many_shallow) is None
