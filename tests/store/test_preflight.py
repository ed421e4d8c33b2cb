"""Tests for :mod:`compiler.store.preflight`: the checks made before the disk is looked at."""

from __future__ import annotations

from pathlib import Path

from compiler.store.preflight import preflight
from compiler.types import OutputFile


def test_scopes_planned_twice_or_sharing_a_path_are_problems(tmp_path: Path) -> None:
    a, b = OutputFile("a/x.yaml", b"1"), OutputFile("b/x.yaml", b"2")
    problems, scopes, raw = preflight(tmp_path, [("a", [a]), ("b", [b]), ("a", [OutputFile("a/y.yaml", b"3")]), ("c", [a])], ".mcompile/manifest.json")
    assert sorted(problems) == ["a/x.yaml: planned by scopes 'a' and 'c'", "scope 'a' planned more than once"]
    assert (scopes, raw) == ({}, None)


def test_thousands_of_scopes_without_a_problem(tmp_path: Path) -> None:
    scoped = [(f"p{i}", [OutputFile(f"p{i}/f{j}.yaml", b"x") for j in range(3)]) for i in range(2000)]
    assert preflight(tmp_path, scoped, ".mcompile/manifest.json")[0] == []


def test_overlaps_and_case_clashes_are_all_worded_among_many_plain_paths(tmp_path: Path) -> None:
    plain = [OutputFile(f"p/chart/templates/f{j}.yaml", b"x") for j in range(200)]
    clash = [OutputFile("p/chart/templates/F7.yaml", b"x"), OutputFile("p/Chart/x.yaml", b"x"), OutputFile("p/chart/templates/f3.yaml/z", b"x")]
    problems = preflight(tmp_path, [("p", plain + clash)], ".mcompile/manifest.json")[0]
    assert sorted(problems) == [  # (the names sorted: upper case first, the later one is named)
        "p/chart/templates/f3.yaml: overlaps with p/chart/templates/f3.yaml/z (a file cannot also be a directory)",
        "p/chart/templates/f7.yaml: differs from p/chart/templates/F7.yaml only in letter case (clashes on macOS/Windows)",
        "p/chart: differs from p/Chart only in letter case (clashes on macOS/Windows)",
    ]
    assert preflight(tmp_path, [("p", plain)], ".mcompile/manifest.json")[0] == []


def test_a_precheck_is_used_only_for_the_same_paths_of_the_same_scope(tmp_path: Path) -> None:
    from compiler.store.preflight import forget_checked, precheck

    manifest = ".mcompile/manifest.json"
    clean = [OutputFile(f"p/f{j}.yaml", b"x") for j in range(5)]
    clash = [*clean, OutputFile("p/F1.yaml", b"x")]
    try:
        precheck("p", [f.path for f in clean], manifest)  # checked while the workers ran; then the files changed
        assert preflight(tmp_path, [("p", clash)], manifest)[0] == ["p/f1.yaml: differs from p/F1.yaml only in letter case (clashes on macOS/Windows)"]
        precheck("p", [f.path for f in clash], manifest)
        precheck("q", [f.path for f in clean], manifest)
        assert preflight(tmp_path, [("p", clash)], manifest)[0] == ["p/f1.yaml: differs from p/F1.yaml only in letter case (clashes on macOS/Windows)"]
        assert preflight(tmp_path, [("q", [OutputFile("q/a", b""), OutputFile("q/a/b", b"")])], manifest)[0] == [
            "q/a: overlaps with q/a/b (a file cannot also be a directory)"]  # q's precheck was for other paths
    finally:
        forget_checked()
