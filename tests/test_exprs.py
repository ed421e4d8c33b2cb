"""exprs.py: the syntax validate, render and verify share (one definition each)."""

from __future__ import annotations

import pytest

from compiler.exprs import AMP_URL, formula_identifiers


@pytest.mark.parametrize("url,region", [
    ("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd", "us-east-1"),
    ("https://aps-workspaces.cn-north-1.amazonaws.com.cn/workspaces/ws-1/", "cn-north-1"),
])
def test_amp_workspace_urls_give_their_region(url: str, region: str) -> None:
    m = AMP_URL.match(url)
    assert m and m.group(1) == region


@pytest.mark.parametrize("url", ["http://prometheus-operated.monitoring.svc:9090", "https://aps-workspaces.us-east-1.amazonaws.com/"])
def test_other_urls_are_not_amp_workspaces(url: str) -> None:
    assert AMP_URL.match(url) is None


def test_formula_identifiers_skip_keywords_calls_strings_and_members() -> None:
    assert formula_identifiers("running + (waiting * 10)") == ["running", "waiting"]
    assert formula_identifiers('max(running, 1) + x.y + "waiting" + running') == ["running", "x"]
