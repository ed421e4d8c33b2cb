"""GPU sharing on the cluster side: the NVIDIA GPU Operator settings that make the node labels of the
profiles' NodePools (``nvidia.com/mig.config``, ``nvidia.com/device-plugin.config``, see
:mod:`compiler.render.gpushare`) take effect. One operator runs per cluster, so what the profiles
on a cluster need is merged: the union of their MIG layouts and time-slicing configs, one MIG
strategy (ClusterPolicy ``mig.strategy`` is cluster-wide: two strategies are a located error).

Chart values (checked against ../shared/upstream/charts/gpu-operator, v26.7.0: values.yaml,
templates/clusterpolicy.yaml, mig_config.yaml, plugin_config.yaml):

- ``mig.strategy``: single | mixed (ClusterPolicy ``spec.mig.strategy``);
- ``migManager.enabled`` with ``migManager.config {create, name, default, data}``: the chart writes
  the ConfigMap ``name`` with ``data`` (key ``config.yaml``, the mig-parted format: ``version: v1``,
  ``mig-configs: {<layout>: [{devices: all, mig-enabled, mig-devices: {<profile>: <count>}}]}``)
  and the ClusterPolicy's ``migManager.config {name, default}``; nodes without the label get
  ``default`` (``all-disabled``, the chart's default too);
- ``devicePlugin.config {create, name, default, data}``: one key per config (the device plugin's
  ``version: v1`` config with ``flags.migStrategy`` and ``sharing.timeSlicing.resources[{name,
  replicas}]``), selected per node by ``nvidia.com/device-plugin.config``; ``default`` for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..catalog import instance_types
from ..plan.model import Plan
from ..plan.sharing import GPU_RESOURCE, mig_layout, time_slicing_config

MIG_CONFIG_NAME = "mcompile-mig-parted-config"
DEVICE_PLUGIN_CONFIG_NAME = "mcompile-device-plugin-config"
MIG_DEFAULT_LAYOUT = "all-disabled"
DEVICE_PLUGIN_DEFAULT = "default"  # key of the plain config (no time-slicing) for unlabelled nodes


def needs_of(plan: Plan) -> tuple[str, ...]:
    """What one environment asks of the cluster's GPU Operator: ``mig:<strategy>:<profile>`` or
    ``timeSlicing:<replicas>`` (empty: nothing)."""
    sh = plan.sharing
    if sh is None:
        return ()
    if sh.mode == "mig":
        return (f"mig:{sh.mig_strategy}:{sh.mig_profile}",)
    return (f"timeSlicing:{sh.slices_per_gpu}",)


def strategies(needs: Iterable[str]) -> set[str]:
    return {n.split(":")[1] for n in needs if n.startswith("mig:")}


def _per_gpu(profile: str) -> int:
    for t in instance_types().values():
        for m in t.gpu.mig:
            if m.name == profile:
                return m.per_gpu
    raise KeyError(profile)  # the planner only accepts catalog profiles


def _yaml_block(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def mig_parted_config(profiles: Iterable[str]) -> str:
    """The mig-parted file: MIG off by default, and one layout per profile that puts it on every GPU."""
    lines = ["version: v1", "mig-configs:", f"  {MIG_DEFAULT_LAYOUT}:", "    - devices: all", "      mig-enabled: false"]
    for p in sorted(set(profiles)):
        lines += [f"  {mig_layout(p)}:", "    - devices: all", "      mig-enabled: true", "      mig-devices:", f'        "{p}": {_per_gpu(p)}']
    return _yaml_block(lines)


def device_plugin_config(strategy: str, replicas: int | None) -> str:
    """One device-plugin config: the cluster's MIG strategy, time-sliced ``replicas`` ways if given."""
    lines = ["version: v1", "flags:", f"  migStrategy: {strategy}"]
    if replicas:
        lines += ["sharing:", "  timeSlicing:", "    resources:", f"      - name: {GPU_RESOURCE}", f"        replicas: {replicas}"]
    return _yaml_block(lines)


def operator_values(values: dict[str, Any], needs: Iterable[str]) -> dict[str, Any]:
    """``values`` (the profiles' agreed operator values) with what the cluster's sharing needs."""
    needs = sorted(set(needs))
    if not needs:
        return values
    out = dict(values)
    mig = sorted({n.split(":")[2] for n in needs if n.startswith("mig:")})
    strategy = min(strategies(needs), default="none")  # more than one: a located error (clusters.py)
    if mig:
        out["mig"] = {"strategy": strategy}
        out["migManager"] = {"enabled": True, "config": {"create": True, "name": MIG_CONFIG_NAME, "default": MIG_DEFAULT_LAYOUT,
                                                         "data": {"config.yaml": mig_parted_config(mig)}}}
    replicas = sorted({int(n.split(":")[1]) for n in needs if n.startswith("timeSlicing:")})
    if replicas:
        data = {DEVICE_PLUGIN_DEFAULT: device_plugin_config(strategy, None)}
        data.update({time_slicing_config(r): device_plugin_config(strategy, r) for r in replicas})
        plugin = dict(out.get("devicePlugin", {}))
        plugin["config"] = {"create": True, "name": DEVICE_PLUGIN_CONFIG_NAME, "default": DEVICE_PLUGIN_DEFAULT, "data": data}
        out["devicePlugin"] = plugin
    return out
