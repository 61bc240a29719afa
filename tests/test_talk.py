"""The Talk page through AppTest: every slide draws its one chart, for the setting it is about, from the shipped
runs and fits; navigation moves one slide at a time and stops at the ends."""

from __future__ import annotations

import json

import pytest

from tests.app_support import charts_of, open_app
from ui.talk import SLIDES

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
    "valley": ["c_sigma", "end of training", "log"],
}


@pytest.mark.parametrize("k", range(1, len(SLIDES) + 1))
def test_each_slide_draws_its_chart(k: int) -> None:
    at = open_app("talk", slide=k)
    slide = SLIDES[k - 1]
    assert not at.exception and not at.error
    assert slide.headline in " ".join(m.value for m in at.markdown)
    assert f"**{k} / {len(SLIDES)}**" in [m.value for m in at.markdown]
    specs = charts_of(at)
    assert len(specs) == 1, slide.key
    text = json.dumps(specs[0])
    for needle in EXPECT[slide.key]:
        assert needle in text, (slide.key, needle)


def test_next_and_back_stop_at_the_ends() -> None:
    at = open_app("talk", slide=1)
    at.button(key="talk_back").click().run()
    assert at.session_state["slide"] == 1
    at.button(key="talk_next").click().run()
    assert at.session_state["slide"] == 2 and not at.exception
    at.session_state["slide"] = len(SLIDES)
    at.run()
    at.button(key="talk_next").click().run()
    assert at.session_state["slide"] == len(SLIDES)
    at.button(key="talk_pgup").click().run()
    assert at.session_state["slide"] == len(SLIDES) - 1
