"""Where the upstream CustomResourceDefinitions used for validation come from.

:func:`locate_crds` finds a local CRD directory (first match wins):

1. paths given explicitly (``--crds``),
2. ``$MCOMPILE_CRDS`` (``os.pathsep``-separated list),
3. ``<repo root>/../shared/crds`` when mcompile runs from a development checkout (the package is
   a git checkout with its ``pyproject.toml``) and the working directory is inside it: the
   build says so,
4. the user cache, ``$XDG_CACHE_HOME/mcompile/crds`` or ``~/.cache/mcompile/crds``.

An explicit source is taken at its word: a ``--crds`` or ``$MCOMPILE_CRDS`` path that does not
exist, or paths that hold no CustomResourceDefinition, are an error (:class:`CrdLookupError`),
never a silent fallback to weaker checks.

:data:`PINNED` records, for every file in ``shared/crds/SOURCES.md``, the upstream
repository, tag and path it was copied from, and :func:`pull` downloads them
(by default from ``raw.githubusercontent.com``) into a directory such as the
user cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CRDS_ENV = "MCOMPILE_CRDS"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PinnedCrd:
    """One upstream CRD file: ``repo`` (owner/name) at ``tag``, ``path`` in that
    repository, stored locally as ``local`` (relative to the CRD directory)."""

    repo: str
    tag: str
    path: str
    local: str


def _pins(repo: str, tag: str, upstream_dir: str, local_dir: str, names: Sequence[str]) -> list[PinnedCrd]:
    return [PinnedCrd(repo, tag, f"{upstream_dir}/{n}", f"{local_dir}/{n}") for n in names]


_KARPENTER = ("aws/karpenter-provider-aws", "v1.14.1", "pkg/apis/crds", "karpenter")
_KEDA = ("kedacore/keda", "v2.20.2", "config/crd/bases", "keda")
_ARGO = ("argoproj/argo-cd", "v3.5.1", "manifests/crds", "argo-cd")
_SRC = ("fluxcd/source-controller", "v1.9.1", "config/crd/bases", "flux")
_PROM = (
    "prometheus-operator/prometheus-operator", "v0.93.0",
    "example/prometheus-operator-crd", "prometheus-operator",
)
_GAIE = "kubernetes-sigs/gateway-api-inference-extension"
_GAIE_DIR = ("config/crd/bases", "gateway-api-inference-extension")
_GPU = ("NVIDIA/gpu-operator", "v26.7.0", "config/crd/bases", "gpu-operator")

#: Every file listed in ``shared/crds/SOURCES.md`` (30 files).
PINNED: list[PinnedCrd] = [
    *_pins(*_KARPENTER, [
        "karpenter.sh_nodepools.yaml", "karpenter.sh_nodeclaims.yaml",
        "karpenter.k8s.aws_ec2nodeclasses.yaml", "karpenter.sh_nodeoverlays.yaml",
        "autoscaling.x-k8s.io_capacitybuffers.yaml",
    ]),
    *_pins("kubernetes-sigs/lws", "v0.10.0", "config/crd/bases", "lws",
           ["leaderworkerset.x-k8s.io_leaderworkersets.yaml"]),
    *_pins(*_KEDA, [
        "keda.sh_scaledobjects.yaml", "keda.sh_scaledjobs.yaml",
        "keda.sh_triggerauthentications.yaml", "keda.sh_clustertriggerauthentications.yaml",
    ]),
    *_pins(*_ARGO, ["application-crd.yaml", "applicationset-crd.yaml", "appproject-crd.yaml"]),
    *_pins("fluxcd/kustomize-controller", "v1.9.4", "config/crd/bases", "flux",
           ["kustomize.toolkit.fluxcd.io_kustomizations.yaml"]),
    *_pins("fluxcd/helm-controller", "v1.6.3", "config/crd/bases", "flux",
           ["helm.toolkit.fluxcd.io_helmreleases.yaml"]),
    *_pins(*_SRC, [
        "source.toolkit.fluxcd.io_gitrepositories.yaml",
        "source.toolkit.fluxcd.io_ocirepositories.yaml",
        "source.toolkit.fluxcd.io_helmrepositories.yaml",
        "source.toolkit.fluxcd.io_helmcharts.yaml",
    ]),
    *_pins(*_PROM, [
        "monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_podmonitors.yaml",
        "monitoring.coreos.com_prometheusrules.yaml",
    ]),
    *_pins(_GAIE, "v1.6.0", *_GAIE_DIR, [
        "inference.networking.k8s.io_inferencepools.yaml",
        "inference.networking.x-k8s.io_inferencepoolimports.yaml",
    ]),
    *_pins(_GAIE, "v1.5.0", *_GAIE_DIR, [
        "inference.networking.x-k8s.io_inferenceobjectives.yaml",
        "inference.networking.x-k8s.io_inferencemodelrewrites.yaml",
    ]),
    *_pins(_GAIE, "v0.5.1", *_GAIE_DIR, ["inference.networking.x-k8s.io_inferencemodels.yaml"]),
    *_pins("llm-d/llm-d-router", "v0.10.0", "config/crd/bases", "llm-d-router",
           ["llm-d.ai_inferenceobjectives.yaml"]),
    *_pins(*_GPU, ["nvidia.com_clusterpolicies.yaml", "nvidia.com_nvidiadrivers.yaml"]),
]


#: Request path (issue 11): Gateway API v1.6.1 (standard channel) and the ACK EKS controller's
#: PodIdentityAssociation; in a development checkout they sit in ``../shared/upstream/crds/``.
_GWAPI = ("kubernetes-sigs/gateway-api", "v1.6.1", "config/crd/standard", "gateway-api")
PINNED_PATH: list[PinnedCrd] = [
    *_pins(*_GWAPI, ["gateway.networking.k8s.io_gatewayclasses.yaml", "gateway.networking.k8s.io_gateways.yaml",
                     "gateway.networking.k8s.io_httproutes.yaml", "gateway.networking.k8s.io_referencegrants.yaml"]),
    *_pins("aws-controllers-k8s/eks-controller", "v1.20.0", "config/crd/bases", "ack-eks",
           ["eks.services.k8s.aws_podidentityassociations.yaml"]),
]
#: What ``mcompile crds pull`` downloads.
ALL_PINNED: list[PinnedCrd] = PINNED + PINNED_PATH
#: The development checkout's copies of :data:`PINNED_PATH`, under ``../shared/upstream/crds/``.
UPSTREAM_DIRS = ("gateway-api/standard", "ack-eks")


class CrdPullError(RuntimeError):
    """Downloading one or more pinned CRD files failed."""

    def __init__(self, failures: Sequence[tuple[PinnedCrd, str, str]]) -> None:
        self.failures = list(failures)
        lines = [f"  {p.local} <- {url}: {why}" for p, url, why in self.failures]
        super().__init__(
            f"failed to download {len(self.failures)} of the pinned CRD files:\n" + "\n".join(lines)
        )


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mcompile/crds``, defaulting to ``~/.cache/mcompile/crds``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcompile" / "crds"


DEV_CHECKOUT = "development checkout"


class CrdLookupError(ValueError):
    """An explicitly chosen CRD source (``--crds``, ``$MCOMPILE_CRDS``) is missing or holds no CRD."""

    def __init__(self, origin: str, message: str) -> None:
        self.origin = origin
        super().__init__(message)


def _yaml_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix in (".yaml", ".yml") else []
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
    return []


def _has_yaml(path: Path) -> bool:
    return bool(_yaml_files(path))


def _has_crd(paths: Sequence[Path]) -> bool:
    """At least one file declares a CustomResourceDefinition (a text check: cheap, no parsing)."""
    for path in paths:
        for f in _yaml_files(path):
            try:
                with f.open(encoding="utf-8", errors="replace") as fh:
                    if any("kind: CustomResourceDefinition" in line for line in fh):  # stops at the first
                        return True
            except OSError:
                continue
    return False


def _explicit(paths: list[Path], origin: str) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CrdLookupError(origin, f"{origin}: not found: {', '.join(missing)}")
    if not _has_crd(paths):
        raise CrdLookupError(origin, f"{origin}: no CustomResourceDefinition in {', '.join(str(p) for p in paths)} "
                                     "(expected CRD YAML, e.g. `kubectl get crd -o yaml` output or `mcompile crds pull --dest DIR`)")


def is_dev_checkout(root: Path, cwd: Path | None = None) -> bool:
    """mcompile runs from a source checkout (pyproject.toml and git beside the package) and the
    working directory is inside that checkout."""
    if not ((root / "pyproject.toml").is_file() and (root / ".git").exists() and (root / "compiler").is_dir()):
        return False
    here = (cwd or Path.cwd()).resolve()
    return here == root.resolve() or root.resolve() in here.parents


def locate_crds(
    explicit: Sequence[Path] = (), *, repo_root: Path | None = None, cwd: Path | None = None
) -> tuple[list[Path], str]:
    """Find CRD files or directories; return ``(paths, where)``, or ``([], reason)`` when there
    are none anywhere (verification then covers built-in kinds and the semantic rules only).

    Explicit paths (``--crds``) and ``$MCOMPILE_CRDS`` must exist and hold a CRD, else
    :class:`CrdLookupError`. ``repo_root``/``cwd`` override the checkout and working directory
    used for the development fallback.
    """
    if explicit:
        paths = [Path(p) for p in explicit]
        _explicit(paths, "--crds")
        return paths, "--crds " + os.pathsep.join(str(p) for p in paths)
    env = os.environ.get(CRDS_ENV, "")
    if env.strip():
        paths = [Path(p) for p in env.split(os.pathsep) if p]
        _explicit(paths, f"${CRDS_ENV}")
        return paths, f"${CRDS_ENV}={env}"
    root = repo_root or REPO_ROOT
    checkout = (root.parent / "shared" / "crds").resolve()
    if is_dev_checkout(root, cwd) and _has_yaml(checkout):
        extra = [checkout.parent / "upstream" / "crds" / d for d in UPSTREAM_DIRS]
        return [checkout, *(d for d in extra if _has_yaml(d))], f"{DEV_CHECKOUT} {checkout} (no --crds or ${CRDS_ENV} given)"
    cache = user_cache_dir()
    if _has_yaml(cache):
        return [cache], f"user cache {cache}"
    tried = [f"${CRDS_ENV} (unset)", f"{checkout} (development checkouts only)", str(cache)]
    return [], (
        "no CRD files found (looked in " + ", ".join(tried) + "); pass --crds DIR, "
        f"set {CRDS_ENV}, or download the pinned set into {cache} with `mcompile crds pull`"
    )


def github_raw_url(pin: PinnedCrd) -> str:
    """``https://raw.githubusercontent.com/{repo}/{tag}/{path}``."""
    return f"https://raw.githubusercontent.com/{pin.repo}/{pin.tag}/{pin.path}"


def _write_atomic(target: Path, data: bytes) -> None:
    import tempfile  # only `crds pull` writes files

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pull(
    dest: Path,
    url_for: Callable[[PinnedCrd], str] = github_raw_url,
    opener: Callable[..., Any] | None = None,
    pins: Sequence[PinnedCrd] | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Download every pinned CRD file into ``dest`` (atomically, one file at a time).

    ``opener(url, timeout=...)`` must return a context manager with ``read()``
    (``urllib.request.urlopen`` by default). All files are attempted; if any
    fails, :class:`CrdPullError` lists each failed file, its URL and the reason.
    Returns the written paths in ``pins`` order. urllib is imported here, not at module level:
    only this command downloads anything.
    """
    import urllib.error
    import urllib.request
    from email.message import Message

    opener = opener or urllib.request.urlopen
    written: list[Path] = []
    failures: list[tuple[PinnedCrd, str, str]] = []
    for pin in ALL_PINNED if pins is None else pins:
        url = url_for(pin)
        try:
            with opener(url, timeout=timeout) as resp:
                status = getattr(resp, "status", 200)
                if status != 200:
                    raise urllib.error.HTTPError(url, status, "unexpected status", Message(), None)
                data = resp.read()
            if not data.strip():
                raise ValueError("empty response")
            target = dest / pin.local
            _write_atomic(target, data)
            written.append(target)
        except (OSError, ValueError) as exc:  # URLError/HTTPError are OSErrors
            failures.append((pin, url, str(exc)))
    if failures:
        raise CrdPullError(failures)
    return written
