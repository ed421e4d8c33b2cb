"""A synthetic fleet: N valid profiles generated as variations of the three shipped ones.

Profile ``i`` takes the shipped tier ``i % 3`` and varies what a real fleet varies: its name and
namespace (distinct per profile: each owns ``out/<name>/`` and its objects), the traffic
(``targetRPS``, token shapes), the model (a catalog model of the tier's scale), the node pools
(instance families/types, capacity types), the image tag and the environments' replica bounds.
Each dimension cycles with a different period, so the combinations spread across the fleet the
way independent choices would, yet the fleet is a pure function of ``n`` (no randomness): the
same ``n`` always gives the same bytes, and the benchmark is repeatable.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TIERS = ("tier1", "tier2", "tier3")

#: Per tier: (model id, parametersB, activeParametersB or None, precision, maxContext).
MODELS: dict[str, tuple[tuple[str, float, float | None, str, int], ...]] = {
    "tier1": (
        ("Qwen/Qwen3-32B-FP8", 32.8, None, "fp8", 16384),
        ("Qwen/Qwen3-8B", 8.2, None, "bf16", 32768),
        ("meta-llama/Llama-3.1-8B-Instruct", 8.0, None, "bf16", 16384),
    ),
    "tier2": (
        ("meta-llama/Llama-3.3-70B-Instruct", 70.6, None, "fp8", 32768),
        ("meta-llama/Llama-3.1-70B-Instruct", 70.6, None, "fp8", 16384),
    ),
    "tier3": (
        ("zai-org/GLM-5-FP8", 744, 40, "fp8", 65536),
        ("deepseek-ai/DeepSeek-V3", 671, 37, "fp8", 32768),
    ),
}
RPS = (1, 2, 3, 4, 6, 8)
TOKENS = ((1024, 256), (2048, 512), (512, 128), (4096, 1024))
TAGS = ("v0.28.0", "v0.27.2", "v0.26.1")
#: Per tier: pool shapes (replacing the shipped ``capacity.pools`` entries by name).
POOLS: dict[str, tuple[dict[str, dict[str, Any]], ...]] = {
    "tier1": (
        {"gpu": {"capacityType": ["on-demand", "spot"], "instanceFamilies": ["g6e"]}},
        {"gpu": {"capacityType": ["on-demand"], "instanceFamilies": ["g6e"]}},
        {"gpu": {"capacityType": ["spot", "on-demand"], "instanceFamilies": ["g6e"]}},
    ),
    "tier2": (
        {"baseline": {"instanceTypes": ["g6e.12xlarge"]}, "burst": {"instanceFamilies": ["g6e", "p5"]}},
        {"baseline": {"instanceTypes": ["g6e.24xlarge"]}, "burst": {"instanceFamilies": ["g6e"]}},
        {"baseline": {"instanceTypes": ["g6e.12xlarge", "g6e.24xlarge"]}, "burst": {"instanceFamilies": ["p5", "g6e"]}},
    ),
    "tier3": (
        {"baseline": {"instanceTypes": ["p5en.48xlarge"]}},
        {"baseline": {"instanceTypes": ["p5e.48xlarge"]}},
    ),
}


def base_profile(tier: str) -> dict[str, Any]:
    """The shipped profile of ``tier`` as plain data."""
    return yaml.safe_load((REPO / "profiles" / f"{tier}.yaml").read_text(encoding="utf-8"))


def _pick(options: tuple[Any, ...], i: int, period_salt: int) -> Any:
    """Option ``(i // 3 + salt) % len``: index ``i // 3`` counts profiles within a tier."""
    return options[(i // 3 + period_salt) % len(options)]


def variant(bases: dict[str, dict[str, Any]], i: int) -> dict[str, Any]:
    """Profile number ``i`` of the fleet (deterministic)."""
    tier = TIERS[i % 3]
    p = copy.deepcopy(bases[tier])
    p["metadata"]["name"] = f"{p['metadata']['name']}-f{i:04d}"
    p["metadata"]["namespace"] = f"{p['metadata']['namespace']}-f{i:04d}"
    model_id, params, active, precision, context = _pick(MODELS[tier], i, 0)
    model = p["model"]
    model.update({"id": model_id, "parametersB": params, "precision": precision, "maxContext": context})
    model["servedName"] = model_id.split("/")[-1].lower()
    model["source"] = f"s3://acme-models/{model['servedName']}/"
    if active is not None:
        model["activeParametersB"] = active
    rps = _pick(RPS, i, 1)
    tokens_in, tokens_out = _pick(TOKENS[:2] if tier == "tier3" else TOKENS, i, 2)
    p["workload"].update({"targetRPS": rps, "inputTokens": tokens_in, "outputTokens": tokens_out})
    p["serving"]["image"]["tag"] = _pick(TAGS, i, 0)
    if tier != "tier3" and p["serving"]["image"]["tag"] != TAGS[0]:
        # older vLLM images are outside the engine capability table: declare the features used
        p["serving"]["image"]["capabilities"] = ["s3-streaming"]
    shapes = _pick(POOLS[tier], i, 1)
    for pool in p["capacity"]["pools"]:
        pool.update(copy.deepcopy(shapes.get(pool["name"], {})))
        if "instanceTypes" in pool and "instanceFamilies" in shapes.get(pool["name"], {}):
            del pool["instanceTypes"]
    if tier == "tier3":
        for pool in p["capacity"]["pools"]:
            for r in pool.get("reservations", []):
                r["id"] = f"cr-{i:017x}"
    envs = p.get("environments") or {}
    if "prod" in envs and isinstance(envs["prod"], dict) and "autoscaling" in envs["prod"]:
        envs["prod"]["autoscaling"]["minReplicas"] = 1 + (i // 3) % 3
    return p


def profile_text(profile: dict[str, Any]) -> str:
    """YAML text of a generated profile (flow style off; keys in the shipped order)."""
    return yaml.safe_dump(profile, sort_keys=False, default_flow_style=False)


def write_fleet(directory: Path, n: int) -> list[Path]:
    """Write profiles ``0..n-1`` into ``directory`` and return their paths, in order."""
    directory.mkdir(parents=True, exist_ok=True)
    bases = {t: base_profile(t) for t in TIERS}
    paths = []
    for i in range(n):
        path = directory / f"p{i:04d}.yaml"
        path.write_text(profile_text(variant(bases, i)), encoding="utf-8")
        paths.append(path)
    return paths


def fingerprint(n: int) -> str:
    """A short digest of the whole fleet (printed with the figures, so runs can be compared)."""
    import hashlib

    bases = {t: base_profile(t) for t in TIERS}
    digest = hashlib.sha256()
    for i in range(n):
        digest.update(json.dumps(variant(bases, i), sort_keys=True).encode())
    return digest.hexdigest()[:12]
