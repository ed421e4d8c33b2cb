"""How ``mcompile diff`` reports: text for a terminal, JSON for tools, and Markdown that fits one
GitHub comment (summary and plan first, per-environment details collapsed, truncated with a count
of what was left out when it would pass ``COMMENT_LIMIT``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import groupby
from typing import Any

from .diff import Change, PlanChange, Report

#: GitHub refuses comments over 65,536 characters; keep room for the workflow's marker line.
COMMENT_LIMIT = 60_000
MARKER = "<!-- mcompile-diff -->"
Paint = Callable[[str, str], str]  # (text, colour) -> text


def _plain(text: str, colour: str) -> str:
    return text


def _short(v: Any, width: int = 80) -> str:
    s = "(absent)" if v is None else json.dumps(v, sort_keys=True)
    return s if len(s) <= width else s[: width - 3] + "..."


def ident(c: Change) -> str:
    _, _, kind, ns, name = c.key
    return f"{kind} {ns + '/' if ns else ''}{name}"


def counts(r: Report) -> dict[str, int]:
    n = {k: sum(1 for c in r.changes if c.kind == k) for k in ("added", "removed", "changed")}
    return {**n, "unchanged": r.unchanged}


def summary(r: Report) -> str:
    n = counts(r)
    return f"Summary: {n['added']} added, {n['removed']} removed, {n['changed']} changed ({n['unchanged']} unchanged)"


def _money(v: float) -> str:
    return f"${v:,.2f}"


def _replicas(p: dict[str, Any] | None) -> str:
    if not p:
        return "-"
    return ", ".join(f"{role} {r['min']}..{r['max']}" for role, r in sorted(p.get("replicas", {}).items()))


def _arrow(before: str, after: str) -> str:
    return after if before == after else f"{before} → {after}"


def plan_line(pc: PlanChange) -> tuple[str, str, str]:
    """(GPUs, replicas, $/month) of one environment, before -> after."""
    b, a = pc.before or {}, pc.after or {}

    def gpus(p: dict[str, Any]) -> str:
        return f"{p['gpus']} (max {p['gpusMax']})" if p else "-"

    return (_arrow(gpus(b), gpus(a)), _arrow(_replicas(pc.before), _replicas(pc.after)),
            _arrow(_money(b["costPerMonth"]) if b else "-", _money(a["costPerMonth"]) if a else "-"))


def _totals_line(r: Report) -> str:
    b, a = r.totals
    delta = a["costPerMonth"] - b["costPerMonth"]
    sign = "+" if delta >= 0 else "-"
    return (f"GPUs {_arrow(str(int(b['gpus'])), str(int(a['gpus'])))} (max {_arrow(str(int(b['gpusMax'])), str(int(a['gpusMax'])))}), "
            f"{_arrow(_money(b['costPerMonth']), _money(a['costPerMonth']))}/month ({sign}{_money(abs(delta))})")


def report_text(r: Report, paint: Paint = _plain) -> str:
    lines = [paint(f"warning: {w}", "yellow") for w in r.warnings]
    for scope, group in groupby(r.changes, key=lambda c: c.key[0]):
        lines.append(f"{scope}:")
        for c in group:
            mark, colour = {"added": ("+", "green"), "removed": ("-", "red"), "changed": ("~", "yellow")}[c.kind]
            lines.append(paint(f"  {mark} {ident(c)}", colour))
            lines += [f"      {p}: {_short(x)} -> {_short(y)}" for p, x, y in c.fields]
    if r.plans:
        lines.append("Plan (GPUs at min replicas, replicas min..max, cost per month at the target load):")
        for pc in r.plans:
            g, rep, cost = plan_line(pc)
            lines.append(f"  {pc.scope}: GPUs {g}; replicas {rep}; {cost}/month".replace("→", "->"))
        lines.append(f"  total: {_totals_line(r)}".replace("→", "->"))
    lines.append(summary(r))
    return "\n".join(lines) + "\n"


def report_json(r: Report) -> str:
    doc = {
        "base": r.base,
        "changed": r.changed,
        "warnings": r.warnings,
        "summary": counts(r),
        "plan": {"total": {"before": r.totals[0], "after": r.totals[1]},
                 "environments": [{"scope": p.scope, "before": p.before, "after": p.after} for p in r.plans]},
        "changes": [{"scope": c.key[0], "apiVersion": c.key[1], "kind": c.key[2], "namespace": c.key[3], "name": c.key[4], "change": c.kind,
                     "fields": [{"path": p, "before": x, "after": y} for p, x, y in c.fields]} for c in r.changes],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(scope: str, changes: list[Change]) -> str:
    n = {k: sum(1 for c in changes if c.kind == k) for k in ("added", "removed", "changed")}
    rows = ["| change | object | fields |", "|---|---|---|"]
    for c in changes:
        fields = "<br>".join(_cell(f"`{p}`: `{_short(x, 60)}` → `{_short(y, 60)}`") for p, x, y in c.fields[:10])
        if len(c.fields) > 10:
            fields += f"<br>… {len(c.fields) - 10} more"
        rows.append(f"| {c.kind} | {_cell(ident(c))} | {fields} |")
    head = f"<b>{scope}</b>: {n['added']} added, {n['removed']} removed, {n['changed']} changed"
    return f"<details><summary>{head}</summary>\n\n" + "\n".join(rows) + "\n\n</details>\n"


def report_markdown(r: Report, limit: int = COMMENT_LIMIT) -> str:
    """One GitHub comment: headline, plan table, then one collapsed section per scope, cut at
    ``limit`` characters with a count of the sections left out."""
    head = [MARKER, "### mcompile diff", ""]
    head += [f"> **Warning:** {w}" for w in r.warnings] + ([""] if r.warnings else [])
    if not r.changed:
        return "\n".join(head) + f"No changes to deployed objects ({r.unchanged} unchanged).\n"
    n = counts(r)
    head.append(f"**{n['added']} added, {n['removed']} removed, {n['changed']} changed** ({n['unchanged']} unchanged) · {_totals_line(r)}")
    head.append("")
    if r.plans:
        head += ["| environment | GPUs (max) | replicas | cost / month |", "|---|---|---|---|"]
        plan_rows = [f"| {pc.scope} | " + " | ".join(_cell(x) for x in plan_line(pc)) + " |" for pc in r.plans]
        budget = limit // 4
        shown: list[str] = []
        for row in plan_rows:
            if sum(len(x) + 1 for x in shown) + len(row) > budget:
                break
            shown.append(row)
        head += shown
        if len(shown) < len(plan_rows):
            head.append(f"| … {len(plan_rows) - len(shown)} more environments | | | |")
        head.append("")
    text = "\n".join(head) + "\n"
    groups = [(scope, list(g)) for scope, g in groupby(r.changes, key=lambda c: c.key[0])]
    tail_room = 200
    for i, (scope, changes) in enumerate(groups):
        section = _section(scope, changes)
        if len(text) + len(section) > limit - tail_room:
            left = groups[i:]
            objects = sum(len(g) for _, g in left)
            text += (f"\n_… {len(left)} more scope(s) with {objects} changed object(s) not shown (comment limit); "
                     "run `mcompile diff` locally or read the workflow's JSON artifact for the full report._\n")
            break
        text += section
    return text
