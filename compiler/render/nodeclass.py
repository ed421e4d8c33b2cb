"""Node classes: what a node *is* (AMI, disks, network, IAM role), as opposed to the NodePool that
says *when* and *which* nodes Karpenter launches.

- Karpenter (tier2/tier3): ``karpenter.k8s.aws/v1`` EC2NodeClass, Bottlerocket pinned by alias, a
  small OS volume plus a data volume sized for the image and the model, IMDSv2 with hop limit 1
  (pods cannot borrow the node's credentials), SOCI parallel pull in the Bottlerocket userData.
- EKS Auto Mode (tier1): ``eks.amazonaws.com/v1`` NodeClass. It has no public CRD, so only the
  documented fields are emitted (role, subnet/security-group selectors, ephemeralStorage,
  capacityReservationSelectorTerms); the tests check them field by field.

Pools that need the same node shape share one class: ``<name>-gpu`` for plain GPU nodes and
``<name>-efa`` for pools whose EFA interfaces are laid out statically (see :func:`efa_interfaces`).
"""

from __future__ import annotations

import math
from typing import Any

from ..plan import pool_types
from ..profile import Pool, Reservation
from .meta import ENV_LABEL, PROFILE_LABEL, WAVE_PLATFORM, Context, metadata, object_name

COMPONENT = "capacity"
DISCOVERY_TAG = "karpenter.sh/discovery"

EC2_GROUP, EC2_KIND, EC2_API = "karpenter.k8s.aws", "EC2NodeClass", "karpenter.k8s.aws/v1"
AUTO_GROUP, AUTO_KIND, AUTO_API = "eks.amazonaws.com", "NodeClass", "eks.amazonaws.com/v1"

#: gp3 performance for the volume that holds images and the model cache: image pulls of a ~10 GB
#: vLLM image and model files are throughput-bound; 1000 MiB/s needs >= 4000 IOPS on gp3.
DATA_IOPS = 16000
DATA_THROUGHPUT = 1000
OS_VOLUME_GI = 4  # Bottlerocket's OS volume (/dev/xvda); everything else lives on /dev/xvdb

# Root/data volume derivation when capacity.rootVolumeGi is unset: room for images and logs plus
# twice the weights (a download and its unpacked/converted copy), rounded up to 50 Gi.
BASE_VOLUME_GI = 100
VOLUME_STEP_GI = 50

# Bottlerocket settings (TOML) for SOCI parallel pull. Karpenter merges this with the
# [settings.kubernetes] block it generates. Key spellings follow the Bottlerocket settings
# reference (settings.container-runtime-plugins.soci-snapshotter.*): ``pull-mode`` sits in the
# soci-snapshotter table, the tuning knobs in its ``parallel-pull-unpack`` sub-table. The
# snapshotter switch only takes effect at boot, which is exactly when userData applies.
SOCI_USER_DATA = """\
# mcompile: SOCI snapshotter with parallel pull + unpack for large inference images.
[settings.container-runtime]
snapshotter = "soci"

[settings.container-runtime-plugins.soci-snapshotter]
pull-mode = "parallel-pull-unpack"

[settings.container-runtime-plugins.soci-snapshotter.parallel-pull-unpack]
max-concurrent-downloads-per-image = 20
concurrent-download-chunk-size = "16mb"
max-concurrent-unpacks-per-image = 12
discard-unpacked-layers = true
"""


def data_volume_gi(ctx: Context) -> int:
    """capacity.rootVolumeGi, else 100 Gi + 2 x weights, rounded up to a multiple of 50 Gi."""
    pinned = ctx.profile.capacity.root_volume_gi
    if pinned:
        return pinned
    raw = BASE_VOLUME_GI + 2 * ctx.profile.model.weight_gb
    return int(math.ceil(raw / VOLUME_STEP_GI) * VOLUME_STEP_GI)


def is_bottlerocket(ctx: Context) -> bool:
    return ctx.profile.capacity.ami_alias.split("@", 1)[0] == "bottlerocket"


def efa_interfaces(pool: Pool) -> list[dict[str, Any]] | None:
    """Static EFA layout for an EFA pool, or None to let Karpenter attach EFA dynamically.

    Karpenter v1.14's EC2NodeClass has ``networkInterfaces`` (since v1.11). When set, every node of
    the class gets this layout whether or not pods request ``vpc.amazonaws.com/efa``. We use the
    layout AWS recommends for multi-card EFA instances: card 0 carries the primary ENA interface
    (device 0) and an EFA-only interface (device 1); every further card one EFA-only interface
    (EFA-only interfaces take no VPC IPs). The count comes from the catalog, so it is only safe when
    all the pool's types are known and share one EFA count. Otherwise we return None: without
    ``networkInterfaces`` Karpenter configures all interfaces as EFA for nodes launched for pods
    that request ``vpc.amazonaws.com/efa`` (the serving pods request it on EFA pools).
    """
    if not pool.efa:
        return None
    known, unknown = pool_types(pool)
    counts = sorted({t.efa for t in known})
    if unknown or len(counts) != 1 or counts[0] < 1:
        return None
    out = [{"networkCardIndex": 0, "deviceIndex": 0, "interfaceType": "interface"},
           {"networkCardIndex": 0, "deviceIndex": 1, "interfaceType": "efa-only"}]
    out += [{"networkCardIndex": card, "deviceIndex": 0, "interfaceType": "efa-only"} for card in range(1, counts[0])]
    return out


def _layout_key(pool: Pool, auto_mode: bool) -> tuple[tuple[int, int, str], ...]:
    if auto_mode:
        return ()
    layout = efa_interfaces(pool) or []
    return tuple((i["networkCardIndex"], i["deviceIndex"], i["interfaceType"]) for i in layout)


def _block_key(pool: Pool) -> tuple[str, ...]:
    """Capacity Block ids of a pool. A class selects reservations for every pool that uses it, so a
    pool holding a block gets a class of its own: no other pool launches into the block, and the
    block's pool into no other pool's reservation."""
    return tuple(r.id or "" for r in pool.reservations if r.block is not None)


def _groups(ctx: Context) -> list[tuple[str, list[Pool]]]:
    """(class name, pools) in first-use order; pools with the same network layout share a class
    (pools with Capacity Blocks get their own, named after the pool)."""
    auto = ctx.profile.capacity.provisioner == "autoMode"
    keyed: dict[tuple[tuple[tuple[int, int, str], ...], tuple[str, ...]], list[Pool]] = {}
    for pool in ctx.profile.capacity.pools:
        keyed.setdefault((_layout_key(pool, auto), _block_key(pool)), []).append(pool)
    efa_layouts = {k for k, _ in keyed if k}
    out = []
    for (key, block), pools in keyed.items():
        if block:
            name = object_name(ctx, pools[0].name)
        elif not key:
            name = object_name(ctx, "gpu")
        elif len(efa_layouts) == 1:
            name = object_name(ctx, "efa")
        else:
            name = object_name(ctx, "efa", str(sum(1 for i in key if i[2] == "efa-only")))
        out.append((name, pools))
    return out


def class_name(ctx: Context, pool: Pool) -> str:
    for name, pools in _groups(ctx):
        if any(p.name == pool.name for p in pools):
            return name
    raise KeyError(pool.name)


def node_class_ref(ctx: Context, pool: Pool) -> dict[str, str]:
    """NodePool ``spec.template.spec.nodeClassRef`` for the pool (Auto Mode or Karpenter)."""
    if ctx.profile.capacity.provisioner == "autoMode":
        return {"group": AUTO_GROUP, "kind": AUTO_KIND, "name": class_name(ctx, pool)}
    return {"group": EC2_GROUP, "kind": EC2_KIND, "name": class_name(ctx, pool)}


def _reservations(pools: list[Pool]) -> list[Reservation]:
    seen: list[Reservation] = []
    for pool in pools:
        for r in pool.reservations:
            if r not in seen:
                seen.append(r)
    return seen


def _reservation_term(r: Reservation, owner_key: str) -> dict[str, Any]:
    """A reservation by id, or by tags (+ owner account); the CRD makes ``id`` exclusive."""
    if r.id:
        return {"id": r.id}
    term: dict[str, Any] = {"tags": dict(r.tags)}
    if r.owner_id:
        term[owner_key] = r.owner_id
    return term


#: Node label Karpenter gives reserved nodes: ``default`` (ODCR) or ``capacity-block`` (Karpenter docs,
#: tasks/odcrs: "supported as NodePool requirements"). Auto Mode documents no such label.
RESERVATION_TYPE_KEY = "karpenter.k8s.aws/capacity-reservation-type"


def reservation_requirements(ctx: Context, pool: Pool) -> list[dict[str, Any]]:
    """A reserved-only Karpenter pool whose reservations are all Capacity Blocks launches only into
    blocks (the class holds only its blocks; the requirement says so to the scheduler too)."""
    if ctx.profile.capacity.provisioner == "autoMode" or set(pool.capacity_types) != {"reserved"}:
        return []
    if not pool.reservations or not all(r.block for r in pool.reservations):
        return []
    return [{"key": RESERVATION_TYPE_KEY, "operator": "In", "values": ["capacity-block"]}]


#: Auto Mode NodeClass network-policy default for pods no NetworkPolicy selects.
AUTO_NETWORK_POLICY = "DefaultAllow"


def _discovery(ctx: Context) -> list[dict[str, Any]]:
    return [{"tags": {DISCOVERY_TAG: ctx.profile.capacity.cluster_name}}]


def _tags(ctx: Context) -> dict[str, str]:
    return {PROFILE_LABEL: ctx.name, ENV_LABEL: ctx.profile.env}


def _block_devices(ctx: Context) -> list[dict[str, Any]]:
    """Bottlerocket: 4 Gi OS volume + data volume (images, logs, emptyDirs). AL2023: one root volume."""
    data = {"volumeSize": f"{data_volume_gi(ctx)}Gi", "volumeType": "gp3", "iops": DATA_IOPS,
            "throughput": DATA_THROUGHPUT, "encrypted": True, "deleteOnTermination": True}
    if not is_bottlerocket(ctx):
        return [{"deviceName": "/dev/xvda", "ebs": data}]
    os_volume = {"volumeSize": f"{OS_VOLUME_GI}Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
    return [{"deviceName": "/dev/xvda", "ebs": os_volume}, {"deviceName": "/dev/xvdb", "ebs": data}]


def ec2_node_class(ctx: Context, name: str, pools: list[Pool]) -> dict[str, Any]:
    cap = ctx.profile.capacity
    spec: dict[str, Any] = {
        "role": cap.node_role,
        "amiSelectorTerms": [{"alias": cap.ami_alias}],
        "subnetSelectorTerms": _discovery(ctx),
        "securityGroupSelectorTerms": _discovery(ctx),
        "blockDeviceMappings": _block_devices(ctx),
        # IMDSv2 only, hop limit 1: containers cannot reach the node role's credentials.
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"},
    }
    layout = efa_interfaces(pools[0])
    if layout:
        spec["networkInterfaces"] = layout
    reservations = _reservations(pools)
    if reservations:
        spec["capacityReservationSelectorTerms"] = [_reservation_term(r, "ownerID") for r in reservations]
    if cap.soci and is_bottlerocket(ctx):
        spec["userData"] = SOCI_USER_DATA
    spec["tags"] = _tags(ctx)
    return {"apiVersion": EC2_API, "kind": EC2_KIND, "metadata": metadata(ctx, name, COMPONENT, namespaced=False, wave=WAVE_PLATFORM), "spec": spec}


def auto_node_class(ctx: Context, name: str, pools: list[Pool]) -> dict[str, Any]:
    """EKS Auto Mode NodeClass: Auto Mode owns the AMI, drivers and device plugin; we size the disk.

    With ``network.policy`` the NodeClass turns on NetworkPolicy enforcement (``networkPolicy:
    DefaultAllow``: pods no policy selects keep their traffic; ours are default-deny by policy).
    Auto Mode enforces nothing without it, nor without the VPC CNI ConfigMap
    ``kube-system/amazon-vpc-cni`` (``enable-network-policy-controller: "true"``), which the fleet
    stage installs once per cluster (AWS docs, "Use Network Policies with EKS Auto Mode")."""
    cap = ctx.profile.capacity
    spec: dict[str, Any] = {
        "role": cap.node_role,
        "subnetSelectorTerms": _discovery(ctx),
        "securityGroupSelectorTerms": _discovery(ctx),
        "ephemeralStorage": {"size": f"{data_volume_gi(ctx)}Gi", "iops": DATA_IOPS, "throughput": DATA_THROUGHPUT},
    }
    if ctx.profile.network_policy:
        spec["networkPolicy"] = AUTO_NETWORK_POLICY
        spec["networkPolicyEventLogs"] = "Disabled"
    reservations = _reservations(pools)
    if reservations:
        spec["capacityReservationSelectorTerms"] = [_reservation_term(r, "owner") for r in reservations]
    return {"apiVersion": AUTO_API, "kind": AUTO_KIND, "metadata": metadata(ctx, name, COMPONENT, namespaced=False, wave=WAVE_PLATFORM), "spec": spec}


def render_classes(ctx: Context) -> list[dict[str, Any]]:
    build = auto_node_class if ctx.profile.capacity.provisioner == "autoMode" else ec2_node_class
    return [build(ctx, name, pools) for name, pools in _groups(ctx)]


def pool_gpu(pool: Pool) -> bool:
    """True unless every type the pool may launch is a known CPU-only type (the catalog is GPU-only today)."""
    known, unknown = pool_types(pool)
    return bool(unknown) or not known or any(t.gpus > 0 for t in known)


__all__ = [
    "SOCI_USER_DATA",
    "class_name",
    "data_volume_gi",
    "efa_interfaces",
    "is_bottlerocket",
    "node_class_ref",
    "pool_gpu",
    "render_classes",
    "reservation_requirements",
]
