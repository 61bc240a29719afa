"""What only a browser shows: the URL a page's controls write (Streamlit's front end writes bound widgets into the
address bar; AppTest's query parameters never see it), and /home on a server that has already served a page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.test_browser import CHROMIUM, browser, server, settle, visit  # noqa: F401 (browser, server: fixtures)
from ui import run_index, widgets

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"{CHROMIUM} is missing: install Debian's chromium to run the browser test")
VIEWPORT = {"width": 1280, "height": 1600}


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def test_home_by_name(server: str, browser) -> None:  # noqa: F811
    page = browser.new_page()
    try:
        page.set_viewport_size(VIEWPORT)
        visit(page, f"{server}/compare")  # a server past its first session: /home is no file page any more
        visit(page, f"{server}/home")
        assert "page not found" not in page.inner_text("body").lower()
        assert page.locator("h1").first.inner_text() == "kernel-icl explorer"
        assert urlparse(page.url).path == "/"
    finally:
        page.close()


def test_compare_writes_its_view_into_the_url(server: str, browser) -> None:  # noqa: F811
    first = widgets.run_id(run_index.entries()[0])  # the first listed run: its link used to lose run=
    page = browser.new_page()
    try:
        page.set_viewport_size(VIEWPORT)
        visit(page, f"{server}/compare?run={first}&N=100")
        assert query(page) == {"run": first, "N": "100"}
        side = page.locator('[data-testid="stSidebar"]')
        side.get_by_text("a construction", exact=True).click()
        settle(page)
        assert query(page)["source"] == "a construction" and "run" not in query(page)
        slider = side.locator('[data-testid="stSlider"] input[type="range"]')
        slider.focus()
        slider.press("ArrowRight")
        settle(page)
        assert query(page)["N"] == "200"
        view = page.url
        visit(page, view)  # a reload opens the same view
        assert query(page) == {"source": "a construction", "N": "200"}
        assert "on 200 fresh contexts" in page.inner_text("body")
    finally:
        page.close()
