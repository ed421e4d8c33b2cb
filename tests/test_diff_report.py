"""The diff report: a Markdown comment that fits GitHub's 65,536-character limit (summary first,
details collapsed, cut with a count), and a 50-profile diff that shows progress on a terminal and
stays quiet in a pipe."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from compiler.diff import Change, PlanChange, Report
from compiler.diff_report import COMMENT_LIMIT, report_markdown

REPO = Path(__file__).resolve().parents[1]
GITHUB_LIMIT = 65_536


def _report(n_scopes: int, per_scope: int) -> Report:
    changes = [Change((f"p{i:03d}/prod", "apps/v1", "Deployment", "ns", f"obj{j}"), "changed", [(f"spec.f{k}", "a" * 50, "b" * 50) for k in range(12)])
               for i in range(n_scopes) for j in range(per_scope)]
    plans = [PlanChange(f"p{i:03d}/prod", {"gpus": 4, "gpusMax": 8, "replicas": {"serve": {"min": 1, "max": 2}}, "costPerMonth": 100.0},
                        {"gpus": 8, "gpusMax": 16, "replicas": {"serve": {"min": 2, "max": 4}}, "costPerMonth": 200.0}) for i in range(n_scopes)]
    totals = ({"gpus": 4.0 * n_scopes, "gpusMax": 8.0 * n_scopes, "costPerMonth": 100.0 * n_scopes},
              {"gpus": 8.0 * n_scopes, "gpusMax": 16.0 * n_scopes, "costPerMonth": 200.0 * n_scopes})
    return Report("origin/main", changes, 7, plans, totals)


def test_markdown_is_cut_with_a_count_and_summary_comes_first() -> None:
    md = report_markdown(_report(300, 8))
    assert len(md) <= COMMENT_LIMIT < GITHUB_LIMIT
    lines = md.splitlines()
    assert lines[:3] == ["<!-- mcompile-diff -->", "### mcompile diff", ""]
    assert lines[3].startswith("**0 added, 0 removed, 2400 changed** (7 unchanged) · GPUs 1200 → 2400")
    assert "+$30,000.00" in lines[3]
    shown = md.count("<details>")
    assert 0 < shown < 300 and md.count("<details>") == md.count("</details>")
    assert f"_… {300 - shown} more scope(s) with {(300 - shown) * 8} changed object(s) not shown (comment limit)" in md
    assert "| … " in md and "more environments |" in md  # the plan table is cut too


def test_small_report_is_complete() -> None:
    md = report_markdown(_report(2, 1))
    assert md.count("<details>") == 2 and "not shown" not in md and "more environments" not in md


def test_fifty_profile_diff_progress_on_a_tty_and_one_comment(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO))
    from bench.fleet import write_fleet

    write_fleet(tmp_path / "profiles", 50)
    env = {**os.environ, "PATH": f"{REPO / '.tools' / 'bin'}{os.pathsep}{os.environ['PATH']}", "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    mc = [sys.executable, "-m", "compiler"]
    subprocess.run([*mc, "build", "-j", "2", *sorted(str(p) for p in (tmp_path / "profiles").glob("*.yaml"))], cwd=tmp_path, env=env, check=True, capture_output=True)
    shutil.copytree(tmp_path / "out", tmp_path / "old")
    subprocess.run([*mc, "build", "-j", "2", "--set", "serving.image.tag=v0.29.0", "--set", "serving.image.capabilities=[s3-streaming, libfabric]", "--set", "autoscaling.cooldownPeriod=600",
                    *sorted(str(p) for p in (tmp_path / "profiles").glob("*.yaml"))], cwd=tmp_path, env=env, check=True, capture_output=True)

    leader, follower = pty.openpty()
    with open(tmp_path / "comment.md", "wb") as stdout:
        proc = subprocess.Popen([*mc, "diff", "--base", "old", "--format", "markdown"], cwd=tmp_path, env=env, stdout=stdout, stderr=follower)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 1
    terminal = seen.decode(errors="replace")
    total = len(list((tmp_path / "old").glob("*/kustomize/overlays/*"))) + len(list((tmp_path / "out").glob("*/kustomize/overlays/*")))
    assert "diff: rendering overlays" in terminal, terminal[-2000:]
    counts = {int(m) for m in re.findall(rf"(\d+)/{total}", terminal)}
    assert total in counts and len(counts) > 2, terminal[-2000:]  # a bar that moved, then finished
    comment = (tmp_path / "comment.md").read_text()
    assert len(comment) < GITHUB_LIMIT
    assert comment.startswith("<!-- mcompile-diff -->\n### mcompile diff\n\n**0 added, 0 removed, ")
    assert "changed object(s) not shown (comment limit)" in comment or comment.count("<details>") == 100

    quiet = subprocess.run([*mc, "diff", "--base", "old", "--format", "json"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert quiet.returncode == 1 and quiet.stderr == ""  # stderr is a pipe: no progress
