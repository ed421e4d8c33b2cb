"""Declared vs used dependencies, and a plain `pip install .` that builds the shipped profiles."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: import name -> distribution name, for every third-party module compiler/ may import.
DISTRIBUTIONS = {"ruamel": "ruamel.yaml", "jsonschema": "jsonschema", "kubernetes_validate": "kubernetes-validate", "typer": "typer",
                 "rich": "rich", "deepmerge": "deepmerge", "celpy": "cel-python", "yaml": "PyYAML", "jinja2": "jinja2", "click": "click",
                 "referencing": "referencing", "lark": "lark", "re2": "google-re2"}


def _imported() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "compiler").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    third_party = names - set(sys.stdlib_module_names) - {"compiler"}
    unknown = third_party - set(DISTRIBUTIONS)
    assert not unknown, f"map these imports to their distributions: {unknown}"
    return {DISTRIBUTIONS[n] for n in third_party}


def test_declared_dependencies_are_exactly_the_imported_ones_with_lower_bounds() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0] for d in declared}
    assert names == _imported()
    assert all(">=" in d for d in declared), declared


def test_pip_install_in_a_fresh_venv_then_build(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], capture_output=True, text=True, check=False)
    assert pip.returncode == 0, pip.stderr
    installed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True, check=True).stdout.lower()
    assert "pytest" not in installed and "checkov" not in installed and "jinja2" not in installed  # no dev extras, nothing unused
    shutil.copytree(REPO / "profiles", tmp_path / "work" / "profiles")
    env = {k: v for k, v in os.environ.items() if k not in ("MCOMPILE_CRDS", "PYTHONPATH")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    run = subprocess.run([str(venv / "bin" / "mcompile"), "build", "profiles/tier1.yaml", "profiles/tier2.yaml", "profiles/tier3.yaml"],
                         cwd=tmp_path / "work", env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "work" / "out" / "llama-70b" / "chart" / "values.schema.json").is_file()
    assert "no CRD files found" in run.stderr  # an installed package never borrows a checkout's CRDs
