"""mcompile: compile declarative LLM-inference profiles for Amazon EKS."""

from __future__ import annotations


def installed_version() -> str:
    """The installed distribution's version (a metadata scan: looked up on first use only)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcompile")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> str:
    """``compiler.__version__``: :func:`installed_version`, looked up on first use, so shell
    completion and other quick commands do not pay for the metadata scan; memoized in the user
    cache with the libraries' versions (``cache.key.library_versions``), so ``mcompile --version``
    and a build's cache key pay for it once per install, not once per run."""
    if name != "__version__":
        raise AttributeError(name)
    from .cache.key import library_versions

    return library_versions()[0]
