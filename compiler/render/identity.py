"""AWS access of the pods we generate, through EKS Pod Identity only: one ACK
``PodIdentityAssociation`` (``eks.services.k8s.aws/v1alpha1``, eks-controller v1.20.0) per
ServiceAccount that calls AWS:

* the serving ServiceAccount, with ``identity.modelRoleArn``, when ``model.source`` is ``s3://``
  (Run:ai streamer reads the weights);
* the fallback gateway's ServiceAccount, with the Bedrock step's ``roleArn`` (``InvokeModel``).

Role ARNs come from the profile and are required where used (:func:`compiler.plan.path.check`
reports a missing one at the profile line that needs it). With ``identity.ack: false`` nothing is
rendered here and the chart NOTES print the equivalent ``aws eks create-pod-identity-association``
commands (:func:`notes`). No static keys, no Secret, ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..plan.path import bifrost_name
from ..profile import Profile
from . import meta
from .meta import Context

API = "eks.services.k8s.aws/v1alpha1"
#: Before the workloads: the Pod Identity webhook only injects credentials into pods created
#: after their ServiceAccount's association exists.
WAVE = "-1"
COMPONENT = "identity"


@dataclass(frozen=True)
class Association:
    """An EKS Pod Identity association: service account, role and why."""

    name: str
    service_account: str
    role_arn: str
    purpose: str


def associations(p: Profile) -> list[Association]:
    out = []
    if p.model.scheme == "s3" and p.path.identity.model_role_arn:
        out.append(Association(f"{p.name}-model", p.serving.service_account, p.path.identity.model_role_arn, "read the model from S3"))
    f = p.path.fallback
    arns = sorted({s.role_arn for s in f.cascade if s.kind == "bedrock" and s.role_arn}) if f.enabled else []
    if arns:  # one association per ServiceAccount: path.check refuses two different Bedrock roles
        out.append(Association(bifrost_name(p), bifrost_name(p), arns[0], "invoke the Bedrock fallback model"))
    return out


def render(ctx: Context) -> list[dict[str, Any]]:
    if not ctx.profile.path.identity.ack:
        return []
    return [association(ctx, a) for a in associations(ctx.profile)]


def association(ctx: Context, a: Association) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "PodIdentityAssociation",
        "metadata": meta.metadata(ctx, a.name, COMPONENT, wave=WAVE, annotations={"mcompile.io/purpose": a.purpose}),
        "spec": {"clusterName": ctx.profile.capacity.cluster_name, "namespace": ctx.namespace,
                 "serviceAccount": a.service_account, "roleARN": a.role_arn},
    }


def chart_notes(p: Profile, namespace: str | None = None) -> str:
    """What the chart NOTES add for the request path: the front door and, without ACK, the
    Pod Identity commands to run once per cluster. ``namespace`` replaces the profile's (the chart
    passes its release namespace)."""
    ns = namespace or p.namespace
    f = p.path.fallback
    door = (f"Front door (cascade: {' -> '.join(s.name for s in f.cascade)}): http://{bifrost_name(p)}.{ns}.svc:{f.port}/v1, "
            f"model vllm/{p.model.served_name}.\n") if f.enabled else ""
    cmds = notes(p, ns)
    if cmds:
        door += "EKS Pod Identity (identity.ack is false): run once per cluster:\n" + "".join(f"  {c}\n" for c in cmds)
    return door


def notes(p: Profile, namespace: str | None = None) -> list[str]:
    """The CLI equivalent, for clusters without the ACK EKS controller (``identity.ack: false``)."""
    if p.path.identity.ack:
        return []
    cluster = p.capacity.cluster_name  # required (validate.required_values)
    return [f"aws eks create-pod-identity-association --cluster-name {cluster} --namespace {namespace or p.namespace} "
            f"--service-account {a.service_account} --role-arn {a.role_arn}   # {a.purpose}" for a in associations(p)]
