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
