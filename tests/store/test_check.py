"""check: planned files vs the output directory, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.store.check import CheckResult, check, short_diff
from compiler.store.writer import OutputFile, WritePlanError, write_outputs


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def _files(**named: str) -> list[OutputFile]:
    return [OutputFile(path, text.encode()) for path, text in named.items()]


def _build(out: Path, files: list[OutputFile], scope: str = "tier2") -> None:
    write_outputs(out, files, scope=scope)


def _tree(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir())


# --- check ---------------------------------------------------------------------------------


def test_check_reports_missing_changed_extra_and_stale_manifest(out: Path) -> None:
    _build(out, _files(**{"same.yaml": "s\n", "edit.yaml": "one\ntwo\n", "old.yaml": "o"}))
    assert check(out, _files(**{"same.yaml": "s\n", "edit.yaml": "one\ntwo\n", "old.yaml": "o"}), "tier2").ok
    result = check(out, _files(**{"same.yaml": "s\n", "edit.yaml": "one\nTWO\n", "new.yaml": "n"}), "tier2")
    assert isinstance(result, CheckResult) and not result.ok
    assert (result.missing, result.changed, result.extra_owned) == (["new.yaml"], ["edit.yaml"], ["old.yaml"])
    assert result.manifest_stale
    assert "-two\n+TWO\n" in result.diffs["edit.yaml"] and "--- a/edit.yaml" in result.diffs["edit.yaml"]
    assert _tree(out) == [".mcompile/.gitignore", ".mcompile/lock", ".mcompile/manifest.json", "edit.yaml", "old.yaml", "same.yaml"]


def test_check_rejects_invalid_paths(out: Path) -> None:
    with pytest.raises(WritePlanError, match="is absolute"):
        check(out, _files(**{"/etc/passwd": "x"}), "s")


def test_short_diff_capped_and_binary() -> None:
    old = "".join(f"line {i}\n" for i in range(100)).encode()
    new = "".join(f"LINE {i}\n" for i in range(100)).encode()
    diff = short_diff("big.yaml", old, new, max_lines=40)
    assert len(diff.splitlines()) == 41 and diff.endswith("more diff lines\n")
    assert short_diff("x.bin", b"\xff\x00", b"\xfe") == "Binary file x.bin differs\n"
    assert "\\ No newline at end of file" in short_diff("n", b"a", b"b")


def test_check_scopes_equals_check_per_scope(out: Path) -> None:
    from compiler.store.check import check_scopes

    _build(out, _files(**{"a/x.yaml": "1", "a/old.yaml": "o"}), scope="a")
    _build(out, _files(**{"b/y.yaml": "2"}), scope="b")
    planned = [("a", _files(**{"a/x.yaml": "1"})), ("b", _files(**{"b/y.yaml": "2"})), ("c", _files(**{"c/z.yaml": "3"}))]
    together = check_scopes(out, planned)
    assert together == [check(out, files, scope) for scope, files in planned]
    assert [r.ok for r in together] == [False, True, False]
    assert together[0].extra_owned == ["a/old.yaml"] and together[2].missing == ["c/z.yaml"]
    manifest = out / ".mcompile" / "manifest.json"
    manifest.write_text(manifest.read_text() + "\n")  # not canonical: stale for every scope
    assert [r.manifest_stale for r in check_scopes(out, planned)] == [True, True, True]
