"""The kustomize overlays with their patches inline: real `kubectl kustomize` reads every patch
back as the ops we meant (adversarial strings included), byte for byte as it read the earlier
one-file-per-patch layout, and a build over an out/ in that layout removes exactly the patch
files mcompile wrote (tests/emit/test_layout.py proves every shipped overlay against the
per-environment objects)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.diff import _internal_kustomize
from compiler.emit import kustomize as kustomize_mod
from compiler.emit.kustomize import TRIM_GUARD, inline_json_patch, json_patch, kustomize_files
from compiler.emit.variance import Analysis, Variant, file_stem, object_key
from compiler.emit.yamlout import dump_document, load_documents
from compiler.toolchain import run_tool

from ..clirun import mcompile

REPO = Path(__file__).resolve().parents[2]

#: Profile-like strings a patch must carry unchanged: template syntax, quotes, colons, comments,
#: leading/trailing blanks and newlines, YAML and patch look-alikes, unicode, control characters.
ADVERSARIAL = [
    "{{ .Values.secret }} {% raw %} ${HOME} }} {{",
    "it's \"quoted\" and 'single'",
    "key: value # not a comment",
    "# a comment line",
    "  two leading spaces",
    "trailing spaces  ",
    "trailing tab\t",
    "trailing newline\n",
    "two trailing newlines\n\n",
    "\nleading newline",
    "line one\n  indented line\n\tTab line\nlast",
    "ends in a no-break space\u00a0",
    "multi-line ending in a no-break space\nsecond\u00a0",
    "multi-line ending in an ideographic space\nsecond\u3000",
    "---\n...\n- op: remove\n  path: /metadata\n",
    "$patch: delete",
    "apiVersion: v1\nkind: ConfigMap\n",
    "|\n  literal-looking\n",
    "[1, 2, {a: b}]",
    "null", "true", "y", "0x1F", "1e3", "0o17", "2001-12-14", "~", "",
    "ünïcödé ☃ 日本語 🚀",
    "carriage\r\nreturn",
    "x" * 300 + "\n" + "y" * 300,
]
#: Line separators kustomize's own YAML output folds even in a base resource (no patch involved):
#: compared as bytes against the earlier layout only.
BEYOND_KUSTOMIZE = ["line\u2028separator and \u0085 next-line"]


def _config_map(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}, "data": data}


def _objects(strings: list[str]) -> dict[str, list[dict[str, Any]]]:
    """prod (the base) and dev: per adversarial string one ConfigMap whose dev value is it (so it
    is the last value of its patch), one holding all of them at once, keys that need JSON-pointer
    escaping, a nested value replaced whole, an object only prod has and one only dev has."""
    prod = [_config_map(f"cm-{i}", {"k": "base", "same": "s"}) for i in range(len(strings))]
    dev = [_config_map(f"cm-{i}", {"k": s, "same": "s"}) for i, s in enumerate(strings)]
    prod.append(_config_map("all", {f"k{i}": "base" for i in range(len(strings))}))
    dev.append(_config_map("all", {f"k{i}": s for i, s in enumerate(strings)}))
    prod.append({**_config_map("escaped", {"a/b~c": "1", "gone/key": "x"}), "spec": {"list": [1, 2], "map": {"x": "y"}}})
    dev.append({**_config_map("escaped", {"a/b~c": "2\n", "new~key": " {{ }} "}), "spec": {"list": [1, 2, "three\n"], "map": {"x": ["y\n"]}}})
    prod.append(_config_map("prod-only", {"k": "v"}))
    dev.append(_config_map("dev-only", {"k": ADVERSARIAL[-3]}))
    return {"prod": prod, "dev": dev}


def _analysis(objects: dict[str, list[dict[str, Any]]]) -> Analysis:
    keys = list(dict.fromkeys(object_key(o) for env in ("prod", "dev") for o in objects[env]))
    by = {env: {object_key(o): o for o in objs} for env, objs in objects.items()}
    variants = [Variant(k, file_stem(next(by[e][k] for e in by if k in by[e])), f"a{i}", {e: by[e].get(k) for e in by}) for i, k in enumerate(keys)]
    return Analysis(("dev", "prod"), "prod", variants)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _kubectl_kustomize(overlay: Path) -> str:
    p = run_tool("kubectl", ["kustomize", str(overlay)])
    assert p.returncode == 0, p.stderr
    return p.stdout


def _legacy_overlay(variants: list[Variant], base_env: str, env: str, header: str) -> dict[str, str]:
    """The overlay as mcompile wrote it before the patches went inline: a file per patch under
    ``patches/`` (verbatim the earlier ``kustomize._overlay``)."""
    files: dict[str, str] = {}
    resources = ["../../base"]
    patches: list[dict[str, Any]] = []
    for v in variants:
        base, mine = v.per_env[base_env], v.per_env[env]
        if base is None and mine is not None:
            files[f"overlays/{env}/{v.stem}.yaml"] = dump_document(mine, header=header)
            resources.append(f"{v.stem}.yaml")
        elif base is not None and mine is None:
            delete = {"apiVersion": base["apiVersion"], "kind": base["kind"], "metadata": {k: base["metadata"][k] for k in ("name", "namespace") if k in base["metadata"]}, "$patch": "delete"}
            files[f"overlays/{env}/patches/{v.stem}-delete.yaml"] = dump_document(delete, header=header)
            patches.append({"path": f"patches/{v.stem}-delete.yaml"})
        elif base is not None and mine is not None and base != mine:
            files[f"overlays/{env}/patches/{v.stem}.yaml"] = dump_document(json_patch(base, mine), header=header)
            patches.append({"path": f"patches/{v.stem}.yaml", "target": kustomize_mod._target(base)})
    doc: dict[str, Any] = {**kustomize_mod.KUSTOMIZATION, "resources": resources}
    if patches:
        doc["patches"] = patches
    files[f"overlays/{env}/kustomization.yaml"] = dump_document(doc, header=header)
    return files


def test_adversarial_strings_come_back_exactly_through_real_kustomize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = _objects(ADVERSARIAL)
    files = kustomize_files(_analysis(objects), "Source: p.yaml")
    assert not any("/patches/" in rel for rel in files)
    assert sorted(rel for rel in files if rel.startswith("overlays/")) == ["overlays/dev/configmap-dev-only.yaml", "overlays/dev/kustomization.yaml", "overlays/prod/kustomization.yaml"]
    inline = _write(tmp_path / "inline", files)
    for env in ("dev", "prod"):
        rendered = {object_key(o): o for o in load_documents(_kubectl_kustomize(inline / "overlays" / env))}
        expected = {object_key(o): o for o in objects[env]}
        assert rendered.keys() == expected.keys()
        for k, o in expected.items():
            assert rendered[k] == o, f"{env} {k}: {json.dumps(rendered[k])[:400]} != {json.dumps(o)[:400]}"
    # The same bytes as kustomize gives for the one-file-per-patch layout, with every string.
    analysis = _analysis(_objects(ADVERSARIAL + BEYOND_KUSTOMIZE))
    inline = _write(tmp_path / "inline-all", kustomize_files(analysis, "Source: p.yaml"))
    monkeypatch.setattr(kustomize_mod, "_overlay", _legacy_overlay)
    legacy = _write(tmp_path / "legacy", kustomize_files(analysis, "Source: p.yaml"))
    assert (legacy / "overlays" / "dev" / "patches").is_dir()
    for env in ("dev", "prod"):
        assert _kubectl_kustomize(inline / "overlays" / env) == _kubectl_kustomize(legacy / "overlays" / env)


def _go_trim_space(text: str) -> str:
    """Go's ``strings.TrimSpace`` (Unicode White_Space), which kustomize applies to an inline patch."""
    return text.strip(" \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@pytest.mark.parametrize("value", ADVERSARIAL + BEYOND_KUSTOMIZE, ids=range(len(ADVERSARIAL) + 1))
def test_every_inline_patch_reads_back_after_kustomizes_trim(value: str) -> None:
    for ops in ([{"op": "replace", "path": "/data/k", "value": value}],
                [{"op": "replace", "path": "/data/k", "value": value}, {"op": "add", "path": "/spec/x", "value": {"b": [value], "a": value}}],
                [{"op": "replace", "path": "/data/k", "value": value}, {"op": "remove", "path": "/data/gone"}]):
        text = inline_json_patch(ops)
        assert load_documents(_go_trim_space(text)) == [ops]
        assert load_documents(text) == [ops]


def test_the_trim_guard_is_written_only_where_trimming_would_change_a_value() -> None:
    """Readable patches: the guard comment only after a last value ending in whitespace."""
    assert inline_json_patch([{"op": "replace", "path": "/a", "value": "x\n"}]).endswith("\n    x\n" + TRIM_GUARD)
    assert inline_json_patch([{"op": "replace", "path": "/a", "value": "x\n"}, {"op": "remove", "path": "/b"}]) == "- op: replace\n  path: /a\n  value: |\n    x\n- op: remove\n  path: /b\n"
    assert inline_json_patch([{"op": "replace", "path": "/a", "value": {"z": "ok", "a": "x\n"}}]) == "- op: replace\n  path: /a\n  value:\n    a: |\n      x\n    z: ok\n"


def test_overlay_kustomization_reads_as_a_reviewer_expects() -> None:
    """The patch is a literal block of YAML ops next to its target; a delete is an inline
    strategic-merge ``$patch: delete``; no file but the kustomization for patches."""
    prod = [_config_map("a", {"k": "base"}), _config_map("b", {"k": "v"})]
    dev = [_config_map("a", {"k": "dev: {{ x }}"})]
    files = kustomize_files(_analysis({"prod": prod, "dev": dev}), "Source: p.yaml")
    assert files["overlays/dev/kustomization.yaml"] == (
        "# Source: p.yaml\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "patches:\n"
        "  - patch: |\n"
        "      - op: replace\n"
        "        path: /data/k\n"
        "        value: \"dev: {{ x }}\"\n"
        "    target:\n"
        "      name: a\n"
        "      group: \"\"\n"
        "      kind: ConfigMap\n"
        "      namespace: ns\n"
        "      version: v1\n"
        "  - patch: |\n"
        "      apiVersion: v1\n"
        "      kind: ConfigMap\n"
        "      metadata:\n"
        "        name: b\n"
        "        namespace: ns\n"
        "      $patch: delete\n"
        "resources:\n"
        "  - ../../base\n"
    )
    assert sorted(files) == ["base/configmap-a.yaml", "base/configmap-b.yaml", "base/kustomization.yaml", "overlays/dev/kustomization.yaml", "overlays/prod/kustomization.yaml"]


def _by_key(objects: Any) -> dict[tuple, dict[str, Any]]:
    return {object_key(o): o for o in objects}


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "lock"}


def _legacy_build(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """out/ as the earlier mcompile built it (no build cache: its entries would carry that layout)."""
    with monkeypatch.context() as m:
        m.setattr(kustomize_mod, "_overlay", _legacy_overlay)
        m.setenv("MCOMPILE_NO_CACHE", "1")
        r = mcompile("build", "profiles/tier2.yaml", cwd=project)
    assert r.code == 0, r.stderr
    assert not (project / ".mcompile-cache").exists()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "profiles").mkdir()
    shutil.copy(REPO / "profiles" / "tier2.yaml", tmp_path / "profiles" / "tier2.yaml")
    return tmp_path


def test_rebuild_over_the_one_file_per_patch_layout_deletes_those_files(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _legacy_build(project, monkeypatch)
    out = project / "out"
    overlays = out / "llama-70b" / "kustomize" / "overlays"
    old_patches = sorted(p.name for p in (overlays / "dev" / "patches").iterdir())
    manifest = (out / ".mcompile" / "manifest.json").read_text()
    assert len(old_patches) > 10 and all(f'"llama-70b/kustomize/overlays/dev/patches/{n}"' in manifest for n in old_patches)
    rendered = {env: _kubectl_kustomize(overlays / env) for env in ("dev", "prod")}
    assert _by_key(_internal_kustomize(overlays / "dev")) == _by_key(yaml.safe_load_all(rendered["dev"]))  # `diff --base` reads old trees

    r = mcompile("build", "profiles/tier2.yaml", cwd=project)
    assert r.code == 0, r.stderr
    assert f"{len(old_patches)} deleted" in r.stdout, r.stdout
    assert not (overlays / "dev" / "patches").exists()  # the directory too, emptied by our deletes
    assert "/patches/" not in (out / ".mcompile" / "manifest.json").read_text()
    assert {env: _kubectl_kustomize(overlays / env) for env in ("dev", "prod")} == rendered
    assert _by_key(_internal_kustomize(overlays / "dev")) == _by_key(yaml.safe_load_all(rendered["dev"]))
    # ... and is what a fresh build writes.
    fresh = project / "fresh"
    fresh.mkdir()
    shutil.copytree(project / "profiles", fresh / "profiles")
    assert mcompile("build", "profiles/tier2.yaml", cwd=fresh).code == 0
    assert _tree(out) == _tree(fresh / "out")
    assert mcompile("check", "profiles/tier2.yaml", cwd=project).code == 0


def test_rebuild_over_the_old_layout_keeps_what_mcompile_did_not_write(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _legacy_build(project, monkeypatch)
    patches = project / "out" / "llama-70b" / "kustomize" / "overlays" / "dev" / "patches"
    mine = patches / "notes-by-hand.yaml"
    mine.write_text("# mine\n")
    edited = patches / "service-llama-70b.yaml"
    edited.write_text(edited.read_text() + "# reviewed by hand\n")
    count = len(list(patches.iterdir()))
    r = mcompile("build", "profiles/tier2.yaml", cwd=project)
    assert r.code == 0, r.stderr
    assert f"{count - 2} deleted" in r.stdout and ", 1 kept" in r.stdout, r.stdout
    assert "llama-70b/kustomize/overlays/dev/patches/service-llama-70b.yaml: modified by hand, left in place" in r.stderr
    assert sorted(p.name for p in patches.iterdir()) == ["notes-by-hand.yaml", "service-llama-70b.yaml"]
    assert mine.read_text() == "# mine\n" and edited.read_text().endswith("# reviewed by hand\n")
