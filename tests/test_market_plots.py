"""Market figures and the metrics reading behind them, on small synthetic runs in TESP's layout."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from vppfed.federates.metrics import MetricsWriter
from vppfed.postprocess.market_plots import load_market_run, plot_comparison, plot_market, read_metrics

AUCTION_COLS = [("clearing_price", "USD"), ("clearing_type", "[0..5]=[Null,Fail,Price,Exact,Seller,Buyer]"),
                ("consumer_surplus", "USD"), ("average_consumer_surplus", "USD"), ("supplier_surplus", "USD")]


def fake_run(folder, lmp_scale: float, n: int = 24):
    """GIVEN a run of n 5-min periods with two controllers (h1 bids higher) and a bus-7 LMP."""
    with MetricsWriter(folder, "auction", "R", AUCTION_COLS, "2013-07-01 00:00:00 -0800") as auc, \
            MetricsWriter(folder, "controller", "R", [("bid_price", "USD"), ("bid_quantity", "kW")],
                          "2013-07-01 00:00:00 -0800") as ctl, \
            MetricsWriter(folder, "bus", "R", [("LMP_P", "USD/kwh"), ("PD", "MW")], "2013-07-01 00:00:00") as bus:
        for k in range(1, n + 1):
            t = 300 * k
            auc.write(t, {"Market_1": [0.02 * lmp_scale + 0.001 * k, 4, 0.5, 0.1, 0.0]})
            ctl.write(t, {"h0": [0.02, 3.0], "h1": [0.05 + 0.001 * k, 4.0]})
            bus.write(t - 15, {"7": [0.02 * lmp_scale + 0.001 * k, 150.0]})
    return folder


def test_reader_aligns_uids_and_columns(tmp_path):
    fake_run(tmp_path, 1.0, n=3)
    table = read_metrics(tmp_path / "controller_R_metrics.json")
    assert list(table.times) == [300, 600, 900]
    assert table.column("bid_quantity")[:, table.uids.index("h1")].tolist() == [4.0, 4.0, 4.0]
    with pytest.raises(KeyError):
        table.column("nope")


def test_run_summary_finds_highest_bidder_and_total_bids(tmp_path):
    run = load_market_run(fake_run(tmp_path, 1.0))
    assert run.highest_bidder() == "h1"
    assert np.allclose(run.total_bid_kw, 7.0)
    assert np.nancumsum(run.consumer_surplus)[-1] == pytest.approx(0.5 * 24)
    assert run.lmp is not None and run.lmp.size == 24


@pytest.mark.integration
def test_market_figures_and_comparison_are_written(tmp_path, monkeypatch):
    a = fake_run(tmp_path / "market", 1.0)
    b = fake_run(tmp_path / "vpp", 0.5)
    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *x, **kw: (saved.append(fig), original(fig, *x, **kw))[1])
    paths = plot_market(a, tmp_path / "fig")
    names = {p.name for p in paths}
    for stem in ("market_price_vs_lmp", "market_highest_bidder", "market_cumulative_surplus",
                 "market_total_bid_quantity"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
    cmp = plot_comparison([a, b], tmp_path / "fig", labels=["market", "VPP"])
    assert sorted(p.name for p in cmp) == ["market_comparison.pdf", "market_comparison.png"]
    # the comparison draws each run under its label: the LMP panel holds both runs' bus-7 LMPs
    lmp_axis = saved[-1].axes[0]
    assert "LMP" in lmp_axis.get_ylabel()
    lines = {line.get_label().split(" ")[0]: line.get_ydata() for line in lmp_axis.get_lines()}
    k = np.arange(1, 25)
    np.testing.assert_allclose(lines["market"], 0.02 + 0.001 * k)
    np.testing.assert_allclose(lines["VPP"], 0.01 + 0.001 * k)
    assert len(paths) == len(names) and all(p.parent == tmp_path / "fig" for p in paths + cmp)
    assert all(p.stat().st_size > 1000 for p in paths + cmp)


def test_missing_auction_metrics_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_market_run(tmp_path)


@pytest.mark.integration
def test_market_plot_command_writes_figures_and_rejects_bad_labels(tmp_path, capsys):
    from vppfed.cli import main

    a = fake_run(tmp_path / "a", 1.0)
    b = fake_run(tmp_path / "b", 2.0)
    assert main(["market-plot", str(a), str(b), "--labels", "market,vpp", "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "market_comparison.png").exists()
    assert (tmp_path / "f" / "vpp" / "market_price_vs_lmp.pdf").exists()
    assert main(["market-plot", str(a), "--labels", "x,y"]) == 2
    assert "--labels" in capsys.readouterr().err
