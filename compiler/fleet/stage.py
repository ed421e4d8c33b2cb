"""The fleet stage: every landing of an invocation -> clusters -> one verified platform per cluster,
plus the cross-profile collision check per cluster.

    landings (profile x env x destination) -> clusters_of -> render_platform -> verify -> files

Platform files live under ``out/_platform/<cluster>/`` and are owned by one manifest scope,
``_platform``, so the whole platform tree is swapped in at once like a profile directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import Diagnostic, Source

if TYPE_CHECKING:  # the stage's modules load when it runs: a build whose platform is a cache hit needs none
    from ..types import ObjectKey
    from ..verify import Verifier
    from .clusters import Cluster
    from .landing import Landing

#: Manifest scope of the platform tree (a profile name cannot start with ``_``), and its directory
#: (``platform.PLATFORM_DIR`` is this one: stage.py itself loads no platform module on a cache hit).
PLATFORM_SCOPE = "_platform"


@dataclass(frozen=True)
class FleetPlan:
    """The fleet stage's result: clusters, their platform objects by directory, errors."""

    clusters: dict[str, Cluster]
    objects: dict[str, dict[str, list[dict[str, Any]]]]  # cluster -> directory -> objects
    errors: tuple[Diagnostic, ...]


def run_fleet(landings: Sequence[Landing], hub: Sequence[tuple[str, str, ObjectKey, Source]], verifier: Verifier) -> FleetPlan:
    """``hub``: (profile, source, key, where) of the objects profiles apply to the Argo CD control
    plane (ApplicationSets), checked for collisions with each other and the platform's."""
    from .clusters import clusters_of
    from .platform import render_platform

    clusters, errors = clusters_of(landings)
    rendered: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name in sorted(clusters):
        cluster = clusters[name]
        dirs = render_platform(cluster)
        rendered[name] = dirs
        for obj, msg in verifier.objects([o for objs in dirs.values() for o in objs]):
            ident = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name', '?')}"
            errors.append(Diagnostic(cluster.first.where, "$.gitops.destinations", f"[platform of {name}] {ident}: {msg}"))
    errors += collisions(clusters, rendered, hub)
    return FleetPlan(clusters, rendered, tuple(errors))


def _platform_keys(cluster: Cluster, dirs: dict[str, list[dict[str, Any]]]) -> list[ObjectKey]:
    """What the platform owns on the cluster: its plain manifests and the namespaces its charts
    install into (each chart's release owns its namespace)."""
    from .platform import components

    keys = [(o["apiVersion"], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in dirs.get("manifests", [])]
    if cluster.engine == "flux":
        keys += [(o["apiVersion"], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in dirs.get("components", []) + dirs.get("flux", [])]
    for comp, _ in components(cluster):
        ns = getattr(comp, "namespace", None)
        if ns and ns not in ("kube-system", "default"):
            keys.append(("v1", "Namespace", "", ns))
    return keys


def collisions(clusters: dict[str, Cluster], rendered: dict[str, dict[str, list[dict[str, Any]]]],
               hub: Sequence[tuple[str, str, ObjectKey, Source]]) -> list[Diagnostic]:
    """Two owners of one object on one cluster (two profiles, or a profile and the platform) would
    fight over it: Argo CD apps or Flux Kustomizations pruning each other's copy. Every name a
    profile renders is checked: Namespace, NodePool, EC2NodeClass, ClusterRole, HelmRelease, ..."""
    errors: list[Diagnostic] = []
    for name in sorted(clusters):
        cluster = clusters[name]
        owner: dict[ObjectKey, str] = {key: f"the platform of cluster {name}" for key in _platform_keys(cluster, rendered[name])}
        for landing in cluster.landings:
            seen: set[ObjectKey] = set()
            for key, where in landing.objects:
                if key in seen:
                    continue
                seen.add(key)
                first = owner.setdefault(key, f"{landing.profile} ({landing.source})")
                if not first.startswith(f"{landing.profile} ("):
                    errors.append(_clash(key, where, first, f"cluster {name}"))
    hub_owner: dict[ObjectKey, str] = {}
    for name in sorted(rendered):
        for o in rendered[name].get("argocd", []):
            hub_owner[(o["apiVersion"], o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])] = f"the platform of cluster {name}"
    for profile, source, key, where in hub:
        first = hub_owner.setdefault(key, f"{profile} ({source})")
        if not first.startswith(f"{profile} ("):
            errors.append(_clash(key, where, first, "the Argo CD control plane"))
    return errors


def _clash(key: ObjectKey, where: Source, other: str, place: str) -> Diagnostic:
    _, kind, ns, name = key
    return Diagnostic(where, "$.metadata", f"{kind} {ns + '/' if ns else ''}{name} on {place} is also rendered by {other}: "
                      "give each profile its own namespace and name")
