"""compiler/usercache.py: where the user cache is, and the stamp of an installed library that
the entries derived with it are keyed by."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from compiler import usercache


def test_the_cache_is_under_xdg_cache_home_and_off_with_mcompile_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    assert usercache.cache_dir() == tmp_path / "xdg" / "mcompile" and (tmp_path / "xdg" / "mcompile").is_dir()
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    assert usercache.cache_dir() is None


def test_a_library_stamp_changes_when_one_of_its_files_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "stamped_lib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "grammar.lark").write_text("start: 'a'\n")
    (package / "_ext.so").write_bytes(b"\0")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = usercache.library_stamp("stamped_lib", ("__init__.py", "grammar.lark"), also="_ext*")
    assert usercache.library_stamp("stamped_lib", ("__init__.py", "grammar.lark"), also="_ext*") == first
    assert "_ext.so:1:" in first and "grammar.lark:11:" in first
    stat = (package / "grammar.lark").stat()
    os.utime(package / "grammar.lark", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # reinstalled
    assert usercache.library_stamp("stamped_lib", ("__init__.py", "grammar.lark"), also="_ext*") != first
    (package / "_ext.so").unlink()
    assert "_ext.so" not in usercache.library_stamp("stamped_lib", ("__init__.py",), also="_ext*")
    assert usercache.library_stamp("stamped_lib", ("gone.py",)).endswith("gone.py:missing")
    assert "stamped_lib" not in sys.modules  # found, never imported
    assert usercache.library_stamp("no_such_library_here", ("x.py",)) == "no_such_library_here:[]"


def test_an_entry_reads_back_only_while_intact(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "entry.bin"
    data = {"code": compile("x = 1", "<t>", "exec"), "items": [1, "two", (3.0, None)]}
    usercache.write_entry(path, data)
    assert usercache.read_entry(path) == data
    assert [p.name for p in path.parent.iterdir()] == ["entry.bin"]  # no temporary file left
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    assert usercache.read_entry(path, "missing") == "missing"
    assert usercache.read_entry(tmp_path / "none.bin", "missing") == "missing"
    assert usercache.read_entry(None, "missing") == "missing"
    usercache.write_entry(None, data)  # no cache: nothing to do
    usercache.write_entry(tmp_path / "bad.bin", object())  # marshal refuses it: nothing written
    assert not (tmp_path / "bad.bin").exists()
