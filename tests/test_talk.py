"""The Talk page through AppTest: every slide draws its one chart, for the setting it is about, from the shipped
runs and fits; navigation moves one slide at a time and stops at the ends."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import charts_of, open_link
from ui.specs import dataset_problems
from ui.talk import SLIDES, current_slide

EXPECT = {  # what each slide's chart must contain (its setting and its content)
    "task": ["orthographic", "x1"],
    "model": ["touches", "query [x_q, 0]"],
    "linear": ["GD (eq. 2)", "trained linear SA"],
    "softmax": ["eq. 1", "trained softmax SA"],
    "rate": ["eq. 1: eta(X)", "kernel GD (eq. 3): fixed", "rate_query"],
    "weights": ["talk_snapshot", "A = W_Q^T W_K"],
    "constants": ["d = 2", "d = 10", "fraction of training"],
    "claim": ["softmax SA (trained)", "linear SA (trained)", "held-out"],
    "strategies": ["selection: fig11-d2-C2-seed14", "elimination: fig11-d2-C2-seed0", "query"],
    "valley": ["c_sigma", "GD (eq. 2)", "log"],
}


def open_talk(**params) -> AppTest:
    """The Talk page as a link opens it."""
    return open_link("talk", **params)


@pytest.mark.parametrize("k", range(1, len(SLIDES) + 1))
def test_each_slide_draws_its_chart(k: int) -> None:
    """Each slide's one chart carries its setting and content, and every dataset it reads is defined where
    Vega-Lite reads it (slide 1 once nested its parts' data inside an hconcat and drew nothing)."""
    at = open_talk(slide=k)
    slide = SLIDES[k - 1]
    assert not at.exception and not at.error
    assert slide.headline in " ".join(m.value for m in at.markdown)
    assert slide.note not in " ".join(m.value for m in at.markdown)  # the note is for the presenter's window
    specs = charts_of(at)
    assert len(specs) == 1, slide.key
    assert dataset_problems(specs[0]) == [], slide.key
    assert specs[0]["config"]["axis"]["labelFontSize"] >= 14  # type for a room
    text = json.dumps(specs[0])
    for needle in EXPECT[slide.key]:
        assert needle in text, (slide.key, needle)


def test_presenter_window_shows_the_note_and_what_comes_next() -> None:
    at = open_talk(slide=3, presenter=1)
    shown = " ".join(m.value for m in at.markdown)
    assert SLIDES[2].headline in shown and SLIDES[2].note in shown and SLIDES[3].headline in shown
    assert not charts_of(at) and not at.exception  # the presenter's window draws no chart


def test_a_link_past_the_end_opens_the_last_slide_with_a_note() -> None:
    at = open_talk(slide=99)
    assert SLIDES[-1].headline in " ".join(m.value for m in at.markdown)
    assert any("past the talk's 10 slides: showing slide 10" in c.value for c in at.caption)
    assert at.query_params["slide"] == "10"  # the URL says what is shown
    at = open_talk(slide="abc")
    assert SLIDES[0].headline in " ".join(m.value for m in at.markdown)
    assert any("`slide=abc` is not valid here" in c.value for c in at.caption)


def test_current_slide_prefers_a_key_press_then_the_url() -> None:
    n = len(SLIDES)
    assert current_slide({"slide": 4, "seq": 7}, "2", n) == (4, 7, None)  # a press in flight wins over the URL
    assert current_slide({"slide": 40, "seq": 8}, None, n) == (n, 8, None)  # presses past the end stop there
    assert current_slide({"slide": 0, "seq": 9}, None, n) == (1, 9, None)
    assert current_slide(None, "6", n) == (6, None, None)  # Back/Forward and links: the URL
    assert current_slide(None, None, n) == (1, None, None)
    k, ack, note = current_slide(None, "0", n)
    assert (k, ack) == (1, None) and "past the talk's" in note
    assert current_slide({"bad": 1}, "5", n) == (5, None, None)


@pytest.mark.parametrize("k", [1, 4, 8])
def test_the_drawn_data_is_the_slides_own(k: int) -> None:
    """The Talk page sends each slide's datasets as Arrow converted once and cached (`loaders.slide_content`):
    what the browser receives is, row for row, what the slide's builder made."""
    import pandas as pd

    drawn = charts_of(open_talk(slide=k))[0]["datasets"]
    built = SLIDES[k - 1].build().spec["datasets"]
    assert set(drawn) == set(built) and built
    for name, rows in built.items():
        pd.testing.assert_frame_equal(pd.DataFrame(drawn[name]), pd.DataFrame(rows), check_dtype=False)


def test_the_slide_cache_follows_the_shipped_files(empty_roots) -> None:
    """A file replaced in pretrained/fits (written atomically, as the engine writes) or a run written under either
    root changes the stamp the cached slides are keyed on; an untouched tree keeps it."""
    import os
    import time

    from ui import run_index

    pre, user = empty_roots
    (pre / "fits").mkdir()
    before = run_index.roots_stamp()
    assert run_index.roots_stamp() == before
    later = time.time() + 5
    (pre / "fits" / "gd.json.tmp").write_text("{}")
    os.replace(pre / "fits" / "gd.json.tmp", pre / "fits" / "gd.json")
    os.utime(pre / "fits", (later, later))  # file times have a coarse clock on some file systems
    moved = run_index.roots_stamp()
    assert moved != before
    (user / "r").mkdir()
    (user / "r" / "config.json").write_text("{}")
    assert run_index.roots_stamp() != moved


def test_the_strategies_slide_keys_its_colours_to_the_classes() -> None:
    """The slide says which class the query is of and colours points, regions and bars by class: the compiled
    chart has a class legend (the query's ring once took it away), beside the attention and sign legends."""
    from tests.chart_support import legend_titles

    slide = next(s for s in SLIDES if s.key == "strategies")
    assert {"class", "attention |w| / max", "weight sign"} <= set(legend_titles(slide.build().spec))


@pytest.mark.parametrize("sign", [1, -1])
def test_the_valley_slide_says_which_branch_the_d10_run_took(monkeypatch, sign: int) -> None:
    """The valley is drawn for positive constants: a d = 10 run ending with both negative (the mirrored branch,
    elimination) is named as such instead of a path that is not on the chart."""
    from ui import loaders, talk

    rows = [{"step": s, "c_sigma": sign * c, "c_eta": sign * 250.0, "eta": 250.0 * c / 7 ** 0.5}
            for s, c in ((0, 0.001), (100, 3.0), (6000, 1.4))]
    monkeypatch.setattr(loaders, "run_path", lambda *a: rows)
    caption = " ".join(talk.valley_slide().captions)
    assert ("mirrored branch" in caption) == (sign < 0)
    assert ("ending at c_sigma 1.4" in caption) == (sign > 0)
