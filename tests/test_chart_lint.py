"""Every chart the desk pages build, linted as Vega-Lite reads it: each named dataset a layer reads is defined at
the spec's top level (a dataset left inside a concatenated part draws nothing and raises no error). The talk's
slides are linted in test_talk.py; whether the browser then drew each layer is checked in test_browser.py."""

from __future__ import annotations

import pytest

from tests.app_support import charts_of, open_app
from ui.specs import dataset_problems

VIEWS = [("home", {}), ("contexts", {}), ("contexts", {"d": 3}), ("compare", {}), ("weights", {}),
         ("strategies", {}), ("landscapes", {})]


@pytest.mark.parametrize("page, state", VIEWS, ids=[f"{p}{s or ''}" for p, s in VIEWS])
def test_every_chart_reads_only_datasets_it_defines(page: str, state: dict) -> None:
    at = open_app(page, **state)
    charts = charts_of(at)
    assert charts, page
    problems = {i: dataset_problems(spec) for i, spec in enumerate(charts)}
    assert {i: p for i, p in problems.items() if p} == {}, page
