"""keda-formula-syntax: the formula parser, and the rule on real rendered ScaledObjects."""

from __future__ import annotations

import copy

import pytest

from compiler.verify.rules import check_rules
from compiler.verify.rules_formula import FormulaError, parse
from tests.shipped import compile_tier

GOOD = ["running + (waiting * 10)", "running", "2 * running + waiting / 4", "ceil(running / 4) + waiting", "-running + 3", "running ** 2 % 7",
        "(((running)))", "1_000 + running", "1.5e2 * waiting", "max(running) + min(waiting)"]
BAD = {
    "running +": "unexpected end",
    "(running": "expected ')'",
    "running)": "unexpected ')'",
    "running waiting": "operator is missing",
    "running * * 2": "expected a number",
    "1.2.3 + running": "malformed number",
    "2running": "malformed number",
    "sum(running)": "not a numeric builtin",
    "running and waiting": "operator is missing",
    "not running": "not a number",
    "": "empty formula",
    "()": "expected a number",
    "running + ceil": "not a number",
}


@pytest.mark.parametrize("text", GOOD)
def test_well_formed_formulas_parse(text: str) -> None:
    parse(text)


@pytest.mark.parametrize("text,why", BAD.items())
def test_malformed_formulas_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(FormulaError) as e:
        parse(text)
    assert why in str(e.value)


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_the_rule_fires_on_every_scaled_object_of_a_shipped_shape(tier: str) -> None:
    c = compile_tier(tier)
    objs = copy.deepcopy(list(c.objects))
    scaled = [o for o in objs if o["kind"] == "ScaledObject"]
    assert scaled
    assert not [v for v in check_rules(objs, c.profile, c.plan) if v.rule == "keda-formula-syntax"]
    for so in scaled:
        so["spec"]["advanced"]["scalingModifiers"]["formula"] = "running + (waiting * 10"
    found = [v for v in check_rules(objs, c.profile, c.plan) if v.rule == "keda-formula-syntax"]
    assert len(found) == len(scaled) and all(v.profile_path == ("autoscaling", "formula") for v in found)


@pytest.mark.parametrize("formula", ["running waiting", "running +", "(running * 2"])
def test_a_profile_formula_that_does_not_parse_is_refused_by_the_planner(formula: str) -> None:
    from compiler.errors import InputError

    with pytest.raises(InputError) as e:
        compile_tier("tier1", (f"autoscaling.formula={formula}",))
    assert "$.autoscaling.formula: formula does not parse" in str(e.value)
