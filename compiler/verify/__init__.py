"""Stage 6 — verify: every rendered object against its real schema, then the semantic rules.

* built-in kinds: kubernetes-validate, strict, for a Kubernetes version (default 1.33);
* custom resources: the upstream CRDs (``CrdRegistry``), strict, with their CEL rules;
* kinds with no public CRD (EKS Auto Mode ``NodeClass``) are allow-listed and reported;
* semantic invariants across objects (``rules.py``).

Every finding becomes a located :class:`~compiler.errors.Diagnostic` pointing at the profile
field that produced the object (through the merge provenance).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, Source, json_path
from .crd_sources import DEV_CHECKOUT, locate_crds

if TYPE_CHECKING:  # loaded by the functions that use them: importing the package stays cheap
    from ..types import Compiled
    from .crds import CrdRegistry
    from .kube import KubeValidator

#: Kinds that have no public CRD (installed by the EKS control plane): checked by our own tests.
NO_PUBLIC_CRD = frozenset({("eks.amazonaws.com/v1", "NodeClass")})

#: Which profile section produced an object of a kind (for locating findings).
_BLAME = {
    "NodePool": ("capacity", "pools"), "EC2NodeClass": ("capacity",), "NodeClass": ("capacity",),
    "Deployment": ("serving",), "LeaderWorkerSet": ("serving",), "Service": ("serving",), "ServiceAccount": ("serving",),
    "PodDisruptionBudget": ("serving",), "InferencePool": ("serving", "routing"), "ScaledObject": ("autoscaling",),
    "TriggerAuthentication": ("autoscaling",), "PodMonitor": ("monitoring",), "PrometheusRule": ("monitoring",),
    "NetworkPolicy": ("network",), "Namespace": ("metadata", "namespace"),
    "ConfigMap": ("monitoring", "dashboards"), "StorageClass": ("serving", "compileCache"),
    "PersistentVolumeClaim": ("serving", "compileCache"),
    "Nodegroup": ("capacity", "pools"), "ResourceClaimTemplate": ("serving", "gpuAllocation"),
}


@dataclass
class Verifier:
    kube: KubeValidator
    registry: CrdRegistry | None
    crd_source: str
    allow: frozenset[tuple[str, str]] = NO_PUBLIC_CRD
    unchecked: set[tuple[str, str]] = field(default_factory=set)

    def objects(self, objects: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
        """(object, message) for every schema finding."""
        out = []
        for obj in objects:
            ident = (obj.get("apiVersion", ""), obj.get("kind", ""))
            if self.kube.is_builtin(obj):
                out += [(obj, f"{f.path}: {f.message}") for f in self.kube.validate(obj)]
            elif self.registry is not None and self.registry.has(*ident):
                out += [(obj, f"{f.path}: {f.message}") for f in self.registry.validate(obj)]
            elif ident in self.allow:
                self.unchecked.add(ident)
            elif self.registry is not None:
                out.append((obj, f"no CRD for {ident[0]} {ident[1]} in {self.crd_source}"))
            else:
                self.unchecked.add(ident)
        return out

    def for_cluster(self, version: str | None) -> Verifier:
        """This verifier, or one whose built-in schemas are those of ``version`` when a profile says
        its cluster runs a newer Kubernetes than ``--kube-version`` (``capacity.kubernetesVersion``,
        e.g. 1.34 for ``resource.k8s.io/v1``), capped at the newest bundled schemas."""
        if not version:
            return self
        from .kube import available_versions, kube_minor

        wanted = min(kube_minor(version), available_versions()[-1])
        if wanted <= kube_minor(self.kube.version):
            return self
        return dataclasses.replace(self, kube=_kube(f"{wanted[0]}.{wanted[1]}"))

    def note(self) -> str | None:
        """One line on what was not schema-checked, and how to fix it (and where the CRDs came
        from when that was the development checkout's fallback)."""
        dev = f"CRDs from the {self.crd_source}" if self.crd_source.startswith(DEV_CHECKOUT) else None
        if not self.unchecked:
            return dev
        kinds = ", ".join(f"{k} ({a})" for a, k in sorted(self.unchecked))
        if self.registry is None:
            return f"not schema-checked: {kinds} — {self.crd_source}"
        return f"not schema-checked (no public CRD): {kinds}" + (f"; {dev}" if dev else "")


@lru_cache(maxsize=4)
def _kube(version: str) -> KubeValidator:
    from .kube import KubeValidator

    return KubeValidator(version)


@lru_cache(maxsize=8)
def _registry(paths: tuple[Path, ...]) -> CrdRegistry:
    from .crds import CrdRegistry

    return CrdRegistry.load(list(paths))


def make_verifier(crds: Sequence[Path] = (), kube_version: str = "1.33", allow: Sequence[str] = (),
                  located: tuple[Sequence[Path], str] | None = None) -> Verifier:
    """``allow``: extra ``group/version/Kind`` entries that have no CRD and are accepted unchecked.
    ``located``: what ``locate_crds(crds)`` returned, when the caller already asked."""
    paths, where = located if located is not None else locate_crds(tuple(crds))
    registry = _registry(tuple(paths)) if paths else None
    extra = frozenset((api, kind) for api, kind in (a.rsplit("/", 1) for a in allow))
    return Verifier(_kube(kube_version), registry, where, NO_PUBLIC_CRD | extra)


def verify_compiled(c: Compiled, verifier: Verifier) -> list[Diagnostic]:
    from .rules import check_rules

    out = []
    verifier = verifier.for_cluster(c.profile.capacity.kubernetes_version)
    for obj, msg in verifier.objects(c.objects):
        path = _BLAME.get(obj.get("kind", ""), ())
        ident = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name', '?')}"
        out.append(Diagnostic(_where(c, path), json_path(path), f"[{c.profile.env}] {ident}: {msg}"))
    for v in check_rules(c.objects, c.profile, c.plan):
        out.append(Diagnostic(_where(c, v.profile_path), json_path(v.profile_path), f"[{c.profile.env}] {v.obj}: {v.message} ({v.rule})"))
    return out


def _where(c: Compiled, path: Sequence[str | int]) -> Source:
    return c.resolved.merged.source(list(path)) or Source(c.profile.source, 1, 1, "profile")


def verify_gitops(c: Compiled, objects: Sequence[dict[str, Any]], verifier: Verifier) -> list[Diagnostic]:
    """A profile's GitOps objects (ApplicationSet, Flux GitRepository/Kustomization) against the
    real CRDs, blamed on the profile's ``gitops`` section."""
    out = []
    for obj, msg in verifier.objects(objects):
        ident = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name', '?')}"
        out.append(Diagnostic(_where(c, ["gitops"]), "$.gitops", f"{ident}: {msg}"))
    return out
