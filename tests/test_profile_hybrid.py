"""The typed view of Capacity Blocks and capacity.hybrid (compiler/profile_hybrid.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from compiler.profile_hybrid import CapacityBlock, capacity_block, hybrid, parse_time


def test_times_are_utc_with_or_without_seconds() -> None:
    assert parse_time("2027-01-04T11:30:00Z") == datetime(2027, 1, 4, 11, 30, tzinfo=UTC)
    assert parse_time("2027-01-04T11:30Z") == datetime(2027, 1, 4, 11, 30, tzinfo=UTC)


def test_block_hours_span_the_window() -> None:
    b = capacity_block({"id": "cr-1", "capacityBlock": {"instanceType": "p5.48xlarge", "instanceCount": 2, "start": "2027-01-04T11:30:00Z",
                                                         "end": "2027-01-05T23:30Z", "pricePerGpuHour": 3}})
    assert b == CapacityBlock("p5.48xlarge", 2, "2027-01-04T11:30:00Z", "2027-01-05T23:30Z", 3.0)
    assert b.hours == 36
    assert capacity_block({"id": "cr-1"}) is None


def test_hybrid_reads_defaults_and_sorts_labels() -> None:
    h = hybrid({"hybrid": {"nodes": 1, "gpusPerNode": 4, "gpu": {"name": "A100", "memoryGB": 80}, "cpu": 64, "memoryGi": 512,
                           "nodeLabels": {"z": "1", "a": "2"}, "taints": [{"key": "k", "effect": "NoSchedule"}], "remotePodNetworks": ["10.0.0.0/16"]}})
    assert h is not None and h.replicas is None and h.node_labels == (("a", "2"), ("z", "1"))
    assert h.taints[0].value is None and h.remote_pod_networks == ("10.0.0.0/16",)
    assert hybrid({}) is None
