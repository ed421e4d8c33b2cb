"""The request path of a profile as data: object names along it, the timeout budget of every hop,
the compile-time checks on the cascade, and the hop list ``mcompile plan`` prints.

Budget. The client gives up after ``workload.slo.e2eSeconds``. The fallback gateway tries the
cascade's steps in order; each step may take its ``timeoutSeconds`` (steps without one share
what the SLO leaves, evenly, in whole seconds), so a stuck step fails over while the client is
still waiting. The sum must fit the SLO: otherwise the last fallback answers after the client
gave up, which is the same as no fallback. The in-cluster Gateway's HTTPRoute times out with its
step (``timeouts.request``), so a stuck backend fails at the Gateway first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..profile import Profile
from ..profile_path import Step
from .model import Plan

Report = Callable[[Sequence[str | int], str], None]


# --- names (shared by the render families and the plan view) ---------------------------------

def gateway_name(p: Profile) -> str:
    return f"{p.name}-gateway"


def gateway_service(p: Profile) -> str:
    """The Service the controller creates for the Gateway (Istio: ``<gateway>-<class>``)."""
    return p.path.routing.gateway_service or f"{gateway_name(p)}-{p.path.routing.gateway_class}"


def gateway_url(p: Profile) -> str:
    return f"http://{gateway_service(p)}.{p.namespace}.svc.cluster.local:{p.path.routing.listener_port}"


def bifrost_name(p: Profile) -> str:
    return f"{p.name}-bifrost"


def hybrid_service(p: Profile) -> str:
    """The Service in front of the on-premises replicas on EKS Hybrid Nodes (render/hybrid.py)."""
    return f"{p.name}-onprem"


def hybrid_url(p: Profile) -> str:
    return f"http://{hybrid_service(p)}.{p.namespace}.svc.cluster.local:{p.serving.port}"


def entry_service(p: Profile) -> str:
    """The Service the HTTPRoute sends to on tier1 (no InferencePool): the entry role's."""
    return p.name


# --- budgets ---------------------------------------------------------------------------------

def slo_seconds(p: Profile) -> int:
    return max(1, math.floor(p.workload.e2e_seconds))


def step_timeouts(p: Profile) -> dict[str, int]:
    """Seconds per cascade step: the profile's, or an even share of what the SLO leaves."""
    steps = p.path.fallback.cascade
    fixed = sum(s.timeout_seconds for s in steps if s.timeout_seconds)
    unset = [s for s in steps if not s.timeout_seconds]
    share = max(1, (slo_seconds(p) - fixed) // len(unset)) if unset else 0
    return {s.name: s.timeout_seconds or share for s in steps}


def gateway_step(p: Profile) -> Step | None:
    return next((s for s in p.path.fallback.cascade if s.kind == "gateway"), None)


def route_timeout(p: Profile) -> int:
    """HTTPRoute ``timeouts.request``: the gateway step's budget, or the SLO without fallback."""
    step = gateway_step(p)
    if p.path.fallback.enabled and step:
        return step_timeouts(p)[step.name]
    return p.path.routing.request_timeout_seconds or slo_seconds(p)


def duration(seconds: int) -> str:
    """A Gateway API duration (``^([0-9]{1,5}(h|m|s|ms)){1,4}$``)."""
    return f"{seconds}s" if seconds < 100000 else f"{seconds // 60}m"


# --- checks ----------------------------------------------------------------------------------

def check(p: Profile, values: dict[str, Any], report: Report) -> None:
    """Cascade and identity problems, each reported at the profile field that causes it."""
    f = p.path.fallback
    if f.enabled:
        _check_cascade(p, report)
    if p.path.identity.ack and needs_identity(p) and "clusterName" not in values.get("capacity", {}):
        report(["capacity"], "capacity.clusterName is required: the PodIdentityAssociation objects name the EKS cluster "
               "(or set identity.ack: false to get the aws eks commands instead)")
    if p.model.scheme == "s3" and not p.path.identity.model_role_arn:
        report(["model", "source"], "model.source is on S3: identity.modelRoleArn (the IAM role that reads it through EKS "
               "Pod Identity) is required")
    s, engine = p.serving, p.path.routing.engine_port
    taken = {s.port: "serving.port", 29500: "the multi-node rendezvous port", 6379: "the Ray port"}
    ranks = max(r.tensor * r.data for r in s.roles)  # each rank listens on base + rank
    taken.update({s.side_channel_port + i: "a NIXL side-channel port" for i in range(ranks)})
    if s.disaggregated and engine in taken:
        report(["routing", "sidecar", "enginePort"], f"{engine} is {taken[engine]} of the decode pods: vLLM behind the routing "
               "sidecar needs a port of its own")
    if s.kv_cache_aware and s.endpoint_picker_port in (9003, 9090):
        report(["serving", "routing", "endpointPickerPort"], f"{s.endpoint_picker_port} is the endpoint picker's "
               f"{'gRPC health' if s.endpoint_picker_port == 9003 else 'metrics'} port; use another one")
    if p.path.routing.request_timeout_seconds and p.path.routing.request_timeout_seconds > slo_seconds(p):
        report(["routing", "requestTimeoutSeconds"], f"{p.path.routing.request_timeout_seconds}s exceeds the end-to-end SLO "
               f"(workload.slo.e2eSeconds = {p.workload.e2e_seconds:g}s): the client gives up first")


def _check_cascade(p: Profile, report: Report) -> None:
    steps = p.path.fallback.cascade
    for s in steps:
        missing = [k for k, v in (("modelId", s.model_id), ("region", s.region), ("roleArn", s.role_arn)) if s.kind == "bedrock" and not v]
        if missing:
            report(["fallback", "cascade", s.index], f"Bedrock step {s.name!r} needs {', '.join(missing)} (a value only you "
                   "know; or set fallback.enabled: false)")
    seen: dict[tuple[str, ...], Step] = {}
    for s in steps:
        key = ("gateway",) if s.kind == "gateway" else (s.kind, s.model_id or "", s.region or "")
        if key in seen:
            report(["fallback", "cascade", s.index], f"step {s.name!r} repeats step {seen[key].name!r} "
                   f"({' '.join(k for k in key if k)}): a retry of the same target is not a fallback")
        else:
            seen[key] = s
    arns = sorted({s.role_arn for s in steps if s.kind == "bedrock" and s.role_arn})
    if len(arns) > 1:
        report(["fallback", "cascade"], f"Bedrock steps use different roleArn values ({', '.join(arns)}): the fallback gateway "
               "has one ServiceAccount and EKS Pod Identity gives it one role; use one role that may invoke every model")
    if gateway_step(p) is None:
        report(["fallback", "cascade"], "the cascade has no 'gateway' step: the in-cluster model would never be used")
    timeouts = step_timeouts(p)
    total = sum(timeouts.values())
    fixed = sum(s.timeout_seconds for s in steps if s.timeout_seconds)
    unset = [s for s in steps if not s.timeout_seconds]
    if total > slo_seconds(p) or (unset and fixed + len(unset) > slo_seconds(p)):
        parts = " + ".join(f"{n} {t}s" for n, t in timeouts.items())
        report(["fallback", "cascade"], f"fallback timeouts ({parts} = {total}s) exceed the end-to-end SLO "
               f"(workload.slo.e2eSeconds = {p.workload.e2e_seconds:g}s): the client gives up before the last step answers")


def needs_identity(p: Profile) -> bool:
    """Pods we generate that call AWS: the model loader (S3) and Bifrost (Bedrock)."""
    return p.model.scheme == "s3" or (p.path.fallback.enabled and any(s.kind == "bedrock" for s in p.path.fallback.cascade))


# --- hops --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hop:
    """One hop of the request path and the objects that implement it."""

    source: str
    target: str
    objects: str  # what implements the hop
    budget: str  # timeout budget / when it fires


def hops(p: Profile, plan: Plan) -> list[Hop]:
    s, r, f = p.serving, p.path.routing, p.path.fallback
    out: list[Hop] = []
    slo = f"client SLO {p.workload.e2e_seconds:g}s"
    timeouts = step_timeouts(p) if f.enabled else {}
    gw_target = f"Gateway {gateway_name(p)} (class {r.gateway_class}) :{r.listener_port}"
    if f.enabled:
        out.append(Hop("client", f"Bifrost {bifrost_name(p)} :{f.port}", f"Service+Deployment+ConfigMap {bifrost_name(p)}", slo))
        for n, step in enumerate(f.cascade):
            when = "first" if n == 0 else f"on error/timeout of {f.cascade[n - 1].name}"
            if step.kind == "gateway":
                out.append(Hop("Bifrost", f"{gw_target} via Service {gateway_service(p)}", "ConfigMap provider vllm",
                               f"{timeouts[step.name]}s ({when})"))
            elif step.kind == "hybrid":
                out.append(Hop("Bifrost", f"on-premises vLLM (EKS Hybrid Nodes) via Service {hybrid_service(p)} :{s.port}",
                               f"ConfigMap provider openai (base_url), Deployment/Service {hybrid_service(p)}", f"{timeouts[step.name]}s ({when})"))
            else:
                out.append(Hop("Bifrost", f"Bedrock {step.model_id} ({step.region})",
                               f"ConfigMap provider bedrock, PodIdentityAssociation {bifrost_name(p)}", f"{timeouts[step.name]}s ({when})"))
    else:
        out.append(Hop("client", gw_target, f"Gateway {gateway_name(p)}", slo))
    route = f"HTTPRoute {p.name} timeouts.request {duration(route_timeout(p))}"
    if s.kv_cache_aware:
        out.append(Hop("Gateway", f"endpoint picker {s.endpoint_picker} :{s.endpoint_picker_port} (ext-proc)",
                       f"InferencePool {p.name}.endpointPickerRef, Deployment/Service {s.endpoint_picker}", "FailOpen: any ready pod"))
    eng = "SGLang" if s.engine == "sglang" else "vLLM"
    # SGLang: the bootstrap server on prefill (8998, compiler/render/sglang.py), KV over NIXL on random ports
    kv_to = f"prefill bootstrap :8998 + NIXL ({s.nixl_backend})" if s.engine == "sglang" else f"prefill NIXL :{s.side_channel_port} ({s.nixl_backend})"
    if s.disaggregated:
        d, pf = plan.role("decode"), plan.role("prefill")
        out.append(Hop("Gateway", f"decode leader: routing sidecar :{s.port} -> {eng} :{r.engine_port}",
                       f"InferencePool {p.name} (both roles), LeaderWorkerSet {p.name}-decode", route))
        out.append(Hop("sidecar", f"prefill leader {eng} :{s.port} (x-prefiller-host-port)",
                       f"LeaderWorkerSet {p.name}-prefill, disagg-profile-handler", (f"within TTFT SLO {p.workload.ttft_seconds:g}s" if p.workload.ttft_seconds else "within the e2e budget")
                       + f" (prefill est. {pf.ttft_seconds:.2f}s)"))
        out.append(Hop(f"decode {eng}", kv_to,
                       f"NetworkPolicy {p.name}-prefill-nixl/{p.name}-decode-nixl", f"e2e {d.e2e_seconds:.2f}s est."))
    elif s.kv_cache_aware:
        out.append(Hop("Gateway", f"{eng} pod :{s.port} chosen by the picker", f"InferencePool {p.name}", route))
    else:
        out.append(Hop("Gateway", f"Service {entry_service(p)} :{s.port} (round robin)", f"Service {entry_service(p)}", route))
    return out
