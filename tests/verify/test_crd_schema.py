"""compiler.verify.crd_schema: Go (RE2) patterns of CRDs are read with Go's meaning by Python."""

from __future__ import annotations

import re

import pytest

from compiler.verify.crd_schema import python_pattern, to_json_schema


@pytest.mark.parametrize(("go", "python"), [
    ("^(?i)(abort|warn)?$", "^(?i:(abort|warn)?$)"),  # prometheus-operator PrometheusRule
    ("a(?is)b", "a(?is:b)"),
    ("^a\\z", "^a\\Z"),
    ("^[a-z]+$", "^[a-z]+$"),  # Python already reads it: unchanged
    ("(a(?i)b)", "(a(?i)b)"),  # flags inside a group: not translated, left as it was
    ("^(?U)a+$", "^(?U)a+$"),  # no Python equivalent: left as it was
])
def test_python_pattern(go, python):
    assert python_pattern(go) == python


@pytest.mark.parametrize(("text", "go_matches"), [
    ("warn", True), ("WARN", True), ("Abort", True), ("", True), ("bogus", False), ("warnx", False),
])
def test_translated_flags_keep_gos_meaning(text, go_matches):
    """Go applies ``(?i)`` to the rest of the pattern: case-insensitive from there to the end."""
    assert (re.search(python_pattern("^(?i)(abort|warn)?$"), text) is not None) is go_matches


def test_the_schema_carries_the_translated_pattern():
    schema = to_json_schema({"type": "object", "properties": {"s": {"type": "string", "pattern": "^(?i)(abort|warn)?$"}}})
    assert schema["properties"]["s"]["pattern"] == "^(?i:(abort|warn)?$)"


def test_a_prometheus_rule_with_a_go_flag_pattern_is_verified_not_crashed(registry):
    rule = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r", "namespace": "n"},
        "spec": {"groups": [{"name": "g", "partial_response_strategy": "WARN", "rules": [{"alert": "A", "expr": "up"}]}]},
    }
    assert registry.validate(rule) == []
    rule["spec"]["groups"][0]["partial_response_strategy"] = "bogus"
    (finding,) = registry.validate(rule)
    assert finding.path == "spec.groups[0].partial_response_strategy"
    assert "does not match" in finding.message
