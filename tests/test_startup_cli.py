"""Start-up: what each quick command imports (a real check that fails when a heavy module creeps
back in, not a timing), the ``--help`` text served without typer, and parameter conversion
without pydantic giving what typer's own conversion gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer import core
from typer._click.exceptions import ClickException

from compiler.cli import HELP_FILE, quick_answer
from compiler.cli.coerce import ORIGINAL
from compiler.cli.root import app, register

#: Libraries only verification, rendering or one rare command needs.
HEAVY = ("celpy", "lark", "pendulum", "jsonschema", "referencing", "kubernetes_validate", "urllib.request", "http.client",
         "pydantic", "rich", "ruamel.yaml", "yaml", "compiler.verify", "compiler.build", "compiler.render")


def imported(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``mcompile <args>`` as the console script does; return the run and every module it had imported at exit."""
    code = ("import atexit, json, sys\n"
            "record = sys.argv[1]\n"
            "atexit.register(lambda: open(record, 'w').write(json.dumps(sorted(sys.modules))))\n"
            "sys.argv = ['mcompile', *sys.argv[2:]]\n"
            "from compiler.cli import main\nmain()\n")
    record = cwd / ".modules.json"
    p = subprocess.run([sys.executable, "-c", code, str(record), *args], cwd=cwd, capture_output=True, text=True, check=False,
                       env={**os.environ, "COLUMNS": "100", **(env or {})}, timeout=120)
    return p, set(json.loads(record.read_text()))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_neither_typer_nor_the_pipeline(args: list[str], tmp_path: Path) -> None:
    p, modules = imported(args, tmp_path)
    assert p.returncode == 0, p.stderr
    assert heavy(modules) == []
    assert not {m for m in modules if m == "typer" or m.startswith("typer.")}
    assert p.stdout.startswith("Usage: mcompile" if args == ["--help"] else "mcompile ")


@pytest.mark.parametrize("args", [["build", "--help"], ["check", "--help"], ["validate", "--help"], ["completion", "bash"], ["schema", "--help"]])
def test_command_help_imports_no_heavy_module(args: list[str], tmp_path: Path) -> None:
    p, modules = imported(args, tmp_path)
    assert p.returncode == 0, p.stderr
    assert heavy(modules) == []


def test_a_valid_check_imports_neither_pydantic_nor_rich_nor_http_nor_jsonschema(repo: Path, tmp_path: Path) -> None:
    """``check`` compiles (and so verifies) the profile, but never converts its parameters with
    pydantic, draws no progress bar in a pipe, never needs urllib (only ``crds pull`` does), and
    never imports jsonschema: every value of a valid profile passes the compiled checks."""
    p, modules = imported(["check", str(repo / "profiles" / "tier1.yaml"), "--out", str(tmp_path / "out"), "--jobs", "1"], tmp_path)
    assert p.returncode == 1, p.stderr  # nothing built there yet: stale
    assert "compiler.build" in modules  # it did compile
    assert [m for m in heavy(modules) if m.split(".")[0] in ("pydantic", "rich", "urllib", "http", "jsonschema", "referencing")] == []


#: What compiling a profile does not load once the user cache is warm: cel-python (rules come from
#: the cel-py/ entries and kind bundles), pickle (only its parse-tree cache), the metadata scan of
#: installed packages (memoized), what only ``crds pull`` (tempfile), a fallback of the kube schema
#: lookup (importlib.resources) or ``check`` (compiler.store.check) need, and secrets/random (temp
#: names come from os.urandom).
NOT_ON_A_WARM_COMPILE = ("celpy", "lark", "pendulum", "pickle", "importlib.metadata", "tempfile", "importlib.resources",
                         "compiler.store.check", "secrets", "random")


def test_one_profile_is_built_without_multiprocessing(repo: Path, tmp_path: Path) -> None:
    """One profile never runs workers, whatever --jobs says: a single build does not load
    multiprocessing (nor, with the user cache warm, cel-python and the rest of NOT_ON_A_WARM_COMPILE)."""
    shutil.copytree(repo / "profiles", tmp_path / "profiles")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    for jobs in ("1", "4"):  # the first run fills the user cache
        p, modules = imported(["build", "profiles/tier2.yaml", "--jobs", jobs, "--no-cache"], tmp_path, env)
        assert p.returncode == 0, p.stderr
        assert "compiler.render" in modules and "multiprocessing" not in modules
    assert sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_ON_A_WARM_COMPILE)) == []


#: What a build whose every profile and platform is a cache hit must not load: nothing verifies,
#: plans, renders or emits (the toolchain key needs only the CRD lookup of compiler.verify).
NOT_ON_A_HIT = (*HEAVY[:-3], "ruamel.yaml", "yaml", "deepmerge", "compiler.render", "compiler.emit", "compiler.plan", "compiler.profile",
                "compiler.pipeline", "compiler.resolve", "compiler.load", "compiler.merge", "compiler.validate", "compiler.engine",
                "compiler.catalog", "compiler.fleet.platform", "compiler.fleet.landing", "compiler.fleet.clusters", "compiler.diff",
                "importlib.metadata", "multiprocessing", "compiler.cli.validate", "compiler.cli.plan", "compiler.cli.diff")


@pytest.mark.parametrize("command", ["build", "check"])
def test_an_all_hits_build_or_check_loads_no_stage(command: str, repo: Path, tmp_path: Path) -> None:
    """The second build of unchanged profiles (and a check of its output) only looks up the
    cache, the out/ index and the manifest; the first one did compile."""
    shutil.copytree(repo / "profiles", tmp_path / "profiles")
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}  # the toolchain memo starts empty, is then used
    args = ["profiles/tier1.yaml", "profiles/tier2.yaml", "--jobs", "1"]
    p, first = imported(["build", *args], tmp_path, env)
    assert p.returncode == 0, p.stderr
    assert {"compiler.verify.crds", "compiler.render", "compiler.emit.layout"} <= first
    p, modules = imported([command, *args[:2]] if command == "check" else ["build", *args], tmp_path, env)
    assert p.returncode == 0, p.stderr
    assert "up to date" in p.stdout if command == "check" else "0 written" in p.stdout
    loaded = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_ON_A_HIT))
    verify = sorted(m for m in modules if m.startswith("compiler.verify."))
    assert (loaded, verify) == ([], ["compiler.verify.crd_sources"])


def test_a_command_ends_with_its_output_complete_and_its_exit_handlers_run(tmp_path: Path) -> None:
    """``main`` freezes the heap once the command is done (no exit-time collection of every
    object): stdout is still flushed whole, atexit handlers still run (``imported`` records the
    modules from one), and the exit code is the command's."""
    from compiler.schema import schema_path

    p, modules = imported(["schema"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == json.loads(schema_path().read_text()) and len(p.stdout) > 50_000
    assert "compiler.cli.schema_cmd" in modules
    p, _ = imported(["build", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "out")], tmp_path)
    assert p.returncode == 2 and "nothing written" in p.stderr


def test_one_command_module_is_loaded_per_command() -> None:
    """root.MODULE_OF names the module of every command typer knows (run loads only that one)."""
    from compiler.cli.root import COMMANDS, MODULE_OF, modules_for

    register()
    group = typer.main.get_command(app)
    where = {name: (cmd.callback or next(iter(cmd.commands.values())).callback).__module__.rsplit(".", 1)[1]  # a group: its first command
             for name, cmd in group.commands.items()}  # type: ignore[attr-defined]
    assert where == MODULE_OF
    assert modules_for(["check", "x.yaml"]) == ("build",) and modules_for(["--help"]) == COMMANDS == modules_for(["buidl"])


def test_help_text_is_what_typer_prints(tmp_path: Path) -> None:
    """help.txt is typer's own --help (regenerate: python -m compiler.cli.root --write-help)."""
    from compiler.cli.root import root_help

    assert Path(HELP_FILE).read_text(encoding="utf-8") == root_help(), "run: python -m compiler.cli.root --write-help"
    fast = subprocess.run([sys.executable, "-m", "compiler", "--help"], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "120"})
    slow = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['mcompile', '--help']; from compiler.cli.root import run; run()"],
                          capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "120"})
    assert fast.stdout == slow.stdout == Path(HELP_FILE).read_text(encoding="utf-8")


def test_narrow_terminal_and_completion_go_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert quick_answer(["--help"]) is None  # click wraps to the terminal: typer formats it
    monkeypatch.setenv("COLUMNS", "200")
    assert quick_answer(["--help"]) == Path(HELP_FILE).read_text(encoding="utf-8")
    assert quick_answer(["build", "--help"]) is None
    monkeypatch.setenv("_MCOMPILE_COMPLETE", "complete_bash")
    assert quick_answer(["--help"]) is None


def _parse(command: str, args: list[str]) -> dict[str, object] | str:
    """The parameters typer hands ``command`` for ``args``, or the usage error it raises."""
    register()
    group = typer.main.get_command(app)
    cmd = group.commands[command]  # type: ignore[attr-defined]
    try:
        with cmd.make_context(command, list(args)) as ctx:
            return dict(ctx.params)
    except ClickException as e:  # usage errors: compare their text
        return f"{type(e).__name__}: {e.format_message()}"


CASES = [
    ("build", ["p.yaml"]),
    ("build", ["a.yaml", "b.yaml", "-f", "o1.yaml", "-f", "o2.yaml", "--set", "x=1", "--set", "y=[a]", "--out", "dist", "--jobs", "3"]),
    ("build", ["p.yaml", "--jobs", "-1"]),
    ("build", ["p.yaml", "--jobs", "two"]),
    ("build", ["p.yaml", "--jobs", "007", "--timings", "--strict", "--kube-version", "1.32", "--allow-kind", "x.io/v1/W"]),
    ("build", ["p.yaml", "--jobs", " 3"]),
    ("build", ["p.yaml", "--out", ""]),
    ("check", []),
    ("check", ["--format", "json", "--out", "o"]),
    ("validate", ["p.yaml", "--env", "prod", "--crds", "c1", "--crds", "c2"]),
    ("plan", ["p.yaml", "-e", "prod", "--format", "markdown"]),
    ("explain", ["p.yaml", "serving.image", "--set", "a.b=1"]),
    ("diff", ["--base", "HEAD~1", "--json-file", "r.json"]),
]


@pytest.mark.parametrize(("command", "args"), CASES)
def test_conversion_without_pydantic_equals_typers_own(command: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ours = _parse(command, args)
    assert ORIGINAL, "the converter is not installed: typer changed?"
    monkeypatch.setattr(core, "build_runtime_param", ORIGINAL[0])
    assert _parse(command, args) == ours
