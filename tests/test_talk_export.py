"""The talk's static export (`ui.talk_export`): the folder it writes (index.html holding the libraries and every
slide's chart and data, a PNG per slide), and the page itself in Chromium opened from file:// with every request
to the network refused: all ten slides drawn, walked with the keys, opened by a `#slide=k` link, a control moved.
The export is built once for the module; with KICL_SCREENSHOTS=1 each slide is saved at 1280 x 720 as
artifacts/screenshots/export-slide{k}.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    assert_charts_drew_their_data,
    needs_chromium,
    screenshot,
)
from ui import talk_export
from ui.specs import dataset_problems
from ui.talk import ROOM_CONFIG, SLIDES

N = len(SLIDES)
MAX_BYTES = 4_000_000  # the whole folder: "a few MB at most"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("talk") / "talk-export"
    talk_export.export(out)
    return out


def test_the_folder_holds_the_page_and_a_png_per_slide(exported: Path) -> None:
    index = exported / "index.html"
    assert index.is_file()
    for k in range(1, N + 1):
        png = exported / talk_export.PNG_DIR / f"slide-{k}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", k
    total = sum(p.stat().st_size for p in exported.rglob("*") if p.is_file())
    assert total <= MAX_BYTES, f"{total / 1e6:.1f} MB"


def test_nothing_in_the_page_points_at_the_network(exported: Path) -> None:
    text = (exported / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I) == []
    assert re.findall(r"<script[^>]*\bsrc\s*=", text, re.I) == []  # the libraries are inside the page
    assert re.findall(r"<link\b", text, re.I) == []


def test_every_slide_carries_its_chart_headline_captions_and_note(exported: Path) -> None:
    """Each slide's spec is in the page, in the room's type sizes, and every dataset it reads is defined where
    Vega-Lite reads it (the project's lint); headlines and notes are in the page's text."""
    text = (exported / "index.html").read_text(encoding="utf-8")
    specs = talk_export.unpack(exported / "index.html")
    assert len(specs) == N
    for slide, spec in zip(SLIDES, specs):
        assert spec is not None, slide.key
        assert dataset_problems(spec) == [], slide.key
        assert spec["config"]["axis"]["labelFontSize"] == ROOM_CONFIG["axis"]["labelFontSize"], slide.key
        assert talk_export.inline(slide.headline) in text and talk_export.inline(slide.note) in text, slide.key
    assert 'class="caption"' in text


def test_inline_markdown_is_escaped_html() -> None:
    assert talk_export.inline("run `a<b>` is **done** & kept") == \
        "run <code>a&lt;b&gt;</code> is <b>done</b> &amp; kept"


def test_the_png_title_keeps_the_chart_title_under_the_headline() -> None:
    plain = talk_export.titled({"title": "own"}, "Headline", 3, 10)["title"]
    assert (plain["text"], plain["subtitle"]) == ("Headline", ["own", "3 / 10"])
    live = talk_export.titled({"title": {"text": {"expr": "'step ' + s"}}}, "Headline", 6, 10)["title"]
    assert live["subtitle"] == {"expr": "['step ' + s, \"6 / 10\"]"}


# ---------------------------------------------------------------- the page in Chromium, the network refused


@pytest.fixture(scope="module")
def offline(exported: Path) -> Iterator[tuple]:
    """A Chromium page that may load file:// only: every other request is recorded and refused."""
    sync_api = pytest.importorskip("playwright.sync_api")
    refused: list[str] = []
    errors: list[str] = []

    def guard(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        context.route("**/*", guard)
        page = context.new_page()
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else refused.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        yield page, (exported / "index.html").as_uri(), refused, errors
        context.close()
        browser.close()


SHOWN = "() => { const s = document.querySelector('.slide:not([hidden])'); return s ? +s.id.split('-')[1] : 0; }"
OUTSIDE = """(k) => {  // what of slide k lies outside the 1280 x 720 stage (nothing may need scrolling)
  const stage = document.getElementById('stage').getBoundingClientRect();
  return Array.from(document.querySelectorAll(`#slide-${k} *`))
    .filter(e => e.checkVisibility() && !e.parentElement.closest("svg")).map(e => e.getBoundingClientRect())
    .filter(r => r.width > 0 && (r.right > stage.right + 1 || r.bottom > stage.bottom + 1 || r.left < stage.left - 1
      || r.top < stage.top - 1)).length;
}"""
MOVE = "(s, v) => { s.value = v; s.dispatchEvent(new Event('input', {bubbles: true})); }"  # as a drag does
DRAWN = "(k) => document.querySelector(`#slide-${k} .chart svg.marks`).innerHTML"


def on_slide(page, k: int) -> None:
    """Slide k is shown, its chart drawn, the progress and the URL say k."""
    page.wait_for_function(f"() => ({SHOWN})() === {k}", timeout=10_000)
    page.wait_for_selector(f"#slide-{k} .chart svg.marks g.role-mark", timeout=20_000)
    assert page.inner_text(".talk-nav .where") == f"{k} / {N}"
    assert page.evaluate("location.hash") == f"#slide={k}"


@needs_chromium
def test_walk_the_exported_talk_offline(offline) -> None:
    """All ten slides with the keys (arrows and a clicker's PageDown), each chart drew its data inside the
    1280 x 720 stage; Left goes back; N shows the speaker note; nothing but file:// was ever asked for."""
    page, url, refused, errors = offline
    page.goto(url)
    for k in range(1, N + 1):
        on_slide(page, k)
        assert_charts_drew_their_data(page, f"slide {k}", charts=f"#slide-{k} .chart")
        assert page.evaluate(OUTSIDE, k) == 0, k
        screenshot(page, f"export-slide{k}")
        if k < N:
            page.keyboard.press("ArrowRight" if k % 2 else "PageDown")
    page.keyboard.press("ArrowRight")  # past the end: stays
    on_slide(page, N)
    page.keyboard.press("ArrowLeft")
    on_slide(page, N - 1)
    page.keyboard.press("n")
    assert page.locator(f"#slide-{N - 1} .note").evaluate("(d) => d.open")
    assert page.locator(f"#slide-{N - 1} .note div").is_visible()
    page.go_back()  # Back steps through the slides seen
    on_slide(page, N)
    assert refused == [] and errors == [], (refused, errors)


@needs_chromium
def test_a_link_opens_its_slide_and_its_controls_move_the_chart(offline) -> None:
    page, url, refused, errors = offline
    page.goto(f"{url}#slide=5")
    page.reload()  # a link opened afresh, not a hash change in an open page
    on_slide(page, 5)
    before = page.evaluate(DRAWN, 5)
    control = page.locator("#slide-5 .vega-bind input[type=range]").first  # the query on the adaptive rate
    control.evaluate(MOVE, (int(control.input_value()) + 90) % 360)
    page.wait_for_function(f"(b) => ({DRAWN})(5) !== b", arg=before, timeout=10_000)
    page.keyboard.press("PageDown")  # the talk's keys win over the focused control
    on_slide(page, 6)
    before = page.evaluate(DRAWN, 6)
    snapshot = page.locator("#slide-6 .vega-bind input[type=range]").first  # A and B through training
    snapshot.evaluate(MOVE, 0)
    page.wait_for_function(f"(b) => ({DRAWN})(6) !== b", arg=before, timeout=10_000)
    for link, shown in (("#slide=99", N), ("#slide=abc", 1), ("#slide=0", 1)):  # bad links: clamped, corrected
        page.goto(url + link)
        page.reload()
        on_slide(page, shown)
    assert refused == [] and errors == [], (refused, errors)
