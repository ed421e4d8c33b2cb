"""GPU sharing on the cluster (compiler/fleet/sharing.py): the GPU Operator values a cluster gets for
the MIG layouts and time-slicing configs of its profiles, rendered by the real ``helm template`` of
the upstream chart in ../shared/upstream/charts/gpu-operator and checked against its ClusterPolicy
CRD; the files the chart writes are read back as the MIG manager and device plugin would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from compiler.fleet import charts
from compiler.fleet.clusters import clusters_of
from compiler.fleet.sharing import DEVICE_PLUGIN_CONFIG_NAME, MIG_CONFIG_NAME
from tests.shipped import compile_tier

from .fleetkit import REPO, copy_profile, landings, outcomes
from .test_charts import helm_template, values_of

SHIPPED = REPO / "profiles" / "small-shared.yaml"
CLUSTER = "shared-use1"
PROFILE_LINE = "    migProfile: 2g.20gb                   # H100 80 GB: 3 per GPU, 20 GB and 2/7 of the SMs each\n"


def rendered(paths: list[Path], tmp: Path, sets: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], Any]:
    found, errors = clusters_of(landings(outcomes(paths, tmp / "out", sets=sets)))
    assert errors == []
    cluster = found[CLUSTER]
    return helm_template("gpu-operator", charts.GPU_OPERATOR.release, charts.GPU_OPERATOR.namespace, values_of(cluster, "gpu-operator"), tmp), cluster


def config_map(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name]
    return cm


def node_label(key: str, sets: tuple[str, ...] = ()) -> str:
    """The label value on the shipped profile's NodePool template."""
    (pool,) = [o for o in compile_tier("small-shared", sets).objects if o["kind"] == "NodePool"]
    return str(pool["spec"]["template"]["metadata"]["labels"][key])


def test_mig_cluster_runs_the_mig_manager_with_the_profiles_layout(registry, tmp_path: Path) -> None:
    docs, _ = rendered([SHIPPED], tmp_path)
    (policy,) = [d for d in docs if d["kind"] == "ClusterPolicy"]
    assert registry.validate(policy) == []
    spec = policy["spec"]
    assert spec["mig"]["strategy"] == "mixed"  # slices are nvidia.com/mig-<profile>, as the pods request
    assert spec["migManager"]["enabled"] is True
    assert spec["migManager"]["config"] == {"name": MIG_CONFIG_NAME, "default": "all-disabled"}
    assert spec["devicePlugin"]["enabled"] is True and spec["driver"]["enabled"] is False  # AL2023: operator plugin, host driver
    parted = yaml.safe_load(config_map(docs, MIG_CONFIG_NAME)["data"]["config.yaml"])
    assert parted["version"] == "v1"
    layout = node_label("nvidia.com/mig.config")
    assert parted["mig-configs"][layout] == [{"devices": "all", "mig-enabled": True, "mig-devices": {"2g.20gb": 3}}]
    assert parted["mig-configs"]["all-disabled"] == [{"devices": "all", "mig-enabled": False}]


def test_time_slicing_cluster_gets_a_device_plugin_config_per_replica_count(registry, tmp_path: Path) -> None:
    sets = ("serving.gpuSharing={mode: timeSlicing, replicas: 4}",)
    docs, _ = rendered([SHIPPED], tmp_path, sets)
    (policy,) = [d for d in docs if d["kind"] == "ClusterPolicy"]
    assert registry.validate(policy) == []
    assert policy["spec"]["devicePlugin"]["config"] == {"name": DEVICE_PLUGIN_CONFIG_NAME, "default": "default"}
    assert policy["spec"]["migManager"]["enabled"] is False  # no MIG profile on this cluster
    data = config_map(docs, DEVICE_PLUGIN_CONFIG_NAME)["data"]
    key = node_label("nvidia.com/device-plugin.config", sets)
    shared = yaml.safe_load(data[key])
    assert shared["version"] == "v1"
    assert shared["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert "sharing" not in yaml.safe_load(data["default"])  # unlabelled nodes keep whole GPUs


def test_profiles_on_one_cluster_get_the_union_of_their_layouts(tmp_path: Path) -> None:
    other = copy_profile(tmp_path, "small-shared", "llama-8b-big-slices", "inference-big", ((PROFILE_LINE, "    migProfile: 3g.40gb\n"),))
    docs, cluster = rendered([SHIPPED, other], tmp_path)
    assert cluster.gpu_sharing() == ("mig:mixed:2g.20gb", "mig:mixed:3g.40gb")
    parted = yaml.safe_load(config_map(docs, MIG_CONFIG_NAME)["data"]["config.yaml"])
    assert set(parted["mig-configs"]) == {"all-disabled", "all-2g.20gb", "all-3g.40gb"}


def test_two_mig_strategies_on_one_cluster_are_a_located_error(tmp_path: Path) -> None:
    single = copy_profile(tmp_path, "small-shared", "llama-8b-single", "inference-single",
                          (("    migStrategy: mixed ", "    migStrategy: single"),))
    _, errors = clusters_of(landings(outcomes([SHIPPED, single], tmp_path / "out")))
    (d,) = errors
    assert d.path == "$.serving.gpuSharing.migStrategy" and d.source.file in (single.name, "profiles/small-shared.yaml")
    assert "one mig.strategy per cluster" in d.message and "llama-8b-single" in d.message and "llama-8b-shared" in d.message
