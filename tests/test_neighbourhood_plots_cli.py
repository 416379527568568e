"""Neighbourhood figures and the ``vppfed neighbourhood`` command."""
from __future__ import annotations

from pathlib import Path

import pytest

from vppfed.cli import main
from vppfed.postprocess.neighbourhood_plots import compare_optimisers, load_runs, plot_run


@pytest.mark.integration
def test_generate_run_plot_and_compare_from_the_command_line(tmp_path, capsys):
    spec = tmp_path / "nb.yaml"
    spec.write_text("seed: 6\nhouses: 2\n", encoding="utf-8")
    assert main(["neighbourhood", "generate", str(spec), "--out", str(tmp_path / "nb")]) == 0
    assert "2 houses" in capsys.readouterr().out
    assert main(["neighbourhood", "compare", str(tmp_path / "nb"), "--runs", "2", "--optimizers", "milp,TNC",
                 "--niter", "3", "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert "milp" in out and "TNC" in out and "self-consumption" in out
    assert (tmp_path / "cmp" / "neighbourhood_optimiser_comparison.png").exists()
    # the run command writes one seeded run per --runs ...
    assert main(["neighbourhood", "run", str(tmp_path / "nb"), "--runs", "2", "--optimizer", "TNC", "--niter", "3",
                 "--out", str(tmp_path / "tnc")]) == 0
    assert len(load_runs(tmp_path / "tnc")) == 2
    assert len(load_runs(tmp_path / "cmp" / "milp")) == 2
    capsys.readouterr()
    # ... and the plot command draws every per-run figure of each folder, and the comparison of the two
    assert main(["neighbourhood", "plot", str(tmp_path / "tnc"), str(tmp_path / "cmp" / "milp"),
                 "--out", str(tmp_path / "fig")]) == 0
    fig = tmp_path / "fig"
    expected = {f"{folder}/{stem}.{ext}" for folder in ("tnc", "milp") for ext in ("png", "pdf")
                for stem in ("neighbourhood_energy_by_house", "neighbourhood_energy_by_run",
                             "neighbourhood_self_consumption", "neighbourhood_par", "neighbourhood_profiles",
                             "neighbourhood_house_profiles")}
    expected |= {"neighbourhood_optimiser_comparison.png", "neighbourhood_optimiser_comparison.pdf"}
    written = {p.relative_to(fig).as_posix(): p.stat().st_size for p in fig.rglob("*") if p.is_file()}
    assert expected <= set(written), sorted(expected - set(written))
    assert all(written[name] > 1000 for name in expected)


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "consumer_event.csv").write_text("1;2;3;[1]:[2]:[1];a.csv\nbroken\n", encoding="utf-8")
    assert main(["neighbourhood", "run", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "consumer_event.csv: line 2" in err[0]


def test_plot_of_a_folder_without_runs_draws_nothing(tmp_path):
    assert plot_run(tmp_path) == []
    assert compare_optimisers([Path(tmp_path)], tmp_path) == []


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_twice_gives_the_same_bytes_and_never_writes_the_input_folder(tmp_path, capsys):
    spec = tmp_path / "nb.yaml"
    spec.write_text("seed: 6\nhouses: 2\n", encoding="utf-8")
    assert main(["neighbourhood", "generate", str(spec), "--out", str(tmp_path / "nb")]) == 0
    before = _tree(tmp_path / "nb")
    command = ["neighbourhood", "run", str(tmp_path / "nb"), "--runs", "2", "--optimizer", "TNC", "--niter", "3"]
    assert main(command + ["--out", str(tmp_path / "a")]) == 0
    assert main(command + ["--out", str(tmp_path / "b")]) == 0
    assert _tree(tmp_path / "nb") == before
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a == b and "producer_scores.json" in a and "timings.jsonl" not in a
    # earlier scores only when told
    assert main(command + ["--out", str(tmp_path / "c"), "--scores", str(tmp_path / "a" / "producer_scores.json")]) == 0
    assert _tree(tmp_path / "c")["settings.json"] != a["settings.json"]
    capsys.readouterr()
    assert main(command + ["--out", str(tmp_path / "nb" / "out")]) == 2
    assert "is inside the neighbourhood folder" in capsys.readouterr().err
    assert main(command + ["--out", str(tmp_path / "d"), "--scores", str(tmp_path / "none.json")]) == 2
    assert "none.json: producer scores file not found" in capsys.readouterr().err
