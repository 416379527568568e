"""Every bad input gives one line naming the file and field (exit 2), never a traceback or a silent acceptance.

The cases are the ones of issue 16 ("Tracebacks instead of one line", "Wrongly accepted"), each run through the
command line in process (``vppfed.cli.main``) the way a user types it.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vppfed.cli import main
from vppfed.configs.case import CASE_MARKER, build_case, remove_stale_staging
from vppfed.io import check_out_dir, load_yaml, parse_yaml_text, plain_name_problem
from vppfed.errors import UserError

TE30 = Path(__file__).resolve().parents[1] / "cases" / "te30" / "case.yaml"


def cli(capsys, *argv: str) -> tuple[int, str]:
    """Run ``vppfed ARGV`` in process; returns (exit code, stderr). A traceback fails the test by propagating."""
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vppfed: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


# ------------------------------------------------------------------------------------------------- YAML loading
@pytest.mark.parametrize("content, needle", [
    (b"case:\n  name: x\xff\xfe\n", "line 2: not UTF-8 text"),
    (bytes(range(256)) * 4, "not UTF-8 text"),
    (b"case:\n  name: x\x00\n", "NUL byte"),
    (b"case: {name: x\n", "invalid YAML"),
    (b"[" * 5000, "input.yaml"),
])
def test_unreadable_yaml_is_one_line_naming_the_file(tmp_path, capsys, content, needle):
    path = tmp_path / "input.yaml"
    path.write_bytes(content)
    code, err = cli(capsys, "config", str(path), "--out", str(tmp_path / "out"))
    assert_one_line(code, err, "input.yaml", needle)


def test_duplicate_keys_are_refused_naming_key_and_lines(tmp_path, capsys):
    path = tmp_path / "input.yaml"
    path.write_text(TE30.read_text(encoding="utf-8") + "\ncase:\n  name: second\n", encoding="utf-8")
    code, err = cli(capsys, "config", str(path), "--out", str(tmp_path / "out"))
    assert_one_line(code, err, "input.yaml", "duplicate key 'case'", "first at line")
    nested = tmp_path / "input2.yaml"
    nested.write_text("case:\n  name: a\n  hours: 1\n  hours: 2\n", encoding="utf-8")
    code, err = cli(capsys, "config", str(nested), "--out", str(tmp_path / "out"))
    assert_one_line(code, err, "line 4", "duplicate key 'hours'", "first at line 3")
    assert not (tmp_path / "out").exists()


def test_merge_keys_still_override(tmp_path):
    assert parse_yaml_text("a: &x {b: 1, c: 2}\nd:\n  <<: *x\n  b: 3\n", "s")["d"] == {"b": 3, "c": 2}
    with pytest.raises(UserError, match="duplicate key 'b'"):
        parse_yaml_text("d:\n  b: 1\n  b: 3\n", "s")


@pytest.mark.parametrize("text, needle", [
    ("case: te30\nfeeder: {}\n", "case: must be a mapping"),
    ("case: {name: x}\nfeeder: [1, 2]\n", "feeder: must be a mapping"),
    ("case: [1]\n", "case: must be a mapping"),
    ("case: {name: x}\nbulk: 3\n", "bulk: must be a mapping"),
    ("- 1\n- 2\n", "top level must be a mapping"),
])
def test_section_that_is_not_a_mapping(tmp_path, capsys, text, needle):
    path = tmp_path / "input.yaml"
    path.write_text(text, encoding="utf-8")
    code, err = cli(capsys, "config", str(path), "--out", str(tmp_path / "out"))
    assert_one_line(code, err, "input.yaml", needle)


@pytest.mark.parametrize("override, needle", [
    ("feeder=3", "feeder: must be a mapping"),
    ("case=3", "case: must be a mapping"),
    ("case.hours.x=3", "case.hours.x"),
    ("case..hours=3", "case..hours"),
    ("feeder.houses=[1]", "feeder.houses"),
])
def test_set_overrides_of_the_wrong_shape(tmp_path, capsys, override, needle):
    code, err = cli(capsys, "config", "te30", "--set", override, "--out", str(tmp_path / "out"))
    assert_one_line(code, err, needle)


# ------------------------------------------------------------------------------------------------------- bounds
@pytest.mark.parametrize("args, needle", [
    (["--set", "case.hours=.inf"], "case.hours: must be a finite number"),
    (["--set", "case.hours=.nan"], "case.hours: must be a finite number"),
    (["--set", "case.hours=1.0e+12"], "case.hours: must be > 0 and at most 8760"),
    (["--set", "case.hours=1e12"], "case.hours: expected a number"),
    (["--set", "case.hours=0"], "case.hours"),
    (["--hours", "inf"], "--hours inf: must be a finite number"),
    (["--hours", "nan"], "--hours nan"),
    (["--set", "feeder.houses=10000000"], "feeder.houses: must be at most 20000"),
    (["--set", "feeder.houses=0"], "feeder.houses"),
    (["--set", "bulk.scale=.inf"], "bulk.scale: must be a finite number"),
    (["--set", "bulk.scale=-1"], "bulk.scale: must be > 0"),
    (["--seed", "-1"], "case.seed: must be in [0, 2**32)"),
    (["--seed", str(2**32)], "case.seed"),
    (["--set", "case.runs=1000000000"], "case.runs"),
    (["--set", "case.timeout_s=-5"], "case.timeout_s"),
    (["--set", "case.timeout_s=.inf"], "case.timeout_s"),
    (["--set", "case.period_s=1000000"], "case.period_s"),
    (["--set", "bulk.outage_start_h=.nan"], "bulk.outage_start_h: must be a finite number"),
    (["--set", "feeder.weather_spec={temperature_mean_f: .nan}"], "feeder.weather_spec.temperature_mean_f"),
    (["--set", "case.timezone=PST 8"], "case.timezone"),
])
def test_values_out_of_their_stated_limits(tmp_path, capsys, args, needle):
    code, err = cli(capsys, "config", "te30", *args, "--out", str(tmp_path / "out"))
    assert_one_line(code, err, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("timeout", ["-5", "0", "nan", "inf"])
def test_run_timeout_must_be_positive_and_finite(tmp_path, capsys, timeout):
    code, err = cli(capsys, "run", "te30", "--hours", "0.1", "--timeout", timeout, "--no-progress",
                    "--out", str(tmp_path / "out"))
    assert_one_line(code, err, "--timeout")
    assert not (tmp_path / "out").exists()


def test_run_hours_inf_is_one_line(tmp_path, capsys):
    code, err = cli(capsys, "run", "te30", "--hours", "inf", "--no-progress", "--out", str(tmp_path / "out"))
    assert_one_line(code, err, "--hours inf")


# -------------------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize("override, field", [
    ("case.root=../x", "case.root"),
    ("case.root=.hidden", "case.root"),
    ("case.root=a/b", "case.root"),
    ("case.root=a\\b", "case.root"),
    ("bulk.federate=../../x", "bulk.federate"),
    ("bulk.federate=py power", "bulk.federate"),
    ("feeder.name=gld_7/x", "feeder.name"),
    ("feeder.name=..7", "feeder.name"),
    ("feeder.name=/tmp/gld_7", "feeder.name"),
    ("bulk.curve_source=../sub_7", "bulk.curve_source"),
])
def test_names_must_be_plain_and_nothing_is_written_outside_out(tmp_path, capsys, override, field):
    out = tmp_path / "a" / "b" / "out"
    code, err = cli(capsys, "config", "te30", "--set", override, "--out", str(out))
    assert_one_line(code, err, field, "plain name" if "py power" not in override else "letters")
    # nothing at all was written, except the --out lock file of the run lock beside --out
    assert [p for p in tmp_path.rglob("*") if p.is_file() and "vppfed-lock" not in p.name] == []


def test_plain_name_rules():
    for good in ("gld_7", "pypower", "sub_7", "TE30", "agile-1000", "_x"):
        assert plain_name_problem(good) is None, good
    for bad in ("", ".", "..", "../x", "a/b", "a\\b", ".x", "a b", "a;b", "x" * 65, "a\nb", "é/"):
        assert plain_name_problem(bad), bad


def test_every_federate_name_is_checked_where_it_is_registered(tmp_path):
    from vppfed.configs.case import CaseContext, CaseSettings

    ctx = CaseContext(CaseSettings(name="x"), {}, tmp_path, "input.yaml")
    with pytest.raises(UserError, match="input.yaml: federate name: must be a plain name"):
        ctx.add_federate("../evil", "python -m x")
    with pytest.raises(UserError, match="outside the case folder"):
        ctx.write_text("../evil.json", "{}")
    assert list(tmp_path.parent.glob("evil*")) == []


# -------------------------------------------------------------------------------------------------------- files
def test_bulk_model_that_is_a_folder_or_not_text(tmp_path, capsys):
    folder = tmp_path / "model_pp.json"
    folder.mkdir()
    code, err = cli(capsys, "config", "te30", "--set", f"bulk.model={folder}", "--out", str(tmp_path / "o1"))
    assert_one_line(code, err, str(folder), "is a folder")
    binary = tmp_path / "bin_pp.json"
    binary.write_bytes(b"{\xff\xfe}")
    code, err = cli(capsys, "config", "te30", "--set", f"bulk.model={binary}", "--out", str(tmp_path / "o2"))
    assert_one_line(code, err, str(binary), "not UTF-8")


def test_case_yaml_that_is_a_folder(tmp_path):
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    with pytest.raises(UserError, match="is a folder"):
        load_yaml(folder)


# --------------------------------------------------------------------------------------------------------- --out
def test_out_that_is_a_file(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me", encoding="utf-8")
    code, err = cli(capsys, "config", "te30", "--out", str(afile))
    assert_one_line(code, err, str(afile), "is a file")
    code, err = cli(capsys, "config", "te30", "--out", str(afile / "sub"))
    assert_one_line(code, err, str(afile / "sub"))
    assert afile.read_text(encoding="utf-8") == "keep me"


def test_out_checks_before_anything_is_built(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(UserError, match="is a file, expected a folder"):
        check_out_dir(afile)
    with pytest.raises(UserError, match="is a file, so no folder can be made under it"):
        check_out_dir(afile / "a" / "b")
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


def test_out_that_cannot_be_written(tmp_path, capsys):
    # /proc refuses new folders even to root, like a read-only mount would
    code, err = cli(capsys, "config", "te30", "--out", "/proc/vppfed-no-such-folder/out")
    assert_one_line(code, err, "/proc/vppfed-no-such-folder/out")
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            with pytest.raises(UserError, match="not writable"):
                check_out_dir(ro / "out")
        finally:
            ro.chmod(0o755)


# ---------------------------------------------------------------------------------------------- staging folders
def test_staging_folder_of_a_killed_build_is_removed_at_the_next_start(tmp_path):
    out = tmp_path / "case"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".case.staging-{dead.pid}"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "x.glm").write_text("half", encoding="utf-8")
    alive = tmp_path / f".case.staging-{os.getppid()}"  # a live process may still be building it
    alive.mkdir()
    other = tmp_path / f".other.staging-{dead.pid}"
    other.mkdir()
    assert remove_stale_staging(out) == [stale]
    assert not stale.exists() and alive.exists() and other.exists()


def test_build_removes_stale_staging_and_succeeds(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.staging-{dead.pid}"
    stale.mkdir()
    built = build_case(TE30, tmp_path / "out")
    assert (built.directory / CASE_MARKER).exists()
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ------------------------------------------------------------------------------------------------------- plot
def _metrics(run_dir: Path, samples: int = 40) -> Path:
    from vppfed.federates.metrics import MetricsWriter

    writer = MetricsWriter(run_dir, "substation", "TE30", [("real_power_avg", "W"), ("real_power_max", "W")],
                           "2013-07-01 00:00:00 PDT")
    for i in range(samples):
        writer.write(i * 300, {"network_node": [1000.0 + i, 1200.0 + i]})
    writer.close()
    return run_dir / "substation_TE30_metrics.json"


@pytest.mark.parametrize("content, needle", [
    (b"", "empty metrics file"),
    (b"\x00\x01garbage{{", "not a metrics file"),
    (b"\xff\xfe\x00", "not a metrics file"),
    (b"[1, 2, 3]", "not a metrics file"),
    (b'{"StartTime": "x", "Metadata": {"a": {"units": "W"}}}', "Metadata"),
    (b'{"StartTime": "x", "Metadata": {}, "abc": {}}', "not a sample"),
    (b'{"StartTime": "x", "Metadata": 3}', "not a metrics file"),
])
def test_plot_on_a_broken_metrics_file_names_it(tmp_path, capsys, content, needle):
    path = tmp_path / "substation_TE30_metrics.json"
    path.write_bytes(content)
    code, err = cli(capsys, "plot", str(tmp_path))
    assert_one_line(code, err, str(path), needle)


def test_plot_on_a_half_cut_metrics_file_warns_naming_it(tmp_path, capsys, caplog):
    path = _metrics(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    code, err = cli(capsys, "plot", str(tmp_path))
    assert code == 0, err
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(path) in w and "cut short" in w and "25 complete samples" in w for w in warnings), warnings
    assert (tmp_path / "figures" / "substation_load.png").exists()


# ------------------------------------------------------------------------------------------- battery state file
def test_damaged_battery_state_is_one_short_line(tmp_path):
    from test_battery_persistence import CFG, run
    from vppfed.federates.battery.manager import BatteryManager
    from vppfed.federates.battery.persistence import StateStore

    path = tmp_path / "s.sqlite"
    store = StateStore.create(path, CFG.fingerprint())
    run(BatteryManager(CFG, store), range(400))
    store.close()
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    for page in range(2, len(data) // 4096):  # scramble the header of every b-tree page: many problems at once
        off = page * 4096
        data[off: off + 4] = b"\x0d\x00\x00\x00"
        data[off + 3: off + 5] = rng.bytes(2)
    path.write_bytes(bytes(data))
    with pytest.raises(UserError) as info:
        StateStore.open_existing(path, CFG.fingerprint()).load()
    message = str(info.value)
    assert len(message.splitlines()) == 1 and len(message) < 400, message
    assert str(path) in message and "damaged" in message and "more problems" in message
