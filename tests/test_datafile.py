"""Package data read with libyaml (PyYAML, YAML 1.1 resolution) reads exactly as the YAML 1.2
reader of profiles would: same values and same types, for every data file shipped; and what the
user cache keeps of a data file is what PyYAML reads it to, never trusted blindly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compiler import datafile
from compiler.verify import schema_cache

ROOT = Path(datafile.__file__).parent
#: Data files read through compiler.datafile (every YAML under these package directories).
FILES = sorted(p for d in ("catalog", "engine") for p in (ROOT / d).glob("*.yaml"))


def typed(value: Any) -> Any:
    """``value`` with the type of every node spelled out (``True`` != ``1``, ``1.0`` != ``1``)."""
    if isinstance(value, dict):
        return ("map", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [typed(v) for v in value])
    return (type(value).__name__, value)


@pytest.fixture(autouse=True)
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache for each test; the directory its entries go to."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    return tmp_path / "xdg" / "mcompile" / "schema-checks"


def test_there_are_data_files() -> None:
    assert {p.parent.name for p in FILES} == {"catalog", "engine"} and len(FILES) >= 3


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_libyaml_reads_every_data_file_as_yaml_1_2_does(path: Path) -> None:
    assert typed(datafile.load(path)) == typed(YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")))


def test_the_comparison_can_fail(tmp_path: Path) -> None:
    """A YAML 1.1 boolean (``on``) is a string in YAML 1.2: the test above would catch it."""
    path = tmp_path / "x.yaml"
    path.write_text("flag: on\nmode: 010\n", encoding="utf-8")
    assert typed(datafile.load(path)) != typed(YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")))


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(raw: bytes) -> Any:
        raise AssertionError("parsed, not read from the user cache")

    monkeypatch.setattr(datafile, "parse", fail)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_data_file_read_from_the_user_cache_is_what_pyyaml_reads(path: Path, user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first read parses and stores; the next (as in the next run) reads the entry: the same
    values and types as PyYAML's own reading, and new objects every time (callers may change them)."""
    reference = typed(datafile.parse(path.read_bytes()))
    first = datafile.load(path)
    assert typed(first) == reference and len(list(user_cache.glob("*.bin"))) == 1
    _no_parse(monkeypatch)
    second = datafile.load(path)
    assert typed(second) == reference and second is not first
    if isinstance(second, dict):
        second.clear()
        assert typed(datafile.load(path)) == reference


def test_a_changed_file_is_parsed_again(tmp_path: Path, user_cache: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    assert datafile.load(path) == {"a": 1}
    path.write_text("a: 2\n", encoding="utf-8")
    assert datafile.load(path) == {"a": 2} and len(list(user_cache.glob("*.bin"))) == 2


def test_a_damaged_entry_is_ignored_and_rewritten(tmp_path: Path, user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: [1, 2.5, true, null, '010']\n", encoding="utf-8")
    want = {"a": [1, 2.5, True, None, "010"]}
    assert datafile.load(path) == want
    (entry,) = user_cache.glob("*.bin")
    intact = entry.read_bytes()
    for damaged in (intact[:-3], intact[:32] + intact[33:] + b"x", b""):
        entry.write_bytes(damaged)
        assert typed(datafile.load(path)) == typed(want)
        assert entry.read_bytes() == intact  # rewritten
    _no_parse(monkeypatch)
    assert datafile.load(path) == want


def test_a_new_pyyaml_or_datafile_module_is_a_new_key(monkeypatch: pytest.MonkeyPatch) -> None:
    datafile.code_key.cache_clear()
    before = datafile.code_key()
    monkeypatch.setattr(datafile, "_PYYAML_FILES", (*datafile._PYYAML_FILES, "not-there.py"))
    datafile.code_key.cache_clear()
    try:
        assert datafile.code_key() != before
    finally:
        monkeypatch.undo()
        datafile.code_key.cache_clear()
    assert datafile.code_key() == before


def test_no_cache_writes_nothing(tmp_path: Path, user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    assert datafile.load(path) == datafile.load(path) == {"a": 1}
    assert not user_cache.exists()
    assert schema_cache.cache_dir() is None
