"""The training-curve builders through their Vega-Lite specs."""

from __future__ import annotations

import json
import math

import pytest

from tests.chart_support import dataset_rows, layers, mark_type, spec
from ui import run_charts

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
    assert s["concat"][0]["encoding"]["color"]["scale"]["domain"] == ["eq. 1", "eq. 1 self-key"]


def test_alignment_curves_of_a_run_with_one_yardstick_name_only_it() -> None:
    """A linear or kernel run records no second closed form: its legend has no entry without a line."""
    one = [{k: v for k, v in e.items() if not k.endswith("_other")} for e in EVALS]
    s = spec(run_charts.alignment_curves(one, "kernel GD (eq. 3)"))
    assert {r["metric"] for r in dataset_rows(s)} == {"kernel GD (eq. 3)"}
    assert all(p["encoding"]["color"]["scale"]["domain"] == ["kernel GD (eq. 3)"] for p in s["concat"])


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
    assert titles == ["c_sigma", ["-c_sigma", "(runs ending negative)"], "c_eta", ["-c_eta", "(runs ending negative)"]]
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


def test_constants_curves_shade_the_seeds_range_under_the_run_on_its_branch() -> None:
    """A band (`engine.seeds.band` rows) is drawn as an area from its low to its high value in the run's colour, on
    the panel of the run's sign (|value| for a run ending negative); where a seed is still at or below 0 on the log
    axis the band is left off."""
    rows = [{"run": "up", "step": t, "c_sigma": 1.0 + t, "c_eta": 2.0 + t} for t in (0, 10, 20)] + \
           [{"run": "down", "step": t, "c_sigma": -1.0 - t, "c_eta": -2.0 - t} for t in (0, 10, 20)]
    bands = [{"run": "up", "step": t, "lo_c_sigma": 0.5 + t if t else -0.1, "hi_c_sigma": 2.0 + t,
              "lo_c_eta": 1.0 + t, "hi_c_eta": 3.0 + t} for t in (0, 10, 20)] + \
            [{"run": "down", "step": t, "lo_c_sigma": -3.0 - t, "hi_c_sigma": -0.5 - t, "lo_c_eta": -4.0 - t,
              "hi_c_eta": -1.0 - t} for t in (0, 10, 20)]
    s = spec(run_charts.constants_curves(rows, x_axis="step", bands=bands))
    panels = {p["title"] if isinstance(p["title"], str) else p["title"][0]: p for p in s["hconcat"]}
    areas = {name: [u for u in layers(p) if mark_type(u) == "area"] for name, p in panels.items()}
    assert all(len(a) == 1 for a in areas.values())
    drawn = {name: s["datasets"][a[0]["data"]["name"]] for name, a in areas.items()}
    assert [(r["step"], r["b_lo"], r["b_hi"]) for r in drawn["c_sigma"]] == [(10, 10.5, 12.0), (20, 20.5, 22.0)]
    assert [(r["step"], r["b_lo"], r["b_hi"]) for r in drawn["-c_eta"]] == [(0, 1.0, 4.0), (10, 11.0, 14.0),
                                                                            (20, 21.0, 24.0)]
    area = areas["c_eta"][0]
    assert area["encoding"]["y2"]["field"] == "b_hi" and area["encoding"]["y"]["scale"]["type"] == "log"
    line = next(u for u in layers(panels["c_eta"]) if mark_type(u) == "line")
    assert area["encoding"]["y"]["scale"]["domain"] == line["encoding"]["y"]["scale"]["domain"]
    assert area["encoding"]["y"]["scale"]["domain"][1] >= 23 * 1.4  # the band fits under the axis's top
    from tests.chart_support import legend_titles

    assert legend_titles(s).count("run") == 1  # the band keeps the runs' legend (legend=None on it took it away)


def test_constants_curves_draw_a_kernel_runs_sigma2_and_eta() -> None:
    """A kernel run records eq. 3's sigma^2 and eta: the same chart draws those when named (the Train page does)."""
    from ui.train_panels import CONSTANTS

    rows = [{"run": "k", "step": t, "sigma2": 1.0 / (1 + t), "eta": 10.0 + t, "c_sigma": 9.0, "c_eta": 9.0}
            for t in (0, 10, 20)]
    s = spec(run_charts.constants_curves(rows, names=CONSTANTS["kernel"]))
    assert [p["title"] for p in s["hconcat"]] == ["sigma2", "eta"]
    drawn = [r for r in dataset_rows(s) if "value" in r and "text" not in r]
    assert sorted(r["value"] for r in drawn) == sorted([1.0, 1 / 11, 1 / 21, 10.0, 20.0, 30.0])
