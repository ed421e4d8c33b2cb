"""compiler/classcode.py: the code ``@dataclass`` generates, taken from the user cache, gives the
very same methods; a damaged table is ignored and rewritten; no cache, no table."""

from __future__ import annotations

import dataclasses
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import classcode

METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")

#: Every dataclass of the compiler and its methods' code, as marshal data on stdout.
DUMP = """
import importlib, marshal, pkgutil, sys, dataclasses
if sys.argv[1] == "install":
    from compiler import classcode
    assert classcode.install() is not None
import compiler
codes = {}
for m in pkgutil.walk_packages(compiler.__path__, "compiler."):
    if m.name.startswith("compiler.cli") or m.name.endswith("__main__"):
        continue
    mod = importlib.import_module(m.name)
    for name, obj in vars(mod).items():
        if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == m.name:
            for meth in sys.argv[2:]:
                f = obj.__dict__.get(meth)
                if f is not None and hasattr(f, "__code__"):
                    codes[f"{m.name}.{name}.{meth}"] = f.__code__
sys.stdout.buffer.write(marshal.dumps(codes))
"""


def dump(how: str, cache: Path) -> dict[str, object]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("MCOMPILE_NO_CACHE", None)
    p = subprocess.run([sys.executable, "-c", DUMP, how, *METHODS], capture_output=True, env=env, check=True, timeout=120)
    return marshal.loads(p.stdout)


def test_methods_from_the_table_are_the_methods_python_makes(tmp_path: Path) -> None:
    """Every dataclass of the compiler, made three ways: plain, with the table filled by that run,
    and with the table loaded from the file the previous run wrote. Same code, method by method."""
    plain = dump("plain", tmp_path)
    assert len(plain) > 300  # ~115 classes (a test that compared nothing would pass)
    first = dump("install", tmp_path)
    (table,) = (tmp_path / "mcompile" / "classcode").iterdir()
    loaded = classcode._read(table)
    assert len(loaded) > 300
    second = dump("install", tmp_path)
    assert first == plain
    assert second == plain
    inner = {m for module in loaded.values() for make in module.co_consts if hasattr(make, "co_code")
             for m in make.co_consts if hasattr(m, "co_code")}  # each method, inside its __create_fn__, inside the text's module code
    generated = {c for c in plain.values() if c.co_filename == "<string>"}  # (__repr__ is dataclasses' wrapper around one)
    assert len(generated) > 300 and generated <= inner  # the second run took them from the file


def make(table: classcode.Table) -> type:
    """One frozen dataclass made through ``table``."""
    old = vars(dataclasses).get("exec")
    dataclasses.exec = table.exec  # type: ignore[attr-defined]
    try:
        @dataclasses.dataclass(frozen=True)
        class Point:
            x: int
            y: str = "{{ y }}"
            z: tuple[int, ...] = dataclasses.field(default_factory=tuple)
    finally:
        if old is None:
            del dataclasses.exec  # type: ignore[attr-defined]
        else:
            dataclasses.exec = old  # type: ignore[attr-defined]
    return Point


def test_a_class_made_through_the_table_behaves_and_the_table_is_saved_only_when_it_grew(tmp_path: Path) -> None:
    path = tmp_path / "classcode" / "t.marshal"
    table = classcode.Table(path)
    point = make(table)
    p = point(1)
    assert p == point(1, "{{ y }}", ()) and p != point(2) and hash(p) == hash(point(1))
    assert repr(p).endswith("Point(x=1, y='{{ y }}', z=())")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    assert table.compiled == len(table.used) >= 5
    table.save()
    again = classcode.Table(path)
    assert again.codes == table.codes
    make(again)
    assert again.compiled == 0  # every text came from the file
    stamp = path.stat().st_mtime_ns
    again.save()
    assert path.stat().st_mtime_ns == stamp  # nothing new: not rewritten


@pytest.mark.parametrize("damage", [b"", b"\0" * 40, b"not a table at all, but long enough to have a checksum"])
def test_a_damaged_table_is_ignored_and_written_again(damage: bytes, tmp_path: Path) -> None:
    path = tmp_path / "t.marshal"
    path.write_bytes(damage)
    table = classcode.Table(path)
    assert table.codes == {}
    make(table)
    table.save()
    assert len(classcode._read(path)) == table.compiled > 0
    flipped = bytearray(path.read_bytes())
    flipped[-1] ^= 1  # one bit of the payload: the checksum no longer matches
    path.write_bytes(bytes(flipped))
    assert classcode._read(path) == {}


def test_other_calls_go_to_the_builtin_exec() -> None:
    table = classcode.Table(None)
    space: dict[str, object] = {}
    table.exec(compile("a = 1", "<t>", "exec"), space, space)
    table.exec("b = 2", space)  # no separate namespace: not a call dataclasses makes
    assert (space["a"], space["b"]) == (1, 2)
    table.exec("c = 3", {}, space)
    assert space["c"] == 3 and table.compiled == 1


def test_no_user_cache_no_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    assert classcode.install() is None
    assert "exec" not in vars(dataclasses)
