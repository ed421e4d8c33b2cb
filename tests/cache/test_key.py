"""Cache keys: every input that changes the output changes the key; nothing else does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import compiler
from compiler.cache import key
from compiler.cache.key import package_digest, profile_key, toolchain_digest, tree_digest

from ..conftest import find_crd_dirs
from ..shipped import REPO

PACKAGE = REPO / "compiler"


@pytest.fixture()
def package_copy(tmp_path) -> Path:
    dest = tmp_path / "compiler"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.mark.parametrize("rel", ["defaults/common.yaml", "defaults/tier2.yaml", "catalog/instances.yaml", "render/vllm.py"])
def test_any_file_of_the_package_is_in_the_package_digest(package_copy, rel) -> None:
    before = package_digest(package_copy)
    assert package_digest(PACKAGE) == package_digest(PACKAGE)  # stable
    with (package_copy / rel).open("a") as fh:
        fh.write("\n# edited\n")
    package_digest.cache_clear()
    assert package_digest(package_copy) != before


def test_a_new_data_file_of_another_feature_is_picked_up_without_listing_it(package_copy) -> None:
    before = tree_digest(package_copy)
    (package_copy / "render" / "new_family.py").write_text("X = 1\n")
    after = tree_digest(package_copy)
    (package_copy / "engine" / "sglang-0.5.yaml").write_text("flags: []\n")
    assert len({before, after, tree_digest(package_copy)}) == 3


def test_bytecode_caches_are_not_in_the_digest(package_copy) -> None:
    before = tree_digest(package_copy)
    (package_copy / "__pycache__").mkdir()
    (package_copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert tree_digest(package_copy) == before


def _crd_copy(tmp_path: Path) -> list[Path]:
    dirs = []
    for i, d in enumerate(find_crd_dirs()):
        dest = tmp_path / f"crds{i}"
        shutil.copytree(d, dest)
        dirs.append(dest)
    return dirs


def test_a_changed_crd_file_changes_the_toolchain(tmp_path, monkeypatch) -> None:
    dirs = _crd_copy(tmp_path)
    monkeypatch.setenv("MCOMPILE_CRDS", ":".join(map(str, dirs)))
    before = toolchain_digest()
    target = next(dirs[0].rglob("karpenter.sh_nodepools.yaml"))
    target.write_text(target.read_text().replace("description:", "description: x", 1))
    assert toolchain_digest() != before


def test_crds_given_by_flag_or_env_and_kube_version_and_allow_kind_are_in_the_toolchain(tmp_path, monkeypatch) -> None:
    dirs = find_crd_dirs()
    monkeypatch.setenv("MCOMPILE_CRDS", ":".join(map(str, dirs)))
    base = toolchain_digest()
    assert toolchain_digest() == base
    assert toolchain_digest(dirs[:1]) != base  # --crds: fewer CRDs
    assert toolchain_digest(kube_version="1.32") != base
    assert toolchain_digest(allow_kind=["example.com/v1/Widget"]) != base


def test_mcompile_environment_variables_matter_except_the_cache_and_debug_ones(monkeypatch) -> None:
    base = toolchain_digest()
    for name in sorted(key.IGNORED_ENV):
        monkeypatch.setenv(name, "/somewhere/else")
    assert toolchain_digest() == base
    monkeypatch.setenv("MCOMPILE_SOME_FUTURE_SWITCH", "1")
    assert toolchain_digest() != base


def test_the_tool_version_is_in_the_toolchain(monkeypatch) -> None:
    base = toolchain_digest()
    monkeypatch.setattr(compiler, "__version__", "99.0.0", raising=False)
    assert toolchain_digest() != base


def test_profile_key_covers_profile_bytes_path_overrides_and_sets(tmp_path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("a: 1\n")
    override = tmp_path / "o.yaml"
    override.write_text("b: 1\n")
    base = profile_key("T", profile, "p.yaml", [override], ["x=1"])
    assert base == profile_key("T", profile, "p.yaml", [override], ["x=1"])
    variants = [
        profile_key("T2", profile, "p.yaml", [override], ["x=1"]),
        profile_key("T", profile, "other/p.yaml", [override], ["x=1"]),
        profile_key("T", profile, "p.yaml", [], ["x=1"]),
        profile_key("T", profile, "p.yaml", [override], ["x=2"]),
        profile_key("T", profile, "p.yaml", [override], ["x=1", "y=1"]),
        profile_key("T", profile, "p.yaml", [override, override], ["x=1"]),
    ]
    override.write_text("b: 2\n")
    variants.append(profile_key("T", profile, "p.yaml", [override], ["x=1"]))
    profile.write_text("a: 2\n")
    variants.append(profile_key("T", profile, "p.yaml", [override], ["x=1"]))
    assert len({base, *variants}) == len(variants) + 1


def test_the_key_reads_at_most_what_the_loader_accepts() -> None:
    from compiler import load

    assert key.MAX_BYTES == load.MAX_BYTES


def test_unreadable_or_special_inputs_have_no_key(tmp_path) -> None:
    assert profile_key("T", tmp_path / "missing.yaml", "m.yaml", [], []) is None
    assert profile_key("T", Path("/dev/zero"), "z.yaml", [], []) is None  # never read unbounded
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (3 * 1024 * 1024))
    assert profile_key("T", big, "big.yaml", [], []) is None
