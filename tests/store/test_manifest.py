"""Tests for :mod:`compiler.store.manifest`: canonical bytes, and every way a manifest can be bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.store.manifest import MANIFEST_NAME, read_manifest, render_manifest

DIGEST = "a" * 64


def _write(root: Path, body: object) -> None:
    (root / ".mcompile").mkdir(parents=True, exist_ok=True)
    (root / MANIFEST_NAME).write_text(body if isinstance(body, str) else json.dumps(body))


def test_render_is_canonical_and_drops_empty_scopes() -> None:
    one = render_manifest({"b": {"b/x": DIGEST, "b/a": DIGEST}, "a": {"a/x": DIGEST}, "gone": {}})
    two = render_manifest({"a": {"a/x": DIGEST}, "b": {"b/a": DIGEST, "b/x": DIGEST}})
    assert one == two and one.endswith(b"}\n")
    assert list(json.loads(one)["scopes"]) == ["a", "b"]
    assert one.index(b'"b/a"') < one.index(b'"b/x"')


def test_round_trip(tmp_path: Path) -> None:
    scopes = {"p": {"p/x.yaml": DIGEST}}
    (tmp_path / ".mcompile").mkdir()
    (tmp_path / MANIFEST_NAME).write_bytes(render_manifest(scopes))
    assert read_manifest(tmp_path, MANIFEST_NAME) == (scopes, render_manifest(scopes), [])


def test_absent_manifest_is_empty(tmp_path: Path) -> None:
    assert read_manifest(tmp_path, MANIFEST_NAME) == ({}, None, [])


@pytest.mark.parametrize(("body", "problem"), [
    ("{not json", "manifest is not valid JSON"),
    ({"format": "other/v9", "scopes": {}}, "not an mcompile-manifest/v1 manifest"),
    ({"format": "mcompile-manifest/v1", "scopes": []}, "not an mcompile-manifest/v1 manifest"),
    ({"format": "mcompile-manifest/v1", "scopes": {"p": {"p/x": "short"}}}, "scope 'p' must map paths to sha256 hex digests"),
    ({"format": "mcompile-manifest/v1", "scopes": {"p": {"../x": DIGEST}}}, "listed path '../x' is not normalised"),
    ({"format": "mcompile-manifest/v1", "scopes": {"p": {".mcompile/x": DIGEST}}}, "listed path '.mcompile/x' is inside .mcompile/"),
    ({"format": "mcompile-manifest/v1", "scopes": {"p": {"x": DIGEST}, "q": {"x": DIGEST}}}, "x listed by scopes 'p' and 'q'"),
])
def test_bad_manifests_are_reported(tmp_path: Path, body: object, problem: str) -> None:
    _write(tmp_path, body)
    _, _, problems = read_manifest(tmp_path, MANIFEST_NAME)
    assert len(problems) == 1 and problems[0].startswith(f"{MANIFEST_NAME}: ") and problem in problems[0], problems


def test_manifest_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).mkdir(parents=True)
    assert read_manifest(tmp_path, MANIFEST_NAME) == ({}, None, [f"{MANIFEST_NAME}: manifest is a directory"])


def test_a_manifest_read_twice_is_parsed_again_only_when_its_bytes_changed(tmp_path: Path) -> None:
    (tmp_path / ".mcompile").mkdir()
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(render_manifest({"s": {"a.yaml": "0" * 64}}))
    first = read_manifest(tmp_path, MANIFEST_NAME)
    assert read_manifest(tmp_path, MANIFEST_NAME)[0] is first[0]  # the same bytes: the same parse
    path.write_bytes(render_manifest({"s": {"a.yaml": "1" * 64}}))
    assert read_manifest(tmp_path, MANIFEST_NAME)[0] == {"s": {"a.yaml": "1" * 64}}
    path.write_bytes(b"{")
    assert read_manifest(tmp_path, MANIFEST_NAME)[2][0].startswith(f"{MANIFEST_NAME}: manifest is not valid JSON")


@pytest.mark.parametrize("scopes", [
    {},
    {"gone": {}},
    {"b": {"b/x": DIGEST, "b/a": "b" * 64}, "a": {"a/x": DIGEST}, "c": {}},
    {"ü\"\\\n\t": {"x/\u2028é/\x01": DIGEST, "x/A": DIGEST, "x/a": DIGEST}, "Z": {"Z/1": DIGEST}},
    {f"p{i}": {f"p{i}/chart/templates/f{j}.yaml": f"{i * 97 + j:064x}" for j in range(30)} for i in range(50)},
    {"s": {"s/a": 1}},  # not a digest string: json itself words it
])
def test_render_matches_json_dumps_byte_for_byte(scopes: dict) -> None:
    from compiler.store.manifest import render_manifest_json

    assert render_manifest(scopes) == render_manifest_json(scopes)
    body = {"format": "mcompile-manifest/v1", "scopes": {s: e for s, e in scopes.items() if e}}
    assert render_manifest(scopes) == (json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
