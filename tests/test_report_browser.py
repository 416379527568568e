"""The run report in a real browser: Debian's headless Chromium driven by Selenium + chromedriver, page from file://.

Checks: no console errors, every chart draws (a screenshot of each chart holds the pixels of its first line's
colour), tab switching works (clicking a tab header makes it the active one and shows its charts), and the
household selector switches the charts' data. Skipped with a reason when Chromium, chromedriver or Selenium is
absent (CI installs them: .ci/run).
"""
from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from test_report import make_run
from vppfed.postprocess.report import build_report, write_run_report
from vppfed.postprocess.report_figures import COLOURS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# integration: each test starts a real headless Chromium
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                 reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                                        "chromium-driver; .ci/run installs them)")]
#: flags of a headless Chromium that works on a machine with a closed network, as root
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
         "--force-device-scale-factor=1")
#: the colours of the report's lines (a later line may hide an equal earlier one: any of them counts)
PALETTE = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in COLOURS])
#: a legend entry's sample of its line has about 20 pixels of the line's colour; a drawn line hundreds
LEGEND_PIXELS = 25
MIN_LINE_PIXELS = 150

#: names of the charts in panel ``arguments[0]`` of the top tabs (views cannot cross to Python: they are circular)
_FIGURES_JS = """
const out = [];
function walk(v) { if (v.model.type === 'Figure') out.push(v); for (const c of (v.child_views ?? [])) walk(c); }
walk(window.__tabs.child_views[arguments[0]]);
return out.map(v => v.model.name);
"""
_TABS_JS = """
window.__tabs = [...Bokeh.index].find(v => v.model.type === 'Tabs');
return window.__tabs ? window.__tabs.model.tabs.length : null;
"""


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="vppfed-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver, path: Path, timeout: float = 90.0) -> None:
    """Load the page from file:// and wait until Bokeh has rendered its document."""
    driver.get(path.resolve().as_uri())
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script("return typeof Bokeh !== 'undefined' && Bokeh.documents.length > 0 "
                                 "&& Bokeh.documents[0].is_idle"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{path}: Bokeh document not idle after {timeout} s")


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def line_pixels(driver, name: str) -> int:
    """Pixels of line colours in a screenshot of the chart called ``name``, less those its legend can hold."""
    from PIL import Image

    rect = driver.execute_script("""
const out = [];
function walk(v) { if (v.model.name === arguments[0]) out.push(v); for (const c of (v.child_views ?? [])) walk(c); }
for (const r of Bokeh.index) walk(r);
const el = out[0].el; el.scrollIntoView({block: 'center'});
const b = el.getBoundingClientRect();
return [b.left, b.top, b.width, b.height, out[0].model.renderers.length];
""".replace("arguments[0]", repr(name)))
    time.sleep(0.2)
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    left, top, width, height, renderers = rect
    assert width > 100 and height > 100, f"{name}: chart has no size ({width} x {height})"
    crop = np.asarray(image.crop((int(left), int(top), int(left + width), int(top + height))), dtype=int)
    near = np.abs(crop[:, :, None, :] - PALETTE[None, None, :, :]).sum(axis=3).min(axis=2) < 40
    return int(np.sum(near)) - LEGEND_PIXELS * int(renderers)


def check_page(driver, path: Path) -> dict[str, int]:
    """Open the report, click through every tab and check every chart; returns pixels per chart."""
    open_report(driver, path)
    n = driver.execute_script(_TABS_JS)
    assert n, "no tabs on the page"
    drawn: dict[str, int] = {}
    for i in reversed(range(n)):                     # from the last, so every click changes the active tab
        header = driver.execute_script("return window.__tabs.shadow_el.querySelectorAll('.bk-tab')[arguments[0]]", i)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
        header.click()
        time.sleep(0.3)
        assert driver.execute_script("return window.__tabs.model.active") == i, f"tab {i}: click did not switch"
        names = driver.execute_script(_FIGURES_JS, i)
        assert names, f"tab {i} has no chart"
        for name in names:
            drawn[name] = line_pixels(driver, name)
    blank = [name for name, count in drawn.items() if count < MIN_LINE_PIXELS]
    assert not blank, f"charts with no line drawn: {blank} ({drawn})"
    errors = console_errors(driver)
    assert not errors, errors
    return drawn


def test_report_in_chromium(browser, tmp_path: Path) -> None:
    page = build_report([make_run(tmp_path / "r", houses=5)], tmp_path / "r.html")
    drawn = check_page(browser, page)
    assert {"chart:substation:0", "chart:house:0", "chart:bus:0", "entity:house:0"} <= set(drawn)
    # the household selector switches the charts to another house's data (house_4 is 4 degF warmer than house_0)
    before = browser.execute_script("return Bokeh.documents[0].get_model_by_name('entity:house:0')"
                                    ".renderers[0].data_source.data.y[0]")
    browser.execute_script("Bokeh.documents[0].get_model_by_name('select:house').value = 'house_4'")
    time.sleep(0.3)
    after = browser.execute_script("return Bokeh.documents[0].get_model_by_name('entity:house:0')"
                                   ".renderers[0].data_source.data.y[0]")
    title = browser.execute_script("return Bokeh.documents[0].get_model_by_name('entity:house:0').title.text")
    assert after == pytest.approx(before + 4.0) and title.startswith("house_4:")
    assert not console_errors(browser)


def test_comparison_and_damaged_run_in_chromium(browser, tmp_path: Path) -> None:
    damaged = make_run(tmp_path / "killed", finished=False, hours=1)
    path = damaged / "house_SYN_metrics.json"
    path.write_bytes(path.read_bytes()[:-120])
    page = build_report([make_run(tmp_path / "base"), damaged], tmp_path / "cmp.html", ["base", "killed"])
    check_page(browser, page)
    text = browser.find_element("id", "missing").text
    assert "no .vppfed/summary.json" in text and "file cut short" in text


@pytest.mark.slow
def test_report_of_a_real_te30_run_in_chromium(browser, tmp_path: Path) -> None:
    from vppfed.cli import main

    run_dir = tmp_path / "te30"
    assert main(["run", "te30", "--hours", "1", "--no-progress", "--out", str(run_dir)]) == 0
    page = write_run_report(run_dir)
    assert page is not None
    drawn = check_page(browser, page)
    assert {"chart:substation:0", "chart:bus:0", "chart:house:0", "entity:house:0"} <= set(drawn)
