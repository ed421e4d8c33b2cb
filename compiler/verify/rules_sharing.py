"""``gpu-sharing``: shared GPUs (MIG slices, time-sliced GPUs) work only when the pods, the NodePool
template labels and Karpenter's view of the nodes agree. Read from the objects alone:

- a pod requesting ``nvidia.com/mig-<profile>`` can schedule on a NodePool whose nodes are labelled
  ``nvidia.com/mig.config`` with a layout that makes that profile (``all-<profile>``); any other
  node never advertises the resource;
- such a NodePool has a Karpenter ``NodeOverlay`` that adds the resource to the instance types it
  may launch: Karpenter sizes nodes from EC2 data, which has no MIG resources, so without one the
  pod is Pending forever;
- on a NodePool labelled ``nvidia.com/device-plugin.config: ts-<N>`` (time-slicing N ways) every
  vLLM engine's ``--gpu-memory-utilization`` x N stays within the GPU: each engine sees the whole
  GPU and takes that fraction of it, so N engines at 0.9 would run the GPU out of memory.

:func:`slices_per_gpu` tells the capacity rules how many of a pool's GPU devices one physical GPU
(counted by the NodePool's ``nvidia.com/gpu`` limit) becomes.
"""

from __future__ import annotations

from ..catalog import instance_types
from .rules_base import RuleInput, Violation, objects_of
from .rules_nodes import NodePoolView, nodepools, schedulable
from .rules_pods import MIG_PREFIX, all_pods, engine_containers, flag

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
NODEPOOL_KEY = "karpenter.sh/nodepool"
MIG_LAYOUT_PREFIX, TIME_SLICING_PREFIX = "all-", "ts-"
#: vLLM 0.28.0 without the flag (vllm/config/cache.py: gpu_memory_utilization default 0.92, "a per-instance limit").
VLLM_DEFAULT_UTILIZATION = 0.92


def _mig_per_gpu(profile: str) -> int | None:
    """Instances of a MIG profile per GPU (catalog); None for a profile the catalog does not know."""
    for t in instance_types().values():
        for m in t.gpu.mig:
            if m.name == profile:
                return m.per_gpu
    return None


def slices_per_gpu(np: NodePoolView) -> int:
    """GPU devices one physical GPU of this pool's nodes becomes (1 without sharing)."""
    layout = np.labels.get(MIG_CONFIG_LABEL, "")
    if layout.startswith(MIG_LAYOUT_PREFIX):
        return _mig_per_gpu(layout.removeprefix(MIG_LAYOUT_PREFIX)) or 1
    ts = np.labels.get(DEVICE_PLUGIN_CONFIG_LABEL, "")
    if ts.startswith(TIME_SLICING_PREFIX) and ts.removeprefix(TIME_SLICING_PREFIX).isdigit():
        return int(ts.removeprefix(TIME_SLICING_PREFIX))
    return 1


def _overlaid(inp: RuleInput, np: NodePoolView, resource: str) -> bool:
    """Does a NodeOverlay for this NodePool add ``resource`` to Karpenter's simulation?"""
    for o in objects_of(inp, "NodeOverlay"):
        spec = o.get("spec") or {}
        pools = [r for r in spec.get("requirements") or () if r.get("key") == NODEPOOL_KEY and r.get("operator") == "In"]
        if resource in (spec.get("capacity") or {}) and any(np.name in (r.get("values") or ()) for r in pools):
            return True
    return False


def gpu_sharing(inp: RuleInput) -> list[Violation]:
    """``gpu-sharing``: MIG pods land on pools whose ``nvidia.com/mig.config`` layout makes their
    slice and that a NodeOverlay announces to Karpenter; time-sliced engines share the GPU memory."""
    out = []
    pools = nodepools(inp)
    for pod in all_pods(inp):
        usable = schedulable(pod, pools)
        for resource in pod.mig_resources():
            layout = MIG_LAYOUT_PREFIX + resource.removeprefix(MIG_PREFIX)
            making = [np for np in usable if np.labels.get(MIG_CONFIG_LABEL) == layout]
            if not making:
                out.append(Violation("gpu-sharing", pod.ref, f"{pod.position} pods request {resource}, but no NodePool they can use labels its "
                                     f"nodes {MIG_CONFIG_LABEL}={layout}: no node ever advertises the slice", ("serving", "gpuSharing", "migProfile")))
                continue
            for np in making:
                if not _overlaid(inp, np, resource):
                    out.append(Violation("gpu-sharing", np.ref, f"{pod.position} pods of {pod.ref} request {resource} on NodePool {np.name}, but no "
                                         f"NodeOverlay adds {resource} to its instance types: Karpenter knows only EC2's nvidia.com/gpu and never "
                                         "launches a node for the pod", np.selection_path()))
        for np in usable:
            n = slices_per_gpu(np)
            if n <= 1 or MIG_CONFIG_LABEL in np.labels:
                continue
            for c in engine_containers(pod):
                raw = flag(c, "--gpu-memory-utilization") or flag(c, "--mem-fraction-static")  # vLLM's, SGLang's
                share = float(raw) if raw and raw.replace(".", "", 1).isdigit() else VLLM_DEFAULT_UTILIZATION
                if share * n > 1:
                    out.append(Violation("gpu-sharing", pod.ref, f"{pod.position} pods run engines that each take {share:g} of the GPU's memory on NodePool "
                                         f"{np.name}, whose GPUs are time-sliced {n} ways: {n} engines would claim {share * n:.0%} of one GPU's "
                                         f"memory; use at most {1 / n:.3f}", ("serving", "gpuMemoryUtilization")))
    return out
