"""Every chart the pages build is linted as Vega-Lite reads it by `tests.app_support.charts_of`, which every page
test reads its charts through (each named dataset a layer reads is defined at the spec's top level). This file
adds the one view no other page test opens with the shipped runs: Home's headline chart. Whether the browser then
drew each layer is checked in test_browser.py."""

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
