"""compiler.verify.cel_py (+ cel_rt): rules compiled to Python pass only what cel-python's
interpreter passes, on the CEL semantics where Python differs; and they cover the CRDs' rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.verify import cel_py, crd_cel
from tests.shipped import REPO


def _rule(text: str) -> crd_cel.CelRule:
    rule = crd_cel.compile_rule({"rule": text})
    assert rule.status == crd_cel.EVALUATED, rule
    return rule


def _fast(rule: crd_cel.CelRule, value: Any) -> Any:
    assert rule.fast is not None, rule.rule
    try:
        return rule.fast(value)
    except Exception as exc:  # noqa: BLE001 - a refusal
        return type(exc).__name__


# (rule, self, what the compiled program gives: True is a pass, anything else goes to the interpreter)
TRAPS = [
    ("self.a == 1", {"a": True}, "Refuse"),  # Python: True == 1
    ("self.a == 1", {"a": 1.0}, "Refuse"),  # int vs double
    ("self.a != 'x'", {"a": None}, "Refuse"),  # null compared
    ("self.a == 1", {"a": 1}, True),
    ("self.a < 2", {"a": False}, "Refuse"),  # Python: False < 2
    ("!(self.a == 'x')", {}, cel_py.cel_rt.ERR),  # a missing key is an error, and ! keeps it
    ("self.a == 'x' || true", {}, True),  # error absorbed by true
    ("true || self.a.b.c", {"a": 1}, True),
    ("self.a == 'x' && false", {}, False),  # error absorbed by false
    ("self.a == 'x' && true", {}, cel_py.cel_rt.ERR),
    ("!(self.a > 0 && self.b)", {"a": 1, "b": 2}, "Refuse"),  # && with a non-bool kept, ! refuses it
    ("has(self.a)", {"a": None}, True),  # a map key present with null
    ("!has(self.a.b)", {"a": "text"}, True),  # cel-python: has() of a non-map's field is false
    ("!has(self.a.b)", {}, True),  # ... and of an error's
    ("self.x + 1 > 0", {"x": 2**63 - 1}, "Refuse"),  # int64 overflow
    ("-self.x < 0", {"x": -(2**63)}, "Refuse"),
    ("size(self) == 0", None, "Refuse"),  # cel-python: size(null) == 0
    ("self[-1] == 'a'", ["b", "a"], "Refuse"),  # Python's negative index
    ("self[2] == 'a'", ["b", "a"], cel_py.cel_rt.ERR),
    ("int(self) == 5", " 5", "Refuse"),  # Python's int() strips blanks
    ("int(self) == 5", "\u0665", "Refuse"),  # ... and reads Arabic-Indic digits
    ("int(self) == 5", "5", True),
    ("'a' in self", ["a", 1], "Refuse"),  # a mixed list
    ("'a' in self", {"a": 1}, True),  # a map: its keys
    ("self.exists(x, x == 'a')", ["a", 2], "Refuse"),
    ("self.exists_one(x, x.y)", [{"y": True}, {}], "Refuse"),  # cel-python counts an error as true
    ("self.all(x, x.y)", [{"y": True}, {}], "Refuse"),
    ("self.filter(x, x.y).size() == 1", [{"y": True}, {}], "Refuse"),
    ("!has(self.f) || self.f.exists(x, x == 1)", {}, True),  # a macro on an error: the error
    ("self.matches('^a$')", "a\n", False),  # RE2: $ is the end of the text
    ("self.size() == 1", "\u00e9", True),  # code points
    ("self.startsWith('a')", 1, "Refuse"),
    ("self.split('/')[0].size() < 3", "ab/c", True),
    ("self.substring(1) == 'b'", "ab", True),
    ("self.substring(3) == ''", "ab", "Refuse"),  # out of range: the interpreter's error
    ("self.find('[0-9]+') == '42'", "x42", True),
    ("(self.a ? 1 : 2) == 1", {"a": 1}, "Refuse"),  # a non-bool condition
    ("self.a.b == 1", {"a": [1]}, cel_py.cel_rt.ERR),  # field of a list
    ("duration(self) == duration('60s')", "1m", True),
    ("duration(self) < duration('1h')", "1h30m", False),
    ("duration(self) > duration('0s')", "1.5s", "Refuse"),  # float parts: the interpreter
    ("duration(self) > duration('0s')", "500ms", "Refuse"),
    ("duration(self) > duration('0s')", "-5s", "Refuse"),
    ("duration(self) == 60", "1m", "Refuse"),  # a duration is not an int
]


@pytest.mark.parametrize(("text", "value", "expected"), TRAPS)
def test_the_compiled_program_on_cel_traps(text: str, value: Any, expected: Any) -> None:
    rule = _rule(text)
    got = _fast(rule, value)
    assert got == expected or got is expected, (got, expected)
    reference = crd_cel.interpret(rule, value)
    if got is True:
        assert reference.passed is True, reference
    assert crd_cel.evaluate(rule, value) == reference  # the verdict is always the interpreter's


def _crd_rules() -> set[str]:
    rules: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            rules.update(str(v.get("rule", "")) for v in node.get("x-kubernetes-validations") or [])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for root in (REPO.parent / "shared" / "crds", REPO.parent / "shared" / "upstream" / "crds"):
        for path in sorted(Path(root).rglob("*.y*ml")):
            for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader):
                walk(doc)
    return rules


def test_every_evaluated_crd_rule_compiles() -> None:
    rules = [crd_cel.compile_rule({"rule": text}) for text in sorted(_crd_rules())]
    evaluated = [r for r in rules if r.status == crd_cel.EVALUATED]
    missing = [r.rule for r in evaluated if r.fast is None]
    assert len(rules) >= 150 and len(evaluated) >= 150, (len(rules), len(evaluated))
    assert missing == []


@pytest.mark.parametrize("text", ["self.a * 2 > 1", "self.a / 2 > 1", "self.d > 1.5", "self == b'x'",
                                  "{'a': 1} == self", "self > 1u", "timestamp(self) > 0"])
def test_constructs_outside_the_compiler_are_left_to_the_interpreter(text: str) -> None:
    rule = _rule(text)
    assert rule.fast is None
    assert crd_cel.evaluate(rule, {"a": 3}).passed is not True or crd_cel.interpret(rule, {"a": 3}).passed


def test_generated_source_is_one_plain_function() -> None:
    rule = _rule("self.all(x, x.name != '') && has(self[0].name)")
    from compiler.verify import crd_cel as module

    source = cel_py.to_python(module._parse(module._env(), rule.rule))
    assert source is not None and source.startswith("def rule(v_self):\n    return and_(all_(v_self, lambda v_x:")
    assert cel_py.load(source)([{"name": "a"}]) is True
