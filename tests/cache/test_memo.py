"""The memoized toolchain digests (compiler/cache/memo.py): every change of a file they read --
same size with a new mtime, a new size, a file added -- gives the digest of the unmemoized
computation, never the stored one; a damaged entry is ignored; nothing is stored while a file is
racy or with MCOMPILE_NO_CACHE."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from compiler.cache import key, memo
from compiler.cache.key import library_versions, memo_tree_digest, package_digest, tree_digest

from ..shipped import REPO

OLD = 1_600_000_000  # a past mtime: nothing of the copy is racy once the racy window is 0


@pytest.fixture()
def user_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    monkeypatch.setattr(memo, "RACY_SECONDS", 0.0)
    return tmp_path / "xdg" / "mcompile" / "toolchain"


@pytest.fixture()
def package(tmp_path) -> Path:
    dest = tmp_path / "compiler"
    shutil.copytree(REPO / "compiler", dest, ignore=shutil.ignore_patterns("__pycache__"))
    for f in dest.rglob("*"):
        os.utime(f, (OLD, OLD))
    return dest


def fresh(root: Path) -> str:
    """The package digest as computed, never memoized."""
    package_digest.cache_clear()
    os.environ["MCOMPILE_NO_CACHE"] = "1"
    try:
        return package_digest(root)
    finally:
        del os.environ["MCOMPILE_NO_CACHE"]
        package_digest.cache_clear()


def memoized(root: Path) -> str:
    package_digest.cache_clear()
    try:
        return package_digest(root)
    finally:
        package_digest.cache_clear()


def test_an_unchanged_package_is_read_from_the_memo(user_cache, package, monkeypatch) -> None:
    first = memoized(package)
    assert first == fresh(package)
    assert len(list(user_cache.glob("*.json"))) == 1
    monkeypatch.setattr(key, "_hash_files", lambda found: pytest.fail("hashed again although nothing changed"))
    assert memoized(package) == first


@pytest.mark.parametrize("change", ["same size, new mtime", "same size, same mtime", "new size", "new file", "removed file"])
def test_a_changed_compiler_file_changes_the_digest(user_cache, package, change) -> None:
    before = memoized(package)
    target = package / "render" / "vllm.py"
    text = target.read_bytes()
    if change.startswith("same size"):
        swapped = text.replace(b"def ", b"dEf ", 1)
        assert len(swapped) == len(text)
        target.write_bytes(swapped)
        os.utime(target, (OLD, OLD) if change.endswith("same mtime") else (OLD + 60, OLD + 60))
    elif change == "new size":
        target.write_bytes(text + b"\n# edited\n")
        os.utime(target, (OLD, OLD))
    elif change == "new file":
        (package / "render" / "new_family.py").write_text("X = 1\n")
    else:
        (package / "render" / "gpushare.py").unlink()
    after = memoized(package)
    assert after != before
    assert after == fresh(package)


def test_the_schema_file_is_in_the_package_memo(user_cache, package, monkeypatch) -> None:
    schema = package.parent / "profile.schema.json"
    schema.write_bytes((REPO / "schemas" / "profile.schema.json").read_bytes())
    os.utime(schema, (OLD, OLD))
    monkeypatch.setattr("compiler.schema.schema_path", lambda: schema)
    before = memoized(package)
    schema.write_bytes(schema.read_bytes().replace(b'"description"', b'"descriptioN"', 1))
    os.utime(schema, (OLD, OLD))
    assert memoized(package) != before


def test_a_damaged_or_forged_entry_is_ignored_and_rewritten(user_cache, package) -> None:
    good = memoized(package)
    (entry,) = user_cache.glob("*.json")
    entry.write_text("{not json")
    assert memoized(package) == good
    doc = json.loads(entry.read_text())
    doc["value"] = "0" * 64  # a value that does not match its check
    entry.write_text(json.dumps(doc))
    assert memoized(package) == good
    assert json.loads(entry.read_text())["value"] == good


def test_nothing_is_stored_while_a_file_is_racy_or_with_no_cache(tmp_path, package, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    (package / "render" / "vllm.py").write_text("# just written\n")  # within the racy window
    assert memoized(package) == fresh(package)
    assert not (tmp_path / "xdg" / "mcompile" / "toolchain").exists()
    monkeypatch.setattr(memo, "RACY_SECONDS", 0.0)
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    memoized(package)
    assert not (tmp_path / "xdg" / "mcompile" / "toolchain").exists()


def test_crd_trees_are_memoized_and_follow_edits(user_cache, tmp_path) -> None:
    crds = tmp_path / "crds"
    shutil.copytree(REPO.parent / "shared" / "crds", crds)
    for f in crds.rglob("*"):
        os.utime(f, (OLD, OLD))
    before = memo_tree_digest(crds, (".yaml", ".yml"))
    assert before == tree_digest(crds, (".yaml", ".yml")) == memo_tree_digest(crds, (".yaml", ".yml"))
    target = next(crds.rglob("karpenter.sh_nodepools.yaml"))
    target.write_text(target.read_text().replace("description:", "descriptioN:", 1))
    os.utime(target, (OLD, OLD))
    assert memo_tree_digest(crds, (".yaml", ".yml")) == tree_digest(crds, (".yaml", ".yml")) != before


def test_an_installed_library_version_change_is_seen(user_cache, tmp_path, monkeypatch) -> None:
    _, before = library_versions()
    site = tmp_path / "site"
    dist = site / "jsonschema-99.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jsonschema\nVersion: 99.0\n")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    _, after = library_versions()
    assert "jsonschema==99.0" in after and "jsonschema==99.0" not in before
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jsonschema\nVersion: 98.0\n")
    dist.rename(site / "jsonschema-98.0.dist-info")
    assert "jsonschema==98.0" in library_versions()[1]


def test_no_home_directory_means_no_memo(monkeypatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: (_ for _ in ()).throw(RuntimeError("no home"))))
    assert memo.user_cache_dir() is None
    assert memo.memoized("x", memo.Fingerprint(), lambda: "computed") == "computed"


def test_the_version_is_the_installed_distributions(user_cache) -> None:
    import compiler

    assert compiler.__version__ == compiler.installed_version() == library_versions()[0]
    assert list(user_cache.glob("*.json"))  # memoized with the libraries' versions
