"""KEDA autoscaling: one ScaledObject per serving role, scaled on the engine's queue metrics
(vLLM ``num_requests_running``/``num_requests_waiting``, SGLang ``num_running_reqs``/``num_queue_reqs``:
:func:`compiler.render.metrics.for_engine`).

Each ScaledObject has two Prometheus triggers named ``running`` and ``waiting`` and combines them
with ``advanced.scalingModifiers`` (default ``running + (waiting * <queueWeight>)``) against the
planner's per-replica target. The rules that make this work in a real cluster (domain-facts, KEDA):

* every trigger metadata value is a string, and every query returns exactly one series: it is
  wrapped in ``sum(...)`` and pinned to ``namespace`` and ``model_name`` (vLLM has no ``model``
  label); disaggregated roles share a model name, so their queries are also pinned to the role's
  pods by name;
* every name the formula uses must be a trigger name (the admission webhook rejects it
  otherwise): :func:`formula_names` extracts them and :func:`render` refuses unknown names;
* LeaderWorkerSets are scaled through their scale subresource (whole groups).
"""

from __future__ import annotations

from typing import Any

from ..errors import Diagnostic, InputError
from ..exprs import AMP_URL, formula_identifiers
from ..plan.model import RolePlan
from .meta import Context, metadata, object_name
from .metrics import for_engine

KEDA_API = "keda.sh/v1alpha1"
LWS_API = "leaderworkerset.x-k8s.io/v1"
COMPONENT = "autoscaling"

#: The trigger names the formula may use, in render order.
TRIGGERS = ("running", "waiting")

#: HPA rejects stabilizationWindowSeconds above one hour (autoscaling/v2 validation).
HPA_MAX_WINDOW = 3600






def formula_names(formula: str) -> set[str]:
    """The variable names a scalingModifiers formula refers to: ``"running + (waiting * 10)"`` ->
    ``{"running", "waiting"}``."""
    return set(formula_identifiers(formula))


def format_number(value: float) -> str:
    """``10.0`` -> ``"10"``, ``2.5`` -> ``"2.5"``: KEDA parses strings, and ``10.0`` in a formula
    reads as a typo to humans."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def formula(ctx: Context) -> str:
    a = ctx.profile.autoscaling
    return a.formula if a.formula else f"running + (waiting * {format_number(a.queue_weight)})"


def check_formula(text: str) -> None:
    """Raise :class:`InputError` when the formula uses a name that is not a trigger name."""
    unknown = sorted(formula_names(text) - set(TRIGGERS))
    if unknown:
        raise InputError([Diagnostic(None, "$.autoscaling.formula",
                                     f"formula refers to {', '.join(unknown)}; the only trigger names are {', '.join(TRIGGERS)}")])


def aws_region(server_address: str) -> str:
    """The region of an Amazon Managed Prometheus workspace query URL
    (``https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>``); KEDA signs requests with
    SigV4 for the trigger's ``awsRegion``."""
    m = AMP_URL.match(server_address)
    if not m:
        raise InputError([Diagnostic(None, "$.autoscaling.prometheus.serverAddress",
                                     "awsManagedPrometheus needs the workspace URL https://aps-workspaces.<region>.amazonaws.com/workspaces/<workspace-id>")])
    return m.group(1)


def is_lws(role: RolePlan) -> bool:
    """Disaggregated roles and multi-node replicas run as LeaderWorkerSets; a single-pod
    ``serve`` role is a Deployment."""
    return role.role != "serve" or role.multi_node


def target_name(ctx: Context, role: RolePlan) -> str:
    return object_name(ctx, role.role) if is_lws(role) else object_name(ctx)


def scale_target_ref(ctx: Context, role: RolePlan) -> dict[str, str]:
    if is_lws(role):
        return {"apiVersion": LWS_API, "kind": "LeaderWorkerSet", "name": target_name(ctx, role)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": target_name(ctx, role)}


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal holding ``value`` verbatim (profile data is
    escaped, never spliced into the query syntax)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def series_selector(ctx: Context, role: RolePlan) -> str:
    """Label matchers of one role's vLLM series. ``pod`` pins LeaderWorkerSet roles: prefill and
    decode serve the same model_name, and LWS pods are named ``<lws>-<group>[-<worker>]`` (object
    names are DNS-1123 labels: nothing in them is a regex metacharacter)."""
    matchers = [f"namespace={promql_string(ctx.namespace)}", f"model_name={promql_string(ctx.profile.model.served_name)}"]
    if is_lws(role):
        matchers.append(f"pod=~{promql_string(target_name(ctx, role) + '-[0-9]+(-[0-9]+)?')}")
    return "{" + ",".join(matchers) + "}"


def trigger_metric(ctx: Context, trigger: str) -> str:
    """The engine's gauge behind a trigger name."""
    em = for_engine(ctx.profile.serving.engine)
    return {"running": em.running, "waiting": em.waiting}[trigger]


def query(ctx: Context, role: RolePlan, trigger: str) -> str:
    return f"sum({trigger_metric(ctx, trigger)}{series_selector(ctx, role)})"


def trigger(ctx: Context, role: RolePlan, name: str, auth: str | None) -> dict[str, Any]:
    a = ctx.profile.autoscaling
    meta = {
        "serverAddress": a.server_address,
        "query": query(ctx, role, name),
        # Unused for scaling once scalingModifiers is set, but the scaler still parses it.
        "threshold": str(role.keda_target),
    }
    out: dict[str, Any] = {"type": "prometheus", "name": name, "metadata": meta}
    if auth:
        meta["awsRegion"] = aws_region(a.server_address)
        out["authenticationRef"] = {"name": auth, "kind": "TriggerAuthentication"}
    return out


def behavior(ctx: Context) -> dict[str, Any]:
    """Seed 004: scale up at once (x10 or +9 replicas per 15 s, whichever is more); scale down one
    replica a minute after the cooldown window (capped at the HPA maximum of one hour)."""
    return {
        "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 900, "periodSeconds": 15}, {"type": "Pods", "value": 9, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": min(ctx.profile.autoscaling.cooldown_period, HPA_MAX_WINDOW), "selectPolicy": "Max",
                      "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
    }


def scaled_object(ctx: Context, role: RolePlan, auth: str | None) -> dict[str, Any]:
    a = ctx.profile.autoscaling
    name = target_name(ctx, role)
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": metadata(ctx, name, COMPONENT),
        "spec": {
            "scaleTargetRef": scale_target_ref(ctx, role),
            "pollingInterval": a.polling_interval,
            "cooldownPeriod": a.cooldown_period,
            "minReplicaCount": role.min_replicas,
            "maxReplicaCount": role.max_replicas,
            "advanced": {
                "horizontalPodAutoscalerConfig": {"behavior": behavior(ctx)},
                "scalingModifiers": {"formula": formula(ctx), "target": str(role.keda_target),
                                     "activationTarget": format_number(a.activation_target), "metricType": "AverageValue"},
            },
            "triggers": [trigger(ctx, role, t, auth) for t in TRIGGERS],
        },
    }


def trigger_authentication(ctx: Context, name: str) -> dict[str, Any]:
    """Amazon Managed Prometheus: KEDA signs queries with the operator's EKS Pod Identity / IRSA
    role (it needs ``aps:QueryMetrics`` on the workspace)."""
    return {"apiVersion": KEDA_API, "kind": "TriggerAuthentication", "metadata": metadata(ctx, name, COMPONENT),
            "spec": {"podIdentity": {"provider": "aws"}}}


def render(ctx: Context) -> list[dict[str, Any]]:
    a = ctx.profile.autoscaling
    if not a.enabled:
        return []
    check_formula(formula(ctx))
    out: list[dict[str, Any]] = []
    auth = None
    if a.aws_managed_prometheus:
        auth = object_name(ctx, "amp")
        aws_region(a.server_address)  # fail before emitting anything
        out.append(trigger_authentication(ctx, auth))
    out.extend(scaled_object(ctx, role, auth) for role in ctx.roles())
    return out
