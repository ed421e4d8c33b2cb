"""Refusals for serving.engine: sglang (compiler/plan/sglang_checks.py and the engine-aware parts of
compiler/plan/checks.py): every one a located error, through the real pipeline and through the CLI
on a profile file (file:line:col, exit 2, nothing written)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.errors import InputError
from tests.shipped import REPO, compile_tier


def refused(tier: str, *sets: str) -> str:
    with pytest.raises(InputError) as e:
        compile_tier(tier, tuple(sets))
    return str(e.value)


def test_shipped_sglang_profiles_compile() -> None:
    for tier in ("tier2-sglang", "tier3-sglang"):
        assert compile_tier(tier).objects


@pytest.mark.parametrize("tier,sets,path,text", [
    # a flag SGLang 0.5.23 does not have (its old expert-parallel switch)
    ("tier2-sglang", ("serving.extraArgs=[--enable-ep-moe]",), "$.serving.extraArgs[0]:", "SGLang 0.5.23 has no --enable-ep-moe"),
    # a vLLM flag on the SGLang engine
    ("tier2-sglang", ("serving.extraArgs=[--max-model-len, '4096']",), "$.serving.extraArgs[0]:", "SGLang 0.5.23 has no --max-model-len"),
    # extraArgs that contradict a generated flag
    ("tier2-sglang", ("serving.extraArgs=[--tp-size, '8']",), "$.serving.extraArgs[0]:", "--tp-size 8 contradicts the generated --tp-size 4"),
    ("tier3-sglang", ("serving.extraArgs=[--context-length=4096]",), "$.serving.extraArgs[0]:", "contradicts the generated --context-length 65536"),
    # Ray multi-node: SGLang runs natively
    ("tier3-sglang", ("serving.multiNode.backend=ray",), "$.serving.multiNode.backend:", "use backend mp"),
    # vLLM's torch.compile cache is useless to SGLang
    ("tier3-sglang", ("serving.compileCache.enabled=true", "serving.compileCache.fileSystemId=fs-0a1b2c3d4e5f67890"), "$.serving.compileCache:", "SGLang never reads"),
    # s3:// on the stock image: no runai-model-streamer[s3]
    ("tier2-sglang", ("model.source=s3://acme-models/llama/", "identity.modelRoleArn=arn:aws:iam::111122223333:role/llama-read"), "$.model.source:", "runai-model-streamer[s3]"),
    # NIXL LIBFABRIC on the stock image: no libfabric
    ("tier3-sglang", ("serving.image.repository=lmsysorg/sglang", "serving.image.tag=v0.5.23", "serving.image.capabilities=[s3-streaming]"),
     "$.serving.image:", "stock lmsysorg/sglang does not"),
    # an image outside the SGLang table (a vLLM image on the SGLang engine)
    ("tier2-sglang", ("serving.image.repository=vllm/vllm-openai", "serving.image.tag=v0.28.0"), "$.serving.image.tag:",
     "compiler/engine/: SGLang 0.5.23"),
    ("tier3-sglang", ("serving.image.engineVersion=0.4.9", "serving.image.capabilities=[]"), "$.serving.image.engineVersion:", "use lmsysorg/sglang:v0.5.23"),
])
def test_sglang_refusals_are_located(tier: str, sets: tuple[str, ...], path: str, text: str) -> None:
    msg = refused(tier, *sets)
    assert path in msg and text in msg, msg


def test_equal_extra_args_and_ucx_are_fine() -> None:
    assert compile_tier("tier2-sglang", ("serving.extraArgs=[--tp-size, '4']",)).objects
    assert compile_tier("tier3-sglang", ("serving.extraArgs=[--trust-remote-code]",)).objects


def test_the_cli_locates_a_refusal_in_the_profile_file(tmp_path: Path) -> None:
    """validate and build on a profile whose multiNode.backend line is wrong: file:line:col, exit 2,
    out/ untouched."""
    text = (REPO / "profiles" / "tier3-sglang.yaml").read_text()
    bad = text.replace("  parallelism: {tensor: 1, data: 16, expert: true}\n",
                       "  parallelism: {tensor: 1, data: 16, expert: true}\n  multiNode: {backend: ray}\n")
    assert bad != text
    (tmp_path / "profiles").mkdir()
    prof = tmp_path / "profiles" / "tier3-sglang.yaml"
    prof.write_text(bad)
    line = bad.splitlines().index("  multiNode: {backend: ray}") + 1
    for cmd in (["validate", "profiles/tier3-sglang.yaml"], ["build", "profiles/tier3-sglang.yaml"]):
        r = subprocess.run([sys.executable, "-m", "compiler", *cmd], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
                           env={"MCOMPILE_CRDS": str(REPO.parent / "shared" / "crds"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
        assert r.returncode == 2, r.stderr
        assert f"profiles/tier3-sglang.yaml:{line}:" in r.stderr and "$.serving.multiNode.backend:" in r.stderr
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.yaml"))
    shutil.rmtree(tmp_path / "profiles")
