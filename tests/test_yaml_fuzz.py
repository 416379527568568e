"""Property-based fuzzing of every built-in case's YAML: a mutated document builds or is one UserError, nothing else.

Each example takes a built-in ``cases/<name>/case.yaml``, applies one to three mutations (a value replaced by a
hostile one: inf, nan, huge or negative numbers, path-like names, wrong types; a key deleted, added or renamed; the
YAML text cut or sprinkled with a byte) and builds it into a fresh ``--out``. The property: :func:`build_case`
either returns a case folder or raises :class:`~vppfed.errors.UserError`; any other exception, a write outside
``--out`` (or into the YAML's own folder) or a build slower than :data:`BUILD_LIMIT_S` fails with the document.

To keep the run short (about a minute on 2 cores) every case is first made cheap without changing what is checked:
``case.hours`` at most 2 (weather and schedules scale with it), the peak-shaving forecast from the previous day
instead of a build-time GridLAB-D run, and agile-1000's scenario with 10 instead of 1,000 units. The seed is fixed
(``derandomize``), so a failure reproduces.
"""
from __future__ import annotations

import copy
import math
import re
import shutil
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402  (test extra: hypothesis)
from hypothesis import strategies as st  # noqa: E402

from vppfed.configs.case import build_case  # noqa: E402
from vppfed.io import load_yaml
from vppfed.errors import UserError  # noqa: E402

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
CASE_NAMES = sorted(p.parent.name for p in CASES_DIR.glob("*/case.yaml"))
#: A build slower than this is a finding: some size reached the generators without a bound (generous, so a
#: loaded CI machine does not fail a build that takes 1 s when idle).
BUILD_LIMIT_S = 120

HOSTILE: list[Any] = [
    None, True, False, 0, 1, 2, 3, -1, -7, 2**31, 2**32, 2**63, -2**63, 10**30, 0.0, 0.5, -0.5, 1e-300, 1e300,
    math.inf, -math.inf, math.nan, "", " ", "x", "gld_7", "../x", "../../x", "a/b", "a\\b", ".hidden", "..", ".",
    "x" * 300, "1e12", "yes", "null", "\x00", "é€", "/etc/passwd", "/dev/zero", "shared:../../etc/passwd",
    "shared:", "te30", "ercot8", [], [1], [1, 2, 3], [None], ["a", "b"], {}, {"a": 1}, {"houses": 10**9},
]

values = st.one_of(
    st.sampled_from(HOSTILE).map(copy.deepcopy),  # a copy: a later mutation must not change the palette
    st.integers(min_value=-10**6, max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.text(max_size=12),
)


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (tuple of keys/indices) into a nested document, the root excluded."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield prefix + (key,)
            yield from _paths(child, prefix + (key,))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield prefix + (i,)
            yield from _paths(child, prefix + (i,))


def _parent(doc: Any, path: tuple) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


NAMES = ["../x", "../../x", "a/b", "a\\b", ".hidden", "..", "", " ", "x" * 300, "/tmp/vppfed-fuzz-abs",
         "gld_7", "pypower", "sub_7", "ok_name", "with space", "semi;colon", "\x00", "é"]


#: Fields a section may have that the built-in YAMLs leave at their defaults: the fuzzer adds them too, above all the
#: names that end up in file names (a hostile name there is what could write outside --out).
FIELDS = {
    "case": ["root", "name", "seed", "timeout", "runs", "period", "timezone", "hours", "separator"],
    "feeder": ["name", "houses", "bus", "weather_federate", "step_s", "weather", "metrics_sample_s"],
    "bulk": ["federate", "model", "scale", "curve_source", "feeder_federate", "bus", "outage_gen"],
    "market": ["enabled", "pricecap", "participation"],
    "battery": ["name", "period_s", "batteries"],
    "vpp": ["hosts", "step", "name"],
    "cohda": ["schedules", "interval_s"],
    "neighbourhood": ["optimizer", "hop_s"],
}
#: Fields that become parts of file or federate names.
NAME_FIELDS = {"case": ["root", "name"], "feeder": ["name", "weather_federate"],
               "bulk": ["federate", "curve_source", "feeder_federate"], "battery": ["name"], "market": ["name"]}
#: A typical value of each added field, so that :func:`_like` draws one of its type.
FIELDS_LIKE = {"houses": 30, "bus": 7, "step_s": 60, "metrics_sample_s": 60, "scale": 250.0, "outage_gen": 2,
               "seed": 0, "timeout": 10.0, "runs": 1, "period": 15, "hours": 2.0, "enabled": True,
               "pricecap": 1.0, "participation": 1.0, "period_s": 60, "hosts": 3, "step": 36, "schedules": 10,
               "interval_s": 900, "hop_s": 60}


def _like(value: Any) -> st.SearchStrategy:
    """A replacement for ``value``: mostly of its own type (so the document often still builds), sometimes any."""
    if isinstance(value, bool):
        own = st.sampled_from([not value, 0, 1, "yes", None])
    elif isinstance(value, int):
        own = st.sampled_from([value + 1, value - 1, 0, -1, 1, 2 * value, 2**32, 10**12, -10**12, value + 0.5,
                               str(value)])
    elif isinstance(value, float):
        own = st.sampled_from([value * 2, -value, 0.0, value + 1e-9, math.inf, -math.inf, math.nan, 1e300,
                               -1e300, str(value)])
    elif isinstance(value, str):
        own = st.sampled_from(NAMES + [value + "x", value.upper(), value[:1]])
    else:
        own = values
    return st.one_of(own, own, own, values)


def _mutate(doc: dict, draw: Any) -> tuple[dict, list[str]]:
    """Apply 1-3 mutations (mostly one, mostly a leaf value); returns the document and a log of what was done."""
    doc = copy.deepcopy(doc)
    done = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        paths = list(_paths(doc))
        leaves = [p for p in paths if not isinstance(_parent(doc, p + ("x",)), (dict, list))]
        op = draw(st.sampled_from(["leaf"] * 6 + ["name"] * 2 + ["replace", "delete", "add", "rename", "wrap"]))
        named = [(sec, f) for sec in doc if isinstance(doc[sec], dict) for f in NAME_FIELDS.get(sec, [])]
        if op == "name" and named:
            sec, fld = draw(st.sampled_from(named))
            doc[sec][fld] = draw(st.sampled_from(NAMES))
            done.append(f"name {sec}.{fld}={doc[sec][fld]!r:.40}")
            continue
        if op == "name":
            op = "leaf"
        if op == "leaf" and not leaves:
            op = "add"
        if op != "add" and not paths:
            op = "add"
        if op == "add":
            targets = [()] + [p for p in paths if isinstance(_parent(doc, p + ("x",)), dict)]
            target = draw(st.sampled_from(targets))
            node = _parent(doc, target + ("x",))
            hints = FIELDS.get(target[0], []) if len(target) == 1 else []
            key = draw(st.sampled_from(hints + ["extra", "case", "feeder", "bulk", "name", "hours"]))
            node[key] = draw(_like(FIELDS_LIKE.get(key, "x")))
            done.append(f"add {'.'.join(map(str, target + (key,)))}")
            continue
        path = draw(st.sampled_from(leaves if op == "leaf" else paths))
        parent = _parent(doc, path)
        key = path[-1]
        if op == "leaf":
            parent[key] = draw(_like(parent[key]))
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["x", f"{key}_", "Name", "case"]))] = parent.pop(key)
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}, str(parent[key])]))
        done.append(f"{op} {'.'.join(map(str, path))}={str(parent.get(key) if isinstance(parent, dict) else '')[:40]}")
    return doc, done


#: Sizes a mutation may turn from cheap into expensive while still valid (4,659 houses built for minutes): a valid
#: value above the cap is brought down to it, a value beyond the field's stated limit (None: no limit known) is kept,
#: so its rejection is still tested.
SIZE_CAPS = {"houses": (40, 20_000), "hosts": (6, 256), "schedules": (20, None), "days": (2, None),
             "count": (20, None), "buses": (8, None), "bid_blocks": (8, None), "units": (20, None)}


def _bound_sizes(node: Any) -> None:
    """Apply :data:`SIZE_CAPS` everywhere in a document (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            cap = SIZE_CAPS.get(key) if isinstance(key, str) else None
            if cap and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                low, limit = cap
                if value > low and (limit is None or value <= limit):
                    node[key] = low
            else:
                _bound_sizes(value)
    elif isinstance(node, list):
        for item in node:
            _bound_sizes(item)


def _text_mutation(text: str, draw: Any) -> tuple[str, str]:
    """Sometimes damage the YAML text itself: cut it, insert a byte-like character, repeat a section."""
    op = draw(st.sampled_from(["none"] * 12 + ["cut", "insert", "duplicate"]))
    if op == "cut":
        at = draw(st.integers(0, len(text)))
        return text[:at], f"cut at {at}"
    if op == "insert":
        at = draw(st.integers(0, len(text)))
        ch = draw(st.sampled_from([":", "[", "{", "\t", "'", '"', "&", "*", "!", "\n  ", "\x85", "- "]))
        return text[:at] + ch + text[at:], f"insert {ch!r} at {at}"
    if op == "duplicate":
        return text + "\ncase:\n  name: again\n", "duplicate case:"
    return text, ""


def _cheap(name: str, raw: dict) -> dict:
    """The case made cheap to build (see the module docstring); the fields checked stay the same."""
    raw = copy.deepcopy(raw)
    case = raw.setdefault("case", {})
    case["hours"] = min(float(case.get("hours", 48)), 2.0)
    if isinstance(raw.get("battery"), dict) and raw["battery"].get("policy", "schedule") == "schedule":
        raw["battery"]["forecast"] = "previous_day"
    return raw


@contextmanager
def _time_limit(seconds: int, what: str) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"build of {what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def bases() -> dict[str, dict]:
    return {name: _cheap(name, load_yaml(CASES_DIR / name / "case.yaml")) for name in CASE_NAMES}


def _copy_case(name: str, dest: Path) -> None:
    shutil.copytree(CASES_DIR / name, dest)
    scenario = dest / "scenario.yaml"
    if name == "agile-1000" and scenario.exists():  # 1,000 drawn units -> 10: the same code paths, 1 % of the time
        text = scenario.read_text(encoding="utf-8")
        scenario.write_text(re.sub(r"count: (\d+)", lambda m: f"count: {max(1, int(m.group(1)) // 100)}", text),
                            encoding="utf-8")


def _snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def test_every_built_in_case_builds_cheaply(bases, tmp_path):
    """The unmutated (cheap) documents build: otherwise the fuzzer would only test error paths."""
    for name, raw in bases.items():
        src = tmp_path / name
        _copy_case(name, src)
        (src / "case.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        with _time_limit(BUILD_LIMIT_S, name):
            built = build_case(src / "case.yaml", tmp_path / f"out-{name}")
        assert built.runner.exists(), name


@settings(derandomize=True, max_examples=300, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure prints its document and mutations
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(data=st.data())
def test_mutated_case_yaml_builds_or_is_one_user_error(bases, data, monkeypatch):
    name = data.draw(st.sampled_from(CASE_NAMES), label="case")
    doc, log = _mutate(bases[name], data.draw)
    _bound_sizes(doc)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    text, text_op = _text_mutation(text, data.draw)
    what = f"{name} after {log} {text_op}".strip()
    with tempfile.TemporaryDirectory(prefix="vppfed-fuzz-") as tmp:
        root = Path(tmp)
        src, work, cwd = root / "src", root / "work", root / "cwd"
        _copy_case(name, src)
        (src / "case.yaml").write_text(text, encoding="utf-8")
        work.mkdir()
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        before = _snapshot(root)
        out = work / "out"
        try:
            with _time_limit(BUILD_LIMIT_S, what):
                build_case(src / "case.yaml", out)
        except UserError as exc:
            message = str(exc)
            assert message and "\n" not in message.strip(), f"{what}: multi-line UserError: {message!r}"
        except BaseException as exc:  # anything else is the finding
            pytest.fail(f"{what}: {type(exc).__name__}: {exc}\n--- document ---\n{text[:3000]}")
        after = _snapshot(root)
        outside = sorted(str(p) for p in after - before if out != p and out not in p.parents)
        assert not outside, f"{what}: wrote outside --out: {outside[:5]}"
