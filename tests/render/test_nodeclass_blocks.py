"""Capacity Blocks in the node classes and NodePools (compiler/render/nodeclass.py, reservation
terms and the capacity-reservation-type requirement), checked against the real Karpenter CRDs:
the block's pool gets a class of its own selecting only the block, its NodePool allows only
reserved capacity of type capacity-block; EKS Auto Mode selects blocks the same way but has no
documented reservation-type label, so none is required there."""

from __future__ import annotations

import pytest

from compiler.render.nodeclass import RESERVATION_TYPE_KEY
from compiler.verify.crds import CrdRegistry
from tests.conftest import find_crd_dirs
from tests.render.test_vllm import compiled, objects, one

PROFILE = "tier2-capacity-block"
BLOCK = ('capacity.pools[gpu].reservations=[{id: cr-0b1c2d3e4f5a6b7c8, capacityBlock: {instanceType: p5.48xlarge, instanceCount: 1, '
         'start: "2027-01-04T11:30:00Z", end: "2027-01-05T11:30:00Z", pricePerGpuHour: 4}}]')


@pytest.fixture(scope="module")
def registry() -> CrdRegistry:
    return CrdRegistry.load(find_crd_dirs())


def test_block_pool_has_its_own_class_selecting_only_the_block(registry: CrdRegistry) -> None:
    c = compiled(PROFILE)
    classes = {o["metadata"]["name"]: o for o in objects(c, "EC2NodeClass")}
    assert set(classes) == {"llama-70b-block-gpu", "llama-70b-block-block"}
    assert classes["llama-70b-block-block"]["spec"]["capacityReservationSelectorTerms"] == [{"id": "cr-0b1c2d3e4f5a6b7c8"}]
    assert "capacityReservationSelectorTerms" not in classes["llama-70b-block-gpu"]["spec"]  # no other pool launches into it
    for o in classes.values():
        assert registry.validate(o) == [], o["metadata"]["name"]


def test_block_nodepool_requires_reserved_capacity_blocks(registry: CrdRegistry) -> None:
    c = compiled(PROFILE)
    np = one(c, "NodePool", "llama-70b-block-block")
    spec = np["spec"]["template"]["spec"]
    assert spec["nodeClassRef"]["name"] == "llama-70b-block-block"
    reqs = {r["key"]: r for r in spec["requirements"]}
    assert reqs["karpenter.sh/capacity-type"]["values"] == ["reserved"]
    assert reqs[RESERVATION_TYPE_KEY] == {"key": "karpenter.k8s.aws/capacity-reservation-type", "operator": "In", "values": ["capacity-block"]}
    assert np["spec"]["limits"]["nvidia.com/gpu"] == "24"  # planner limit, at least the block's 16 GPUs
    assert registry.validate(np) == []  # the key is on the CRD's allow-list of karpenter.k8s.aws/* requirements
    other = one(c, "NodePool", "llama-70b-block-baseline")["spec"]["template"]["spec"]
    assert RESERVATION_TYPE_KEY not in {r["key"] for r in other["requirements"]}


def test_mixed_pool_falls_back_without_the_type_requirement() -> None:
    c = compiled(PROFILE, "capacity.pools[block].capacityType=[reserved, on-demand]")
    spec = one(c, "NodePool", "llama-70b-block-block")["spec"]["template"]["spec"]
    assert RESERVATION_TYPE_KEY not in {r["key"] for r in spec["requirements"]}  # on-demand nodes carry no reservation label


def test_auto_mode_selects_blocks_without_a_karpenter_label() -> None:
    c = compiled("tier1", "capacity.pools[gpu].capacityType=[reserved, on-demand]", "capacity.pools[gpu].instanceFamilies=[g6e, p5]", BLOCK)
    (nc,) = [o for o in objects(c, "NodeClass") if o["metadata"]["name"].endswith("-gpu")]
    assert nc["apiVersion"] == "eks.amazonaws.com/v1"
    assert nc["spec"]["capacityReservationSelectorTerms"] == [{"id": "cr-0b1c2d3e4f5a6b7c8"}]
    np = one(c, "NodePool", "qwen3-32b-gpu")
    assert not [r for r in np["spec"]["template"]["spec"]["requirements"] if r["key"].startswith("karpenter.k8s.aws/")]
    assert [b.instance_type for b in c.plan.capacity_blocks] == ["p5.48xlarge"]
