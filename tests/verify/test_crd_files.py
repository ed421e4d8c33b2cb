"""compiler.verify.crd_files.file_facts: each CRD file's digest and group/kind values, memoized in
the user cache by the stat of every file. A registry answering from the memo must answer exactly
like one reading the files (the reference, ``MCOMPILE_NO_CACHE``); any change of a file (new
content, same size; a file added) must be seen; a damaged entry is ignored; a warm registry reads
no CRD text."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compiler.cache import memo
from compiler.verify import crd_files
from compiler.verify.crds import CrdRegistry
from tests.verify.test_crds import messages, nodepool

OLD = 1_600_000_000  # a past mtime


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MCOMPILE_NO_CACHE", raising=False)
    monkeypatch.setattr(memo, "RACY_SECONDS", 0.0)  # the copies' ctime is now
    return tmp_path / "xdg" / "mcompile" / "toolchain"


@pytest.fixture
def crds(tmp_path: Path, crd_dir: Path) -> Path:
    """A copy of the shipped CRDs with old mtimes (so the memo stores their facts)."""
    dest = tmp_path / "crds"
    shutil.copytree(crd_dir, dest)
    for f in dest.rglob("*"):
        os.utime(f, (OLD, OLD))
    return dest


def _reference(paths: list[Path], monkeypatch: pytest.MonkeyPatch) -> CrdRegistry:
    monkeypatch.setenv("MCOMPILE_NO_CACHE", "1")
    try:
        reg = CrdRegistry.load(paths)
        reg.has("karpenter.sh/v1", "NodePool")  # facts asked with the cache off: none
        assert all(f.digest is None for f in reg._files)
        return reg
    finally:
        monkeypatch.delenv("MCOMPILE_NO_CACHE")


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    read: list[Path] = []
    real = Path.read_text

    def counting(self: Path, *args, **kwargs):
        read.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    return read


KINDS = [("karpenter.sh/v1", "NodePool"), ("karpenter.k8s.aws/v1", "EC2NodeClass"), ("keda.sh/v1alpha1", "ScaledObject"),
         ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"), ("argoproj.io/v1alpha1", "ApplicationSet"),
         ("inference.networking.k8s.io/v1", "InferencePool"), ("monitoring.coreos.com/v1", "PodMonitor"),
         ("eks.amazonaws.com/v1", "NodeClass"), ("example.com/v1", "Widget"), ("karpenter.sh/v1beta1", "NodePool")]


def test_a_registry_from_the_memo_answers_like_the_files(crds, user_cache, monkeypatch) -> None:
    plain = _reference([crds], monkeypatch)
    expected = {k: plain.has(*k) for k in KINDS}
    sources = {k: plain.source_of(*k) for k in KINDS}
    CrdRegistry.load([crds]).has(*KINDS[0])  # computes and stores the facts
    assert len(list(user_cache.glob("*.json"))) == 1
    read = _reads(monkeypatch)
    warm = CrdRegistry.load([crds])
    assert {k: warm.has(*k) for k in KINDS} == expected and sum(expected.values()) == 7
    assert {k: warm.source_of(*k) for k in KINDS} == sources
    assert warm.parsed_files == plain.parsed_files
    assert [f.digest for f in warm._files] == [crd_files.hashlib.sha256(f.path.read_bytes()).hexdigest() for f in warm._files]
    read.clear()
    bad = nodepool()
    bad["spec"]["weight"] = 1000
    assert warm.validate(nodepool()) == [] and messages(warm.validate(bad)) == messages(plain.validate(bad)) != []
    assert warm.kinds() == plain.kinds()


def test_a_warm_registry_reads_no_crd_text(crds, user_cache, monkeypatch) -> None:
    first = CrdRegistry.load([crds])
    assert first.validate(nodepool()) == [] and first.has("keda.sh/v1alpha1", "ScaledObject")  # facts, indexes, checks stored
    read = _reads(monkeypatch)
    warm = CrdRegistry.load([crds])
    assert warm.validate(nodepool()) == [] and warm.has("keda.sh/v1alpha1", "ScaledObject")
    assert [p for p in read if p.suffix == ".yaml"] == []


def test_a_changed_file_is_seen(crds, user_cache, monkeypatch) -> None:
    """Same size, other content and mtime: the memo is not used for the new stat."""
    CrdRegistry.load([crds]).has("karpenter.sh/v1", "NodePool")
    nodepools = next(crds.rglob("karpenter.sh_nodepools.yaml"))
    text = nodepools.read_text()
    assert "kind: NodePool\n" in text
    nodepools.write_text(text.replace("kind: NodePool\n", "kind: NodePooL\n"))
    os.utime(nodepools, (OLD + 5, OLD + 5))
    assert nodepools.stat().st_size == len(text.encode())
    reg = CrdRegistry.load([crds])
    assert reg.has("karpenter.sh/v1", "NodePooL") and not reg.has("karpenter.sh/v1", "NodePool")
    plain = _reference([crds], monkeypatch)
    assert plain.has("karpenter.sh/v1", "NodePooL") and not plain.has("karpenter.sh/v1", "NodePool")
    assert len(list(user_cache.glob("*.json"))) == 1  # one entry per list of files, rewritten


def test_a_file_added_is_seen(crds, tmp_path, user_cache, monkeypatch) -> None:
    other = tmp_path / "more"
    other.mkdir()
    CrdRegistry.load([other, crds]).has("karpenter.sh/v1", "NodePool")
    widget = next(crds.rglob("karpenter.sh_nodepools.yaml")).read_text().replace("kind: NodePool\n", "kind: Widget\n")
    (other / "widget.yaml").write_text(widget)
    os.utime(other / "widget.yaml", (OLD, OLD))
    reg = CrdRegistry.load([other, crds])
    assert reg.has("karpenter.sh/v1", "Widget") and reg.source_of("karpenter.sh/v1", "Widget") == other / "widget.yaml"


def test_a_damaged_memo_entry_is_ignored(crds, user_cache, monkeypatch) -> None:
    CrdRegistry.load([crds]).has("karpenter.sh/v1", "NodePool")
    [entry] = user_cache.glob("*.json")
    entry.write_text(entry.read_text().replace("NodePool", "NodePooX"))  # the check no longer matches
    reg = CrdRegistry.load([crds])
    assert reg.has("karpenter.sh/v1", "NodePool") and not reg.has("karpenter.sh/v1", "NodePooX")
    entry.write_text("{not json")
    assert CrdRegistry.load([crds]).has("karpenter.sh/v1", "NodePool")


def test_racy_files_are_not_memoized(crds, user_cache, monkeypatch) -> None:
    monkeypatch.setattr(memo, "RACY_SECONDS", 2.0)
    fresh = next(crds.rglob("karpenter.sh_nodepools.yaml"))
    os.utime(fresh)  # modified just now
    assert CrdRegistry.load([crds]).has("karpenter.sh/v1", "NodePool")
    assert not user_cache.exists() or list(user_cache.glob("*.json")) == []
