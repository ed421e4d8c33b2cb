"""Loader: positions, YAML 1.2 core types only, safety limits."""

from __future__ import annotations

import pytest

from compiler.errors import InputError
from compiler.load import parse_text


def test_positions_are_one_based_key_positions() -> None:
    layer = parse_text("a:\n  b: [1, {c: x}]\n", "f.yaml", "profile")
    assert layer.positions[("a",)] == (1, 1)
    assert layer.positions[("a", "b")] == (2, 3)
    assert layer.positions[("a", "b", 1, "c")] == (2, 11)


@pytest.mark.parametrize(
    "text,value",
    [
        ("v: on", "on"),  # YAML 1.2: a string, not a boolean
        ("v: yes", "yes"),
        ("v: 0755", 755),
        ("v: 0o17", 15),
        ("v: 0x1f", 31),
        ("v: 1_000", 1000),
        ("v: 2026-01-01", "2026-01-01"),
        ("v: .inf", float("inf")),
        ("v: ~", None),
        ("v: True", True),
        ("v: '{{ .Values.x }}'", "{{ .Values.x }}"),
    ],
)
def test_core_scalars(text: str, value) -> None:
    assert parse_text(text, "f", "profile").data["v"] == value


def test_all_duplicate_keys_are_reported() -> None:
    with pytest.raises(InputError) as e:
        parse_text("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n", "f.yaml", "profile")
    assert [str(d) for d in e.value.sorted()] == [
        "f.yaml:2:1: $.a: duplicate key 'a' (first defined at line 1)",
        "f.yaml:5:3: $.b.c: duplicate key 'c' (first defined at line 4)",
    ]


def test_shared_alias_is_expanded_within_limits() -> None:
    layer = parse_text("a: &x {k: 1}\nb: *x\n", "f", "profile")
    assert layer.data == {"a": {"k": 1}, "b": {"k": 1}}
    assert layer.data["a"] is not layer.data["b"]


def test_a_folded_block_scalar_reads_as_yaml_defines_it() -> None:
    """ruamel's round-trip reader marks folds with a BEL character; the value has none."""
    from compiler.load import parse_text

    text = "description: >-\n  one\n  two\n\n  three\n"
    assert parse_text(text, "f.yaml", "profile").data == {"description": "one two\nthree"}


def test_utf16_surrogate_escapes_are_refused_where_they_are_written() -> None:
    """helm, kustomize, Argo CD and Flux refuse a YAML file with a surrogate escape ("found invalid
    Unicode character escape code"), so a profile string holding one must not reach out/."""
    text = 'a: "rocket \\ud83d\\ude80"\nb:\n  - "half \\udc00 x"\n"k\\ud800": 1\nok: "caf\\u00e9 \\U0001F680"\n'
    with pytest.raises(InputError) as e:
        parse_text(text, "p.yaml", "profile")
    assert [str(d) for d in e.value.sorted()] == [
        ("p.yaml:1:4: $.a: \\uD83D is not a Unicode character: write the character itself or \\U0001F680 "
        "(the pair \\uD83D\\uDE80 is JSON's spelling, not YAML's)"),
        ("p.yaml:3:5: $.b[0]: \\uDC00 is not a Unicode character: it is half of a UTF-16 surrogate pair; "
        "write the character itself or a \\U00XXXXXX escape"),
        ("p.yaml:4:1: $[\"k\\ud800\"]: \\uD800 is not a Unicode character: it is half of a UTF-16 surrogate pair; "
        "write the character itself or a \\U00XXXXXX escape"),
    ]
    # the spelling the message suggests reads as the character the pair meant
    assert parse_text('a: "rocket \\U0001F680"\n', "p.yaml", "profile").data == {"a": "rocket \U0001F680"}
