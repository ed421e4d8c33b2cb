"""Terminal manners: colour only on a terminal and never with NO_COLOR; progress bars on
multi-profile build/check only when stderr is a terminal, silence in pipes and CI logs."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

from .shipped import only_tiers

REPO = Path(__file__).resolve().parents[1]
ESC = "\x1b["


def _on_pty(args: list[str], cwd: Path, env: dict[str, str], stdout_tty: bool = True) -> tuple[int, str, str]:
    """Run mcompile with stderr (and stdout, if asked) on a pseudo-terminal; (code, tty text, piped stdout)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "compiler", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=follower if stdout_tty else subprocess.PIPE, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    piped = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(timeout=300), seen.decode(errors="replace"), piped


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "PATH": f"{REPO / '.tools' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("NO_COLOR", None)
    return {**env, **extra}


def test_build_progress_only_on_a_terminal(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles", ignore=only_tiers)
    args = ["build", "-j", "1", "profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml"]
    code, tty, _ = _on_pty(args, tmp_path, _env(), stdout_tty=False)
    assert code == 0 and "build: compiling profiles" in tty and "3/3" in tty, tty
    p = subprocess.run([sys.executable, "-m", "compiler", *args], cwd=tmp_path, env=_env(), capture_output=True, text=True, check=False)
    assert p.returncode == 0 and "compiling profiles" not in p.stderr and ESC not in p.stderr
    code, tty, _ = _on_pty(["check"], tmp_path, _env(), stdout_tty=False)
    assert code == 0 and "check: compiling profiles" in tty


def test_colour_on_a_terminal_unless_no_color(tmp_path: Path) -> None:
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    assert subprocess.run([sys.executable, "-m", "compiler", "build", "profiles/tier2.yaml"], cwd=tmp_path, env=_env(), capture_output=True, check=False).returncode == 0
    shutil.copytree(tmp_path / "out", tmp_path / "old")
    p = tmp_path / "profiles" / "tier2.yaml"
    p.write_text(p.read_text().replace("    autoscaling: {minReplicas: 2}", "    autoscaling: {minReplicas: 3}"))
    assert subprocess.run([sys.executable, "-m", "compiler", "build", "profiles/tier2.yaml"], cwd=tmp_path, env=_env(), capture_output=True, check=False).returncode == 0
    code, tty, _ = _on_pty(["diff", "--base", "old"], tmp_path, _env())
    assert code == 1 and f"{ESC}33m  ~ ScaledObject inference-llama/llama-70b{ESC}0m" in tty
    code, tty, _ = _on_pty(["diff", "--base", "old"], tmp_path, _env(NO_COLOR="1"))
    assert code == 1 and "  ~ ScaledObject inference-llama/llama-70b" in tty and f"{ESC}33m" not in tty
    code, tty, piped = _on_pty(["diff", "--base", "old"], tmp_path, _env(), stdout_tty=False)  # stdout piped
    assert code == 1 and "  ~ ScaledObject inference-llama/llama-70b\n" in piped and ESC not in piped
    code, tty, _ = _on_pty(["validate", "profiles/tier2.yaml", "--set", "autoscaling.minReplicas=-1"], tmp_path, _env())
    assert code == 2 and f"{ESC}31m--set:1:" in tty
    code, tty, _ = _on_pty(["validate", "profiles/tier2.yaml", "--set", "autoscaling.minReplicas=-1"], tmp_path, _env(NO_COLOR="1"))
    assert code == 2 and ESC + "31m" not in tty
