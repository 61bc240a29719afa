"""What the real-browser tests share: Chromium and the flags that keep it quiet on a closed network, the skip
when it is missing, the check that every chart drew its data, and screenshots on request (KICL_SCREENSHOTS=1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = ROOT / "artifacts" / "screenshots"
SCREENSHOTS = bool(os.environ.get("KICL_SCREENSHOTS"))

needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason=f"{CHROMIUM} is missing: install Debian's chromium to run the browser test")

STREAMLIT_CHARTS = "[data-testid=stVegaLiteChart]"  # the element holding each chart of an app page

DRAWN_NOTHING = """(charts) => Array.from(document.querySelectorAll(charts)).flatMap((c, i) => {
  const svg = c.querySelector('.vega-embed svg.marks');
  if (svg) return Array.from(svg.querySelectorAll('g.role-mark'))
    .filter(g => !g.closest('.role-axis, .role-legend, .role-title') && g.children.length === 0)
    .filter(g => !Array.from(g.classList).some(c => c.startsWith('optional_')))  // landscape_charts.OPTIONAL
    .map(g => `chart ${i}: ${Array.from(g.classList).join(' ')} drew 0 marks`);
  const canvas = c.querySelector('.vega-embed canvas');
  if (!canvas) return [`chart ${i}: not drawn`];
  const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let k = 0; k < px.length && colours.size < 16; k += 4 * 97) {
    colours.add(px[k] << 16 | px[k + 1] << 8 | px[k + 2]);
  }
  return colours.size < 16 ? [`chart ${i}: canvas holds ${colours.size} colours (axes only?)`] : [];
})"""  # Vega draws an empty <g> for a layer whose data never arrived; large datasets draw on a canvas instead


def assert_charts_drew_their_data(page, where: str, charts: str = STREAMLIT_CHARTS) -> None:
    """Every chart (each element matching `charts`, holding a vega-embed) drew its data: in SVG, no data layer (a
    role-mark group outside axes, legends and titles) with 0 marks; on a canvas (Streamlit's choice for large
    datasets), more colours than axes and text give. A layer that reads a dataset Vega-Lite cannot see (nested in
    a concatenated part, or misnamed) draws 0 marks and raises no error: the DOM holds the chart all the same, so
    only this check notices. A layer that may rightly be empty (a marker filtered to the chosen snapshot) is named
    `landscape_charts.OPTIONAL...` and left out."""
    empty = page.evaluate(DRAWN_NOTHING, charts)
    assert empty == [], f"{where}: {empty}"


def screenshot(page, name: str) -> None:
    """Save what the page shows, when asked for (KICL_SCREENSHOTS): pictures are for people to look at."""
    if SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))
