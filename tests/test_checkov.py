"""Secure output: checkov (offline) finds nothing wrong in what `mcompile build` writes, and no
plaintext credential is ever written to out/.

The three shipped profiles are built into a temporary out/ exactly as the CLI does, then checkov
scans it once per framework, the three runs in parallel:

* ``helm``: every chart (checkov renders it with ``helm template`` and the chart's values.yaml);
* ``kustomize``: every base and every overlay, i.e. every environment (via ``kubectl kustomize``);
* ``kubernetes``: what the two above cannot see. checkov has no checks for the LeaderWorkerSet
  CRD, so tier3's pods would pass unseen: each LWS pod template (leader and worker) is scanned
  as a Deployment carrying the LWS's own metadata (its ``checkov.io/skip`` annotations included)
  next to that environment's NetworkPolicies; plus the GitOps manifests (deploy/, platform/);
* ``secrets``: every file of out/ for keys and tokens (it reports findings only).

Zero failed checks, zero parsing errors. A check may only be skipped by an annotation mcompile
wrote on the object, with a reason from compiler.render.security.CATALOGUE. Network access is
cut (dead proxy, --skip-download, no API key, no update check): the scan must work offline.
Run with ``-s`` to see the passed/failed/skipped counts per profile and framework.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.build import build_files, target_for
from compiler.render import security
from compiler.store.writer import write_outputs
from compiler.toolchain import find_tool, run_tool
from compiler.verify import make_verifier

from .shipped import shipped_profiles

REPO = Path(__file__).resolve().parent.parent
PROFILES = tuple(shipped_profiles())  # every profile in profiles/
FRAMEWORKS = ("helm", "kustomize", "kubernetes", "secrets")
DEAD_PROXY = "http://127.0.0.1:9"
CHECKOV_TIMEOUT = 600


@dataclass(frozen=True)
class Built:
    out: Path
    overlays: dict[str, list[str]]  # profile -> environments (overlay dirs)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("checkov") / "out"
    targets = [target_for(REPO / "profiles" / f"{p}.yaml", out, (), ()) for p in PROFILES]
    for scope, files in build_files(targets, make_verifier()):
        write_outputs(out, files, scope=scope)
    profiles = [d for d in sorted(out.iterdir()) if d.is_dir() and not d.name.startswith((".", "_"))]  # not .mcompile, _platform
    overlays = {d.name: sorted(o.name for o in (d / "kustomize" / "overlays").iterdir()) for d in profiles}
    assert len(overlays) == len(PROFILES)
    return Built(out, overlays)


# --------------------------------------------------------------------------- scan inputs


def kustomize_build(overlay: Path) -> list[dict[str, Any]]:
    p = run_tool("kubectl", ["kustomize", str(overlay)])
    assert p.returncode == 0, p.stderr
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def pod_template_stand_ins(lws: dict[str, Any]) -> list[dict[str, Any]]:
    """Each pod template of a LeaderWorkerSet as a Deployment checkov knows how to check, with the
    LWS's metadata (name suffixed by the template) so its skip annotations apply."""
    out = []
    lwt = lws["spec"]["leaderWorkerTemplate"]
    for key in ("leaderTemplate", "workerTemplate"):
        if key not in lwt:
            continue
        metadata = copy.deepcopy(lws["metadata"])
        metadata["name"] = f"{metadata['name']}-{key.removesuffix('Template')}"
        template = copy.deepcopy(lwt[key])
        out.append({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
                    "spec": {"selector": {"matchLabels": template["metadata"]["labels"]}, "template": template}})
    return out


def kubernetes_scan_dir(built: Built, root: Path) -> Path:
    """<root>/<profile>/<env>/lws-pods.yaml (with the env's NetworkPolicies) and the GitOps files."""
    for profile, envs in built.overlays.items():
        for env in envs:
            objs = kustomize_build(built.out / profile / "kustomize" / "overlays" / env)
            stand_ins = [s for o in objs if o["kind"] == "LeaderWorkerSet" for s in pod_template_stand_ins(o)]
            if stand_ins:
                policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
                (root / profile / env).mkdir(parents=True)
                (root / profile / env / "lws-pods.yaml").write_text(yaml.safe_dump_all(stand_ins + policies, sort_keys=True))
        if (built.out / profile / "deploy").is_dir():
            shutil.copytree(built.out / profile / "deploy", root / profile / "deploy")
    shutil.copytree(built.out / "_platform", root / "_platform")  # every cluster's platform objects
    return root


# --------------------------------------------------------------------------- running checkov


def checkov_command() -> list[str]:
    exe = Path(sys.executable).with_name("checkov")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "checkov.main"]


def checkov_env() -> dict[str, str]:
    env = dict(os.environ)
    tool_dirs = [str(find_tool(t).parent) for t in ("helm", "kubectl")]
    env["PATH"] = os.pathsep.join(dict.fromkeys(tool_dirs + [env.get("PATH", "")]))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[var] = DEAD_PROXY  # any network call fails at once instead of going out
    for var in ("NO_PROXY", "no_proxy", "BC_API_KEY", "PRISMA_API_URL"):
        env.pop(var, None)
    env.update({"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE", "LOG_LEVEL": "WARNING"})
    return env


def start_checkov(directory: Path, framework: str) -> subprocess.Popen[str]:
    cmd = checkov_command() + ["-d", str(directory), "--framework", framework, "--output", "json",
                               "--compact", "--skip-download", "--skip-results-upload"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=checkov_env(), cwd=directory)


@dataclass(frozen=True)
class Scan:
    framework: str
    root: Path
    report: dict[str, Any]
    stderr: str

    def results(self, outcome: str) -> list[dict[str, Any]]:
        return list(self.report["results"][f"{outcome}_checks"])


def finish(framework: str, root: Path, proc: subprocess.Popen[str]) -> Scan:
    stdout, stderr = proc.communicate(timeout=CHECKOV_TIMEOUT)
    assert proc.returncode in (0, 1), f"checkov {framework} crashed (rc {proc.returncode}):\n{stderr[-3000:]}"
    data = json.loads(stdout)
    reports = data if isinstance(data, list) else [data]
    mine = [r for r in reports if r.get("check_type") == framework]
    if not mine:  # nothing parsed: checkov prints a bare summary (unscanned() reports it)
        assert reports and reports[0].get("resource_count") == 0, stdout[:2000]
        empty = {f"{o}_checks": [] for o in ("passed", "failed", "skipped")}
        return Scan(framework, root, {"check_type": framework, "results": empty, "summary": reports[0]}, stderr)
    assert len(mine) == 1, f"checkov {framework}: {len(mine)} reports"
    return Scan(framework, root, mine[0], stderr)


@pytest.fixture(scope="module")
def scans(built: Built, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scan]:
    k8s = kubernetes_scan_dir(built, tmp_path_factory.mktemp("checkov-k8s"))
    started = time.monotonic()
    roots = {"helm": built.out, "kustomize": built.out, "kubernetes": k8s, "secrets": built.out}
    procs = {fw: start_checkov(root, fw) for fw, root in roots.items()}
    try:
        out = {fw: finish(fw, roots[fw], p) for fw, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    versions = sorted({str(scan.report["summary"].get("checkov_version")) for scan in out.values()})
    print(f"\ncheckov {', '.join(versions)}: {time.monotonic() - started:.1f}s for {', '.join(FRAMEWORKS)}")
    print(counts_table(out))
    return out


def relative_path(scan: Scan, result: dict[str, Any]) -> str:
    """The scanned file relative to the scan root: checkov reports it relative to the root with a
    leading slash, except for graph checks, which get the absolute path."""
    path = result["file_path"]
    for root in (str(scan.root), os.path.realpath(scan.root)):
        if path.startswith(root + "/"):
            return path[len(root) + 1:]
    return path.lstrip("/")


def profile_of(scan: Scan, result: dict[str, Any]) -> str:
    """Every scan root holds one directory per profile."""
    return relative_path(scan, result).split("/", 1)[0]


def reason(result: dict[str, Any]) -> str | None:
    return (result.get("check_result") or {}).get("suppress_comment")


def counts_table(scans: dict[str, Scan]) -> str:
    rows = ["profile     framework   passed failed skipped"]
    for fw, scan in scans.items():
        per = {o: Counter(profile_of(scan, r) for r in scan.results(o)) for o in ("passed", "failed", "skipped")}
        for profile in sorted(set().union(*per.values())):
            rows.append(f"{profile:<11} {fw:<11} {per['passed'][profile]:>6} {per['failed'][profile]:>6} {per['skipped'][profile]:>7}")
    return "\n".join(rows)


def describe(r: dict[str, Any]) -> str:
    return f"{r['check_id']} {r['check_name']}: {r['resource']} ({r['file_path']})"


# --------------------------------------------------------------------------- the checks
# One test function for the whole scan: under pytest-xdist a module fixture shared by several
# tests would run checkov once per worker.


def failures(scans: dict[str, Scan]) -> list[str]:
    out = [f"failed: {describe(r)}" for scan in scans.values() for r in scan.results("failed")]
    for fw, scan in scans.items():
        summary = scan.report["summary"]
        if summary["failed"] or summary["parsing_errors"]:
            out.append(f"{fw}: summary {summary}, parsing errors {scan.report['results'].get('parsing_errors')}")
    return out


def uncatalogued_skips(scans: dict[str, Scan]) -> list[str]:
    """Only annotations mcompile wrote may skip a check, with a reason from the catalogue."""
    allowed = {(w.check, w.reason) for w in security.CATALOGUE}
    return [f"uncatalogued skip: {describe(r)}: {reason(r)!r}"
            for scan in scans.values() for r in scan.results("skipped") if (r["check_id"], reason(r)) not in allowed]


def network_attempts(scans: dict[str, Scan]) -> list[str]:
    return [f"{fw} tried the network: {scan.stderr[-2000:]}" for fw, scan in scans.items()
            if re.search(r"ProxyError|Max retries exceeded|Failed to establish", scan.stderr)]


def unscanned(scans: dict[str, Scan], built: Built) -> list[str]:
    """A scanner that parses nothing passes everything: each chart, each overlay and each LWS pod
    template must show up with passed checks."""
    def scanned(framework: str) -> set[str]:
        return {relative_path(scans[framework], r) for r in scans[framework].results("passed")}

    out = []
    helm, kust = scanned("helm"), scanned("kustomize")
    for profile, envs in built.overlays.items():
        if not any(f.startswith(f"{profile}/chart/") for f in helm):
            out.append(f"checkov parsed nothing in {profile}/chart")
        out += [f"overlay {profile}/{env} not scanned" for env in envs
                if f"{profile}/kustomize/overlays/{env}/kustomization.yaml" not in kust]
    k8s = {r["resource"] for o in ("passed", "skipped") for r in scans["kubernetes"].results(o)}
    for role in ("prefill", "decode"):
        for part in ("leader", "worker"):
            if not any(r.startswith("Deployment.") and r.endswith(f"-{role}-{part}") for r in k8s):
                out.append(f"LWS {role} {part} template not scanned (resources: {sorted(k8s)})")
    return out


def waiver_mismatch(scans: dict[str, Scan]) -> list[str]:
    """Root (23, 40) and tag pinning (43, 15) on every vLLM workload; IPC_LOCK (25) and headless
    worker probes (8, 9) only where EFA and multi-node groups are: tier3; the API token (38) only
    on the endpoint picker (tiers with KV-cache-aware routing: tier2, tier3)."""
    skipped: dict[str, set[str]] = {}
    for scan in scans.values():
        for r in scan.results("skipped"):
            skipped.setdefault(profile_of(scan, r), set()).add(r["check_id"])
    base = {"CKV_K8S_23", "CKV_K8S_40", "CKV_K8S_43", "CKV_K8S_15"}
    want = {"qwen3-32b": base, "llama-70b": base | {"CKV_K8S_38"}, "glm-5": base | {"CKV_K8S_25", "CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_38"},
            "llama-70b-dra": base | {"CKV_K8S_38"},
            # tier2 variants (Capacity Block, Hybrid Nodes): the tier2 set, the on-premises Deployment adds none
            "llama-70b-block": base | {"CKV_K8S_38"}, "llama-70b-hybrid": base | {"CKV_K8S_38"},
            "llama-8b-shared": base,  # tier1 on MIG slices: no endpoint picker, so no CKV_K8S_38
            # SGLang: tier2 reads HF_TOKEN from a Secret (35); tier3's workers serve /health, so no worker-probe waivers (8, 9)
            "llama-70b-sglang": base | {"CKV_K8S_38", "CKV_K8S_35"}, "deepseek-v3": base | {"CKV_K8S_25", "CKV_K8S_38"}}
    return [] if skipped == want else [f"skipped checks per profile {skipped} != {want}"]


def test_checkov_passes_on_everything_built(scans: dict[str, Scan], built: Built) -> None:
    problems = failures(scans) + uncatalogued_skips(scans) + network_attempts(scans) + unscanned(scans, built) + waiver_mismatch(scans)
    assert problems == [], "\n".join(problems)


def test_chart_templates_fit_helm_output_parsers(built: Built) -> None:
    """checkov (like other tools that read `helm template` output) splits it into files at lines
    starting with ``# Source:``; a template with such a comment of its own breaks the split and
    checkov then silently scans nothing of the chart."""
    offending = [f"{p.relative_to(built.out)}:{i}" for p in sorted(built.out.glob("*/chart/templates/*.yaml"))
                 for i, line in enumerate(p.read_text().splitlines(), start=1) if line.startswith("# Source:")]
    assert offending == []


# --------------------------------------------------------------------------- no plaintext secrets


#: Name segments (split at "_") that make an environment variable a credential.
CREDENTIAL_WORDS = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "APIKEY"}
CREDENTIAL_PAIRS = {("API", "KEY"), ("ACCESS", "KEY"), ("SECRET", "KEY"), ("PRIVATE", "KEY")}
NOT_A_VALUE = ("_PATH", "_FILE", "_DIR")  # where a credential lives, not the credential


def is_credential_name(name: str) -> bool:
    if name.upper().endswith(NOT_A_VALUE):
        return False
    parts = name.upper().split("_")
    return bool(CREDENTIAL_WORDS & set(parts)) or any(pair in CREDENTIAL_PAIRS for pair in pairwise(parts))


def walk(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def plaintext_secrets(doc: Any) -> list[str]:
    """Secrets anywhere in a document (nested ones too, e.g. Helm values inside an Application)."""
    found = []
    for path, node in walk(doc):
        if not isinstance(node, dict):
            continue
        if node.get("kind") == "Secret" and "apiVersion" in node:
            found.append(f"{path}: a Secret object")
        if isinstance(node.get("name"), str) and "value" in node and is_credential_name(node["name"]):
            found.append(f"{path}: literal value for credential {node['name']}")
    return found


def test_credential_detector_can_fail() -> None:
    assert is_credential_name("HF_TOKEN") and is_credential_name("AWS_SECRET_ACCESS_KEY") and is_credential_name("VLLM_API_KEY")
    assert not is_credential_name("TOKENIZERS_PARALLELISM") and not is_credential_name("HF_TOKEN_PATH")
    assert not is_credential_name("VLLM_NIXL_SIDE_CHANNEL_PORT")
    assert plaintext_secrets({"spec": {"values": {"env": [{"name": "HF_TOKEN", "value": "hf_x"}]}}})
    assert plaintext_secrets([{"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "b"}}])
    assert not plaintext_secrets({"env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}]})


def test_no_plaintext_secret_is_written(built: Built) -> None:
    """Every file of out/: no Secret kind in its text, and, as data (the chart via `helm template`
    for every env, overlays via `kubectl kustomize`, every other YAML file as is), no Secret object
    and no literal value for a credential-like environment variable."""
    kind_secret = re.compile(r"^\s*kind:\s*[\"']?Secret[\"']?\s*$", re.MULTILINE)
    files = sorted(p for p in built.out.rglob("*") if p.is_file())
    assert files
    problems = [f"{p}: kind Secret" for p in files if kind_secret.search(p.read_text(encoding="utf-8", errors="replace"))]
    for p in files:
        if p.suffix in (".yaml", ".yml") and "chart/templates" not in p.as_posix():
            for doc in yaml.safe_load_all(p.read_text()):
                problems += [f"{p}: {m}" for m in plaintext_secrets(doc)]
    for profile, envs in built.overlays.items():
        chart = built.out / profile / "chart"
        for env in envs:
            helm = run_tool("helm", ["template", profile, str(chart), "-f", str(chart / f"values-{env}.yaml")])
            assert helm.returncode == 0, helm.stderr
            for doc in list(yaml.safe_load_all(helm.stdout)) + kustomize_build(built.out / profile / "kustomize" / "overlays" / env):
                problems += [f"{profile}/{env}: {m}" for m in plaintext_secrets(doc)]
    assert problems == []
