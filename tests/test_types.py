"""types.py: the stage types are plain, frozen data."""

from __future__ import annotations

import dataclasses

import pytest

from compiler.types import OutputFile


def test_output_file_needs_a_str_path_and_bytes() -> None:
    assert OutputFile("a/b.yaml", b"x").content == b"x"
    with pytest.raises(TypeError):
        OutputFile("a/b.yaml", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        OutputFile(b"a", b"x")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        OutputFile("a", b"x").path = "b"  # type: ignore[misc]
