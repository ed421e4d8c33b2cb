"""The typer-free path of ``build`` and ``check`` (compiler/cli/argv.py): every command line it
takes is parsed exactly as typer parses it, everything else is left to typer, and its table of
options is the one typer declares."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer._click.exceptions import ClickException

from compiler.cli import argv, building, plain, root

root.register(("build",))
COMMAND = typer.main.get_command(root.app)


def typer_args(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[Any]] | None:
    """What typer hands the command for ``mcompile <args>`` (None: typer refuses the line)."""
    got: list[tuple[str, list[Any]]] = []
    for name in ("build", "check"):
        monkeypatch.setattr(building, name, lambda *a, name=name: got.append((name, list(a))))
    try:
        COMMAND.main(args, prog_name="mcompile", standalone_mode=False)
    except ClickException:  # click's usage errors (BadParameter, NoSuchOption, MissingParameter, ...)
        return None
    return got[0] if got else None


LINES = [
    ["build", "p.yaml"],
    ["build", "a.yaml", "b.yaml", "--out", "o", "--jobs", "2"],
    ["build", "--out=o", "a.yaml", "-j4", "--timings", "--strict", "--no-cache"],
    ["build", "a.yaml", "-f", "x.yaml", "-fy.yaml", "--override=z.yaml", "--set", "a.b=1", "--set=c=2"],
    ["build", "a.yaml", "--crds", "c1", "--crds", "c2", "--kube-version", "1.34", "--allow-kind", "example.com/v1/W"],
    ["build", "a.yaml", "--out", "o1", "--out", "o2", "--jobs", "1", "-j", "3"],
    ["build", "a.yaml", "--cache-dir", "cache", "--shard", "2/3"],
    ["build", "--", "a.yaml", "--out"],
    ["check"],
    ["check", "a.yaml", "--format", "json", "--out", "o", "--no-cache", "-j", "0"],
    ["check", "--format=text", "--shard", "1/1", "--cache-dir=c"],
    # every one of these is typer's to parse (a usage error, help, or a line kept out of the plain path)
    ["build"],
    ["build", "--help"],
    ["build", "a.yaml", "--bogus"],
    ["build", "a.yaml", "--jobs", "-1"],
    ["build", "a.yaml", "--jobs", "x"],
    ["build", "a.yaml", "--jobs"],
    ["build", "a.yaml", "--timings=yes"],
    ["build", "a.yaml", "--shard", "3/2"],
    ["build", "a.yaml", "--allow-kind", "Widget"],
    ["build", "a.yaml", "--out", ""],
    ["build", "a.yaml", "--set", "-x"],
    ["build", "a.yaml", "--format", "json"],
    ["build", "-"],
    ["check", "--format", "yaml"],
    ["check", "a.yaml", "--strict"],
    ["validate", "a.yaml"],
]


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_a_plain_line_is_parsed_as_typer_parses_it_and_the_rest_is_typers(line: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    ours, theirs = argv.parse(line), typer_args(line, monkeypatch)
    if ours is not None:
        assert ours == theirs
    if theirs is None:
        assert ours is None  # a usage error is never run by the plain path


def test_the_plain_path_takes_the_usual_lines() -> None:
    """It is used: the lines a user and CI type go without typer."""
    assert [argv.parse(line) is not None for line in LINES[:11]] == [True] * 11


def test_an_output_path_that_is_a_file_is_typers_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    Path("o").write_text("a file\n")
    assert argv.parse(["build", "a.yaml", "--out", "o"]) is None
    assert typer_args(["build", "a.yaml", "--out", "o"], monkeypatch) is None


def declared(name: str) -> dict[str, tuple[tuple[str, ...], str, Any]]:
    """typer's parameters of a command: flags, kind and default, by parameter name."""
    command = COMMAND.commands[name]  # type: ignore[attr-defined]
    out = {}
    for p in command.params:
        if p.param_type_name != "option":
            continue
        assert p.envvar is None, p.name  # an option read from the environment: the plain path would need it too
        kind = "flag" if p.is_flag else "many" if p.multiple else "one"
        out[p.name] = (tuple(sorted((*p.opts, *p.secondary_opts))), kind, p.default)
    return out


@pytest.mark.parametrize("name", ["build", "check"])
def test_the_table_is_typers_declaration(name: str) -> None:
    """A new option on the typer command fails here until the plain path knows it (else a line
    with it would fall back to typer, correct but slower; a changed default would be wrong)."""
    _required, specs = argv.COMMANDS[name]
    ours = {p: (tuple(sorted(flags)), kind, default) for p, (flags, kind, _c, default, _k) in specs.items()}
    assert ours == declared(name)
    positional = [p.name for p in COMMAND.commands[name].params]  # type: ignore[attr-defined]
    assert positional == ["profiles", *specs]  # building.<name> takes them in this order


def test_a_usage_error_found_by_the_command_is_left_to_typer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from compiler.cli.failures import UsageError

    monkeypatch.chdir(tmp_path)

    def refuse(*args: Any) -> None:
        raise UsageError("no", "'--out'")

    monkeypatch.setattr(building, "build", refuse)
    assert plain(["build", "a.yaml"]) is None
    assert plain(["validate", "a.yaml"]) is None


def test_through_the_console_entry_a_plain_build_loads_no_typer_and_typer_still_reports_usage(repo: Path, tmp_path: Path) -> None:
    code = ("import sys\nsys.argv = ['mcompile', *sys.argv[1:]]\nfrom compiler.cli import main\n"
            "try:\n    main()\nfinally:\n    print('typer loaded' if 'typer' in sys.modules else 'no typer', file=sys.stderr)\n")
    run = lambda *a: subprocess.run([sys.executable, "-c", code, *a], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120)
    p = run("build", str(repo / "profiles/tier1.yaml"), "--out", "out")
    assert p.returncode == 0, p.stderr
    assert p.stderr.rstrip().endswith("no typer") and "qwen3-32b: " in p.stdout
    p = run("build", str(repo / "profiles/tier1.yaml"), "--shard", "3/2")
    assert p.returncode == 2
    assert "Invalid value for '--shard': '3/2': expected K/N with 1 <= K <= N" in p.stderr and p.stderr.rstrip().endswith("typer loaded")
    p = run("build", str(tmp_path / "missing.yaml"), "--out", "out")
    assert p.returncode == 2 and "missing.yaml:1:1: $: file not found" in p.stderr and "nothing written" in p.stderr
    assert p.stderr.rstrip().endswith("no typer")


def test_ctrl_c_exits_130_without_a_traceback_as_through_typer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(building, "build", interrupted)
    assert plain(["build", "a.yaml"]) == 130
    with pytest.raises(SystemExit) as typer_exit:
        COMMAND.main(["build", "a.yaml"], prog_name="mcompile", standalone_mode=True)
    assert typer_exit.value.code == 130
