"""Shared fixtures: repository paths, the real CRDs and the real helm/kubectl binaries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests run mcompile from temporary directories too, where the development-checkout fallback
# (../shared/crds, only with the working directory inside the checkout) does not apply: name the
# CRDs explicitly, for in-process runs and the subprocesses that inherit the environment.
if (REPO.parent / "shared" / "crds").is_dir():
    os.environ.setdefault("MCOMPILE_CRDS", str(REPO.parent / "shared" / "crds"))


def find_crd_dir() -> Path:
    """``$MCOMPILE_CRDS`` or ``../shared/crds`` beside the checkout. Missing CRDs fail, never skip."""
    env = os.environ.get("MCOMPILE_CRDS")
    path = Path(env) if env else REPO.parent / "shared" / "crds"
    if not path.is_dir():
        pytest.fail(f"CRD directory {path} not found: set MCOMPILE_CRDS or check out shared/ beside the repo")
    return path


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
