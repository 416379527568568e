"""The VPP market figure: drawn from the aggregator's bid metrics, skipped for runs whose VPP did not bid."""
from __future__ import annotations

from vppfed.federates.agile.federate import BID_COLUMNS
from vppfed.federates.metrics import MetricsWriter
from vppfed.postprocess.vpp_market_plots import plot_run


def test_vpp_market_figure_from_bid_metrics(tmp_path):
    # GIVEN four market intervals of bid metrics (the first one before any clearing, without an award)
    with MetricsWriter(tmp_path, "vppbid", "T", BID_COLUMNS, "2013-07-01 00:00:00 PDT") as w:
        for i, T in enumerate(range(0, 1200, 300)):
            award = [float("nan")] * 6 if i == 0 else [0.02 + 0.01 * i, 4, 3.0, 0.0, 3.0, 2.5]
            w.write(T, {"vpp": [5 * i + 1, int(i > 0), 1.0 * i, -45.0, 45.0, 0.0208, 0.01, 12, *award, 2.0 + i]})
    # WHEN the figures are drawn
    written = plot_run(tmp_path, tmp_path / "fig")
    # THEN there is one PNG and one PDF
    assert sorted(p.name for p in written) == ["vpp_market.pdf", "vpp_market.png"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_no_figure_without_bid_metrics(tmp_path):
    assert plot_run(tmp_path, tmp_path / "fig") == []
