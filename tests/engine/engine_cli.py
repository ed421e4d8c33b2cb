"""What the real-parser tests share (test_real_parser.py for vLLM, test_sglang_parser.py for
SGLang): the engine command lines of every serving pod, expanded as the kubelet expands them, and
a run of the parser helper in the pinned engine's own venv."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(arg: str, env: dict[str, str]) -> str:
    """The kubelet's expansion: ``$(VAR)`` from the container env (LWS injects its own), ``$$`` -> ``$``."""
    return _VAR.sub(lambda m: env[m.group(1)], arg).replace("$$", "$")


def command_argvs(objects: tuple[dict[str, Any], ...], command: list[str]) -> list[tuple[str, list[str]]]:
    """(where, expanded args) of every container whose command is ``command``, in every pod
    template: Deployment pods, LeaderWorkerSet leaders and workers (with the env LWS injects)."""
    out = []
    for obj in objects:
        spec = obj.get("spec") or {}
        name = f"{obj.get('kind')}/{obj['metadata']['name']}"
        if obj.get("kind") == "Deployment":
            templates = [("pod", spec["template"], 1)]
        elif obj.get("kind") == "LeaderWorkerSet":
            lwt = spec["leaderWorkerTemplate"]
            size = int(lwt.get("size", 1))
            templates = [("leader", lwt.get("leaderTemplate") or lwt["workerTemplate"], size)]
            if lwt.get("leaderTemplate"):
                templates.append(("worker", lwt["workerTemplate"], size))
        else:
            continue
        for position, tmpl, size in templates:
            for c in tmpl["spec"]["containers"]:
                if c.get("command") != command:
                    continue
                env = {"LWS_GROUP_SIZE": str(size), "LWS_LEADER_ADDRESS": f"{obj['metadata']['name']}-0.{obj['metadata']['name']}",
                       "LWS_WORKER_INDEX": "1" if position == "worker" else "0"}
                env.update({e["name"]: e["value"] for e in c.get("env") or () if "value" in e})
                out.append((f"{name} {position}", [expand(a, env) for a in c.get("args") or ()]))
    return out


def run_helper(python: Path, helper: Path, installer: str, cases: list[dict[str, Any]], flags: bool = False) -> dict[str, Any]:
    """``helper`` run by the engine venv's ``python`` on ``cases`` (and the flag lists); a missing
    venv fails (``installer`` makes it), never skips."""
    if not python.exists():
        pytest.fail(f"{python} missing: run {installer} (scripts/test does)")
    proc = subprocess.run([str(python), str(helper)], input=json.dumps({"cases": cases, "flags": flags}), capture_output=True, text=True,
                          check=False, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("MCOMPILE-RESULT ")][-1]
    return json.loads(line.removeprefix("MCOMPILE-RESULT "))
