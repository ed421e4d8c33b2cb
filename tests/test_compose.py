"""The libyaml fast path of loading reads every document exactly as ruamel's composer does
(same values, types and positions, same errors), or declines and lets ruamel read it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from compiler import compose as fast
from compiler import load
from compiler.errors import InputError

REPO = Path(__file__).resolve().parents[1]
FILES = sorted(p for p in REPO.rglob("*.yaml") if not {".venv", ".tools", ".git", "node_modules"} & set(p.relative_to(REPO).parts))

SNIPPETS = [
    "a: on\nb: yes\nc: 010\nd: 0o10\ne: 1_000\nf: 2001-12-14\ng: 1:20\nh: 0x1F\ni: +1\nj: .5\nk: 1e3\nl: .inf\nm: -.INF\nn: .NaN\n",
    "a: !!str 5\nb: '5'\nc: \"5\"\nd: ! 5\ne: !!int '7'\nf: !custom x\n",
    "a: &x [1, \"b\", {c: d}]\nb: *x\nc: &y\n  d: e\nf: *y\n",
    "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
    "a: 1\na: 2\nb:\n  c: 1\n  c: 3\n",
    "", "# only a comment\n", "---\n", "--- \n...\n", "a:\nb: ~\nc: null\nd: Null\ne: NULL\nf: ''\n",
    "a: 1\n---\nb: 2\n", "- a\n- b\n-\n- - c\n  - d\n",
    "é: \"é中😀\"\nclé: valeur\n  # comment\nz: |\n  line 1\n   line 2\n\nw: >-\n  folded\n  text\n",
    "a: \"\\x41\\u00e9\\/\\n\\t\"\nb: 'it''s'\nc: plain\n  continued\n  lines\n",
    "? [a, b]\n: c\n1: x\nnull: y\ntrue: z\n",
    "a: [1, 2\n", "a: b: c\n", "a:\n\t- b\n", "%YAML 1.2\n---\na: 1\n", "a: 1\r\nb: 2\r\n", "\ufeffa: 1\n",
    "a: x\u2028y\n", "a: *nope\n", "a: &x [*x]\n", "a: &x 1\nb: &x 2\nc: *x\n", "key: \"unterminated\n",
    "{a: 1, b: [c, {d: e}]}\n", "[1, 2, 3]\n", "just a scalar\n", "a: |2\n   indented\n", "a: -\nb: - x\n",
    "a: 'multi\n  line'\nb: \"multi\n  line\"\n", "- ? complex\n  : value\n", "a: !!binary aGVsbG8=\n", "a: !!set {x, y}\n",
]


def typed(value: Any) -> Any:
    if isinstance(value, dict):
        return ("map", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def read(text: str) -> Any:
    try:
        layer = load.parse_text(text, "f.yaml", "profile")
    except InputError as e:
        return ("error", [str(d) for d in e.diagnostics])
    return ("ok", typed(layer.data), sorted(layer.positions.items(), key=repr))


def ruamel_only(text: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    def declined(_text: str) -> Any:
        raise fast.Declined

    with monkeypatch.context() as m:
        m.setattr(load, "compose", declined)
        return read(text)


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippets_read_the_same_both_ways(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read(text) == ruamel_only(text, monkeypatch)


def test_every_yaml_file_of_the_repository_reads_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(FILES) > 100
    taken = 0
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert read(text) == ruamel_only(text, monkeypatch), path
        try:
            fast.compose(text)
            taken += 1
        except Exception:  # noqa: BLE001, S112 - declined or refused: ruamel read it above
            continue
    assert taken > len(FILES) // 2, taken  # the fast path is the usual one


@pytest.mark.parametrize("tier", ["tier1", "tier2", "tier3"])
def test_shipped_profiles_take_the_fast_path(tier: str) -> None:
    text = (REPO / "profiles" / f"{tier}.yaml").read_text(encoding="utf-8")
    assert fast.compose(text) is not None


@pytest.mark.parametrize("text", ["a: 1\n---\nb: 2\n", "a:\n\t- b\n", "a: 1\r\n", "%YAML 1.2\n---\na: 1\n", "a: [1\n", "a: &x 1\nb: &x 2\n"])
def test_declines_where_ruamel_must_decide(text: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - Declined, or libyaml's own error: either way ruamel reads it
        fast.compose(text)


def test_the_resolver_table_is_ruamels_yaml_1_2_table() -> None:
    """compose._IMPLICIT_1_2 is a copy: the same expressions and flags, first characters and order."""
    import re

    from ruamel.yaml import resolver

    theirs = [(tag, rx.pattern, rx.flags, list(first)) for versions, tag, rx, first in resolver.implicit_resolvers if (1, 2) in versions]
    ours = [(fast._CORE + tag, expr, re.compile(expr, flags).flags, list(first)) for tag, expr, flags, first in fast._IMPLICIT_1_2]
    assert ours == theirs


def _values() -> list[str]:
    """Plain scalars of every YAML file of the repository, and the corner cases of each rule."""
    import yaml

    seen: set[str] = set()
    for path in FILES:
        try:
            seen.update(e.value for e in yaml.parse(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) if type(e).__name__ == "ScalarEvent")
        except yaml.YAMLError:
            continue
    words = ["", "~", "null", "Null", "NULL", "nULL", "true", "True", "TRUE", "tRUE", "false", "yes", "on", "off", "y", "n", "<<", "=", "!", "&", "*",
             "0", "00", "010", "0o17", "0o", "0b101", "0b", "0x1F", "0xg", "-0", "+12", "1_000", "_1", "1.", ".5", "-.5", "+.5e+3", ".5e3", "1e3", "1E-3",
             "1.5e", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "-.nan", "1:20", "1:20:30.5", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
             "2001-12-14 21:59:43.10 -5", "2001-12-1", "2001-1-1 1:00:00", "20011214", "12.5.6", "1.2.3", "v1", "- x", "0x_", "1__2", "3:", "true\n",
             "null ", " null", "é", "٣", "1٣"]
    return sorted(seen | set(words))


def test_resolve_gives_ruamels_tag_for_every_value() -> None:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    resolver = VersionedResolver()
    values = _values()
    assert len(values) > 1000
    for plain in (True, False):
        for value in values:
            assert fast.resolve(value, plain) == str(resolver.resolve(ScalarNode, value, (plain, not plain))), (value, plain)


@pytest.mark.parametrize(("text", "tag"), [("a: !foo%21 x\n", "!foo!"), ("a: !foo%2521 x\n", "!foo!"), ("a: !a%252 x\n", "!a\x02"),
                                        ("a: !a%25zz x\n", "!a%zz"), ("a: !<tag:x%252Cy> [1]\n", "tag:x,y")])
def test_explicit_tags_with_uri_escapes(text: str, tag: str) -> None:
    """libyaml decodes a tag's escapes and the fast path decodes what is left once more, as it did
    when its nodes were ruamel's (whose ``Tag`` decodes its suffix); an escape that does not decode
    the second time is left to ruamel (it was an internal error)."""
    assert read(text) == ("error", [f"f.yaml:1:4: $.a: tag {tag!r} is not allowed"])


def test_reading_a_valid_profile_imports_no_ruamel(repo: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from compiler.load import load_file\n"
            "load_file(Path(sys.argv[1]), 'p', 'profile'); print(sorted(m for m in sys.modules if m.startswith('ruamel')))")
    p = subprocess.run([sys.executable, "-c", code, str(repo / "profiles" / "tier3.yaml")], capture_output=True, text=True, check=True, cwd=repo)
    assert p.stdout.strip() == "[]"
