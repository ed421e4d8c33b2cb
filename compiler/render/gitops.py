"""GitOps delivery of one profile: Argo CD ApplicationSets or Flux Kustomizations.

Unlike the other families this one sees every environment of a profile at once (one
:class:`Context` per env): an ApplicationSet spans the fleet, and a Flux cluster of ``<env>``
needs only its own directory. :func:`render_gitops` returns ``{output dir: [objects]}`` relative
to ``out/<profile>/`` (see ARCHITECTURE.md, "The out/ layout").

Argo CD (``deploy/argocd``)
    * ``<name>`` - workload ApplicationSet: a list generator with one element per destination
      (or, without destinations, one ``in-cluster`` element per environment); each Application
      syncs the Helm chart ``chart/`` with ``values-<env>.yaml``.
    * ``<name>-gpu-operator`` - NVIDIA GPU Operator ApplicationSet for the clusters whose
      environment needs it (one per environment instead when their values differ).

    ``{{ }}`` in these objects is Argo CD's own Go templating. Only element keys are ever
    referenced (``.env .cluster .server .namespace``); profile data is either element data (never
    re-parsed by Go templates) or literal text, and literal text that could open a template action
    is rejected (:func:`_check_literal`).

    Ordering: sync waves order resources *inside one sync*; the annotations on the generated
    Applications only take effect when a parent Application (app-of-apps) syncs them. The
    ApplicationSet controller creates Applications directly, so nothing makes the workload wait
    for the operator. That is fine in practice: pods stay Pending until the device plugin
    advertises ``nvidia.com/gpu``, and a sync that fails because a CRD is not there yet is
    retried with backoff (``syncPolicy.retry``) until it converges.

Flux
    * ``deploy/flux/<env>``: GitRepository ``<name>``, Kustomization ``<name>-platform`` (when the
      env needs the operator) and Kustomization ``<name>`` of ``kustomize/overlays/<env>`` that
      ``dependsOn`` the platform. Every file there is a manifest: Flux generates the
      kustomization.yaml itself.
    * ``platform/flux`` (or ``platform/flux/<env>`` when the envs' operator values differ):
      HelmRepository + HelmRelease of the GPU Operator.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import Diagnostic, InputError
from .meta import WAVE_PLATFORM, WAVE_WORKLOAD, Context, labels

COMPONENT = "gitops"
ARGO_API = "argoproj.io/v1alpha1"
FLUX_SOURCE_API = "source.toolkit.fluxcd.io/v1"
FLUX_KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
FLUX_HELM_API = "helm.toolkit.fluxcd.io/v2"
ENV_LABEL = "mcompile.io/environment"

IN_CLUSTER_NAME = "in-cluster"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"

#: NVIDIA GPU Operator chart; the version matches the CRDs in shared/crds/gpu-operator.
GPU_OPERATOR_REPO = "https://helm.ngc.nvidia.com/nvidia"
GPU_OPERATOR_CHART = "gpu-operator"
GPU_OPERATOR_VERSION = "v26.7.0"
GPU_OPERATOR_NAMESPACE = "gpu-operator"

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

    def platform_flux(self, env: str | None = None) -> str:
        """``platform/flux`` shared by every env, or ``platform/flux/<env>`` when values differ."""
        return f"{self.base}/platform/flux" + (f"/{env}" if env else "")


def paths_of(ctx: Context) -> GitopsPaths:
    return GitopsPaths(ctx.profile.gitops.path, ctx.name)


def render_gitops(contexts: Sequence[Context], gpu_operator_values: Mapping[str, dict[str, Any] | None]) -> dict[str, list[dict[str, Any]]]:
    """All GitOps objects of one profile, keyed by output directory (relative to ``out/<profile>``)."""
    ctxs = _checked_contexts(contexts)
    values = {c.profile.env: gpu_operator_values.get(c.profile.env) for c in ctxs}
    for env, v in values.items():
        if v is not None:
            _check_values(v, env)
    if ctxs[0].profile.gitops.engine == "flux":
        return render_flux(ctxs, values)
    return {"deploy/argocd": render_argocd(ctxs, values)}


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


def _check_values(values: Any, env: str, where: str = "") -> None:
    """GPU Operator values are literal template text too; no sane value contains ``{{``."""
    if isinstance(values, dict):
        for k, v in values.items():
            _check_values(k, env, where)
            _check_values(v, env, f"{where}.{k}")
    elif isinstance(values, list):
        for i, v in enumerate(values):
            _check_values(v, env, f"{where}[{i}]")
    elif isinstance(values, str) and "{{" in values:
        raise ValueError(f"GPU Operator values of {env} contain '{{{{' at {where or '$'}: Argo CD would template it")


def _same(values: Any) -> str:
    """Canonical form for comparing operator values (key order does not matter)."""
    return json.dumps(values, sort_keys=True)


def _meta(ctx: Context, name: str, env: str | None, wave: str | None = None) -> dict[str, Any]:
    """Labels from :func:`labels` (component ``gitops``) in the controller's namespace; fleet-wide
    objects carry no environment label."""
    lab = labels(ctx, COMPONENT)
    lab.pop(ENV_LABEL, None)
    if env is not None:
        lab[ENV_LABEL] = env
    meta: dict[str, Any] = {"name": name, "namespace": ctx.profile.gitops.controller_namespace, "labels": lab}
    if wave is not None:
        meta["annotations"] = {"argocd.argoproj.io/sync-wave": wave}
    return meta


# --------------------------------------------------------------------------- Argo CD


def argo_elements(ctxs: Sequence[Context]) -> list[dict[str, str]]:
    """List-generator elements: the profile's destinations, or the local cluster per env.
    ``namespace`` is the env's own profile namespace (environments may override it)."""
    ns = {c.profile.env: c.namespace for c in ctxs}
    g = ctxs[0].profile.gitops
    if not g.destinations:
        return [{"cluster": IN_CLUSTER_NAME, "server": IN_CLUSTER_SERVER, "env": env, "namespace": ns[env]} for env in ns]
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
    return {"name": name, "labels": lab, "annotations": {"argocd.argoproj.io/sync-wave": wave}}


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


def operator_appset(ctx: Context, name: str, elements: list[dict[str, str]], values: dict[str, Any]) -> dict[str, Any]:
    """The operator runs privileged DaemonSets: its namespace is created by Argo CD with the
    ``privileged`` Pod Security level."""
    spec = {
        "project": ctx.profile.gitops.project,
        "source": {"repoURL": GPU_OPERATOR_REPO, "chart": GPU_OPERATOR_CHART, "targetRevision": GPU_OPERATOR_VERSION,
                   "helm": {"releaseName": GPU_OPERATOR_CHART, "valuesObject": copy.deepcopy(values)}},
        "destination": {"server": "{{.server}}", "namespace": GPU_OPERATOR_NAMESPACE},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                       "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
                       "managedNamespaceMetadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
                       "retry": copy.deepcopy(RETRY)},
    }
    template = {"metadata": _app_meta(ctx, f"{ctx.name}-gpu-operator-{{{{.cluster}}}}", WAVE_PLATFORM), "spec": spec}
    return _appset(ctx, name, WAVE_PLATFORM, elements, template)


def operator_elements(elements: Sequence[dict[str, str]], values: Mapping[str, dict[str, Any] | None]) -> dict[str, list[dict[str, str]]]:
    """Operator elements per env. The operator is a cluster singleton: one element per server,
    owned by the first env (sorted) that needs it there; envs sharing a cluster must agree."""
    owner: dict[str, str] = {}
    out: dict[str, list[dict[str, str]]] = {}
    errors: list[Diagnostic] = []
    for e in sorted(elements, key=lambda e: (e["env"], e["cluster"])):
        v = values.get(e["env"])
        if v is None:
            continue
        first = owner.setdefault(e["server"], e["env"])
        if first != e["env"]:
            if _same(values[first]) != _same(v):
                errors.append(Diagnostic(None, "$.gitops.destinations",
                                         f"environments {first} and {e['env']} share cluster {e['server']} but need different GPU Operator settings"))
            continue
        out.setdefault(e["env"], []).append({"cluster": e["cluster"], "server": e["server"], "env": e["env"]})
    if errors:
        raise InputError(errors)
    return out


def render_argocd(ctxs: Sequence[Context], values: Mapping[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    ctx = ctxs[0]
    elements = argo_elements(ctxs)
    _check_elements(ctx, elements)
    out: list[dict[str, Any]] = []
    per_env = operator_elements(elements, values)
    if per_env:
        distinct = {_same(values[env]) for env in per_env}
        if len(distinct) == 1:
            merged = [e for env in sorted(per_env) for e in per_env[env]]
            out.append(operator_appset(ctx, f"{ctx.name}-gpu-operator", merged, values[min(per_env)] or {}))
        else:
            out += [operator_appset(ctx, f"{ctx.name}-gpu-operator-{env}", per_env[env], values[env] or {}) for env in sorted(per_env)]
    out.append(workload_appset(ctxs, elements))
    return out


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


def helm_repository(ctx: Context, env: str | None) -> dict[str, Any]:
    return {"apiVersion": FLUX_SOURCE_API, "kind": "HelmRepository", "metadata": _meta(ctx, "nvidia", env),
            "spec": {"interval": "1h", "url": GPU_OPERATOR_REPO}}


def helm_release(ctx: Context, env: str | None, values: dict[str, Any]) -> dict[str, Any]:
    """CRDs are created and replaced on upgrade (Helm alone never upgrades ``crds/``). The names
    ``nvidia``/``gpu-operator`` are fixed: the operator is a cluster singleton."""
    return {
        "apiVersion": FLUX_HELM_API,
        "kind": "HelmRelease",
        "metadata": _meta(ctx, GPU_OPERATOR_CHART, env),
        "spec": {
            "interval": "30m",
            "chart": {"spec": {"chart": GPU_OPERATOR_CHART, "version": GPU_OPERATOR_VERSION,
                               "sourceRef": {"kind": "HelmRepository", "name": "nvidia"}}},
            "releaseName": GPU_OPERATOR_CHART,
            "targetNamespace": GPU_OPERATOR_NAMESPACE,
            "timeout": "15m",
            "install": {"createNamespace": True, "crds": "CreateReplace", "remediation": {"retries": 3}},
            "upgrade": {"crds": "CreateReplace", "remediation": {"retries": 3}},
            "values": copy.deepcopy(values),
        },
    }


def render_flux(ctxs: Sequence[Context], values: Mapping[str, dict[str, Any] | None]) -> dict[str, list[dict[str, Any]]]:
    needing = [c for c in ctxs if values.get(c.profile.env) is not None]
    shared = len({_same(values[c.profile.env]) for c in needing}) <= 1
    out: dict[str, list[dict[str, Any]]] = {}
    for ctx in ctxs:
        env, paths = ctx.profile.env, paths_of(ctx)
        objs = [git_repository(ctx)]
        platform = None
        if values.get(env) is not None:
            platform = f"{ctx.name}-platform"
            objs.append(kustomization(ctx, platform, paths.platform_flux(None if shared else env), "15m", None))
        objs.append(kustomization(ctx, ctx.name, paths.overlay(env), workload_timeout(ctx), platform))
        out[f"deploy/flux/{env}"] = objs
    if needing and shared:
        out["platform/flux"] = [helm_repository(needing[0], None), helm_release(needing[0], None, values[needing[0].profile.env] or {})]
    elif needing:
        for ctx in needing:
            env = ctx.profile.env
            out[f"platform/flux/{env}"] = [helm_repository(ctx, env), helm_release(ctx, env, values[env] or {})]
    return out

