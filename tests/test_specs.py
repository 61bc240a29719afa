"""Vega-Lite spec plumbing: datasets of concatenated self-contained charts."""

from __future__ import annotations

from tests.chart_support import named_data, spec
from ui import context_charts, specs


def test_hconcat_lifts_datasets_to_the_top_level(circle_context) -> None:
    xs, ys, xq, yq, protos = circle_context
    parts = [specs.with_data(context_charts.circle_template(3, prefix=p),
                             context_charts.circle_datasets(xs, ys, xq, yq, protos, prefix=p))
             for p in ("a_", "b_")]
    s = spec(specs.hconcat(parts))
    assert all("datasets" not in sub for sub in s["hconcat"])
    assert named_data(s) <= set(s["datasets"])
