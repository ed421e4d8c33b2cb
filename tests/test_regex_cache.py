"""compiler.regex_cache: a pattern built from the user cache is the pattern ``re`` compiles (the
same program, groups and flags), a new process reads what an earlier one stored, only what a
build compiled is stored (bounded), and a damaged or disabled cache costs time only."""

from __future__ import annotations

import _sre  # type: ignore[import-not-found]
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler import regex_cache

REPO = Path(__file__).resolve().parents[1]

#: Patterns with what a program can hold: groups (named, optional), flags set by argument and
#: inline, classes, repeats up to MAXREPEAT, lookaround, backreferences, bytes, Unicode.
PATTERNS: list[tuple[Any, int]] = [
    ("a+b", 0), (r"^(?P<year>[0-9]{4})-(?P<month>[0-9]{2})(?:-(?P<day>\d\d))?$", 0), ("ab|cd|[e-z]+?", re.IGNORECASE),
    (r"""^(?: ~ |null|Null|NULL | )$""", re.VERBOSE), (r"(?i)kelvin\u212a", 0), (r"(?<=x)y(?!z)", 0), (r"(a)(b)?\2\1", 0),
    (rb"[\x00-\x7f]+\Z", 0), ("[^\t\n\r -~\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", 0), (r"\w+\s*\d{1,3}", re.ASCII),
    ("x*" * 3, re.MULTILINE | re.DOTALL), (r"(?s:.)(?m:^$)", 0), ("é+", re.IGNORECASE | re.UNICODE),
]


def _reference(pattern: Any, flags: int) -> Any:
    """What ``re`` itself compiles (the function regex_cache wraps)."""
    return (regex_cache._original or re._compiler.compile)(pattern, flags)  # type: ignore[attr-defined]


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty user cache, this process's table forgotten (as a new process), and the hook on."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    regex_cache.install()
    monkeypatch.setattr(regex_cache, "_table", None)
    monkeypatch.setattr(regex_cache, "_new", {})
    monkeypatch.setattr(regex_cache, "_used", {})
    re.purge()
    yield tmp_path / "xdg" / "mcompile" / "re-codes"
    re.purge()


def _compile_all(patterns: list[tuple[Any, int]] = PATTERNS) -> list[Any]:
    """Compile ``patterns`` as a build does (inside ``recording``), none from re's own cache."""
    re.purge()
    with regex_cache.recording():
        return [re.compile(p, f) for p, f in patterns]


def test_a_new_process_builds_the_same_patterns_from_the_cache(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _compile_all()
    assert first == [_reference(p, f) for p, f in PATTERNS]
    regex_cache.save()
    assert regex_cache._new == {}  # stored
    assert len(list(fresh.glob("*.bin"))) == 1
    monkeypatch.setattr(regex_cache, "_table", None)  # the next run

    def not_compiled(p: Any, flags: int = 0) -> Any:
        raise AssertionError(f"compiled, not read from the cache: {p!r}")

    monkeypatch.setattr(regex_cache, "_original", not_compiled)
    again = _compile_all()
    for (p, _), a, b in zip(PATTERNS, again, first, strict=True):
        assert a == b, p  # Pattern equality compares the compiled program too
        assert (a.pattern, a.flags, a.groups, dict(a.groupindex)) == (b.pattern, b.flags, b.groups, dict(b.groupindex))
    assert again[1].match("2026-12-03").groupdict() == {"year": "2026", "month": "12", "day": "03"}
    assert again[7].match(b"ascii") and not again[7].match(b"\xff")


def test_every_entry_a_build_stores_is_what_re_compiles(tmp_path: Path) -> None:
    """Run the stages' imports and a profile's load and schema check in a new process, then rebuild
    every stored entry here and compare it with re's own compilation."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
    env.pop("MCOMPILE_NO_CACHE", None)
    code = ("from compiler import regex_cache\n"
            "with regex_cache.recording():\n"
            "    from pathlib import Path\n    from compiler.resolve import Request, resolve_all\n"
            "    import compiler.emit.yamlout, compiler.verify.accept\n"
            "    resolve_all(Request(Path('profiles/tier3.yaml'), 'profiles/tier3.yaml', None, (), ()))\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, timeout=300)
    (path,) = (tmp_path / "xdg" / "mcompile" / "re-codes").glob("*.bin")
    raw = path.read_bytes()
    import hashlib
    import marshal

    assert hashlib.sha256(raw[32:]).digest() == raw[:32]
    table = marshal.loads(raw[32:])
    assert len(table) > 40
    for (pattern, flags), args in table.items():
        assert _sre.compile(*args) == _reference(pattern, flags), pattern


def test_a_damaged_table_is_ignored_and_rewritten(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _compile_all()
    regex_cache.save()
    (path,) = fresh.glob("*.bin")
    intact = path.read_bytes()
    for damaged in (intact[:-5], intact[:40] + bytes([intact[40] ^ 1]) + intact[41:], b"", b"x" * 100):
        path.write_bytes(damaged)
        monkeypatch.setattr(regex_cache, "_table", None)
        assert _compile_all() == [_reference(p, f) for p, f in PATTERNS]
        regex_cache.save()
        assert path.read_bytes() == intact


def test_a_wrong_entry_is_compiled_again(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry _sre refuses (not what this interpreter builds) falls back to re."""
    monkeypatch.setattr(regex_cache, "_table", {("a+b", 0): ("a+b", 32, ["not", "a", "program"], 0, {}, (None,))})
    re.purge()
    assert re.compile("a+b") == _reference("a+b", 0)


def test_no_cache_writes_nothing(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    assert _compile_all() == [_reference(p, f) for p, f in PATTERNS]
    regex_cache.save()
    assert not fresh.exists()


def test_only_what_is_compiled_while_recording_is_stored(fresh: Path) -> None:
    """A process embedding the compiler compiles its own patterns too: those are served from the
    table if it has them, but never stored."""
    re.purge()
    outside = re.compile("only-outside-a-build+", 0)
    inside = _compile_all(PATTERNS[:2])
    assert outside == _reference("only-outside-a-build+", 0) and inside == [_reference(p, f) for p, f in PATTERNS[:2]]
    regex_cache.save()
    assert set(regex_cache._load()) == {(p, f) for p, f in PATTERNS[:2]}


def test_the_table_is_bounded_and_keeps_what_the_last_build_used(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regex_cache, "MAX_ENTRIES", 6)
    old = [(f"old-{i}+", 0) for i in range(6)]
    _compile_all(old)
    regex_cache.save()
    assert list(regex_cache._load()) == old
    monkeypatch.setattr(regex_cache, "_table", None)  # the next run uses one old pattern and compiles two new ones
    _compile_all([old[4], ("new-a+", 0), ("new-b+", 0)])
    regex_cache.save()
    kept = list(regex_cache._load())
    assert len(kept) == 6 and kept[:3] == [("new-a+", 0), ("new-b+", 0), old[4]] and kept[3:] == old[:3]
