"""Every page in a real browser: the app served by `streamlit run`, opened in headless Chromium.

Catches what AppTest cannot: front-end errors, charts that fail to render, pages that never settle.
With KICL_SCREENSHOTS=1 in the environment, every page and slide is also saved as a screenshot in
artifacts/screenshots/ (look at them), the home page in docs/home.png (the README's picture).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    assert_charts_drew_their_data,
    needs_chromium,
    screenshot,
)

ROOT = Path(__file__).resolve().parent.parent
# url paths ("" is Home); Contexts and Weights are opened by the query and link tests below, the Talk by its walk
PAGES = ["", "compare", "train", "strategies", "landscapes", "science"]
# A projector's width, tall: Streamlit scrolls an inner container, so content below a short window is not laid out
VIEWPORT = {"width": 1280, "height": 2600}

# With -n, conftest.py keeps this file on one worker (one app server, its caches warm from test to test).
pytestmark = needs_chromium


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_healthy(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium and one browsing context: the pages share its HTTP and code caches, as a visitor's tabs do,
    so a new page does not parse Streamlit's frontend from scratch."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = b.new_context()
        yield context
        context.close()
        b.close()


def visit(page, url: str) -> None:
    """Load `url` in `page` and wait until it has settled."""
    page.goto(url, wait_until="domcontentloaded")
    settle(page)


@contextlib.contextmanager
def opened(browser, url: str, viewport: dict) -> Iterator:
    """A new tab at `url`, settled; closed afterwards."""
    page = browser.new_page()
    try:
        page.set_viewport_size(viewport)
        visit(page, url)
        yield page
    finally:
        page.close()


CLIPPED = """() => {
  const main = document.querySelector('[data-testid=stMainBlockContainer]') || document.body;
  const right = main.getBoundingClientRect().right;
  return Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart]')).map((c, i) => {
    const g = c.querySelector('svg, canvas');
    const block = c.parentElement.closest('[data-testid=stVerticalBlock]');  // the column or card holding it
    const nested = block && block.parentElement.closest('[data-testid=stVerticalBlock]');
    const edge = nested ? Math.min(block.getBoundingClientRect().right, right) : right;  // top level: the page's
    return g && g.getBoundingClientRect().right > edge + 2 ? i : -1;
  }).filter(i => i >= 0);
}"""  # charts whose drawing runs past the column or card holding them, or past the page: cut off at the right


def assert_charts_fit(page, where: str, width: int = 1280) -> None:
    """At a projector's width with the sidebar open, no chart is cut off and nothing scrolls sideways."""
    if page.viewport_size["width"] != width:
        page.set_viewport_size({"width": width, "height": 2600})
        page.wait_for_timeout(300)  # the layout settles; charts keep their size
    assert page.evaluate(CLIPPED) == [], f"{where}: charts cut off at {width} px"
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), where


NOT_RUNNING = '[data-testid="stApp"][data-test-script-state="notRunning"]'  # "initial" until the first run
CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart]')).every(
  c => c.querySelector('.vega-embed svg, .vega-embed canvas'))"""


def settle(page, timeout_ms: int = 300_000) -> None:
    """Wait until the script has run to the end and every chart has drawn (Vega draws after the script's
    state flips), then check that no rerun started meanwhile."""
    page.wait_for_selector(NOT_RUNNING, timeout=timeout_ms)
    page.wait_for_function(CHARTS_DRAWN, timeout=timeout_ms, polling=50)
    page.wait_for_timeout(150)
    page.wait_for_selector(NOT_RUNNING, timeout=timeout_ms)


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_without_exception(server: str, browser, path: str) -> None:
    with opened(browser, f"{server}/{path}", VIEWPORT) as page:
        screenshot(page, path or "home")
        if path == "" and SCREENSHOTS:
            docs = ROOT / "docs"
            docs.mkdir(exist_ok=True)
            page.set_viewport_size({"width": 1200, "height": 900})
            page.wait_for_timeout(500)
            page.screenshot(path=str(docs / "home.png"))
        errors = page.locator('[data-testid="stException"]')
        assert errors.count() == 0, f"{path or 'home'}: {errors.first.inner_text()[:2000]}"
        if path not in ("", "train", "science"):
            assert page.locator('[data-testid="stVegaLiteChart"]').count() > 0, f"{path}: no chart drawn"
        assert_charts_drew_their_data(page, path or "home")
        assert_charts_fit(page, path or "home")
        if path == "science":  # a server past its first session (/home is no file page then): /home is Home
            visit(page, f"{server}/home")
            assert "page not found" not in page.inner_text("body").lower()
            assert page.locator("h1").first.inner_text() == "kernel-icl explorer"
            assert urlparse(page.url).path == "/"



# ---------------------------------------------------------------- the query moves in the browser

RUNNING = '[data-testid="stApp"][data-test-script-state="running"]'
DRAWN = """() => Array.from(document.querySelectorAll('.vega-embed svg, .vega-embed canvas')).map(
  e => e.tagName === 'CANVAS' ? e.toDataURL() : e.innerHTML).join('|')"""


def assert_query_moves_run_no_python(page, moves: int = 10) -> None:
    """Arrow-key moves of the in-chart query control: the drawing changes every time, the script never reruns."""
    control = page.locator(".vega-bind", has_text="query").locator("input[type=range]").first
    control.focus()
    page.evaluate("() => { window.__ran = false; new MutationObserver(() => { if (document.querySelector("
                  f"'{RUNNING}')) window.__ran = true; }}).observe(document.body, {{subtree: true, attributes: "
                  "true}); }")
    for _ in range(moves):
        before = page.evaluate(DRAWN)
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"(b) => ({DRAWN})() !== b", arg=before, timeout=20_000)
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__ran") is False  # no rerun: Streamlit's script state never ran
    assert page.locator('[data-testid="stException"]').count() == 0


def test_query_moves_run_no_python(server: str, browser) -> None:
    """On the circle (d = 2); the sphere's query (d = 3) is moved in test_every_view_a_link."""
    with opened(browser, f"{server}/contexts", VIEWPORT) as page:
        assert_charts_drew_their_data(page, "contexts")
        assert_query_moves_run_no_python(page)


# ---------------------------------------------------------------- the talk, walked with the keyboard


SIZES = [(1280, 720), (1920, 1080)]  # a projector, a full-HD screen
BELOW_FOLD = """() => Array.from(document.querySelectorAll(
    '[data-testid=stMainBlockContainer] [data-testid=stElementContainer]'))
  .filter(e => e.getBoundingClientRect().height > 0)
  .map(e => e.getBoundingClientRect())
  .filter(r => r.bottom > innerHeight + 1 || r.right > innerWidth + 1 || r.left < 0 || r.top < 0)
  .map(r => [Math.round(r.left), Math.round(r.top), Math.round(r.right), Math.round(r.bottom)])"""


def on_slide(page, k: int) -> None:
    """Wait until slide k's headline is shown and the page has settled; its URL names it."""
    from ui.talk import SLIDES

    page.wait_for_function("(h) => { const e = document.querySelector('.talk-headline'); return e && "
                           "e.innerText === h; }", arg=SLIDES[k - 1].headline, timeout=120_000)
    settle(page)
    page.get_by_text(f"{k} / {len(SLIDES)}", exact=True).wait_for(timeout=30_000)  # the keys' listener is on
    assert page.url.endswith(f"slide={k}") or (k == 1 and "slide=" not in page.url), (k, page.url)


def test_walk_the_talk(server: str, browser) -> None:
    """The whole talk with the keyboard (arrows and a clicker's keys); every slide checked at both window sizes
    (a resize redraws nothing on the server, so one walk serves both): headline, charts, captions and the
    progress all inside the window (nothing to scroll to), every chart drew its data, no exception; a
    screenshot of each slide at each size (KICL_SCREENSHOTS)."""
    from ui.talk import SLIDES

    with opened(browser, f"{server}/talk", dict(zip(("width", "height"), SIZES[0]))) as page:
        for k in range(1, len(SLIDES) + 1):
            for w, h in SIZES if k % 2 else SIZES[::-1]:  # one resize per slide: the next opens at this size
                if page.viewport_size != {"width": w, "height": h}:
                    page.set_viewport_size({"width": w, "height": h})
                    page.wait_for_timeout(250)  # the layout settles; nothing reruns
                assert page.locator('[data-testid="stException"]').count() == 0, k
                assert page.get_by_text(f"{k} / {len(SLIDES)}", exact=True).count() == 1, k  # the progress
                assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1, k
                assert page.evaluate(BELOW_FOLD) == [], (k, w, h)
                assert_charts_drew_their_data(page, f"slide {k}")
                screenshot(page, f"talk-{w}x{h}-slide{k}")
            if k < len(SLIDES):
                page.keyboard.press("ArrowRight" if k % 2 else "PageDown")
                on_slide(page, k + 1)
        page.keyboard.press("ArrowLeft")
        on_slide(page, len(SLIDES) - 1)
        page.keyboard.press("PageUp")
        on_slide(page, len(SLIDES) - 2)


def test_talk_keys_win_over_controls_land_every_press_and_follow_history(server: str, browser) -> None:
    """A clicker always changes the slide: with an in-chart slider or radio focused, Right and PageDown still
    move the talk; quick presses all land; Back and Forward show the slide their URL names; a presenter window
    follows the room's and moves it."""
    with opened(browser, f"{server}/talk?slide=2", {"width": 1280, "height": 720}) as page:
        page.locator(".vega-bind input[type=radio]").first.focus()  # slide 2's A/B radio
        page.keyboard.press("ArrowRight")
        on_slide(page, 3)
        for _ in range(2):  # a double tap, 50 ms apart
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(50)
        on_slide(page, 5)
        control = page.locator(".vega-bind input[type=range]").first  # slide 5's query slider
        control.evaluate("(s) => { window.__moved = false; for (const t of ['input', 'change']) "
                         "s.addEventListener(t, () => { window.__moved = true; }); }")
        control.focus()
        page.keyboard.press("PageUp")
        on_slide(page, 4)
        assert page.evaluate("() => window.__moved") is False  # the key went to the talk, not to the slider
        page.go_back()
        on_slide(page, 5)  # the headline shown is the one the URL names
        page.go_forward()
        on_slide(page, 4)
        page.keyboard.press("ArrowRight")  # after history moves, keys go on from the slide shown
        on_slide(page, 5)
        shown = 5
        presenter = browser.new_page()
        try:
            presenter.set_viewport_size({"width": 1000, "height": 700})
            visit(presenter, f"{server}/talk?presenter=1&slide={shown}")
            assert presenter.locator(".talk-note").count() == 1 and page.locator(".talk-note").count() == 0
            page.bring_to_front()
            page.keyboard.press("ArrowRight")
            on_slide(page, shown + 1)
            on_slide(presenter, shown + 1)  # the presenter's window follows
            presenter.bring_to_front()
            presenter.keyboard.press("ArrowLeft")
            on_slide(presenter, shown)
            on_slide(page, shown)  # ... and moves the room's
        finally:
            presenter.close()
        visit(page, f"{server}/talk?slide=99")  # a link past the end opens the last slide, with a note
        on_slide(page, 10)
        assert page.get_by_text("past the talk's 10 slides").count() == 1


def test_every_view_a_link(server: str, browser) -> None:
    """A URL restores the view (task inputs, the run); bad values open the default view with a note."""
    with opened(browser, f"{server}/contexts?d=3&seed=4", VIEWPORT) as page:
        assert page.locator('input[aria-label="d (dimension)"]').input_value() == "3"
        assert page.locator('input[aria-label="seed"]').input_value() == "4"
        assert page.locator(".vega-bind", has_text="query longitude").count() == 1  # the sphere's query
        assert_charts_drew_their_data(page, "contexts?d=3")
        assert_charts_fit(page, "contexts?d=3")
        assert_query_moves_run_no_python(page)  # the sphere's query moves in the browser too
        visit(page, f"{server}/contexts?d=5")  # the cosine view: its legends under it, inside its column
        assert_charts_drew_their_data(page, "contexts?d=5")
        assert_charts_fit(page, "contexts?d=5")
        visit(page, f"{server}/contexts?d=3&seed=4")
        page.locator('input[aria-label="seed"]').fill("5")
        page.keyboard.press("Enter")
        settle(page)
        assert "seed=5" in page.url
        visit(page, f"{server}/weights?run=pretrained/fast-softmax-d5")
        assert "fast-softmax-d5" in page.url
        assert page.get_by_text("softmax d=5 C=5 n=100").count() >= 1
        assert_charts_drew_their_data(page, "weights, d = 5")
        assert_charts_fit(page, "weights, d = 5")
        for bad in ("contexts?d=abc", "contexts?d=1000", "weights?run=../../etc"):
            visit(page, f"{server}/{bad}")
            assert page.get_by_text("is not valid here").count() == 1, bad
            assert page.locator('[data-testid="stException"]').count() == 0, bad


# ---------------------------------------------------------------- Play through training, in the browser


def test_play_moves_both_runs_snapshots_in_the_browser(server: str, browser) -> None:
    """Play steps the left run's snapshot slider with no rerun; the run beside it follows at the same fraction of
    training, its own slider hidden (one control for both)."""
    url = f"{server}/weights?run=pretrained/fast-linear-d2&beside=pretrained/fast-linear-d3"  # no Fig. 8: lighter
    with opened(browser, url, VIEWPORT) as page:
        sliders = page.locator(".vega-bind", has_text="snapshot").locator("input[type=range]")
        assert sliders.count() == 2
        page.wait_for_function("() => Array.from(document.querySelectorAll('.vega-bind')).filter(b => "
                               "b.textContent.startsWith('snapshot') && b.offsetParent !== null).length === 1")
        lead, other = sliders.nth(0), sliders.nth(1)
        lead.evaluate("(s) => { s.value = 0; s.dispatchEvent(new Event('input', {bubbles: true})); }")
        page.evaluate("() => { window.__ran = false; new MutationObserver(() => { if (document.querySelector("
                      f"'{RUNNING}')) window.__ran = true; }}).observe(document.body, {{subtree: true, attributes: "
                      "true}); }")
        before = page.evaluate(DRAWN)
        page.get_by_role("button", name="Play through training").click()
        page.wait_for_function("(s) => +s.value >= 20", arg=lead.element_handle(), timeout=20_000)
        page.get_by_role("button", name="Pause").click()
        at = int(lead.input_value())
        page.wait_for_timeout(300)
        assert int(lead.input_value()) == at  # paused
        frac = at / int(lead.get_attribute("max"))
        assert abs(int(other.input_value()) - frac * int(other.get_attribute("max"))) <= 0.5 + 1e-9  # same fraction
        assert page.evaluate(DRAWN) != before  # the heatmaps and the ring moved
        assert page.evaluate("() => window.__ran") is False  # and no Python ran for it
        assert_charts_drew_their_data(page, "weights, two runs")


# ---------------------------------------------------------------- what only a browser shows of the desk pages:
# the URL a page's controls write (AppTest's query parameters never see it), /home on a server past its first
# session, a training job in view after Start

DESK = {"width": 1280, "height": 1600}


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_compare_writes_its_view_into_the_url(server: str, browser) -> None:
    from ui import run_index, widgets

    first = widgets.run_id(run_index.entries()[0])  # the first listed run: its link used to lose run=
    page = browser.new_page()
    try:
        page.set_viewport_size(DESK)
        visit(page, f"{server}/compare?run={first}")  # the views' sizes are those the page tests compiled
        assert query(page) == {"run": first}
        side = page.locator('[data-testid="stSidebar"]')
        side.get_by_text("a construction", exact=True).click()
        settle(page)
        assert query(page)["source"] == "a construction" and "run" not in query(page)
        side.locator('input[aria-label="seed"]').fill("7")
        page.keyboard.press("Enter")
        settle(page)
        assert query(page)["seed"] == "7"
        view = page.url
        visit(page, view)  # a reload opens the same view
        assert query(page) == {"source": "a construction", "seed": "7"}
        assert page.locator('[data-testid="stSidebar"] input[aria-label="seed"]').input_value() == "7"
    finally:
        page.close()


def test_a_started_job_is_in_view_and_its_charts_fit_its_card(server: str, browser) -> None:
    """At 1280 x 720 the job's progress is on screen right after Start (the page opens on its live jobs), and its
    charts fit the job's card (the loss and constants row once ran 200 px past it)."""
    name = f"browser-{os.getpid()}"
    page = browser.new_page()
    try:
        page.set_viewport_size({"width": 1280, "height": 720})
        visit(page, f"{server}/train")
        page.get_by_label("Run name (a folder in runs/)").fill(name)
        page.keyboard.press("Enter")
        settle(page)
        page.get_by_text("Change the config", exact=True).click()
        steps = page.get_by_label("steps", exact=True)
        steps.fill("200")  # a short run of the default demo recipe: the panel, not the training, is under test
        steps.press("Enter")
        settle(page)
        page.get_by_role("button", name="Start training").click()
        title = page.get_by_text(name, exact=False).first
        title.wait_for(timeout=60_000)
        box = page.locator('[data-testid="stProgress"]').first
        box.wait_for(timeout=60_000)
        # in view without the user scrolling: the page brings it there (a component's script, which a loaded machine
        # runs a moment after the bar appears)
        in_view = """() => { const b = document.querySelector('[data-testid="stProgress"]');
                             if (!b) return false; const r = b.getBoundingClientRect();
                             return r.top >= 0 && r.bottom <= window.innerHeight; }"""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        with contextlib.suppress(PlaywrightTimeout):  # the assertion below reports where it is
            page.wait_for_function(in_view, timeout=10_000)
        r = box.bounding_box()
        assert r is not None and 0 <= r["y"] and r["y"] + r["height"] <= 720, r
        page.get_by_text(re.compile(r"^(Not converged|Converged)\.")).first.wait_for(timeout=240_000)
        settle(page)  # the verdict is drawn first, then the run's final charts
        page.set_viewport_size({"width": 1280, "height": 2600})
        page.wait_for_function(CHARTS_DRAWN, timeout=60_000)
        page.wait_for_timeout(300)
        assert_charts_fit(page, "train, live job")  # inside the job's card
        assert_charts_drew_their_data(page, "train, live job")
    finally:
        page.close()
        import shutil

        shutil.rmtree(ROOT / "runs" / name, ignore_errors=True)
