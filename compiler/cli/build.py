"""``mcompile build`` and ``mcompile check``: compile profiles into out/, or prove out/ current.

This module declares the two commands for typer (options, help); what they do is
:mod:`.building`, which the typer-free path (:mod:`.argv`) calls with the same arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import building
from .completion import profile_paths
from .options import AllowKind, Crds, Format, KubeVersion, Out, Override, Profiles, Set
from .root import app, handle_errors

Jobs = typer.Option(0, "--jobs", "-j", min=0, help="Profiles built in parallel worker processes (0: one per CPU; 1: in this process). Output is identical for every value.")
Strict = typer.Option(False, "--strict", help="Treat the capacity planner's warnings as errors (exit 2); CI uses it.")
ShowTimings = typer.Option(False, "--timings", help="Print the seconds spent per stage (resolve, plan+render, verify, emit, write) and the cache hits on stderr.")
CacheDir = typer.Option(None, "--cache-dir", help="Build cache directory (default: $MCOMPILE_CACHE_DIR, else .mcompile-cache/ beside the output directory).")
NoCache = typer.Option(False, "--no-cache", help="Compile every profile, read and write no cache (same output as with it). $MCOMPILE_NO_CACHE=1 does the same.")
Shard = typer.Option(None, "--shard", metavar="K/N", help="Only the profiles of shard K of N (stable: a hash of each profile's path). "
                     "No platform, no pruning: finish with one unsharded run over the shards' merged caches (README, CI).")


@app.command()
@handle_errors
def build(profiles: List[Path] = Profiles, override: Optional[List[Path]] = Override, set_: Optional[List[str]] = Set, out: Path = Out,
          crds: Optional[List[Path]] = Crds, kube_version: str = KubeVersion, allow_kind: Optional[List[str]] = AllowKind,
          jobs: int = Jobs, timings: bool = ShowTimings, strict: bool = Strict, cache_dir: Optional[Path] = CacheDir,
          no_cache: bool = NoCache, shard: Optional[str] = Shard) -> None:
    """Compile profiles into out/ (every environment: the chart and GitOps apps span them all). Nothing is written unless every profile compiles and verifies."""
    building.build(profiles, override, set_, out, crds, kube_version, allow_kind, jobs, timings, strict, cache_dir, no_cache, shard)


@app.command()
@handle_errors
def check(profiles: Optional[List[Path]] = typer.Argument(None, help="Profiles (default: profiles/*.yaml).", autocompletion=profile_paths), out: Path = Out,
          crds: Optional[List[Path]] = Crds, kube_version: str = KubeVersion, allow_kind: Optional[List[str]] = AllowKind,
          jobs: int = Jobs, format: str = Format("text, or json (one document on stdout)."),
          cache_dir: Optional[Path] = CacheDir, no_cache: bool = NoCache, shard: Optional[str] = Shard) -> None:
    """Exit 1 if out/ is stale for these profiles (lists missing, changed and extra owned files with a short diff, and the command that fixes it)."""
    building.check(profiles, out, crds, kube_version, allow_kind, jobs, format, cache_dir, no_cache, shard)
