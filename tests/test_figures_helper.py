"""Every figure goes through postprocess.figures: one backend choice, style only inside a context, save at one DPI and
close."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from vppfed import plugins
from vppfed.postprocess import figures

POSTPROCESS = Path(figures.__file__).parent


def test_only_figures_py_chooses_the_backend_saves_or_changes_global_settings():
    """matplotlib.use, savefig and global rcParams changes live in figures.py alone (report*.py included)."""
    forbidden = re.compile(r"matplotlib\.use\(|\.savefig\(|rcParams\[|rcParams\.update|plt\.rc\(|\bmpl\.rc\(")
    offenders = [f"{path.name}:{n}" for path in sorted(POSTPROCESS.glob("*.py")) if path.name != "figures.py"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if forbidden.search(line)]
    assert not offenders, offenders


def test_every_plot_module_takes_pyplot_from_figures():
    for name in plugins.PLOTS:
        source = (POSTPROCESS / f"{name.rsplit('.', 1)[1]}.py").read_text(encoding="utf-8")
        assert "import matplotlib.pyplot" not in source, name


def test_save_writes_png_at_the_common_dpi_and_pdf_and_closes(tmp_path):
    before = dict(matplotlib.rcParams)
    with figures.paper_style():
        fig, ax = figures.plt.subplots(figsize=(figures.COLUMN_WIDTH_IN, 2.0))
        ax.plot([0, 1], [0, 1])
        paths = figures.save(fig, tmp_path / "sub", "line")
    assert [p.name for p in paths] == ["line.png", "line.pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert round(Image.open(paths[0]).info["dpi"][0]) == figures.DPI
    assert not figures.plt.fignum_exists(fig.number)
    assert dict(matplotlib.rcParams) == before


def test_cohda_figures_are_styled_saved_at_the_common_dpi_and_closed(tmp_path):
    """The three COHDA solver figures: once 200 dpi, unstyled and written by their own saver."""
    from vppfed.federates.cohda.instance import generate
    from vppfed.federates.cohda.solve import solve
    from vppfed.postprocess.cohda_plots import plot_all

    instance = generate(6, 4, 12, 1)
    result = solve(instance, "inproc", 0)
    open_before = set(figures.plt.get_fignums())
    rc_before = dict(matplotlib.rcParams)
    seen_fonts = []
    original = figures.save

    def spy(fig, out_dir, name):
        seen_fonts.append(matplotlib.rcParams["font.size"])
        return original(fig, out_dir, name)

    import vppfed.postprocess.cohda_plots as cohda_plots
    cohda_plots.save = spy
    try:
        written = plot_all(instance, result.to_json(with_trace=True), tmp_path)
    finally:
        cohda_plots.save = original
    assert sorted(p.name for p in written) == sorted(f"cohda_{stem}.{ext}" for stem in ("agents", "convergence",
                                                                                        "target") for ext in ("png", "pdf"))
    assert seen_fonts == [figures.STYLE["font.size"]] * 3  # drawn inside paper_style
    for png in (p for p in written if p.suffix == ".png"):
        assert np.isclose(Image.open(png).info["dpi"][0], figures.DPI, atol=0.01)
    assert set(figures.plt.get_fignums()) == open_before
    assert dict(matplotlib.rcParams) == rc_before
