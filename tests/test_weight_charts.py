"""The weight builders (A and B through training) through their Vega-Lite specs."""

from __future__ import annotations

import json

import numpy as np

from tests.chart_support import dataset_rows, spec
from ui import weight_charts


def test_matrix_heatmaps_slider_filters_snapshots() -> None:
    D = 4
    snaps = [{"step": st, "A": (np.eye(D) * (st + 1)).tolist(), "B": (-np.eye(D)).tolist()} for st in (0, 10, 20)]
    s = spec(weight_charts.matrix_heatmaps(snaps, d=2))
    assert s["params"][0]["name"] == "snapshot" and s["params"][0]["bind"]["max"] == 2
    rows = [r for r in dataset_rows(s) if "idx" in r]
    assert len(rows) == 3 * 2 * D * D
    assert all(-1 <= r["scaled"] <= 1 for r in rows)
    assert "datum.idx == snapshot" in json.dumps(s)
    static = spec(weight_charts.matrix_heatmaps(snaps[:1], d=2))
    assert "params" not in static


def test_heatmap_captions_are_valid_vega_expressions() -> None:
    """The caption over each heatmap: one quoted string per part (an unbalanced quote leaves the chart blank in
    the browser), naming the step for a run and not for a construction."""
    snaps = [{"step": s, "A": (np.eye(5) * (s + 1)).tolist(), "B": (2 * np.eye(5)).tolist()} for s in (0, 10)]

    def caption(chart) -> str:
        return chart.to_dict()["hconcat"][0]["layer"][-1]["transform"][-1]["calculate"]

    run = caption(weight_charts.matrix_heatmaps(snaps, 2))
    con = caption(weight_charts.matrix_heatmaps(snaps[:1], 2, show_step=False))
    assert run == "'A = W_Q^T W_K: step ' + format(datum.step, ',') + ', max |entry| ' + format(datum.max_abs, '.3g')"
    assert con == "'A = W_Q^T W_K: max |entry| ' + format(datum.max_abs, '.3g')"


def test_snapshot_control_names_the_training_step() -> None:
    """The chart's title reads the training step of the snapshot the control points at. The title is a Vega
    expression; this one is also a Python expression, so it is evaluated here at each position of the control."""
    snaps = [{"step": st, "A": np.eye(4).tolist(), "B": np.eye(4).tolist()} for st in (0, 10, 2500)]
    expr = spec(weight_charts.matrix_heatmaps(snaps, d=2, title="run x"))["title"]["text"]["expr"]
    assert [eval(expr.replace("snapshot", str(i))) for i in range(3)] == [  # noqa: S307 - our own expression
        "run x: training step 0 of 2,500", "run x: training step 10 of 2,500", "run x: training step 2,500 of 2,500"]
