"""Every chart the pages build is linted as Vega-Lite reads it by `tests.app_support.charts_of`, which every page
test reads its charts through (each named dataset a layer reads is defined at the spec's top level). This file
adds the one view no other page test opens with the shipped runs: Home's headline chart (with the baselines as
yardsticks, said in words and tabled). Whether the browser then drew each layer is checked in test_browser.py."""

from __future__ import annotations

import pytest

from tests.app_support import charts_of, open_app
from ui.specs import dataset_problems

VIEWS = [("home", {})]


@pytest.mark.parametrize("page, state", VIEWS, ids=[f"{p}{s or ''}" for p, s in VIEWS])
def test_every_chart_reads_only_datasets_it_defines(page: str, state: dict) -> None:
    at = open_app(page, **state)
    charts = charts_of(at)
    assert charts, page
    problems = {i: dataset_problems(spec) for i, spec in enumerate(charts)}
    assert {i: p for i, p in problems.items() if p} == {}, page


def test_home_shows_the_baselines_as_yardsticks() -> None:
    """Home's chart draws the shipped table's baselines in grey, its text is the table's own words about them, and
    its table has a row per learner and baseline."""
    import pandas as pd

    from engine import headline
    from engine.runs import PRETRAINED_ROOT

    at = open_app("home")
    table = pd.read_csv(PRETRAINED_ROOT / "headline.csv", keep_default_na=False)
    chart = charts_of(at)[0]
    shapes = [u["encoding"]["shape"] for u in chart["layer"] if "shape" in u.get("encoding", {})]
    assert shapes and "logistic regression" in shapes[0]["scale"]["domain"]
    shown = " ".join(m.value for m in at.markdown)
    assert all(sentence in shown for sentence in headline.yardsticks(table))
    frame = at.dataframe[0].value
    assert list(frame["learner"]) == list(dict.fromkeys(table["learner"]))
    assert frame.set_index("learner").loc["oracle (nearest prototype)", "d = 2"] == "0.000 (100.0%)"
