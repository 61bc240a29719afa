"""The server's warm-up runs the page scripts outside any session: there, widgets have no state, so the task
inputs and URL-bound run pickers must give the page's default view (what a first visitor sees), not whatever
a bare widget returns."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from ui import loaders, widgets

PAGES = Path(__file__).resolve().parent.parent / "pages"


class Reached(Exception):
    """Ends a page once the call under test is seen."""


def test_outside_a_session_is_not_a_script_run() -> None:
    assert widgets.in_script() is False


def test_landscapes_default_view_outside_a_session(monkeypatch) -> None:
    seen = []

    def fit(method, d, C, n):
        seen.append((method, d, C, n))
        raise Reached

    monkeypatch.setattr(loaders, "fit", fit)
    with pytest.raises(Reached):
        runpy.run_path(str(PAGES / "landscapes.py"), run_name="__main__")
    assert seen == [("adaptive", 3, 5, 100)]  # the page's default: eq. 1 at d = 3


@pytest.mark.parametrize("page", ["weights", "compare"])
def test_run_pages_default_run_outside_a_session(monkeypatch, page: str) -> None:
    seen = []

    def load_run(path):
        seen.append(path)
        raise Reached

    monkeypatch.setattr(loaders, "load_run", load_run)
    with pytest.raises(Reached):
        runpy.run_path(str(PAGES / f"{page}.py"), run_name="__main__")
    assert Path(seen[0]).parts[-2:] == ("pretrained", "fast-softmax-d3")  # the headline run: a first view
