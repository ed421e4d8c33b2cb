"""The Kubernetes CEL extension functions, evaluated through cel-python as CRD rules call them."""

from __future__ import annotations

import pytest

from compiler.verify import crd_cel
from compiler.verify.cel_ext import known_functions


def _holds(rule: str, value: object) -> bool:
    compiled = crd_cel.compile_rule({"rule": rule})
    assert compiled.status == crd_cel.EVALUATED, compiled
    reference = crd_cel.interpret(compiled, value)  # cel-python with these functions
    assert crd_cel.evaluate(compiled, value) == reference  # the compiled rule (cel_rt's versions) agrees
    return reference.passed is True


@pytest.mark.parametrize(("rule", "value", "expected"), [
    ("self.split('/').size() == 2", "a/b", True),
    ("self.split('/').size() == 2", "a/b/c", False),
    ("self.split('/', 2)[1] == 'b/c'", "a/b/c", True),
    ("self.split('', 2)[1] == 'bc'", "abc", True),
    ("self.split('/', 0).size() == 0", "a/b", True),
    ("self.lowerAscii() == 'gpu'", "GPU", True),
    ("self.find('[0-9]+') == '42'", "node42x", True),
    ("self.findAll('[0-9]').size() == 3", "a1b2c3", True),
    ("self.substring(1, 3) == 'bc'", "abcd", True),
    ("self.indexOf('c') == 2", "abcd", True),
    ("self.isSorted()", [1, 2, 3], True),
    ("self.isSorted()", [3, 1], False),
    ("self.sum() == 6", [1, 2, 3], True),
])
def test_extension_functions_evaluate_like_kubernetes(rule: str, value: object, expected: bool) -> None:
    assert _holds(rule, value) is expected


def test_known_functions_cover_the_extensions_and_macros() -> None:
    names = known_functions()
    assert {"split", "lowerAscii", "findAll", "isSorted", "sum", "has", "exists_one"} <= names
    assert "frobnicate" not in names
