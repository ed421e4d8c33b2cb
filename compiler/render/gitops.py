"""GitOps delivery of one profile's workloads: an Argo CD ApplicationSet or Flux Kustomizations.

Unlike the other families this one sees every environment of a profile at once (one
:class:`Context` per env): an ApplicationSet spans the fleet, and a Flux cluster of ``<env>``
needs only its own directory. :func:`render_gitops` returns ``{output dir: [objects]}`` relative
to ``out/<profile>/`` (see ARCHITECTURE.md, "The out/ layout"). The cluster platform (GPU
Operator, KEDA, LWS, ...) is not here: the fleet stage renders it once per destination cluster
(``compiler/fleet/``) and the workloads sync after it.

Argo CD (``deploy/argocd``)
    * ``<name>`` - workload ApplicationSet: a list generator with one element per destination;
      each Application syncs the Helm chart ``chart/`` with ``values-<env>.yaml``.

    ``{{ }}`` in these objects is Argo CD's own Go templating. Only element keys are ever
    referenced (``.env .cluster .server .namespace``); profile data is either element data (never
    re-parsed by Go templates) or literal text, and literal text that could open a template action
    is rejected (:func:`_check_literal`).

    Ordering: sync waves order resources *inside one sync*; the platform Applications (waves
    -40..-20) and this ApplicationSet (wave 0) are ordered when one parent Application
    (app-of-apps) syncs them. Without one, pods stay Pending until the device plugins advertise
    their resources, and a sync that fails because a CRD is not there yet is retried with
    backoff (``syncPolicy.retry``) until it converges.

Flux
    * ``deploy/flux/<env>``: GitRepository ``<name>`` and Kustomization ``<name>`` of
      ``kustomize/overlays/<env>`` that ``dependsOn`` the cluster's platform Kustomization
      ``mcompile-platform`` (``out/_platform/<cluster>/flux``). Every file there is a manifest:
      Flux generates the kustomization.yaml itself.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Diagnostic, InputError
from .meta import ENV_LABEL, SYNC_WAVE, WAVE_WORKLOAD, Context, labels

COMPONENT = "gitops"
ARGO_API = "argoproj.io/v1alpha1"
FLUX_SOURCE_API = "source.toolkit.fluxcd.io/v1"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"

#: The Flux Kustomization of a cluster's platform (one per cluster); workloads depend on it.
PLATFORM_KUSTOMIZATION = "mcompile-platform"

#: Workload sync retries: 30s, 1m, 2m, 4m, 8m, then every 10m (about an hour in all).
RETRY = {"limit": 10, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "10m"}}

#: Node launch (Karpenter, p5-class capacity) plus a multi-GB image pull happen before the
#: startup probe's budget starts counting: Flux waits this long on top of it.
PROVISION_MARGIN_SECONDS = 600

_SCP_URL = re.compile(r"^(?P<user>[^@/\s]+)@(?P<host>[^:/\s]+):(?P<path>[^\s]+)$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class GitopsPaths:
    """Where the profile's output lives inside the Git repository the controllers pull."""

    repo_root_path: str  # path of out/ inside the repository (profile.gitops.path)
    profile_dir: str  # the profile name

    @property
    def base(self) -> str:
        root = self.repo_root_path.strip("/")
        return self.profile_dir if root in ("", ".") else f"{root}/{self.profile_dir}"

    def chart(self) -> str:
        return f"{self.base}/chart"

    def overlay(self, env: str) -> str:
        return f"{self.base}/kustomize/overlays/{env}"


def paths_of(ctx: Context) -> GitopsPaths:
    return GitopsPaths(ctx.profile.gitops.path, ctx.name)


def render_gitops(contexts: Sequence[Context]) -> dict[str, list[dict[str, Any]]]:
    """All GitOps objects of one profile, keyed by output directory (relative to ``out/<profile>``)."""
    ctxs = _checked_contexts(contexts)
    if ctxs[0].profile.gitops.engine == "flux":
        return render_flux(ctxs)
    return {"deploy/argocd": render_argocd(ctxs)}


# --------------------------------------------------------------------------- shared checks


_CAMEL = {"repo_url": "repoURL", "controller_namespace": "controllerNamespace"}


def _checked_contexts(contexts: Sequence[Context]) -> list[Context]:
    """One context per environment of one profile, sorted by env; fleet-wide settings agree."""
    if not contexts:
        raise ValueError("render_gitops needs at least one context")
    ctxs = sorted(contexts, key=lambda c: c.profile.env)
    first = ctxs[0].profile
    if {c.name for c in ctxs} != {first.name} or len({c.profile.env for c in ctxs}) != len(ctxs):
        raise ValueError("render_gitops takes one context per environment of a single profile")
    missing = sorted(set(first.environments) - {c.profile.env for c in ctxs})
    if missing:
        raise ValueError(f"render_gitops needs every environment of the profile (missing: {', '.join(missing)})")
    errors: list[Diagnostic] = []
    for c in ctxs[1:]:
        g, g0 = c.profile.gitops, first.gitops
        fleet = ("engine",) if g0.engine == "flux" else ("engine", "repo_url", "revision", "path", "project", "controller_namespace", "destinations")
        for field in (f for f in fleet if getattr(g, f) != getattr(g0, f)):
            key = _CAMEL.get(field, field)
            errors.append(Diagnostic(None, f"$.gitops.{key}", f"environments {first.env} and {c.profile.env} set different gitops.{key}; "
                                     f"with engine {g0.engine} it applies to the whole fleet and must be the same in every environment"))
    if first.gitops.engine == "argocd":
        errors += _check_literal(first.gitops.repo_url, "$.gitops.repoURL")
    if errors:
        raise InputError(errors)
    return ctxs


def _check_literal(text: str, path: str) -> list[Diagnostic]:
    """Literal text in an ApplicationSet template is parsed by Go templates: a ``{{`` in it would
    become an action. Braces are not valid in a URL anyway (RFC 3986), so reject them."""
    if "{" in text or "}" in text:
        return [Diagnostic(None, path, "must not contain '{' or '}' (percent-encode them): Argo CD would read them as template syntax")]
    return []


def _meta(ctx: Context, name: str, env: str | None, wave: str | None = None) -> dict[str, Any]:
    """Labels from :func:`labels` (component ``gitops``) in the controller's namespace; fleet-wide
    objects carry no environment label."""
    lab = labels(ctx, COMPONENT)
    lab.pop(ENV_LABEL, None)
    if env is not None:
        lab[ENV_LABEL] = env
    meta: dict[str, Any] = {"name": name, "namespace": ctx.profile.gitops.controller_namespace, "labels": lab}
    if wave is not None:
        meta["annotations"] = {SYNC_WAVE: wave}
    return meta


# --------------------------------------------------------------------------- Argo CD


def argo_elements(ctxs: Sequence[Context]) -> list[dict[str, str]]:
    """List-generator elements: the profile's destinations (required: see ``validate.required_values``).
    ``namespace`` is the env's own profile namespace (environments may override it)."""
    ns = {c.profile.env: c.namespace for c in ctxs}
    g = ctxs[0].profile.gitops
    errors = [Diagnostic(None, f"$.gitops.destinations[{i}].environment",
                         f"environment {d.environment!r} is not defined in the profile (environments: {', '.join(ns)})")
              for i, d in enumerate(g.destinations) if d.environment not in ns]
    if errors:
        raise InputError(errors)
    return [{"cluster": d.name, "server": d.server, "env": d.environment, "namespace": ns[d.environment]} for d in g.destinations]


def _check_elements(ctx: Context, elements: Sequence[dict[str, str]]) -> None:
    """Two Applications must never manage the same objects, nor share a name."""
    errors: list[Diagnostic] = []
    seen: dict[tuple[str, str], str] = {}
    names: set[str] = set()
    for e in elements:
        key, who = (e["server"], e["namespace"]), f"{e['env']}@{e['cluster']}"
        if key in seen:
            errors.append(Diagnostic(None, "$.gitops.destinations",
                                     f"{seen[key]} and {who} deploy to namespace {e['namespace']!r} of the same cluster {e['server']}: "
                                     "list a destination per environment or give each environment its own metadata.namespace"))
        seen.setdefault(key, who)
        name = f"{ctx.name}-{e['env']}-{e['cluster']}"
        if name in names:
            errors.append(Diagnostic(None, "$.gitops.destinations", f"two destinations yield the Application name {name!r}"))
        names.add(name)
    if errors:
        raise InputError(errors)


def _appset(ctx: Context, name: str, wave: str, elements: list[dict[str, str]], template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API,
        "kind": "ApplicationSet",
        "metadata": _meta(ctx, name, None, wave),
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": elements}}],
            "template": template,
        },
    }


def _app_meta(ctx: Context, name: str, wave: str) -> dict[str, Any]:
    lab = labels(ctx, COMPONENT)
    lab[ENV_LABEL] = "{{.env}}"
    return {"name": name, "labels": lab, "annotations": {SYNC_WAVE: wave}}


def _replica_ignores(ctxs: Sequence[Context]) -> list[dict[str, Any]]:
    """KEDA's HPA owns ``spec.replicas`` of autoscaled workloads: without this, selfHeal would
    reset it to the manifest's value on every reconcile."""
    if not any(c.profile.autoscaling.enabled for c in ctxs):
        return []
    return [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
            {"group": "leaderworkerset.x-k8s.io", "kind": "LeaderWorkerSet", "jsonPointers": ["/spec/replicas"]}]


def workload_appset(ctxs: Sequence[Context], elements: list[dict[str, str]]) -> dict[str, Any]:
    """Sync options: the chart renders its own Namespace (wave -20), so ``CreateNamespace=false``
    (Argo would otherwise create it unlabelled and then fight the chart's copy);
    ``ServerSideApply=true`` avoids the 256 KiB last-applied annotation limit of large
    LeaderWorkerSets and merges cleanly with fields other controllers own;
    ``RespectIgnoreDifferences=true`` keeps sync from resetting HPA-owned replicas."""
    ctx, g = ctxs[0], ctxs[0].profile.gitops
    ignores = _replica_ignores(ctxs)
    options = ["CreateNamespace=false", "ServerSideApply=true"] + (["RespectIgnoreDifferences=true"] if ignores else [])
    spec: dict[str, Any] = {
        "project": g.project,
        "source": {"repoURL": g.repo_url, "targetRevision": g.revision, "path": paths_of(ctx).chart(),
                   "helm": {"releaseName": ctx.name, "valueFiles": ["values-{{.env}}.yaml"]}},
        "destination": {"server": "{{.server}}", "namespace": "{{.namespace}}"},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": options, "retry": copy.deepcopy(RETRY)},
    }
    if ignores:
        spec["ignoreDifferences"] = ignores
    template = {"metadata": _app_meta(ctx, f"{ctx.name}-{{{{.env}}}}-{{{{.cluster}}}}", WAVE_WORKLOAD), "spec": spec}
    return _appset(ctx, ctx.name, WAVE_WORKLOAD, elements, template)


def render_argocd(ctxs: Sequence[Context]) -> list[dict[str, Any]]:
    elements = argo_elements(ctxs)
    _check_elements(ctxs[0], elements)
    return [workload_appset(ctxs, elements)]


# --------------------------------------------------------------------------- Flux


def flux_url(url: str) -> str:
    """Flux takes ``http(s)://`` or ``ssh://`` URLs only: ``git@host:org/repo`` -> ``ssh://git@host/org/repo``."""
    m = _SCP_URL.match(url)
    return f"ssh://{m['user']}@{m['host']}/{m['path']}" if m and "://" not in url else url


def flux_ref(revision: str) -> dict[str, str]:
    """A full commit SHA pins ``commit``, ``refs/...`` is a ``name`` (use ``refs/tags/v1`` for a
    tag), anything else is a branch."""
    if _COMMIT.match(revision):
        return {"commit": revision}
    if revision.startswith("refs/"):
        return {"name": revision}
    return {"branch": revision}


def duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def workload_timeout(ctx: Context) -> str:
    """Long enough for the slowest role to get a node, pull, and load the model."""
    budget = max((r.startup_budget_seconds for r in ctx.roles()), default=0)
    return duration(budget + PROVISION_MARGIN_SECONDS)


def git_repository(ctx: Context) -> dict[str, Any]:
    g = ctx.profile.gitops
    url = flux_url(g.repo_url)
    spec: dict[str, Any] = {"interval": "1m", "url": url, "ref": flux_ref(g.revision)}
    if url.startswith("ssh://"):
        spec["secretRef"] = {"name": f"{ctx.name}-git"}  # SSH needs a deploy key: flux create secret git
    return {"apiVersion": FLUX_SOURCE_API, "kind": "GitRepository", "metadata": _meta(ctx, ctx.name, ctx.profile.env), "spec": spec}


def kustomization(ctx: Context, name: str, path: str, timeout: str, depends_on: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "interval": "10m",
        "retryInterval": "2m",
        "path": f"./{path}",
        "prune": True,
        "wait": True,
        "timeout": timeout,
        "sourceRef": {"kind": "GitRepository", "name": ctx.name},
    }
    if depends_on:
        spec["dependsOn"] = [{"name": depends_on}]
    return {"apiVersion": FLUX_KUSTOMIZE_API, "kind": "Kustomization", "metadata": _meta(ctx, name, ctx.profile.env), "spec": spec}


def render_flux(ctxs: Sequence[Context]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for ctx in ctxs:
        env, paths = ctx.profile.env, paths_of(ctx)
        out[f"deploy/flux/{env}"] = [git_repository(ctx), kustomization(ctx, ctx.name, paths.overlay(env), workload_timeout(ctx), PLATFORM_KUSTOMIZATION)]
    return out
