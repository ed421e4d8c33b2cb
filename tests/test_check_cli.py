"""``mcompile check``: names the exact command for what is stale, and speaks JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .clirun import mcompile
from .shipped import only_tiers

REPO = Path(__file__).resolve().parents[1]


def test_check_names_only_the_stale_profile(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles", ignore=only_tiers)
    assert mcompile("build", "profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml", "--out", "site", cwd=tmp_path).code == 0
    assert mcompile("check", "--out", "site", cwd=tmp_path).code == 0
    p = tmp_path / "profiles" / "tier2.yaml"
    p.write_text(p.read_text().replace("    autoscaling: {minReplicas: 2}", "    autoscaling: {minReplicas: 3}"))
    r = mcompile("check", "--out", "site", cwd=tmp_path)
    assert r.code == 1
    # only llama-70b is stale, but the fleet is built as a whole (the platform comes from every
    # profile, a profile left off is pruned): the fix builds every profile checked
    fleet = "profiles/tier1.yaml profiles/tier2.yaml profiles/tier3.yaml"
    assert r.stderr == f"out/ is stale for llama-70b: run mcompile build {fleet} --out site\n"
    r = mcompile("check", "--out", "site", "--format", "json", cwd=tmp_path)
    doc = json.loads(r.stdout)
    assert r.code == 1 and doc["stale"] is True and doc["command"] == f"mcompile build {fleet} --out site"
    by = {p["scope"]: p for p in doc["profiles"]}
    assert by["qwen3-32b"]["ok"] and by["glm-5"]["ok"] and not by["llama-70b"]["ok"]
    assert "llama-70b/chart/values.yaml" in by["llama-70b"]["changed"]
    assert mcompile(*doc["command"].split()[1:], cwd=tmp_path).code == 0
    r = mcompile("check", "--out", "site", "--format", "json", cwd=tmp_path)
    assert r.code == 0 and json.loads(r.stdout)["stale"] is False


def test_check_json_reports_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "profiles" / "tier1.yaml").read_text().replace("\nmodel:", "\nmodle:", 1))
    r = mcompile("check", str(bad), "--out", str(tmp_path / "out"), "--format", "json")
    doc = json.loads(r.stdout)
    assert r.code == 2 and doc["ok"] is False
    assert any(e["message"] == "unknown key 'modle' (did you mean 'model'?)" for e in doc["errors"])
