"""Shell completion: the script for each shell, and what it completes (commands, options,
profile paths, environment names), asked the way the shells ask."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .shipped import shipped_profiles

REPO = Path(__file__).resolve().parents[1]


def _complete(shell: str, words: str, cwd: Path = REPO) -> list[str]:
    env = {**os.environ, "_MCOMPILE_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        parts = words.split(" ")
        env |= {"COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    else:
        env |= {"_TYPER_COMPLETE_ARGS": words, "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    p = subprocess.run([sys.executable, "-c", "from compiler.cli import main; main()"], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
    if shell == "zsh":  # _arguments '*: :(("value":"help" ...))'
        body = p.stdout.replace("_arguments '*: :((", "").replace("))'", "")
        return re.findall(r'^"((?:[^"\\]|\\.)*)"', body, re.MULTILINE)
    return [line.split("\t")[0] for line in p.stdout.splitlines() if line]  # fish: value<TAB>help


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_script_for_each_shell(shell: str) -> None:
    p = subprocess.run([sys.executable, "-m", "compiler", "completion", shell], cwd=REPO, capture_output=True, text=True, check=False)
    assert p.returncode == 0 and "_MCOMPILE_COMPLETE=complete_" + shell in p.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    p = subprocess.run([sys.executable, "-m", "compiler", "completion", "tcsh"], cwd=REPO, capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "must be one of bash, zsh, fish" in p.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_commands_options_profiles_and_environments(shell: str) -> None:
    assert _complete(shell, "mcompile va") == ["validate"]
    assert "--format" in _complete(shell, "mcompile diff --f")
    assert _complete(shell, "mcompile check profiles/t") == sorted(f"profiles/{stem}.yaml" for stem in shipped_profiles() if stem.startswith("t"))
    assert {"profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml"} <= set(_complete(shell, "mcompile check profiles/t"))
    assert _complete(shell, "mcompile validate profiles/tier2.yaml --env ") == ["dev", "prod"]
    assert _complete(shell, "mcompile plan profiles/tier1.yaml -e s") == ["staging"]
