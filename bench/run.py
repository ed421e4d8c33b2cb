"""mcompile benchmark: one run prints a figures table, the goals PASS/MISS, and a Markdown block.

    .venv/bin/python bench/run.py                      # everything (a few minutes)
    .venv/bin/python bench/run.py --fleet 100 --runs 3 # quicker
    .venv/bin/python bench/run.py --repo /path/to/other/checkout   # "before" figures of another tree
    .venv/bin/python bench/run.py --quick              # a couple of minutes: fleets of 10 and 100, 3 runs

Everything is measured from this one script, with every build a *subprocess* running the real
CLI (``python -m compiler build``; interpreter start and imports included, as a user or CI sees
it) and every Helm/kustomize render the real Go binary (``compiler.toolchain.find_tool``):

* per shipped tier: ``mcompile build profiles/<tier>.yaml`` into a fresh out/ (median of
  ``--runs``) against ``helm template`` + ``kubectl kustomize`` of that tier's own output, for
  every environment (median of ``--runs`` of the whole set);
* a no-op rebuild of the three tiers: it must write 0 files (asserted);
* fleets of generated profiles (``bench/fleet.py``) built into a fresh temp out/ with
  ``--jobs`` workers pinned to ``--cores`` CPUs: wall time, peak RSS of the largest process
  (``wait4`` ru_maxrss) and of all build processes together (PSS summed, sampled every 20 ms),
  the split per stage (``mcompile build --timings``) and t(largest)/t(smallest);
* the goals, PASS or MISS, as measured.

The bench deletes nothing while it measures: each cold build gets a new directory, and the temp
directory goes at the end. On ext4 without a journal (this VM's root), creating a file skips every
free inode deleted in the last 60 s (300 s while its inode block is dirty: ``recently_deleted()``
in ``fs/ext4/ialloc.c``), rescanning them from the start of the group for each new file. Right
after an ``rm -rf`` of the tree before, a fresh fleet of 100 spent 1.18 s of system time against
0.27 s with no recent deletes (``perf``: 38 % of its samples in ``recently_deleted``): the cost of
the bench's own clean-up, not of the build it measures.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.fleet import TIERS, fingerprint, write_fleet
from compiler.toolchain import find_tool


def _crds() -> str:
    """$MCOMPILE_CRDS, else the CRD paths this checkout finds in development: every build (A and
    B, in any working directory) verifies against the same CRDs."""
    if os.environ.get("MCOMPILE_CRDS"):
        return os.environ["MCOMPILE_CRDS"]
    from compiler.verify.crd_sources import locate_crds

    return os.pathsep.join(str(p) for p in locate_crds(())[0])


CRDS = _crds()
STAGES = ("resolve", "plan+render", "verify", "emit", "fleet", "write")
GOAL_RATIO, GOAL_SECONDS, GOAL_RSS_MB, GOAL_LINEAR = 1.0, 15.0, 300.0, 11.0
GOAL_NOOP_RATIO, GOAL_FLEET_NOOP, GOAL_HELP = 0.3, 3.0, 0.1
#: ``--empty-cache``: every build gets a fresh, empty $XDG_CACHE_HOME (nothing from earlier runs)
EMPTY_CACHE: list[Path] = []


@dataclass
class Run:
    wall: float
    code: int
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system CPU seconds of the build and its workers (wait4)
    maxrss_mb: float = 0.0  # largest single process of the build (wait4)
    pss_mb: float = 0.0  # all build processes together, sampled
    stages: dict[str, float] = field(default_factory=dict)


def _tree_pss_kb(pid: int) -> int:
    """PSS of ``pid`` and its descendants (shared copy-on-write pages counted once)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def run_cli(repo: Path, args: list[str], cwd: Path, cores: list[int] | None = None, sample: bool = False) -> Run:
    """``python -m compiler <args>`` from ``repo`` in ``cwd``; wall time and memory."""
    env = {**os.environ, "PYTHONPATH": str(repo), "MCOMPILE_CRDS": CRDS}
    if EMPTY_CACHE:
        env["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="cache-", dir=EMPTY_CACHE[0])
    pre = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "compiler", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=pre)
    peak = [0]
    stop = threading.Event()

    def sampler() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _tree_pss_kb(proc.pid))

    thread = threading.Thread(target=sampler, daemon=True) if sample else None
    if thread:
        thread.start()
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
               for s, b in ((proc.stdout, out_chunks), (proc.stderr, err_chunks))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    stop.set()
    if thread:
        thread.join()
    run = Run(wall, proc.returncode, "".join(out_chunks), "".join(err_chunks), usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, peak[0] / 1024)
    m = re.search(r"timings \([^)]*\): (.*); wall", run.stderr)
    if m:
        run.stages = {k: float(v) for k, v in (part.rsplit(" ", 1) for part in m.group(1).split(", "))}
    return run


def compile_bytecode(repo: Path) -> None:
    """Write the .pyc files of ``repo``'s compiler, as ``pip install`` does: otherwise a shell with
    PYTHONDONTWRITEBYTECODE=1 (or a read-only checkout) makes every build compile the modules
    changed since their last .pyc from source (~80 ms), which no installed user pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(repo / "compiler")], check=True, stdout=subprocess.DEVNULL)


def supports(repo: Path, flag: str) -> bool:
    r = run_cli(repo, ["build", "--help"], repo)
    return flag in r.stdout


def must(run: Run, what: str) -> Run:
    if run.code != 0:
        raise SystemExit(f"{what} failed (exit {run.code}):\n{run.stderr[-3000:]}")
    return run


def written(run: Run) -> int:
    return sum(int(m) for m in re.findall(r": (\d+) written", run.stdout))


def envs_of(out: Path, name: str) -> list[str]:
    return sorted(p.name[len("values-"):-len(".yaml")] for p in (out / name / "chart").glob("values-*.yaml"))


def go_tools_time(out: Path, name: str) -> float:
    """helm template + kubectl kustomize for every environment of one profile's output."""
    helm, kubectl = str(find_tool("helm")), str(find_tool("kubectl"))
    start = time.perf_counter()
    for env in envs_of(out, name):
        chart = out / name / "chart"
        for cmd in ([helm, "template", name, str(chart), "-f", str(chart / f"values-{env}.yaml")],
                    [kubectl, "kustomize", str(out / name / "kustomize" / "overlays" / env)]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"{cmd[0]} failed: {p.stderr}")
    return time.perf_counter() - start


def profile_name(path: Path) -> str:
    m = re.search(r"^metadata:\s*\n\s+name:\s*(\S+)", path.read_text(), re.MULTILINE)
    assert m, path
    return m.group(1)


def bench_tiers(repos: list[Path], work: Path, runs: int, jobs_flag: list[str]) -> list[list[dict]]:
    """Per shipped tier and per checkout: median fresh build vs median helm+kustomize on that
    build's own output. The checkouts alternate run by run (A B A B ...), so load on the shared
    machine hits both alike. Every run gets a new project directory (nothing deleted: see
    the module's docstring)."""
    rows: list[list[dict]] = [[] for _ in repos]
    for tier in TIERS:
        samples: list[dict[str, list[float]]] = [{"build": [], "cpu": [], "tools": []} for _ in repos]
        projects: list[Path] = []
        for k in range(runs):
            for i, repo in enumerate(repos):
                # cold: a fresh out/ and no build cache from the run before
                project = work / f"tier-{tier}-{i}-{k}"
                shutil.copytree(repo / "profiles", project / "profiles")
                projects.append(project)
                run = must(run_cli(repo, ["build", f"profiles/{tier}.yaml", "--out", "out", *jobs_flag], project), f"build {tier}")
                samples[i]["build"].append(run.wall)
                samples[i]["cpu"].append(run.cpu)
                samples[i]["tools"].append(go_tools_time(project / "out", profile_name(project / "profiles" / f"{tier}.yaml")))
        for i in range(len(repos)):
            project = projects[i]
            name = profile_name(project / "profiles" / f"{tier}.yaml")
            b, t = statistics.median(samples[i]["build"]), statistics.median(samples[i]["tools"])
            rows[i].append({"tier": tier, "envs": len(envs_of(project / "out", name)), "build": b,
                            "cpu": statistics.median(samples[i]["cpu"]), "tools": t, "ratio": b / t})
    return rows


def bench_noop(repos: list[Path], work: Path, runs: int, jobs_flag: list[str]) -> list[dict]:
    """The three tiers built fresh, then rebuilt unchanged ``runs`` times (checkouts alternating)."""
    args = ["build", *(f"profiles/{t}.yaml" for t in TIERS), "--out", "out", *jobs_flag]
    projects, firsts = [], []
    for i, repo in enumerate(repos):
        project = work / f"noop-{i}"
        shutil.copytree(repo / "profiles", project / "profiles", dirs_exist_ok=True)
        projects.append(project)
        firsts.append(must(run_cli(repo, args, project), "build (3 tiers)"))
    again: list[list[Run]] = [[] for _ in repos]
    for _ in range(runs):
        for i, repo in enumerate(repos):
            again[i].append(must(run_cli(repo, args, projects[i]), "no-op rebuild"))
    out = []
    for i in range(len(repos)):
        files = sum(1 for p in (projects[i] / "out").rglob("*") if p.is_file() and p.name != "lock")
        n = max(written(r) for r in again[i])
        assert n == 0, f"a no-op rebuild wrote {n} files"
        out.append({"fresh": firsts[i].wall, "noop": statistics.median(r.wall for r in again[i]), "written": n, "files": files})
    return out


def bench_fleet(repo: Path, work: Path, n: int, jobs: int | None, cores: list[int], timings: bool) -> dict:
    project = work / f"fleet-{n}-{abs(hash(repo))}"
    paths = write_fleet(project / "profiles", n)
    args = ["build", *(p.relative_to(project).as_posix() for p in paths), "--out", "out"]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    # the disk writes back what earlier runs left dirty (hundreds of MB of out/ and cache) before
    # the build starts, not while it runs: the figure is this build's own I/O
    os.sync()
    run = must(run_cli(repo, args + (["--timings"] if timings else []), project, cores, sample=True), f"fleet {n}")
    noop = must(run_cli(repo, args, project, cores), f"fleet {n} no-op")
    files = sum(1 for p in (project / "out").rglob("*") if p.is_file() and p.name != "lock")
    return {"n": n, "wall": run.wall, "cpu": run.cpu, "maxrss": run.maxrss_mb, "pss": run.pss_mb, "stages": run.stages,
            "files": files, "written": written(run), "noop": noop.wall, "noop_written": written(noop), "fleet": fingerprint(n)}


def cli_floor(repo: Path, runs: int) -> float:
    """``python -m compiler --help``: interpreter start + CLI imports, the floor of any command."""
    return statistics.median(run_cli(repo, ["--help"], repo).wall for _ in range(runs))


def python_floor(runs: int) -> float:
    """``python -c pass``: the interpreter alone, what ``--help`` is compared with."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def progress(text: str) -> None:
    """Each figure as soon as it is measured (stderr), so a long run shows where it is."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(args: argparse.Namespace, repo: Path, tiers: list[dict], noop: dict, fleets: list[dict], floor: float, cores: list[int], jobs: int | None,
           python: float = 0.0) -> str:
    lines = [f"mcompile benchmark — {platform.node()}, {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
             f"{len(cores)} of {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; code: {repo}",
             f"build = subprocess `python -m compiler build` (interpreter start + imports included, bytecode compiled beforehand as an install does, fresh out/); median of {args.runs}",
             "", "| tier | envs | mcompile build (s) | its CPU (s) | helm template + kubectl kustomize (s) | ratio | goal ≤ 1.0× |", "|---|---|---|---|---|---|---|"]
    for r in tiers:
        lines.append(f"| {r['tier']} | {r['envs']} | {r['build']:.2f} | {r['cpu']:.2f} | {r['tools']:.2f} | {r['ratio']:.1f}× | {verdict(r['ratio'] <= GOAL_RATIO)} |")
    lines += ["", f"CLI floor (`python -m compiler --help`, start + imports): {floor:.2f} s vs `python -c pass` {python:.3f} s"
              f" ({floor / python if python else 0:.0f}×); goal ≤ 0.1 s: {verdict(floor <= 0.1)}",
              f"3 tiers: fresh build {noop['fresh']:.2f} s ({noop['files']} files); no-op rebuild {noop['noop']:.2f} s, files written: {noop['written']} (asserted 0)",
              "", f"Fleet (generated profiles, bench/fleet.py digest {fleets[-1]['fleet'] if fleets else '-'}; `--jobs {jobs if jobs is not None else 'default'}`, pinned to CPUs {cores}):", "",
              "| profiles | wall (s) | CPU (s) | files | peak RSS, largest process (MB) | peak PSS, all build processes (MB) | no-op rebuild (s) | goal ≤ 15 s | goal ≤ 300 MB |",
              "|---|---|---|---|---|---|---|---|---|"]
    for f in fleets:
        memory = max(f["maxrss"], f["pss"])
        big = f["n"] >= 1000
        lines.append(f"| {f['n']} | {f['wall']:.1f} | {f['cpu']:.1f} | {f['files']} ({f['files'] / f['n']:.0f} per profile) | {f['maxrss']:.0f} | {f['pss']:.0f} | {f['noop']:.1f} (wrote {f['noop_written']}) | "
                     f"{verdict(f['wall'] <= GOAL_SECONDS) if big else '—'} | {verdict(memory <= GOAL_RSS_MB) if big else '—'} |")
    if len(fleets) >= 2:
        a, b = fleets[0], fleets[-1]
        ratio, ideal = b["wall"] / a["wall"], b["n"] / a["n"]
        lines += ["", f"Scaling t({b['n']})/t({a['n']}) = {ratio:.1f} (linear = {ideal:.0f}): "
                  f"{verdict(ratio <= ideal * GOAL_LINEAR / 10)}"]
    staged = [f for f in fleets if f["stages"]]
    if staged:
        lines += ["", "Time per stage (seconds summed over worker processes, each stage timed by the wall clock, so they grow with the load; `mcompile build --timings`):", "",
                  "| profiles | " + " | ".join(STAGES) + " |", "|---|" + "---|" * len(STAGES)]
        for f in staged:
            lines.append(f"| {f['n']} | " + " | ".join(f"{f['stages'].get(s, 0):.1f}" for s in STAGES) + " |")
    return "\n".join(lines)


def goals(tiers: list[dict], noop: dict, fleets: list[dict], floor: float, python: float) -> str:
    """The issue's table: every row, what this run measured, its goal, PASS or MISS."""
    rows = [("| work | mcompile | reference | ratio | goal | verdict |"), "|---|---|---|---|---|---|"]
    for r in tiers:
        rows.append(f"| {r['tier']} build, cold | {r['build']:.2f} s (CPU {r['cpu']:.2f} s) | helm template + kubectl kustomize: {r['tools']:.2f} s | "
                    f"{r['ratio']:.1f}x | ≤ {GOAL_RATIO:.1f}x | {verdict(r['ratio'] <= GOAL_RATIO)} |")
    tools = sum(r["tools"] for r in tiers)
    ratio = noop["noop"] / tools if tools else 0.0
    rows.append(f"| no-op rebuild of the 3 tiers | {noop['noop']:.2f} s (wrote {noop['written']}) | the 3 tiers' helm + kustomize: {tools:.2f} s | "
                f"{ratio:.2f}x | ≤ {GOAL_NOOP_RATIO}x | {verdict(ratio <= GOAL_NOOP_RATIO)} |")
    rows.append(f"| `mcompile --help` | {floor:.3f} s | `python -c pass`: {python:.3f} s | {floor / python if python else 0:.1f}x | ≤ {GOAL_HELP} s | "
                f"{verdict(floor <= GOAL_HELP)} |")
    for f in fleets:
        memory = max(f["maxrss"], f["pss"])
        big = f["n"] >= 1000
        rows.append(f"| fleet of {f['n']:,}, fresh | {f['wall']:.1f} s wall, {f['cpu']:.1f} CPU-s, {memory:.0f} MB peak | – | – | "
                    + (f"≤ {GOAL_SECONDS:.0f} s, ≤ {GOAL_RSS_MB:.0f} MB | {verdict(f['wall'] <= GOAL_SECONDS)}, {verdict(memory <= GOAL_RSS_MB)} |" if big else "– | – |"))
        rows.append(f"| fleet of {f['n']:,}, no-op rebuild | {f['noop']:.1f} s (wrote {f['noop_written']}) | – | – | "
                    + (f"≤ {GOAL_FLEET_NOOP:.0f} s | {verdict(f['noop'] <= GOAL_FLEET_NOOP)} |" if big else "– | – |"))
    if len(fleets) >= 2:
        a, b = fleets[0], fleets[-1]
        scale, ideal = b["wall"] / a["wall"], b["n"] / a["n"]
        rows.append(f"| t({b['n']:,}) / t({a['n']:,}) | {scale:.1f} | linear: {ideal:.0f} | – | ≤ {ideal * GOAL_LINEAR / 10:.0f} | "
                    f"{verdict(scale <= ideal * GOAL_LINEAR / 10)} |")
    return "\n".join(rows)


def plain(markdown: str) -> str:
    """The same report with its Markdown tables as aligned text columns (for the terminal)."""
    out: list[str] = []
    table: list[str] = []

    def flush() -> None:
        rows = [[c.strip() for c in row.strip("|").split("|")] for row in table if not set(row) <= set("|-")]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        out.extend("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
        table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            flush()
        out.append(line.replace("`", ""))
    if table:
        flush()
    return "\n".join(out)


def compare(names: list[str], tiers: list[list[dict]], noops: list[dict], fleets: list[list[dict]], floors: list[float]) -> str:
    """One Markdown table: each figure for checkout A and B (measured alternately) and B/A."""
    rows = [("CLI floor `--help` (s)", [f for f in floors])]
    for t, tier in enumerate(TIERS):
        rows.append((f"{tier} cold build (s)", [tiers[i][t]["build"] for i in range(len(names))]))
        rows.append((f"{tier} build CPU (s)", [tiers[i][t]["cpu"] for i in range(len(names))]))
    rows.append(("3 tiers no-op rebuild (s)", [n["noop"] for n in noops]))
    for k in range(len(fleets[0])):
        n = fleets[0][k]["n"]
        rows.append((f"fleet {n} fresh, wall (s)", [fleets[i][k]["wall"] for i in range(len(names))]))
        rows.append((f"fleet {n} fresh, CPU (s)", [fleets[i][k]["cpu"] for i in range(len(names))]))
        rows.append((f"fleet {n} no-op (s)", [fleets[i][k]["noop"] for i in range(len(names))]))
        rows.append((f"fleet {n} peak RSS (MB)", [max(fleets[i][k]["maxrss"], fleets[i][k]["pss"]) for i in range(len(names))]))
    lines = ["| figure | " + " | ".join(names) + " | B/A |", "|---|" + "---|" * (len(names) + 1)]
    for label, values in rows:
        ratio = f"{values[1] / values[0]:.2f}" if len(values) > 1 and values[0] else "-"
        lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, default=HERE.parent, help="checkout whose compiler is measured (default: this one)")
    ap.add_argument("--runs", type=int, default=5, help="runs per median (tiers, no-op)")
    ap.add_argument("--fleet", type=int, nargs="*", default=[100, 1000], help="fleet sizes (default: 100 1000)")
    ap.add_argument("--cores", type=int, default=2, help="CPUs the fleet builds are pinned to (default 2)")
    ap.add_argument("--jobs", type=int, default=None, help="--jobs for the fleet builds (default: the CLI default, one per CPU)")
    ap.add_argument("--markdown", type=Path, help="also write the Markdown block to this file")
    ap.add_argument("--baseline", type=Path, help="a second checkout (A, e.g. main) measured alternately with --repo (B)")
    ap.add_argument("--quick", action="store_true", help="a quick local run: 3 runs per median, fleets of 10 and 100 (unless given)")
    ap.add_argument("--empty-cache", action="store_true", help="every build with a fresh, empty $XDG_CACHE_HOME (no parsed CRDs or CEL trees from earlier runs)")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 3)
        if args.fleet == [100, 1000]:
            args.fleet = [10, 100]
    repo = args.repo.resolve()
    repos = [args.baseline.resolve(), repo] if args.baseline else [repo]
    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    for r in repos:
        compile_bytecode(r)
    has_jobs, has_timings = supports(repo, "--jobs"), supports(repo, "--timings")
    jobs = args.jobs if has_jobs else None
    load = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="mcompile-bench-") as tmp:
        work = Path(tmp)
        if args.empty_cache:
            EMPTY_CACHE.append(work)
        python = python_floor(args.runs)
        floors: list[list[float]] = [[] for _ in repos]
        for _ in range(args.runs):
            for i, r in enumerate(repos):
                floors[i].append(cli_floor(r, 1))
        floor = [statistics.median(f) for f in floors]
        progress(f"CLI floor {floor} s, python -c pass {python:.3f} s")
        tiers = bench_tiers(repos, work, args.runs, [])
        progress(f"tiers {tiers}")
        noops = bench_noop(repos, work, args.runs, [])
        progress(f"no-op {noops}")
        fleets: list[list[dict]] = [[] for _ in repos]
        for n in sorted(args.fleet):
            for i, r in enumerate(repos):
                fleets[i].append(bench_fleet(r, work, n, jobs, cores, has_timings))
                progress(f"fleet {r} {fleets[i][-1]}")
    texts = [report(args, r, tiers[i], noops[i], fleets[i], floor[i], cores, jobs, python) for i, r in enumerate(repos)]
    head = (f"Run of {started} on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()}), load average "
            f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; every figure the median of {args.runs} runs"
            + (", checkouts alternating run by run" if len(repos) > 1 else "")
            + ("; every build with an empty user cache" if args.empty_cache else "; user cache (compiled schema checks and CEL programs, CRD facts, dataclass and regex code) kept between runs")
            + ".\n\nThe issue's table, measured (" + (f"B = {repos[-1]}" if len(repos) > 1 else str(repos[-1])) + "):\n\n"
            + goals(tiers[-1], noops[-1], fleets[-1], floor[-1], python) + "\n\n")
    text = head + texts[-1]
    if len(repos) > 1:
        names = [f"A {repos[0].name}", f"B {repos[1].name}"]
        text = (head + f"A/B, measured alternately in one run (A = {repos[0]}, B = {repos[1]}; medians of {args.runs}):\n\n"
                + compare(names, tiers, noops, fleets, floor) + "\n\nB in full:\n\n" + texts[-1])
    print(plain(text))
    print("\n<!-- Markdown for README \"Performance\" -->\n```markdown\n" + text + "\n```")
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
