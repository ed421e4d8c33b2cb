"""Reading a resolved profile into the typed Profile (compiler/profile_read.py): defaults fill what
the profile lacks, an explicit null falls back to the default, lists replace and are never filled
item by item."""

from __future__ import annotations

from pathlib import Path

from compiler.profile_read import _fill
from tests.plan.profiles import profile_of


def test_fill_takes_missing_keys_from_defaults_and_keeps_lists_whole() -> None:
    defaults = {"a": 1, "b": {"c": 2, "d": 3}, "items": [{"x": 1, "y": 2}]}
    assert _fill({"b": {"c": 9}, "items": [{"x": 5}]}, defaults) == {"b": {"c": 9, "d": 3}, "items": [{"x": 5}], "a": 1}
    assert _fill({"b": 7}, defaults) == {"b": 7, "a": 1, "items": [{"x": 1, "y": 2}]}  # a scalar replaces a mapping default
    assert _fill([1], defaults) == [1]


def test_profile_gets_the_tier_defaults_and_its_own_values(tmp_path: Path) -> None:
    p = profile_of(tmp_path)
    assert p.serving.gpu_memory_utilization == 0.9  # compiler/defaults/common.yaml
    assert (p.name, p.namespace, p.tier, p.env) == ("demo", "inference", "tier2", "default")
    assert [pool.name for pool in p.capacity.pools] == ["baseline", "burst"]
    changed = profile_of(tmp_path, "serving.gpuMemoryUtilization=0.8")
    assert changed.serving.gpu_memory_utilization == 0.8
