"""Cache entries: whole and intact, or refused (truncated, appended, altered, foreign, partial)."""

from __future__ import annotations

import os

import pytest

from compiler.cache.entry import MAGIC, CorruptEntry, read_entry, read_section, write_entry


def _entry(tmp_path):
    path = tmp_path / "ab" / "abcd"
    write_entry(path, {"kind": "profile", "name": "x"}, [b"fleet-bytes", b"file one\nfile two\n"])
    return path


def test_round_trip(tmp_path) -> None:
    path = _entry(tmp_path)
    e = read_entry(path)
    assert e is not None and e.header["name"] == "x"
    assert read_section(e, 0) == b"fleet-bytes"
    assert read_section(e, 1) == b"file one\nfile two\n"
    assert [p.name for p in path.parent.iterdir()] == ["abcd"]  # no temporary file left


def test_absent_entry_is_none(tmp_path) -> None:
    assert read_entry(tmp_path / "nope") is None


@pytest.mark.parametrize("damage", ["truncate", "append", "header-byte", "garbage", "empty", "magic-only"])
def test_damaged_entries_are_refused_when_read(tmp_path, damage) -> None:
    path = _entry(tmp_path)
    data = path.read_bytes()
    damaged = {
        "truncate": data[:-3],
        "append": data + b"x",
        "header-byte": data.replace(b'"name":"x"', b'"name":"y"'),
        "garbage": os.urandom(200),
        "empty": b"",
        "magic-only": MAGIC,
    }[damage]
    path.write_bytes(damaged)
    with pytest.raises(CorruptEntry):
        read_entry(path)


def test_a_section_altered_after_the_header_was_read_is_refused(tmp_path) -> None:
    path = _entry(tmp_path)
    e = read_entry(path)
    assert e is not None
    path.write_bytes(path.read_bytes().replace(b"file two", b"file 2!!"))  # same length: only the digest tells
    assert read_section(e, 0) == b"fleet-bytes"
    with pytest.raises(CorruptEntry):
        read_section(e, 1)


def test_a_partially_written_entry_is_never_visible(tmp_path, monkeypatch) -> None:
    """A writer that dies mid-write leaves a temporary file, never a half entry under the key."""
    path = tmp_path / "ab" / "abcd"

    class Boom(Exception):
        pass

    real_replace = os.replace

    def die(*a, **k):
        raise Boom()

    monkeypatch.setattr(os, "replace", die)
    with pytest.raises(Boom):
        write_entry(path, {"kind": "profile"}, [b"x" * 100000])
    monkeypatch.setattr(os, "replace", real_replace)
    assert read_entry(path) is None
    assert list(path.parent.iterdir()) == []  # the temporary file was removed too
