"""The cache's JSON codec: real fleet inputs round-trip; nothing but compiler dataclasses decodes."""

from __future__ import annotations

import json

import pytest

from compiler.cache.codec import CodecError, decode, encode
from compiler.errors import Diagnostic, Source

from ..fleet.fleetkit import outcomes
from ..shipped import REPO


def test_real_landings_and_hub_round_trip_equal_and_hashable(tmp_path) -> None:
    built = outcomes([REPO / "profiles" / "tier2.yaml", REPO / "profiles" / "tier3.yaml"], tmp_path / "out")
    assert all(o.landings for o in built) and any(o.hub for o in built)  # tier2 is Argo CD (hub objects), tier3 Flux
    for o in built:
        back = decode(json.loads(json.dumps(encode((o.landings, o.hub)))))
        assert back == (o.landings, o.hub)
        assert {hash(x) for x in back[0]} == {hash(x) for x in o.landings}  # frozen dataclasses stay hashable (tuples, not lists)


def test_sets_dicts_and_diagnostics_round_trip() -> None:
    value = (frozenset({("a", "b"), ("c", "d")}), {"k": (1, 2.5, None, True)}, Diagnostic(Source("p.yaml", 3, 4, "profile"), "$.x", "msg"))
    assert decode(json.loads(json.dumps(encode(value)))) == value


@pytest.mark.parametrize("data", [
    {"c": "os:system", "f": ["true"]},  # not the compiler package
    {"c": "compiler.errors:InputError.__init__", "f": []},  # not a plain class name
    {"c": "compiler.cache.codec:CodecError", "f": []},  # a compiler class, not a dataclass
    {"c": "compiler.errors:Source", "f": "x"},
    {"c": "compiler.errors:Source", "f": [1, 2, 3, 4, 5, 6]},  # wrong arity
    {"x": 1},
    {"d": [[1]]},
])
def test_foreign_or_malformed_data_is_refused(data) -> None:
    with pytest.raises(CodecError):
        decode(data)


def test_unencodable_values_are_refused() -> None:
    with pytest.raises(CodecError):
        encode(object())
