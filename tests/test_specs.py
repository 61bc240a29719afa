"""Vega-Lite spec plumbing: datasets of concatenated self-contained charts."""

from __future__ import annotations

import altair as alt
import numpy as np

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


def test_dataset_problems_flags_parts_whose_data_vega_lite_never_reads(circle_context) -> None:
    """Altair's own hconcat keeps each part's inlined datasets inside the part, where Vega-Lite ignores them: the
    layers draw nothing and nothing errors (the talk's first slide did this). The lint names each such read."""
    xs, ys, xq, yq, protos = circle_context
    circle = context_charts.circle_chart(xs, ys, xq, yq, protos, prefix="c_")
    sphere_xs = np.c_[xs, np.zeros(len(xs))]
    sphere = context_charts.sphere_chart(sphere_xs, ys, np.r_[xq, 0.0], yq, np.c_[protos, np.zeros(len(protos))],
                                         prefix="s_")
    broken = specs.to_spec(alt.hconcat(circle, sphere))
    problems = specs.dataset_problems(broken)
    assert any("datasets nested in a part" in p for p in problems)
    assert {"c_points", "s_points", "c_query", "s_query"} <= {p.split("'")[1] for p in problems if "reads" in p}
    assert specs.dataset_problems(specs.to_spec(specs.hconcat([circle, sphere]))) == []
    assert specs.dataset_problems(specs.to_spec(circle)) == []  # one chart: Altair puts them at the top
    assert specs.dataset_problems({"data": {"name": "x"}, "mark": "point"}) == ["top: reads dataset 'x', not " \
                                                                                "defined at the top level"]


def test_with_config_merges_over_a_copy() -> None:
    base = {"mark": "point", "config": {"axis": {"labelFontSize": 10, "grid": False}}}
    out = specs.with_config(base, {"axis": {"labelFontSize": 14}, "title": {"fontSize": 17}})
    assert out["config"] == {"axis": {"labelFontSize": 14, "grid": False}, "title": {"fontSize": 17}}
    assert base["config"] == {"axis": {"labelFontSize": 10, "grid": False}}  # the shared template is untouched


def test_with_rows_turns_data_frames_into_json_rows_on_a_copy() -> None:
    import json

    import pandas as pd

    frame = pd.DataFrame({"x": [1.0, np.nan], "k": ["a", "b"]})
    base = {"mark": "point", "datasets": {"f": frame, "rows": [{"x": 2}]}}
    out = specs.with_rows(base)
    assert out["datasets"] == {"f": [{"x": 1.0, "k": "a"}, {"x": None, "k": "b"}], "rows": [{"x": 2}]}
    json.dumps(out, allow_nan=False)  # NaN became null
    assert base["datasets"]["f"] is frame
