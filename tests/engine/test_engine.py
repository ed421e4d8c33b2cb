"""The capability table as data: loading, image resolution, connector facts (without vLLM installed;
tests/engine/test_real_parser.py proves the flag lists against vLLM itself)."""

from __future__ import annotations

from compiler.engine import pinned, resolve, table, versions


def test_the_pinned_version_is_the_one_the_profiles_and_the_installer_use() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "install_vllm_parser.py"
    spec = importlib.util.spec_from_file_location("install_vllm_parser", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert versions() == ["0.28.0"] == [mod.VLLM_VERSION]
    assert pinned().version == "0.28.0"


def test_feature_flags_are_all_real_flags_of_the_version() -> None:
    row = pinned()
    for feature, flags in row.features:
        assert flags and set(flags) <= row.flags, feature
    assert row.feature_of("--enable-expert-parallel") == "expert-parallel"
    assert row.feature_of("--nnodes") == "multi-node"
    assert {"--use-v2-block-manager", "--swap-space"}.isdisjoint(row.flags)
    assert "runai_streamer" in row.load_formats


def test_nixl_connector_rows() -> None:
    nixl = pinned().connector("NixlConnector")
    assert nixl is not None
    assert (nixl.pipeline_parallel, nixl.data_parallel, nixl.expert_parallel) == (False, True, True)
    assert nixl.backends == ("UCX", "LIBFABRIC") and nixl.needed("LIBFABRIC") == "libfabric" and nixl.needed("UCX") is None
    assert pinned().connector("NoSuchConnector") is None


def test_default_ports() -> None:
    assert dict(pinned().ports) == {"dataParallelRpc": 29550, "http": 8000, "masterPort": 29501, "nixlSideChannel": 5600}


def test_image_resolution() -> None:
    stock = resolve("vllm/vllm-openai", "v0.28.0", None, ())
    assert stock.engine is table()["0.28.0"] and stock.known_image and stock.capabilities == frozenset()
    custom = resolve("ghcr.io/acme/vllm-openai-efa", "v0.28.0-efa1", "0.28.0", ("libfabric",))
    assert custom.engine is pinned() and not custom.known_image and custom.capabilities == {"libfabric"}
    assert resolve("vllm/vllm-openai", "v0.6.0", None, ()).engine is None  # an old tag
    assert resolve("example.com/vllm", "v0.28.0", None, ()).engine is None  # an undeclared mirror
    assert resolve("example.com/vllm", "x", "0.11.1", ()).engine is None  # a declared version outside the table


def test_the_sglang_table_is_the_pinned_install_and_separate_from_vllm() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "install_sglang_parser.py"
    spec = importlib.util.spec_from_file_location("install_sglang_parser", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert versions("sglang") == [mod.SGLANG_VERSION] == ["0.5.23"]
    row = pinned("sglang")
    assert row.engine == "sglang" and row.label == "SGLang 0.5.23" and row.disagg_connector == "nixl"
    for _, flags in row.features:  # every feature flag exists in the version
        assert set(flags) <= row.flags
    assert {"--tp-size", "--attn-dp-size", "--ep-size", "--dist-init-addr", "--enable-metrics"} <= row.flags
    assert "--tensor-parallel-size" in row.flags and "--max-model-len" not in row.flags  # SGLang's alias; vLLM's spelling
    assert dict(row.ports) == {"http": 30000, "disaggregationBootstrap": 8998}
    nixl = row.connector("nixl")
    assert nixl is not None and nixl.needed("LIBFABRIC") == "libfabric" and nixl.needed("UCX") is None


def test_resolution_is_per_engine() -> None:
    assert resolve("lmsysorg/sglang", "v0.5.23", None, ()).engine is None  # not a vLLM image
    found = resolve("lmsysorg/sglang", "v0.5.23", None, (), "sglang")
    assert found.engine is pinned("sglang") and found.known_image and found.capabilities == frozenset()
    assert resolve("vllm/vllm-openai", "v0.28.0", None, (), "sglang").engine is None
    custom = resolve("ghcr.io/acme/sglang-efa", "v0.5.23-efa1", "0.5.23", ("libfabric",), "sglang")
    assert custom.engine is pinned("sglang") and not custom.known_image
    assert resolve("ghcr.io/acme/x", "1", "0.28.0", (), "sglang").engine is None  # a vLLM version is no SGLang row
