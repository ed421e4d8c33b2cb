"""LeaderWorkerSets, leader Services and PDBs for multi-node/disaggregated roles (compiler/render/lws.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compiler.catalog import instance_types
from compiler.render import lws
from compiler.verify.crds import CrdRegistry
from compiler.verify.kube import KubeValidator
from tests.render.test_vllm import as_pod, compiled, ctx_of, flag, main_container, matches, objects, one

WORKER_INDEX = "leaderworkerset.sigs.k8s.io/worker-index"
VARIANTS = [("tier3",), ("tier3", "serving.multiNode.backend=ray"), ("tier3", "serving.disaggregation.enabled=false"),
            ("tier3", "autoscaling.enabled=false")]


def group_pods(lws_obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(worker-index, template) for one group, labelled like the LWS controller labels them."""
    lwt = lws_obj["spec"]["leaderWorkerTemplate"]
    leader = lwt.get("leaderTemplate", lwt["workerTemplate"])
    pods = [("0", leader)] + [(str(i), lwt["workerTemplate"]) for i in range(1, lwt["size"])]
    return [(i, {**t, "metadata": {**t["metadata"], "labels": {**t["metadata"]["labels"], WORKER_INDEX: i,
                                                                "leaderworkerset.sigs.k8s.io/name": lws_obj["metadata"]["name"]}}})
            for i, t in pods]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_is_valid(variant: tuple[str, ...], registry: CrdRegistry, kube: KubeValidator) -> None:
    out = lws.render(ctx_of(compiled(*variant)))
    assert any(o["kind"] == "LeaderWorkerSet" for o in out)
    for obj in out:
        assert len(obj["metadata"]["name"]) <= 63
        if obj["kind"] == "LeaderWorkerSet":
            assert registry.validate(obj) == []
            for _, pod in group_pods(obj):
                assert kube.validate(as_pod(pod)) == []
        else:
            assert obj["kind"] in ("Service", "PodDisruptionBudget")
            assert kube.validate(obj) == []


def test_single_node_tiers_render_nothing() -> None:
    assert lws.render(ctx_of(compiled("tier1"))) == []
    assert lws.render(ctx_of(compiled("tier2"))) == []


def test_group_shape_matches_the_plan() -> None:
    c = compiled("tier3")
    for rp in c.plan.roles:
        obj = one(c, "LeaderWorkerSet", f"glm-5-{rp.role}")
        lwt = obj["spec"]["leaderWorkerTemplate"]
        assert lwt["size"] == rp.pods_per_replica == 2
        assert lwt["restartPolicy"] == "RecreateGroupOnPodRestart"
        assert obj["spec"]["startupPolicy"] == "LeaderCreated"
        assert obj["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"] == {"maxUnavailable": 1, "maxSurge": 0}
        for _, pod in group_pods(obj):
            args = main_container(pod)["args"]
            tp, pp = int(flag(args, "--tensor-parallel-size")), int(flag(args, "--pipeline-parallel-size") or 1)
            dp = int(flag(args, "--data-parallel-size") or 1)
            gpus = int(main_container(pod)["resources"]["limits"]["nvidia.com/gpu"])
            assert tp * pp * dp == gpus * lwt["size"] == rp.gpus_per_pod * rp.pods_per_replica


def test_replicas_only_without_autoscaling() -> None:
    for obj in objects(compiled("tier3"), "LeaderWorkerSet"):
        assert "replicas" not in obj["spec"]  # KEDA scales groups through the scale subresource
    c = compiled("tier3", "autoscaling.enabled=false")
    for obj in objects(c, "LeaderWorkerSet"):
        role = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        assert obj["spec"]["replicas"] == c.plan.role(role).min_replicas


def test_mp_leader_and_headless_workers() -> None:
    c = compiled("tier3")
    for obj in objects(c, "LeaderWorkerSet"):
        (_, leader), (_, worker) = group_pods(obj)
        la, wa = main_container(leader)["args"], main_container(worker)["args"]
        for args in (la, wa):
            assert flag(args, "--distributed-executor-backend") == "mp"
            assert flag(args, "--nnodes") == "$(LWS_GROUP_SIZE)"
            assert flag(args, "--master-addr") == "$(LWS_LEADER_ADDRESS)"
        assert flag(la, "--node-rank") == "0" and "--headless" not in la
        assert flag(wa, "--node-rank") == "$(LWS_WORKER_INDEX)" and "--headless" in wa
        # only the leader serves HTTP: workers get no HTTP port and no probes that would wait for the model
        assert "startupProbe" in main_container(leader)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe not in main_container(worker)
        assert "http" not in [p["name"] for p in main_container(worker).get("ports", [])]


def test_ray_backend_keeps_profile_strings_out_of_the_script() -> None:
    c = compiled("tier3", "serving.multiNode.backend=ray", "serving.extraArgs=['--tokenizer=$(y) `z`']")
    for obj in objects(c, "LeaderWorkerSet"):
        (_, leader), (_, worker) = group_pods(obj)
        lc, wc = main_container(leader), main_container(worker)
        assert lc["command"][:2] == ["/bin/bash", "-c"] and 'exec vllm serve "$@"' in lc["command"][2]
        assert "--ray_cluster_size=$(LWS_GROUP_SIZE)" in lc["command"][2]
        assert flag(lc["args"], "--distributed-executor-backend") == "ray"
        assert lc["args"][-1] == "--tokenizer=$$(y) `z`"
        assert "--tokenizer" not in " ".join(lc["command"])
        assert "--ray_address=$(LWS_LEADER_ADDRESS)" in wc["command"][2] and "args" not in wc
        assert "readinessProbe" not in wc


def test_efa_on_leader_and_workers_alike() -> None:
    c = compiled("tier3")
    for obj in objects(c, "LeaderWorkerSet"):
        rp = c.plan.role(obj["metadata"]["labels"]["app.kubernetes.io/component"])
        want = str(instance_types()[rp.sizing_type].efa)
        for _, pod in group_pods(obj):
            cn = main_container(pod)
            assert cn["resources"]["requests"]["vpc.amazonaws.com/efa"] == cn["resources"]["limits"]["vpc.amazonaws.com/efa"] == want
            env = {e["name"]: e.get("value") for e in cn["env"]}
            assert env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1"
            assert "IPC_LOCK" in cn["securityContext"]["capabilities"]["add"]
            assert any(v["name"] == "dshm" and v["emptyDir"]["medium"] == "Memory" for v in pod["spec"]["volumes"])


def test_nixl_kv_transfer_side_channel_and_ports() -> None:
    c = compiled("tier3")
    s = c.profile.serving
    roles = {r.name: r for r in s.roles}
    for obj in objects(c, "LeaderWorkerSet"):
        role = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        rp = c.plan.role(role)
        for _, pod in group_pods(obj):
            cn = main_container(pod)
            cfg = json.loads(flag(cn["args"], "--kv-transfer-config"))
            assert cfg == {"kv_connector": "NixlConnector", "kv_role": roles[role].kv_role, "kv_connector_extra_config": {"backends": ["LIBFABRIC"]}}
            env = {e["name"]: e for e in cn["env"]}
            assert env["VLLM_NIXL_SIDE_CHANNEL_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
            assert env["VLLM_NIXL_SIDE_CHANNEL_PORT"]["value"] == str(s.side_channel_port) == "5600"
            nixl = [p for p in cn["ports"] if p["name"].startswith("nixl-")]
            assert [p["containerPort"] for p in nixl] == list(range(5600, 5600 + rp.tensor * rp.data))
            assert all(len(p["name"]) <= 15 for p in cn["ports"])
    assert {r.kv_role for r in s.roles} == {"kv_producer", "kv_consumer"}


def test_services_select_leaders_and_never_collide_with_lws_headless_services() -> None:
    c = compiled("tier3")
    lws_objs = objects(c, "LeaderWorkerSet")
    lws_names = {o["metadata"]["name"] for o in lws_objs}
    services = objects(c, "Service")
    assert not lws_names & {s["metadata"]["name"] for s in services}

    def selected(svc: dict[str, Any]) -> set[tuple[str, str]]:
        return {(o["metadata"]["name"], i) for o in lws_objs for i, pod in group_pods(o)
                if matches(svc["spec"]["selector"], pod["metadata"]["labels"])}

    assert selected(one(c, "Service", "glm-5")) == {("glm-5-decode", "0")}
    assert selected(one(c, "Service", "glm-5-decode-leader")) == {("glm-5-decode", "0")}
    assert selected(one(c, "Service", "glm-5-prefill-leader")) == {("glm-5-prefill", "0")}
    for svc in services:  # the serving Services (the picker's serves gRPC)
        if svc["metadata"]["labels"]["app.kubernetes.io/component"] != "endpoint-picker":
            assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["ports"][0]["targetPort"] == "http"


def test_pdb_guards_every_pod_of_a_role() -> None:
    c = compiled("tier3")
    for obj in objects(c, "LeaderWorkerSet"):
        pdb = one(c, "PodDisruptionBudget", obj["metadata"]["name"])
        assert pdb["spec"]["maxUnavailable"] == 1
        pods = group_pods(obj)
        assert all(matches(pdb["spec"]["selector"]["matchLabels"], p["metadata"]["labels"]) for _, p in pods)
        other = next(o for o in objects(c, "LeaderWorkerSet") if o is not obj)
        assert not any(matches(pdb["spec"]["selector"]["matchLabels"], p["metadata"]["labels"]) for _, p in group_pods(other))


def test_non_disaggregated_multi_node_serves_through_the_entry_service() -> None:
    c = compiled("tier3", "serving.disaggregation.enabled=false")
    (obj,) = objects(c, "LeaderWorkerSet")
    assert obj["metadata"]["name"] == "glm-5-serve"
    (svc,) = [s for s in objects(c, "Service") if s["metadata"]["labels"]["app.kubernetes.io/component"] == "serve"]
    assert svc["metadata"]["name"] == "glm-5"
    assert [i for i, p in group_pods(obj) if matches(svc["spec"]["selector"], p["metadata"]["labels"])] == ["0"]
    cn = main_container(group_pods(obj)[0][1])
    assert "--kv-transfer-config" not in cn["args"]
    assert "VLLM_NIXL_SIDE_CHANNEL_PORT" not in {e["name"] for e in cn["env"]}


def test_groups_stay_in_one_zone() -> None:
    c = compiled("tier3")
    for obj in objects(c, "LeaderWorkerSet"):
        for _, pod in group_pods(obj):
            (term,) = pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            assert term["topologyKey"] == "topology.kubernetes.io/zone"
            assert matches(term["labelSelector"]["matchLabels"], pod["metadata"]["labels"])  # first pod may schedule
