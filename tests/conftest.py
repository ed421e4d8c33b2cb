"""Shared fixtures: repository paths, the real CRDs and the real helm/kubectl binaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests run mcompile from temporary directories too, where the development-checkout fallback
# (../shared/crds, only with the working directory inside the checkout) does not apply: name the
# CRDs explicitly, for in-process runs and the subprocesses that inherit the environment.
# The request path's CRDs (Gateway API, ACK EKS) live in ../shared/upstream/crds: name them too.
if (REPO.parent / "shared" / "crds").is_dir():
    _upstream = REPO.parent / "shared" / "upstream" / "crds"
    os.environ.setdefault("MCOMPILE_CRDS", os.pathsep.join(
        str(p) for p in (REPO.parent / "shared" / "crds", _upstream / "gateway-api" / "standard", _upstream / "ack-eks") if p.is_dir()))


def find_crd_dir() -> Path:
    """``$MCOMPILE_CRDS`` or ``../shared/crds`` beside the checkout. Missing CRDs fail, never skip."""
    env = os.environ.get("MCOMPILE_CRDS", "").split(os.pathsep)[0]
    path = Path(env) if env else REPO.parent / "shared" / "crds"
    if not path.is_dir():
        pytest.fail(f"CRD directory {path} not found: set MCOMPILE_CRDS or check out shared/ beside the repo")
    return path


def find_crd_dirs() -> list[Path]:
    """:func:`find_crd_dir` plus the request path's CRDs (Gateway API v1.6.1 standard channel, ACK
    EKS PodIdentityAssociation) from ``../shared/upstream/crds``, as the development checkout finds them."""
    from compiler.verify.crd_sources import UPSTREAM_DIRS

    base = REPO.parent / "shared" / "upstream" / "crds"
    extra = [base / d for d in UPSTREAM_DIRS]
    missing = [str(d) for d in extra if not d.is_dir()]
    if missing:
        pytest.fail(f"request-path CRDs not found: {', '.join(missing)}")
    return [find_crd_dir(), *extra]


def pinned_file(local: str) -> Path:
    """The checked-out copy of a pinned CRD file (``PinnedCrd.local``): ../shared/crds, or for the
    request path's pins ../shared/upstream/crds (``gateway-api/x.yaml`` is ``gateway-api/standard/x.yaml``)."""
    first = find_crd_dir() / local
    if first.is_file():
        return first
    top, _, name = local.partition("/")
    upstream = REPO.parent / "shared" / "upstream" / "crds"
    return upstream / top / "standard" / name if top == "gateway-api" else upstream / local


def crd_args() -> list[str]:
    """``--crds DIR`` for every directory of :func:`find_crd_dirs`."""
    return [a for d in find_crd_dirs() for a in ("--crds", str(d))]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def crds() -> Path:
    return find_crd_dir()


@pytest.fixture(scope="session")
def crd_dir() -> Path:
    return find_crd_dir()


@pytest.fixture(scope="session")
def kube():
    """The strict built-in validator (Kubernetes 1.33), one per test process."""
    from compiler.verify.kube import KubeValidator

    return KubeValidator()


@pytest.fixture(scope="session")
def registry():
    """The real upstream CRDs, loaded once per test process."""
    from compiler.verify.crds import CrdRegistry

    return CrdRegistry.load([find_crd_dir()])
