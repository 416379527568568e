"""The VPP market figure: drawn from the aggregator's bid metrics, skipped for runs whose VPP did not bid."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from vppfed.federates.agile.adapter import BID_COLUMNS
from vppfed.federates.metrics import MetricsWriter
from vppfed.postprocess.vpp_market_plots import plot_run


def _line(ax, label_part: str):
    """The one line of ``ax`` whose legend label contains ``label_part``."""
    found = [line for line in ax.get_lines() if label_part in line.get_label()]
    assert len(found) == 1, [line.get_label() for line in ax.get_lines()]
    return found[0]


def test_vpp_market_figure_from_bid_metrics(tmp_path, monkeypatch):
    # GIVEN four market intervals of bid metrics (the first one before any clearing, without an award)
    with MetricsWriter(tmp_path, "vppbid", "T", BID_COLUMNS, "2013-07-01 00:00:00 PDT") as w:
        for i, T in enumerate(range(0, 1200, 300)):
            award = [float("nan")] * 6 if i == 0 else [0.02 + 0.01 * i, 4, 3.0, 0.0, 3.0, 2.5]
            w.write(T, {"vpp": [5 * i + 1, int(i > 0), 1.0 * i, -45.0, 45.0, 0.0208, 0.01, 12, *award, 2.0 + i]})
    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **kw: (saved.append(fig), original(fig, *a, **kw))[1])
    # WHEN the figures are drawn
    written = plot_run(tmp_path, tmp_path / "fig")
    # THEN there is one PNG and one PDF of one figure ...
    assert sorted(p.name for p in written) == ["vpp_market.pdf", "vpp_market.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert len({id(fig) for fig in saved}) == 1
    ax_price, ax_power = saved[0].axes[:2]
    # ... whose curves are the bid metrics over the run's hours: the cleared price (none before the first
    # clearing), the baseline and the awarded signal
    hours = [0.0, 300 / 3600, 600 / 3600, 900 / 3600]
    price, baseline, signal = _line(ax_price, "cleared"), _line(ax_power, "baseline"), _line(ax_power, "signal")
    for line in (price, baseline, signal):
        np.testing.assert_allclose(line.get_xdata(), hours)
    np.testing.assert_allclose(price.get_ydata(), [np.nan, 0.03, 0.04, 0.05])
    np.testing.assert_allclose(baseline.get_ydata(), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(signal.get_ydata(), [2.0, 3.0, 4.0, 5.0])
    # ... and the bid's price centre, drawn on the price axis
    assert any(np.allclose(line.get_ydata(), 0.0208) for line in ax_price.get_lines())


def test_no_figure_without_bid_metrics(tmp_path):
    assert plot_run(tmp_path, tmp_path / "fig") == []
