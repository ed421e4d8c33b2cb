"""Multi-node and disaggregated roles as LeaderWorkerSets (``leaderworkerset.x-k8s.io/v1``),
their leader Services and group-aware PodDisruptionBudgets.

One LWS per role, named ``<name>-<role>``; each group is ``size = pods_per_replica`` pods (one
leader, the rest workers) running one vLLM replica with TP x PP = GPUs per pod x size.

Services. LWS itself creates a headless Service named after the LWS (pod DNS for
``LWS_LEADER_ADDRESS``; it skips creation if one exists), so ours must not be called
``<name>-<role>``: per role ``<name>-<role>-leader`` selects that role's leaders (the only pods
that serve HTTP), and ``<name>`` is the entry point clients and the gateway use: the decode
leaders when disaggregated, else the only role. The prefill leaders are reached through
``<name>-prefill-leader`` by whatever orchestrates prefill/decode (a P/D-aware endpoint picker
or proxy in the gateway stack; not rendered here). A request sent straight to a decode leader
without P/D metadata is prefilled locally: slower, never wrong.
"""

from __future__ import annotations

from typing import Any

from ..plan.model import RolePlan
from . import meta, sglang
from .meta import Context
from .serving import disruption_budget
from .vllm import (
    DP_RPC_PORT,
    LEADER,
    MASTER_PORT,
    SINGLE,
    WORKER,
    engine_args,
    entry_role,
    extra_args,
    http_selector,
    is_lws_role,
    pod_template,
    workload_annotations,
)

API_VERSION = "leaderworkerset.x-k8s.io/v1"
#: Set by the LWS controller on every pod of a group (../shared/upstream/lws/labels-...md).
LWS_GROUP_INDEX = "leaderworkerset.sigs.k8s.io/group-index"

#: The Ray helper moved from examples/online_serving to examples/ray_serving in newer images; the
#: script is bash (arrays), and vLLM's own arguments arrive as "$@" so no profile string is ever
#: part of shell text. ``$(LWS_…)`` is expanded by the kubelet from the env LWS injects.
_FIND_RAY_HELPER = (
    'S=/vllm-workspace/examples/ray_serving/multi-node-serving.sh; '
    '[ -f "$S" ] || S=/vllm-workspace/examples/online_serving/multi-node-serving.sh; '
)
RAY_LEADER_SCRIPT = _FIND_RAY_HELPER + 'bash "$S" leader --ray_cluster_size=$(LWS_GROUP_SIZE) && exec vllm serve "$@"'
RAY_WORKER_SCRIPT = _FIND_RAY_HELPER + 'exec bash "$S" worker --ray_address=$(LWS_LEADER_ADDRESS)'


def render(ctx: Context) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rp in ctx.plan.roles:
        if not is_lws_role(ctx, rp):
            continue
        out.append(leader_worker_set(ctx, rp))
        if ctx.profile.serving.disaggregated:
            out.append(leader_service(ctx, rp, meta.object_name(ctx, rp.role, "leader")))
        out += pod_disruption_budgets(ctx, rp)
    entry = entry_role(ctx)
    if is_lws_role(ctx, entry):
        out.append(leader_service(ctx, entry, meta.object_name(ctx)))
    return out


def lws_name(ctx: Context, rp: RolePlan) -> str:
    return meta.object_name(ctx, rp.role)


def leader_worker_set(ctx: Context, rp: RolePlan) -> dict[str, Any]:
    s = ctx.profile.serving
    spec: dict[str, Any] = {}
    if not ctx.profile.autoscaling.enabled:
        spec["replicas"] = rp.min_replicas  # else KEDA scales groups through the scale subresource
    # LeaderCreated starts workers together with the leader. With mp and Ray alike the leader only
    # becomes ready once its workers joined, so LeaderReady would deadlock a multi-node group.
    spec["startupPolicy"] = s.startup_policy
    # One group at a time, no surge: a surge group is a whole set of 8-GPU nodes.
    spec["rolloutStrategy"] = {"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxUnavailable": 1, "maxSurge": 0}}
    template: dict[str, Any] = {"size": rp.pods_per_replica, "restartPolicy": "RecreateGroupOnPodRestart"}
    if rp.multi_node:
        template["leaderTemplate"] = pod_template(ctx, rp, LEADER, *leader_command(ctx, rp))
        template["workerTemplate"] = pod_template(ctx, rp, WORKER, *worker_command(ctx, rp))
    else:  # size 1: the leader is the whole replica and is built from workerTemplate
        template["workerTemplate"] = pod_template(ctx, rp, SINGLE)
    spec["leaderWorkerTemplate"] = template
    metadata = meta.metadata(ctx, lws_name(ctx, rp), rp.role, annotations=workload_annotations(ctx, rp))
    return {"apiVersion": API_VERSION, "kind": "LeaderWorkerSet", "metadata": metadata, "spec": spec}


def _mp_args(rp: RolePlan, node_rank: str) -> list[str]:
    """vLLM's native multi-node mode: every node runs ``vllm serve`` with the same engine args.

    With data parallel > 1, vLLM 0.28.0 derives each node's DP ranks from ``--nnodes`` and
    ``--node-rank`` (local size = world size / nodes / (TP x PP), start rank = node rank x local
    size: vllm/engine/arg_utils.py), so no per-node arithmetic is needed in a shell; the DP
    coordinator listens on the leader (``--data-parallel-address`` / ``--data-parallel-rpc-port``,
    as in the data-parallel deployment guide)."""
    out = ["--distributed-executor-backend", "mp", "--nnodes", "$(LWS_GROUP_SIZE)", "--node-rank", node_rank,
           "--master-addr", "$(LWS_LEADER_ADDRESS)", "--master-port", str(MASTER_PORT)]
    if rp.data > 1:
        out += ["--data-parallel-address", "$(LWS_LEADER_ADDRESS)", "--data-parallel-rpc-port", str(DP_RPC_PORT)]
    return out


def leader_command(ctx: Context, rp: RolePlan) -> tuple[list[str], list[str]]:
    if sglang.is_sglang(ctx):
        return sglang.command(ctx, rp, LEADER)
    if ctx.profile.serving.multinode_backend == "ray":
        args = engine_args(ctx, rp) + ["--distributed-executor-backend", "ray"] + extra_args(ctx)
        return ["/bin/bash", "-c", RAY_LEADER_SCRIPT, "vllm-leader"], args
    return ["vllm", "serve"], engine_args(ctx, rp) + _mp_args(rp, "0") + extra_args(ctx)


def worker_command(ctx: Context, rp: RolePlan) -> tuple[list[str], list[str]]:
    """Workers run no API server (``--headless``); with Ray they only join the head's cluster."""
    if sglang.is_sglang(ctx):
        return sglang.command(ctx, rp, WORKER)
    if ctx.profile.serving.multinode_backend == "ray":
        return ["/bin/bash", "-c", RAY_WORKER_SCRIPT], []
    return ["vllm", "serve"], engine_args(ctx, rp) + _mp_args(rp, "$(LWS_WORKER_INDEX)") + ["--headless"] + extra_args(ctx)


def leader_service(ctx: Context, rp: RolePlan, name: str) -> dict[str, Any]:
    """ClusterIP Service over a role's leaders (``worker-index: "0"``), port ``http``."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(ctx, name, rp.role),
        "spec": {
            "type": "ClusterIP",
            "selector": http_selector(ctx, rp),
            "ports": [{"name": "http", "port": ctx.profile.serving.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def pod_disruption_budgets(ctx: Context, rp: RolePlan) -> list[dict[str, Any]]:
    """Group-aware disruption. LWS labels every pod with ``leaderworkerset.sigs.k8s.io/group-index``
    and, when it scales down, removes the highest indices first, so groups ``0..min-1`` are the
    role's floor. Each pod matches exactly one PDB (the eviction API refuses pods under two):

    * ``<name>-<role>-floor`` (groups below ``minReplicas``): ``maxUnavailable: 0``. No eviction
      ever takes a floor group down, so a drain never leaves the role below its minimum serving
      groups; the drain of such a node waits (an operator or the NodePool's
      ``terminationGracePeriod`` ends it).
    * ``<name>-<role>`` (every other group): ``maxUnavailable: 1``. Evicting one pod restarts its
      whole group (RecreateGroupOnPodRestart); the group's pods turn unready and use up the budget,
      so no second group is evicted until the first serves again.

    With ``karpenter.sh/do-not-disrupt`` on every pod Karpenter never disrupts these nodes
    voluntarily (consolidation, drift), and multi-node NodePools disrupt one node at a time
    (:func:`compiler.render.nodepools.budgets`). ``tests/render/test_disruption.py`` replays node
    drains against these objects.
    """
    floor = [str(i) for i in range(rp.min_replicas)]
    out = []
    if floor:
        out.append(disruption_budget(ctx, meta.object_name(ctx, rp.role, "floor"), rp.role, 0,
                                     [{"key": LWS_GROUP_INDEX, "operator": "In", "values": floor}]))
        out.append(disruption_budget(ctx, lws_name(ctx, rp), rp.role, 1,
                                     [{"key": LWS_GROUP_INDEX, "operator": "NotIn", "values": floor}]))
    else:
        out.append(disruption_budget(ctx, lws_name(ctx, rp), rp.role, 1))
    return out
