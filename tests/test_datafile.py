"""Package data read with libyaml (PyYAML, YAML 1.1 resolution) reads exactly as the YAML 1.2
reader of profiles would: same values and same types, for every data file shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compiler import datafile

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
