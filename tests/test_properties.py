"""Properties of the whole pipeline under hostile mutation of the shipped profiles (hypothesis).

Each example takes one of ``profiles/tier{1,2,3}.yaml`` as data, applies one to three random
mutations (drop a key, replace a leaf or subtree with a value of another type, a random string
with unicode and template braces, an extreme number, an unknown key) and a few random ``--set``
expressions, writes the result as YAML and runs the real pipeline. Two properties must hold:

* **never a crash**: the pipeline raises nothing but ``InputError``, whose diagnostics are all
  located; the CLI exits 0 or 2 (3 is an internal error: a bug), never prints a traceback;
* **accepted ⇒ verified**: a profile the validate stage accepts renders objects the verifier
  (kubernetes-validate, the real CRDs with CEL, the semantic rules) finds nothing wrong with,
  and its output files can be emitted.

Deterministic (``derandomize=True``, no example database) and bounded (``max_examples``) so the
module runs in well under a minute on two cores.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.emit.layout import profile_files
from compiler.errors import InputError
from compiler.load import parse_text
from compiler.pipeline import compile_all, render_delivery
from compiler.resolve import Request
from compiler.verify import make_verifier, verify_compiled

from .clirun import mcompile
from .conftest import crd_args, find_crd_dirs

REPO = Path(__file__).resolve().parents[1]
TIERS = ("tier1", "tier2", "tier3")
SHIPPED = {t: parse_text((REPO / "profiles" / f"{t}.yaml").read_text(), t, "profile").data for t in TIERS}
LOCATED = re.compile(r"^[^\s:][^:]*:[1-9][0-9]*:[1-9][0-9]*: \$")

pytestmark = pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")  # set by the CEL library

SETTINGS = settings(
    max_examples=120, derandomize=True, database=None, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# --- values -----------------------------------------------------------------------------------

HOSTILE_STRINGS = [
    "", " ", "latest", "UPPER", "démo", "a/b", "../../etc", "..", "-leading", "trailing-", "x" * 64, "x" * 300,
    "{{ .Values.x }}", "{{- end }}", "{% raw %}", "${HOME}", "$(rm -rf /)", "}}{{", "'", '"', "\\", "#", "- a", ": b",
    "null", "~", "true", "on", "0x10", "1e3", "0755", ".nan", "\u202eevil", "emoji \U0001F600", "tab\there", "line\nbreak",
    "nul\x00byte", "\x7f", "\ufeffbom", "s3://bucket/", "https://x.example/", "g6e.12xlarge", "p5", "on-demand", "spot",
]
NUMBERS = [0, -1, 1, 2, 3, 7, 8, 16, 63, 64, 65, 255, 1000, 2**31 - 1, 2**31, 2**63, 10**30, -(2**63),
           0.0, -0.0, 0.5, 1.5, 0.98, 1e-300, 1e308, math.inf, -math.inf, math.nan, 8000.0, 4.0]

strings = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=24))
numbers = st.one_of(st.sampled_from(NUMBERS), st.integers(-(2**64), 2**64), st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3), max_leaves=6)


# --- mutations --------------------------------------------------------------------------------


def node_paths(data: Any, path: tuple = ()) -> list[tuple]:
    """Every node below the root, parents before children."""
    out = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        out.append(path + (key,))
        out += node_paths(value, path + (key,))
    return out


def get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


def _merged(tier: str) -> dict[str, Any]:
    from compiler.resolve import resolve_all

    return resolve_all(Request(REPO / "profiles" / f"{tier}.yaml", f"{tier}.yaml"))[0].values


MERGED = {t: _merged(t) for t in TIERS}


def _settable(values: dict[str, Any]) -> list[tuple[str, Any]]:
    """(``--set`` path, current value) for every leaf of a merged profile, with ``[name]``
    selectors for named list items and whole-list paths for plain lists."""
    out: list[tuple[str, Any]] = []

    def go(value: Any, text: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                go(v, f"{text}.{k}" if text else k)
        elif isinstance(value, list) and value and all(isinstance(x, dict) and "name" in x for x in value):
            for item in value:
                for k, v in item.items():
                    if k != "name":
                        go(v, f"{text}[{item['name']}].{k}")
        else:
            out.append((text, value))

    go(values, "")
    return out


SETTABLE = sorted({(path, json.dumps(v)) for t in TIERS for path, v in _settable(MERGED[t])})
#: Realistic values by type, from every merged shipped profile: swapping them across fields finds
#: combinations each field accepts on its own but the whole does not.
POOL: dict[type, list[Any]] = {}
for _path, _value in SETTABLE:
    _v = json.loads(_value)
    POOL.setdefault(type(_v), []).append(_v)


def _like(old: Any, hostile: bool = True) -> st.SearchStrategy:
    """A replacement for ``old``: a realistic or nudged value of its type, or (``hostile``) anything."""
    pool = st.sampled_from(POOL.get(type(old)) or [old])
    if isinstance(old, bool):
        return st.one_of(st.booleans(), values) if hostile else st.booleans()
    if isinstance(old, (int, float)):
        nudged = st.sampled_from([old + 1, old - 1, old * 2, old // 2, old / 2, 1, old * 1000])
        return st.one_of(nudged, nudged, pool, numbers) if hostile else st.one_of(nudged, pool)
    if isinstance(old, str):
        edited = st.sampled_from([old + "-x", old.upper(), old[:-1], old + old, "", old + "{{ x }}", old.replace("-", "_")])
        return st.one_of(pool, edited, strings) if hostile else st.one_of(pool, pool, edited)
    if isinstance(old, list):
        items = st.lists(_like(old[0], hostile) if old else scalars, max_size=3)
        return st.one_of(pool, items, values) if hostile else st.one_of(pool, items)
    return st.one_of(pool, values) if hostile else pool


@st.composite
def mutation(draw: st.DrawFn, data: Any, hostile: bool) -> None:
    """Apply one random mutation to ``data`` (a whole profile) in place."""
    kinds = ["replace"] * 5 + ["environment"] * 3 + ["drop"] * 2 + (["null", "unknown-key", "hostile"] if hostile else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "environment":  # an environment block overrides a leaf the profile or defaults set
        setpath, current = draw(st.sampled_from(SETTABLE))
        if "[" in setpath:
            return
        envs = data.setdefault("environments", {}) if isinstance(data.get("environments"), dict) else {}
        env = draw(st.sampled_from(sorted(envs) or ["dev"]))
        block = envs.setdefault(env, {}) if isinstance(envs.get(env, {}), dict) else {}
        *parents, leaf = setpath.split(".")
        for key in parents:
            block = block.setdefault(key, {}) if isinstance(block.get(key, {}), dict) else {}
        block[leaf] = draw(_like(json.loads(current), hostile))
        return
    path = draw(st.sampled_from(node_paths(data)))
    parent, key = get(data, path[:-1]), path[-1]
    if kind == "drop":
        del parent[key]
    elif kind == "replace":
        parent[key] = draw(_like(parent[key], hostile))
    elif kind == "hostile":
        parent[key] = draw(values)
    elif kind == "null":
        parent[key] = None
    elif isinstance(parent, dict):
        parent[draw(strings)] = draw(values)


@st.composite
def set_expr(draw: st.DrawFn, hostile: bool) -> str:
    """A ``--set``: mostly a real path with a realistic or nudged value, sometimes (``hostile``) garbage."""
    if hostile and draw(st.integers(0, 4)) == 0:
        path = draw(st.one_of(st.sampled_from(["", "a.b.c", "tier", "environments.prod.x", "capacity.pools[0].weight",
                                               "serving.env[HF_TOKEN].value", "serving.extraArgs[x].y"]), st.text(max_size=16)))
        value = draw(st.one_of(st.sampled_from(["", "[", "{a: 1}", ".nan", "1e309", "null", "8000.0"]), st.text(max_size=16)))
        return draw(st.sampled_from([f"{path}={value}", path, f"{path}=={value}"]))
    path, current = draw(st.sampled_from(SETTABLE))
    value = draw(_like(json.loads(current), hostile))
    return f"{path}={json.dumps(value, ensure_ascii=False)}"


@st.composite
def mutated_profile(draw: st.DrawFn, hostile: bool = True) -> tuple[str, Any, tuple[str, ...]]:
    """(tier, profile data, --set flags): hostile mutations, or only plausible ones (realistic
    values swapped between fields, nudged numbers, environment overrides, dropped keys), which
    the compiler accepts often enough to exercise accepted ⇒ verified."""
    tier = draw(st.sampled_from(TIERS))
    data = json.loads(json.dumps(SHIPPED[tier]))
    for _ in range(draw(st.integers(0 if hostile else 1, 2))):
        if node_paths(data):
            draw(mutation(data, hostile))
    sets = tuple(draw(st.lists(set_expr(hostile), max_size=2)))
    return tier, data, sets


def dump(data: Any) -> str:
    """YAML text for ``data`` (ruamel escapes what needs escaping; NaN/inf as .nan/.inf)."""
    import io

    yaml = YAML(typ="safe", pure=True)
    yaml.allow_unicode = True
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


# --- properties -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def verifier():
    return make_verifier(tuple(find_crd_dirs()))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("props")


def _assert_located(e: InputError) -> None:
    assert e.diagnostics, "InputError without diagnostics"
    for line in e.render().splitlines():
        assert LOCATED.match(line), line


# plausible: 420 examples keep about 95 accepted ones behind the implication (the draws shift whenever the
# shipped profiles or defaults gain leaves).
@pytest.mark.parametrize("hostile,examples,accepted_at_least", [(True, 200, 10), (False, 420, 80)], ids=["hostile", "plausible"])
def test_mutated_profiles_never_crash_and_accepted_means_verified(hostile: bool, examples: int, accepted_at_least: int, verifier, workdir: Path) -> None:
    outcomes: list[str] = []

    @settings(SETTINGS, max_examples=examples)
    @given(case=mutated_profile(hostile=hostile))
    def run(case: tuple[str, Any, tuple[str, ...]]) -> None:
        outcomes.append(_check(case, verifier, workdir))

    run()
    # The implication is only as strong as the number of accepted examples behind it.
    print(f"{'hostile' if hostile else 'plausible'}: {sorted((o, outcomes.count(o)) for o in set(outcomes))}")
    assert outcomes.count("accepted") >= accepted_at_least, {o: outcomes.count(o) for o in set(outcomes)}


def _check(case: tuple[str, Any, tuple[str, ...]], verifier, workdir: Path) -> str:
    tier, data, sets = case
    path = workdir / "profile.yaml"
    path.write_text(dump(data), encoding="utf-8")
    try:
        compiled = compile_all(Request(path, "profile.yaml", None, (), sets))
    except InputError as e:
        _assert_located(e)
        return "rejected"
    findings = [str(d) for c in compiled for d in verify_compiled(c, verifier)]
    assert findings == [], f"accepted by validate, refused by the verifier ({tier}, --set {sets}):\n" + "\n".join(findings)
    try:
        files = profile_files(compiled, render_delivery(compiled))
    except InputError:  # fleet-level problems (GitOps destinations): unlocated there, located by validate
        return "refused by emit"
    assert files and all(f.path.startswith(compiled[0].profile.name + "/") for f in files)
    return "accepted"


@settings(SETTINGS, max_examples=60)
@given(case=mutated_profile())
def test_cli_validate_exits_0_or_2_with_located_messages(case, workdir: Path) -> None:
    _, data, sets = case
    (workdir / "cli.yaml").write_text(dump(data), encoding="utf-8")
    args = [a for s in sets for a in ("--set", s)]
    r = mcompile("validate", "cli.yaml", *args, *crd_args(), cwd=workdir)
    assert r.code in (0, 2), r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr and "internal error" not in r.stderr
    if r.code == 2 and not r.stderr.startswith("Usage:"):
        *lines, last = r.stderr.splitlines()
        assert lines and last.startswith("mcompile: ") and all(LOCATED.match(line) for line in lines), r.stderr


@settings(SETTINGS, max_examples=300)
@given(text=st.one_of(
    st.text(max_size=200),
    st.sampled_from(["a: [", "a: &x [*x]", "? [a]\n: b", "a: !!python/name:os.system", "%YAML 1.1\n---\na: 1", "a: |\n  x\n b: 1"]),
    st.lists(st.sampled_from(["[", "]", "{", "}", ":", ",", "-", " ", "\n", "a", "&x", "*x", "!", "'", '"', "#", "?", "|", ">"]), max_size=80).map("".join),
))
def test_any_text_is_loaded_or_refused_with_a_located_error(text: str) -> None:
    """The loader on arbitrary text: plain data or a located InputError, nothing else."""
    try:
        layer = parse_text(text, "f.yaml", "profile")
    except InputError as e:
        _assert_located(e)
        return
    json.dumps(layer.data, allow_nan=True)  # plain data only: dicts, lists, str, int, float, bool, None


BRACKETY = st.one_of(strings, st.sampled_from(["[" * 70, "{" * 70, "x" + "[" * 70, "'" + "[" * 70, '"' + "{" * 70, "# " + "[" * 70]))


@settings(SETTINGS, max_examples=200)
@given(data=st.recursive(st.one_of(scalars, BRACKETY), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(BRACKETY, inner, max_size=3), max_leaves=8),
       flow=st.booleans())
def test_depth_prescan_never_refuses_a_shallow_document(data: Any, flow: bool) -> None:
    """The loader's linear pre-scan for deep flow nesting is conservative: brackets inside quoted
    or plain scalars and comments never make a shallow document look deep."""
    import io

    from compiler.load import _flow_too_deep

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    buf = io.StringIO()
    yaml.dump({"a": data}, buf)
    text = buf.getvalue() + "# " + "[" * 70 + "\n"
    assert _flow_too_deep(text) is None, text
