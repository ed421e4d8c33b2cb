"""The real helm and kubectl binaries, found and run through compiler.toolchain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import toolchain
from compiler.toolchain import ToolNotFound, find_tool, run_tool

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_tools_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(toolchain.TOOLS_DIR_ENV, raising=False)


def test_helm_version(no_tools_env: None) -> None:
    proc = run_tool("helm", ["version"])
    assert proc.returncode == 0, proc.stderr
    assert 'Version:"v4.1.4"' in proc.stdout


def test_kubectl_version_client(no_tools_env: None) -> None:
    proc = run_tool("kubectl", ["version", "--client"])
    assert proc.returncode == 0, proc.stderr
    assert "Client Version: v1.35.2" in proc.stdout
    assert "Kustomize Version: v5.7.1" in proc.stdout


def test_installed_tools_come_from_repo_tools_dir(no_tools_env: None) -> None:
    for name in ("helm", "kubectl"):
        assert find_tool(name) == REPO_ROOT / ".tools" / "bin" / name


def test_run_tool_uses_cwd(no_tools_env: None, tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n- cm.yaml\nnamePrefix: t-\n")
    (tmp_path / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: b\n"
    )
    proc = run_tool("kubectl", ["kustomize", "."], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "name: t-cfg" in proc.stdout


def test_run_tool_failure_is_returned_not_raised(no_tools_env: None) -> None:
    proc = run_tool("helm", ["no-such-subcommand"])
    assert proc.returncode != 0
    assert "unknown command" in proc.stderr


def test_tools_dir_env_takes_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho fake-helm \"$@\"\ncat\n")
    fake.chmod(0o755)
    monkeypatch.setenv(toolchain.TOOLS_DIR_ENV, str(tmp_path))
    assert find_tool("helm") == fake
    proc = run_tool("helm", ["a b", "c"], input="from stdin\n")
    assert proc.stdout == "fake-helm a b c\nfrom stdin\n"
    # Tools missing from the override directory fall through to .tools/bin.
    assert find_tool("kubectl") == REPO_ROOT / ".tools" / "bin" / "kubectl"


def test_path_is_searched_last(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tool = tmp_path / "mcompile-test-tool"
    tool.write_text("#!/bin/sh\necho on-path\n")
    tool.chmod(0o755)
    monkeypatch.delenv(toolchain.TOOLS_DIR_ENV, raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_tool("mcompile-test-tool") == tool
    assert run_tool("mcompile-test-tool", []).stdout == "on-path\n"


def test_missing_tool_raises_with_install_hint(no_tools_env: None) -> None:
    with pytest.raises(ToolNotFound) as info:
        find_tool("mcompile-no-such-tool")
    assert info.value.name == "mcompile-no-such-tool"
    assert "scripts/install_tools.py" in info.value.hint
    assert "scripts/install_tools.py" in str(info.value)


def test_install_script_is_idempotent() -> None:
    binaries = [REPO_ROOT / ".tools" / "bin" / n for n in ("helm", "kubectl")]
    before = [b.stat().st_mtime_ns for b in binaries]
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "install_tools.py")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("helm v4.1.4 ")
    assert lines[1].startswith("kubectl v1.35.2 ")
    assert [b.stat().st_mtime_ns for b in binaries] == before, "up-to-date tools were re-extracted"
