"""mcompile: compile declarative LLM-inference profiles for Amazon EKS."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcompile")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
