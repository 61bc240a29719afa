"""Run chart builders through their Vega-Lite specs: scatters against the closed form, training curves, A and B
through training and the extracted-constants check."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.chart_support import dataset_rows, layers, mark_type, spec
from ui import run_charts


def test_identity_scatter_has_y_equals_x_and_means() -> None:
    x, y = np.array([0.1, 0.5, 2.0]), np.array([0.2, 0.4, 1.0])
    s = spec(run_charts.identity_scatter(x, y, "model", "closed form", domain=(0.0, 3.0)))
    units = layers(s)
    rule = next(u for u in units if mark_type(u) == "rule")
    enc = rule["encoding"]
    assert enc["x"]["datum"] == enc["y"]["datum"] == 0.0 and enc["x2"]["datum"] == enc["y2"]["datum"] == 3.0
    assert enc["x"]["scale"]["domain"] == enc["y"]["scale"]["domain"] == [0.0, 3.0]
    pts = next(u for u in units if mark_type(u) == "circle")
    assert pts["encoding"]["x"]["scale"]["domain"] == pts["encoding"]["y"]["scale"]["domain"] == [0.0, 3.0]
    means = [r for r in dataset_rows(s) if r and "context" not in r]
    assert means == [{"model": pytest.approx(x.mean()), "closed_form": pytest.approx(y.mean())}]


def test_identity_scatter_default_domain_covers_both_axes() -> None:
    s = spec(run_charts.identity_scatter(np.array([0.0, 1.0]), np.array([0.5, 4.0]), "m", "c"))
    rule = next(u for u in layers(s) if mark_type(u) == "rule")
    lo, hi = rule["encoding"]["x"]["datum"], rule["encoding"]["x2"]["datum"]
    assert lo <= 0.0 and hi >= 4.0


EVALS = [{"step": s, "train_loss": 1.6 - s / 1000, "eval_loss": 1.6 - s / 900, "preds_diff": 0.5 - s / 2000,
          "cos_sim": s / 1000, "model_diff": 0.3, "preds_diff_other": 0.6, "cos_sim_other": 0.5,
          "model_diff_other": 0.4, "c_sigma": s / 10, "c_eta": s / 100} for s in (0, 100, 200, 300)]


def test_loss_curve_marks_the_optimum() -> None:
    s = spec(run_charts.loss_curve(EVALS, 0.25, "eq. 1"))
    rules = [u for u in layers(s) if mark_type(u) == "rule"]
    assert rules and rules[0]["encoding"]["y"]["field"] == "value"
    assert any(r.get("value") == 0.25 for r in dataset_rows(s))
    assert {r["metric"] for r in dataset_rows(s) if "metric" in r} == {"train loss", "eval loss"}


def test_alignment_curves_three_panels_two_references() -> None:
    s = spec(run_charts.alignment_curves(EVALS, "eq. 1", "eq. 1 self-key"))
    assert len(s["concat"]) == 3 and s["columns"] == 3
    assert {r["metric"] for r in dataset_rows(s)} == {"eq. 1", "eq. 1 self-key"}


def test_loss_curve_marks_where_the_optimum_was_reached() -> None:
    evals = [{"step": s, "train_loss": 1.0 / (1 + s), "eval_loss": 0.5 + 1.0 / (1 + s)} for s in range(0, 1001, 50)]
    optimum = 0.5
    first = min(e["step"] for e in evals if e["eval_loss"] <= optimum * 1.01)  # 1/(1+s) <= 0.005: s >= 199 -> 200
    assert run_charts.reached_optimum(evals, optimum) == first == 200
    for log_step in (False, True):
        s = json.dumps(spec(run_charts.loss_curve(evals, optimum, log_step=log_step)))
        assert f"within 1% of the optimum at step {first:,}" in s
        assert ('"type": "log"' in s) == log_step
    assert run_charts.reached_optimum(evals, 0.1) is None


def test_constants_curves_one_line_per_run() -> None:
    rows = [{"run": run, **e} for run in ("a", "b") for e in EVALS]
    s = spec(run_charts.constants_curves(rows))
    assert [p["title"] for p in s["hconcat"]] == ["c_sigma", "c_eta"]
    assert {r["run"] for r in dataset_rows(s)} == {"a", "b"}
    line = s["hconcat"][0]["layer"][0]
    assert line["encoding"]["y"]["scale"]["type"] == "log"
    assert len(set(line["encoding"]["color"]["scale"]["range"])) == 2  # two runs, two colours


def test_constants_curves_label_a_tick_near_every_final_value_and_split_signs() -> None:
    """The shipped runs' settling values (hundreds to ones) each have a labelled tick within a factor 2.5, the
    last value is written at each line's end, and a run ending negative is drawn in its own |value| panel."""
    finals = {"d = 2": (765.0, 6.0), "d = 3": (30.7, 7.18), "d = 5": (5.4, 30.1), "d = 10": (1.32, 261.0),
              "elimination": (-1.68, -7.0)}
    rows = [{"run": run, "step": step, "steps": 100, "c_sigma": cs * f, "c_eta": ce * f}
            for run, (cs, ce) in finals.items() for step, f in ((0, 1e-4), (50, 0.5), (100, 1.0))]
    s = spec(run_charts.constants_curves(rows, x_axis="fraction", height=290))
    titles = [p["title"] for p in s["hconcat"]]
    assert titles == ["c_sigma", "-c_sigma (runs ending negative)", "c_eta", "-c_eta (runs ending negative)"]
    for k, panel in enumerate(s["hconcat"]):
        line = panel["layer"][0]
        ticks = line["encoding"]["y"]["axis"]["values"]
        lo, hi = line["encoding"]["y"]["scale"]["domain"]
        assert all(lo <= t <= hi for t in ticks)
        ends = [abs(v[k // 2]) for v in finals.values() if (v[k // 2] > 0) == (k % 2 == 0)]
        assert all(min(abs(math.log(t / e)) for t in ticks) <= math.log(2.5) for e in ends), (titles[k], ticks)
        texts = [r["text"] for r in s["datasets"][panel["layer"][1]["data"]["name"]]]
        assert sorted(texts) == sorted(f"{(-1 if k % 2 else 1) * e:.3g}" for e in ends)
        drawn = s["datasets"][line["data"]["name"]]
        assert all(r["size"] > 0 for r in drawn) and {r["run"] for r in drawn} == {
            r for r, v in finals.items() if (v[k // 2] > 0) == (k % 2 == 0)}


def test_log_ticks_fall_back_to_fewer_labels_on_short_axes() -> None:
    assert run_charts.log_ticks(0.06, 1200, 400) == pytest.approx([0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500,
                                                                   1000])
    assert run_charts.log_ticks(0.06, 1200, 200) == pytest.approx([0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000])
    assert run_charts.log_ticks(0.06, 1200, 100) == pytest.approx([0.1, 1, 10, 100, 1000])


def test_constants_curves_axis_modes_and_fitted_references() -> None:
    """log: step 0 is left out (a log axis cannot hold it); fraction: each run's step over its own length; the
    fitted constants as one dashed rule per run, in its colour."""
    rows = [{"run": run, "steps": steps, **e} for run, steps in (("short", 200), ("long", 4000)) for e in EVALS]
    log = spec(run_charts.constants_curves(rows, x_axis="log"))
    assert log["hconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"
    assert all(r["step"] > 0 for r in dataset_rows(log))
    frac = spec(run_charts.constants_curves(rows, x_axis="fraction",
                                            references=[{"run": "short", "c_sigma": 2.0, "c_eta": 3.0}]))
    line_rows = [r for r in dataset_rows(frac) if "fraction" in r]
    for r in line_rows:
        assert r["fraction"] == pytest.approx(r["step"] / (200 if r["run"] == "short" else 4000))
    rules = [u for u in layers(frac) if mark_type(u) == "rule"]
    assert len(rules) == 2 and all(u["mark"]["strokeDash"] == [6, 4] for u in rules)
    assert sorted(r["size"] for r in dataset_rows(frac) if "label" in r) == [2.0, 3.0]
    with pytest.raises(ValueError, match="x_axis"):
        run_charts.constants_curves(rows, x_axis="linear")


def test_matrix_heatmaps_slider_filters_snapshots() -> None:
    D = 4
    snaps = [{"step": st, "A": (np.eye(D) * (st + 1)).tolist(), "B": (-np.eye(D)).tolist()} for st in (0, 10, 20)]
    s = spec(run_charts.matrix_heatmaps(snaps, d=2))
    assert s["params"][0]["name"] == "snapshot" and s["params"][0]["bind"]["max"] == 2
    rows = [r for r in dataset_rows(s) if "idx" in r]
    assert len(rows) == 3 * 2 * D * D
    assert all(-1 <= r["scaled"] <= 1 for r in rows)
    assert "datum.idx == snapshot" in json.dumps(s)
    static = spec(run_charts.matrix_heatmaps(snaps[:1], d=2))
    assert "params" not in static


def test_extracted_check_log_factor_axis() -> None:
    rows = [{"which": w, "factor": f, "c_sigma": 1.0, "c_eta": 1.0, "preds_diff": abs(np.log(f))}
            for w in ("c_sigma", "c_eta") for f in (0.5, 1.0, 2.0)]
    s = spec(run_charts.extracted_check(rows))
    assert s["encoding"]["x"]["scale"]["type"] == "log"
    assert s["encoding"]["x"]["scale"]["domain"] == [0.5, 2.0]
    assert s["encoding"]["x"]["axis"]["values"] == [0.5, 1.0, 2.0]  # ticks at the factors tested


def test_heatmap_captions_are_valid_vega_expressions() -> None:
    """The caption over each heatmap: one quoted string per part (an unbalanced quote leaves the chart blank in
    the browser), naming the step for a run and not for a construction."""
    snaps = [{"step": s, "A": (np.eye(5) * (s + 1)).tolist(), "B": (2 * np.eye(5)).tolist()} for s in (0, 10)]

    def caption(chart) -> str:
        return chart.to_dict()["hconcat"][0]["layer"][-1]["transform"][-1]["calculate"]

    run = caption(run_charts.matrix_heatmaps(snaps, 2))
    con = caption(run_charts.matrix_heatmaps(snaps[:1], 2, show_step=False))
    assert run == "'A = W_Q^T W_K: step ' + format(datum.step, ',') + ', max |entry| ' + format(datum.max_abs, '.3g')"
    assert con == "'A = W_Q^T W_K: max |entry| ' + format(datum.max_abs, '.3g')"


def test_snapshot_control_names_the_training_step() -> None:
    """The chart's title reads the training step of the snapshot the control points at. The title is a Vega
    expression; this one is also a Python expression, so it is evaluated here at each position of the control."""
    snaps = [{"step": st, "A": np.eye(4).tolist(), "B": np.eye(4).tolist()} for st in (0, 10, 2500)]
    expr = spec(run_charts.matrix_heatmaps(snaps, d=2, title="run x"))["title"]["text"]["expr"]
    assert [eval(expr.replace("snapshot", str(i))) for i in range(3)] == [  # noqa: S307 - our own expression
        "run x: training step 0 of 2,500", "run x: training step 10 of 2,500", "run x: training step 2,500 of 2,500"]


def test_headline_legend_shows_each_learners_line_style() -> None:
    """Colour and dash encode the same field, so Vega-Lite draws one legend whose symbols are the lines
    themselves: solid for trained layers, dashed for closed forms (two legends showed identical dots)."""
    rows = [{"d": d, "learner": name, "kind": "x", "loss": 0.1 * d, "accuracy": 0.9}
            for d in (2, 3) for name in run_charts.HEADLINE_COLORS]
    enc = spec(run_charts.headline_chart(rows))["encoding"]
    assert enc["strokeDash"]["field"] == enc["color"]["field"] == "learner"
    dashes = dict(zip(enc["strokeDash"]["scale"]["domain"], enc["strokeDash"]["scale"]["range"]))
    assert {k for k, v in dashes.items() if v == [1, 0]} == {"softmax SA (trained)", "linear SA (trained)"}
    assert all(v == [5, 3] for k, v in dashes.items() if "trained" not in k)
    assert enc["color"]["legend"]["symbolType"] == "stroke" and "legend" not in enc["strokeDash"]
