"""What each shipped profile needs from the clusters it lands on, read off its rendered objects."""

from __future__ import annotations

import json

from compiler.fleet.landing import _has_key, landings_of, needs_of
from tests.shipped import compile_tier


def test_tier1_needs_keda_prometheus_the_gateway_and_the_auto_mode_policy_controller() -> None:
    n = needs_of(compile_tier("tier1"))
    assert n.keda and n.prometheus and n.gateway and n.auto_mode_network_policy and n.ack_eks
    assert json.loads(n.gpu_operator)["devicePlugin"] == {"enabled": False}  # DCGM only: Auto Mode runs the device plugin
    assert not (n.efa or n.lws)


def test_tier2_needs_the_operator_with_bottlerocket_values_and_a_gateway() -> None:
    n = needs_of(compile_tier("tier2"))
    values = json.loads(n.gpu_operator)
    assert values["driver"] == {"enabled": False} and values["toolkit"] == {"enabled": False}
    assert values["devicePlugin"] == {"enabled": False}  # Bottlerocket runs NVIDIA's device plugin on the host
    assert values["dcgmExporter"]["enabled"] is True
    assert n.gateway and n.keda and n.prometheus
    assert not (n.efa or n.lws or n.auto_mode_network_policy)


def test_al2023_needs_the_operator_device_plugin() -> None:
    values = json.loads(needs_of(compile_tier("tier2", ("capacity.amiAlias=al2023@v20260101",))).gpu_operator)
    assert values["devicePlugin"] == {"enabled": True}


def test_tier3_needs_efa_and_leaderworkerset() -> None:
    n = needs_of(compile_tier("tier3"))
    assert n.efa and n.lws and n.keda and n.prometheus and n.gpu_operator


def test_one_landing_per_destination_of_the_environment() -> None:
    c = compile_tier("tier2", env="prod")
    got = [(x.cluster, x.server, x.env) for x in landings_of(c)]
    assert got == [("prod-use1", "https://prod-use1.eks.acme.internal", "prod"), ("prod-usw2", "https://prod-usw2.eks.acme.internal", "prod")]
    assert {str(x.where).split(":")[0] for x in landings_of(c)} == {"profiles/tier2.yaml"}


def test_an_efs_compile_cache_needs_the_efs_csi_driver_and_a_brought_class_does_not() -> None:
    tier3 = compile_tier("tier3")  # compileCache.fileSystemId: a StorageClass of efs.csi.aws.com
    assert [o["provisioner"] for o in tier3.objects if o["kind"] == "StorageClass"] == ["efs.csi.aws.com"]
    assert needs_of(tier3).efs_csi
    assert not needs_of(compile_tier("tier2")).efs_csi  # no compile cache
    # a StorageClass the cluster already has: its driver is the cluster's, nothing rendered needs it
    brought = compile_tier("tier3", ("serving.compileCache.fileSystemId=null", "serving.compileCache.storageClassName=efs-shared"))
    assert [o["kind"] for o in brought.objects if o["kind"] in ("StorageClass", "PersistentVolumeClaim")] == ["PersistentVolumeClaim"]
    assert not needs_of(brought).efs_csi


def test_dashboard_labels_are_the_ones_every_dashboard_configmap_carries() -> None:
    assert needs_of(compile_tier("tier2")).dashboard_labels == (("grafana_dashboard", "1"),)
    assert needs_of(compile_tier("tier2", ("monitoring.dashboards.enabled=false",))).dashboard_labels == ()


def test_has_key_finds_a_key_at_any_depth_and_only_as_a_key() -> None:
    deep = {"a": [{"b": [[{"vpc.amazonaws.com/efa": 1}]]}]}
    assert _has_key(deep, "vpc.amazonaws.com/efa")
    assert not _has_key({"a": ["vpc.amazonaws.com/efa", {"b": "vpc.amazonaws.com/efa"}]}, "vpc.amazonaws.com/efa")
    assert not _has_key(None, "x") and _has_key({"x": None}, "x")
    assert _has_key([1, "x", [{"y": {"x": 0}}]], "x") and not _has_key("x", "x") and not _has_key([["x"], {"y": ["x"]}], "x")
