"""The plan's Capacity Block and on-premises (EKS Hybrid Nodes) sections, as titled tables that
``mcompile plan`` prints in every format (compiler/cli/plan.py) and plan.json summarises."""

from __future__ import annotations

from typing import Any

from .model import Plan

Table = tuple[str, list[str], list[list[str]]]


def tables(plan: Plan) -> list[Table]:
    out: list[Table] = []
    if plan.capacity_blocks:
        out.append(("Capacity Blocks (prepaid for the whole window)",
                    ["pool", "reservation", "instances", "window (UTC)", "drained from", "$/GPU-h", "$/h", "$ total"],
                    [[b.pool, b.id, f"{b.instance_count} x {b.instance_type} ({b.gpus_per_instance} GPUs)", f"{b.start} .. {b.end} ({b.hours:g} h)",
                      b.drain_from, f"{b.price_per_gpu_hour:,.2f}", f"{b.cost_per_hour:,.2f}", f"{b.total_cost:,.2f}"] for b in plan.capacity_blocks]))
    h = plan.hybrid
    if h is not None:
        out.append(("On-premises (EKS Hybrid Nodes; first in the cascade, not priced)",
                    ["servers", "GPUs", "replicas", "weights / GPU", "KV budget / GPU", "KV tokens / replica", "max-num-seqs"],
                    [[str(h.nodes), f"{h.gpus_per_node} x {h.gpu} {h.gpu_memory_gb:g} GB", f"{h.replicas} ({h.pods_per_node}/server, {h.gpus_per_pod} GPUs each)",
                      f"{h.weights_per_gpu_gb:.1f} GB", f"{h.kv_budget_gb:.1f} GB", f"{h.kv_tokens:,}", str(h.max_num_seqs)]]))
    return out


def markdown(plan: Plan) -> str:
    parts = []
    for title, head, rows in tables(plan):
        lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        parts.append("\n".join(lines))
    return "".join(f"\n{p}\n" for p in parts)


def summary(plan: Plan) -> dict[str, Any]:
    """plan.json keys, only when the profile uses the capability (other profiles' files are unchanged)."""
    out: dict[str, Any] = {}
    if plan.capacity_blocks:
        out["capacityBlocks"] = [{"pool": b.pool, "id": b.id, "instanceType": b.instance_type, "instances": b.instance_count,
                                  "start": b.start, "end": b.end, "costPerHour": round(b.cost_per_hour, 2), "totalCost": round(b.total_cost, 2)}
                                 for b in plan.capacity_blocks]
    if plan.hybrid is not None:
        out["onPremises"] = {"servers": plan.hybrid.nodes, "gpus": plan.hybrid.nodes * plan.hybrid.gpus_per_node,
                             "replicas": plan.hybrid.replicas}
    return out
