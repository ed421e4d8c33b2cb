"""mcompile: compile declarative LLM-inference profiles for Amazon EKS."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``compiler.__version__``: the installed distribution's version (looked up on first use,
    so shell completion and other quick commands do not pay for the metadata scan)."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcompile")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0+unknown"
