"""CRD location and download (pull) against a real loopback HTTP server."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.verify import crd_sources
from compiler.verify.crd_sources import (
    PINNED,
    CrdPullError,
    PinnedCrd,
    github_raw_url,
    locate_crds,
    pull,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def sources_table(crd_dir: Path) -> set[tuple[str, str, str, str]]:
    """(repo, tag, upstream path, local file) for every row of SOURCES.md."""
    text = (crd_dir / "SOURCES.md").read_text(encoding="utf-8")
    rows = set()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 9 or not cells[0].startswith("`"):
            continue
        repo = re.match(r"\[([^\]]+)\]", cells[4]).group(1)  # type: ignore[union-attr]
        rows.add((repo, cells[5].strip("`"), cells[7].strip("`"), cells[0].strip("`")))
    return rows


def test_pinned_matches_sources_md(crd_dir: Path) -> None:
    table = sources_table(crd_dir)
    assert len(table) >= 30
    assert {(p.repo, p.tag, p.path, p.local) for p in PINNED} == table
    assert len({p.local for p in PINNED}) == len(PINNED)


def test_every_pinned_file_exists_locally(crd_dir: Path) -> None:
    local = {str(p.relative_to(crd_dir)) for p in crd_dir.rglob("*.yaml")}
    assert {p.local for p in PINNED} == local


def test_github_raw_url() -> None:
    pin = PinnedCrd("kedacore/keda", "v2.20.2", "config/crd/bases/keda.sh_scaledobjects.yaml",
                    "keda/keda.sh_scaledobjects.yaml")
    assert github_raw_url(pin) == (
        "https://raw.githubusercontent.com/kedacore/keda/v2.20.2/config/crd/bases/keda.sh_scaledobjects.yaml"
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path, crd_dir: Path) -> Iterator[tuple[str, Path, list[PinnedCrd]]]:
    """A loopback HTTP server over a temp dir holding two real CRD files."""
    root = tmp_path / "upstream"
    pins = [p for p in PINNED if p.local in (
        "keda/keda.sh_scaledobjects.yaml", "karpenter/karpenter.sh_nodepools.yaml",
    )]
    assert len(pins) == 2
    for pin in pins:
        target = root / pin.repo / pin.tag / pin.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(crd_dir / pin.local, target)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, pins
    finally:
        server.shutdown()
        server.server_close()


def test_pull_downloads_pinned_files(served, tmp_path: Path, crd_dir: Path) -> None:
    base, _, pins = served
    dest = tmp_path / "cache"
    written = pull(dest, url_for=lambda p: f"{base}/{p.repo}/{p.tag}/{p.path}", pins=pins)
    assert written == [dest / p.local for p in pins]
    for pin in pins:
        assert (dest / pin.local).read_bytes() == (crd_dir / pin.local).read_bytes()
    assert not [p for p in dest.rglob("*") if p.name.endswith(".part")]
    # The pulled directory is usable as a CRD source.
    paths, where = locate_crds([dest])
    assert paths == [dest] and str(dest) in where


def test_pull_reports_each_failed_file(served, tmp_path: Path) -> None:
    base, _, pins = served
    missing = PinnedCrd("example/none", "v0.0.0", "crds/nothing.yaml", "none/nothing.yaml")
    dest = tmp_path / "cache"
    with pytest.raises(CrdPullError) as info:
        pull(dest, url_for=lambda p: f"{base}/{p.repo}/{p.tag}/{p.path}", pins=[*pins, missing])
    message = str(info.value)
    assert "none/nothing.yaml" in message and "404" in message
    assert "keda.sh_scaledobjects" not in message
    assert [f[0] for f in info.value.failures] == [missing]
    assert not (dest / missing.local).exists()


def test_pull_replaces_existing_file_atomically(served, tmp_path: Path, crd_dir: Path) -> None:
    base, _, pins = served
    dest = tmp_path / "cache"
    (dest / pins[0].local).parent.mkdir(parents=True)
    (dest / pins[0].local).write_text("stale")
    pull(dest, url_for=lambda p: f"{base}/{p.repo}/{p.tag}/{p.path}", pins=pins[:1])
    assert (dest / pins[0].local).read_bytes() == (crd_dir / pins[0].local).read_bytes()


def test_pull_unreachable_server_fails_clearly(tmp_path: Path) -> None:
    pin = PINNED[0]
    with pytest.raises(CrdPullError) as info:
        pull(tmp_path, url_for=lambda p: "http://127.0.0.1:9/nothing", pins=[pin], timeout=5)
    assert pin.local in str(info.value)


# --- locate_crds ---------------------------------------------------------------

@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv(crd_sources.CRDS_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_explicit_paths_win(clean_env: Path, crd_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(crd_sources.CRDS_ENV, str(crd_dir))
    explicit = [crd_dir / "keda"]
    paths, where = locate_crds(explicit)
    assert paths == explicit
    assert where.startswith("--crds")


def test_explicit_missing_path_is_an_error(clean_env: Path) -> None:
    with pytest.raises(crd_sources.CrdLookupError, match="--crds: not found: .*nope"):
        locate_crds([clean_env / "nope"])


def test_explicit_path_without_crds_is_an_error(clean_env: Path) -> None:
    (clean_env / "manifests").mkdir()
    (clean_env / "manifests" / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(crd_sources.CrdLookupError, match="no CustomResourceDefinition"):
        locate_crds([clean_env / "manifests"])


@pytest.mark.parametrize("value", ["/nonexistent", "{empty}"])
def test_env_var_that_is_missing_or_empty_is_an_error(clean_env: Path, crd_dir: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    (clean_env / "empty").mkdir()
    monkeypatch.setenv(crd_sources.CRDS_ENV, value.replace("{empty}", str(clean_env / "empty")))
    with pytest.raises(crd_sources.CrdLookupError, match=r"\$MCOMPILE_CRDS"):
        locate_crds(repo_root=crd_dir.parent.parent / "main")  # never falls back to the checkout


def test_env_var(clean_env: Path, crd_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    value = os.pathsep.join([str(crd_dir / "keda"), str(crd_dir / "lws")])
    monkeypatch.setenv(crd_sources.CRDS_ENV, value)
    paths, where = locate_crds()
    assert paths == [crd_dir / "keda", crd_dir / "lws"]
    assert crd_sources.CRDS_ENV in where


def _checkout(root: Path) -> Path:
    (root / "compiler").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'mcompile'\n")
    (root / ".git").write_text("gitdir: elsewhere\n")
    return root


def test_development_checkout_only_from_inside_it(clean_env: Path, crd_dir: Path) -> None:
    root = _checkout(clean_env / "src" / "main")
    shutil.copytree(crd_dir / "keda", clean_env / "src" / "shared" / "crds" / "keda")
    shared = (clean_env / "src" / "shared" / "crds").resolve()
    paths, where = locate_crds(repo_root=root, cwd=root / "compiler")
    assert paths == [shared]
    assert where.startswith("development checkout ") and "no --crds or $MCOMPILE_CRDS given" in where
    paths, reason = locate_crds(repo_root=root, cwd=clean_env)  # an unrelated working directory
    assert paths == [] and "development checkouts only" in reason
    (root / "pyproject.toml").unlink()  # an installed package is no checkout, wherever it runs
    assert locate_crds(repo_root=root, cwd=root)[0] == []


def test_request_path_crds_are_pinned_and_present(crd_dir: Path) -> None:
    """mcompile crds pull fetches the Gateway API and ACK EKS files the checkout keeps in
    ../shared/upstream/crds; each pinned file is there and is the CRD of the kind we render."""
    from compiler.verify.crd_sources import ALL_PINNED, PINNED_PATH
    from compiler.verify.crds import CrdRegistry
    from tests.conftest import pinned_file

    assert set(PINNED_PATH) <= set(ALL_PINNED) and not set(PINNED_PATH) & set(PINNED)
    for pin in PINNED_PATH:
        assert pinned_file(pin.local).is_file(), pin.local
    reg = CrdRegistry.load([pinned_file(p.local) for p in PINNED_PATH])
    for api, kind in (("gateway.networking.k8s.io/v1", "Gateway"), ("gateway.networking.k8s.io/v1", "HTTPRoute"),
                      ("eks.services.k8s.aws/v1alpha1", "PodIdentityAssociation")):
        assert reg.validate({"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "y"}, "spec": {"bogus": 1}}), kind


def test_user_cache_then_nothing(clean_env: Path, crd_dir: Path) -> None:
    fake_repo = clean_env / "checkout" / "main"
    fake_repo.mkdir(parents=True)
    paths, reason = locate_crds(repo_root=fake_repo)
    assert paths == []
    assert "no CRD files found" in reason
    cache = clean_env / "xdg" / "mcompile" / "crds"
    (cache / "keda").mkdir(parents=True)
    shutil.copyfile(crd_dir / "keda" / "keda.sh_scaledobjects.yaml", cache / "keda" / "so.yaml")
    paths, where = locate_crds(repo_root=fake_repo)
    assert paths == [cache]
    assert "user cache" in where


def test_home_cache_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert crd_sources.user_cache_dir() == tmp_path / ".cache" / "mcompile" / "crds"
