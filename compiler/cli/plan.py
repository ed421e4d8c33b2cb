"""``mcompile plan PROFILE --env E`` — the capacity plan as a table, JSON or Markdown."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from .options import Env, Override
from .options import Profile as ProfileArg
from .params import request
from .root import app, handle_errors

if TYPE_CHECKING:
    from ..plan.model import Plan
    from ..profile import Profile

ROWS = [
    ("GPUs per replica", lambda r: f"{r.gpus_per_replica} ({r.gpus_per_pod}/pod x {r.pods_per_replica} pod{'s' if r.pods_per_replica > 1 else ''})"),
    ("TP x PP x DP", lambda r: f"{r.tensor} x {r.pipeline} x {r.data}" + (" + EP" if r.expert else "")),
    ("topology", lambda r: r.topology),
    ("sized on", lambda r: f"{r.sizing_type} ({r.gpu_memory_gb:g} GB/GPU)"),
    ("weights / GPU", lambda r: f"{r.weights_per_gpu_gb:.1f} GB"),
    ("KV budget / GPU", lambda r: f"{r.kv_budget_gb:.1f} GB (overhead {r.overhead_gb:g} GB)"),
    ("KV tokens / replica", lambda r: f"{r.kv_tokens:,}"),
    ("max-num-seqs", lambda r: str(r.max_num_seqs)),
    ("concurrency cap", lambda r: f"{r.concurrency} ({'measured' if r.measured else 'estimated'}; e2e {r.e2e_seconds:g} s, ttft {r.ttft_seconds:g} s)"),
    ("RPS / replica", lambda r: f"{r.rps_per_replica:g}"),
    ("replicas (needed / min / max)", lambda r: f"{r.replicas} / {r.min_replicas} / {r.max_replicas}"),
    ("KEDA target", lambda r: str(r.keda_target)),
    ("startup budget", lambda r: f"{r.startup_budget_seconds} s"),
    ("termination grace", lambda r: f"{r.termination_grace_seconds} s"),
]


def as_json(profile: Profile, plan: Plan) -> str:
    from ..plan.path import hops

    doc = dataclasses.asdict(plan)
    doc["warnings"] = [str(w) for w in plan.warnings]
    doc = {"profile": profile.name, "environment": profile.env, **doc,
           "requestPath": [dataclasses.asdict(h) for h in hops(profile, plan)]}
    return json.dumps(doc, indent=2, sort_keys=True)


def as_markdown(profile: Profile, plan: Plan) -> str:
    from ..plan import extras
    from ..plan.path import hops

    head = "| | " + " | ".join(r.role for r in plan.roles) + " |\n|---|" + "---|" * len(plan.roles)
    rows = [f"| {label} | " + " | ".join(fn(r) for r in plan.roles) + " |" for label, fn in ROWS]
    pools = ["| pool | GPU limit | CPU limit | memory limit | nodes at target | $/h at target | $/h at max |", "|---|---|---|---|---|---|---|"]
    pools += [f"| {p.name} | {p.limit_gpus} | {p.limit_cpu} | {p.limit_memory_gi}Gi | {p.nodes_at_target} | {p.cost_per_hour:,.2f} | {p.cost_per_hour_max:,.2f} |" for p in plan.pools]
    total = (f"**Total:** ${plan.cost_per_hour:,.2f}/h, ${plan.cost_per_month:,.2f}/month (30 days), "
             f"${plan.cost_per_million_output_tokens:,.2f} per 1M output tokens at {profile.workload.target_rps:g} RPS; "
             f"planned capacity {plan.capacity_rps:g} RPS.")
    if plan.sharing:  # serving.gpuSharing: what one replica runs on
        total = f"**GPU sharing:** {plan.sharing.describe()}\n\n" + total
    warn = "\n".join(f"- {w}" for w in plan.warnings)
    path = ["| # | from | to | budget / when | objects |", "|---|---|---|---|---|"]
    path += [f"| {n} | {h.source} | {h.target} | {h.budget} | {h.objects} |" for n, h in enumerate(hops(profile, plan), start=1)]
    total += "\n\n### Request path\n\n" + "\n".join(path)
    total += extras.markdown(plan)  # Capacity Blocks, on-premises replicas (only when used)
    return f"## Capacity plan: {profile.name} ({profile.env})\n\n{head}\n" + "\n".join(rows) + "\n\n" + "\n".join(pools) + f"\n\n{total}\n" + (f"\n**Warnings**\n\n{warn}\n" if warn else "")


def as_table(profile: Profile, plan: Plan) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..plan import extras
    from ..plan.path import hops

    console = Console(width=140, highlight=False)
    t = Table(title=f"Capacity plan: {profile.name} ({profile.env}) — {profile.model.id}, {profile.workload.target_rps:g} RPS, e2e SLO {profile.workload.e2e_seconds:g} s")
    t.add_column("")
    for r in plan.roles:
        t.add_column(r.role)
    for label, fn in ROWS:
        t.add_row(label, *(fn(r) for r in plan.roles))
    console.print(t)
    if plan.sharing:  # serving.gpuSharing: what one replica runs on
        console.print(f"GPU sharing: {plan.sharing.describe()}")
    p = Table(title="Node pools")
    for col in ("pool", "GPU limit", "CPU limit", "memory limit", "nodes at target", "$/h at target", "$/h at max"):
        p.add_column(col)
    for x in plan.pools:
        p.add_row(x.name, str(x.limit_gpus), str(x.limit_cpu), f"{x.limit_memory_gi}Gi", str(x.nodes_at_target), f"{x.cost_per_hour:,.2f}", f"{x.cost_per_hour_max:,.2f}")
    console.print(p)
    for title, head, rows in extras.tables(plan):  # Capacity Blocks, on-premises replicas (only when used)
        extra = Table(title=title)
        for col in head:
            extra.add_column(col)
        for row in rows:
            extra.add_row(*row)
        console.print(extra)
    h = Table(title="Request path (one line per hop)")
    for col in ("#", "from", "to", "budget / when", "objects"):
        h.add_column(col)
    for n, hop in enumerate(hops(profile, plan), start=1):
        h.add_row(str(n), hop.source, hop.target, hop.budget, hop.objects)
    console.print(h)
    console.print(f"Total: ${plan.cost_per_hour:,.2f}/h, ${plan.cost_per_month:,.2f}/month (30 days), ${plan.cost_per_million_output_tokens:,.2f} per 1M output tokens; planned capacity {plan.capacity_rps:g} RPS")
    for w in plan.warnings:
        console.print(str(w), style="yellow")


@app.command()
@handle_errors
def plan(
    profile: Path = ProfileArg,
    env: Optional[str] = Env,
    override: Optional[List[Path]] = Override,
    set_: Optional[List[str]] = typer.Option(None, "--set", help="path=value override (repeatable)."),
    format: str = typer.Option("table", "--format", help="table, json or markdown."),
) -> None:
    """Capacity plan per role: GPUs, TP/PP, weights and KV per GPU, max seqs, concurrency, replicas, nodes, cost, warnings."""
    if format not in ("table", "json", "markdown"):
        raise typer.BadParameter("must be table, json or markdown", param_hint="--format")
    from ..pipeline import compile_env

    c = compile_env(request(profile, env, override, set_))
    if format == "json":
        typer.echo(as_json(c.profile, c.plan))
    elif format == "markdown":
        typer.echo(as_markdown(c.profile, c.plan), nl=False)
    else:
        as_table(c.profile, c.plan)
