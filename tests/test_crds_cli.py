"""mcompile crds pull against a real loopback HTTP server holding copies of the pinned files."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from compiler.verify.crd_sources import ALL_PINNED
from compiler.verify.crds import CrdRegistry

from .clirun import mcompile
from .conftest import pinned_file


@pytest.fixture
def mirror(tmp_path: Path):
    root = tmp_path / "mirror"
    for pin in ALL_PINNED:
        target = root / pin.repo / pin.tag / pin.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pinned_file(pin.local), target)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *a, **k: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_pull_fills_the_cache_and_it_verifies(mirror, tmp_path: Path) -> None:
    _, url = mirror
    dest = tmp_path / "cache"
    r = mcompile("crds", "pull", "--dest", str(dest), "--base-url", url)
    assert r.code == 0, r.stderr
    assert r.stdout == f"{len(ALL_PINNED)} CRD files written to {dest}\n"
    assert CrdRegistry.load([dest]).has("karpenter.sh/v1", "NodePool")


def test_pull_failure_is_located_and_exit_2(mirror, tmp_path: Path) -> None:
    root, url = mirror
    missing = ALL_PINNED[0]
    (root / missing.repo / missing.tag / missing.path).unlink()
    r = mcompile("crds", "pull", "--dest", str(tmp_path / "c"), "--base-url", url)
    assert r.code == 2
    assert f"{url}/{missing.repo}/{missing.tag}/{missing.path}:1:1: $: {missing.local}: HTTP Error 404" in r.stderr
