"""Strategies page chart builders (`ui.sweep_charts`) through `.to_dict()` and their frames, against pandas
computed here on fixture tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine import figure_analysis, figure_data
from tests.chart_support import records
from tests.sweep_support import BASE, evidence_frame, fig10_frame, fig11_frame
from ui import sweep_charts


def test_fig11_proportions_are_the_groupby() -> None:
    rows = fig11_frame()
    summary = figure_analysis.fig11_summary(rows, BASE)
    spec = sweep_charts.fig11_chart(summary).to_dict()
    assert len(spec["hconcat"]) == 3
    drawn = {(r["vary"], r["value"], r["series"]): r["value_y"] for r in records(spec, "series")}
    for vary in ("C", "d", "n"):
        g = rows[rows["vary"] == vary].groupby(vary)
        want = g["strategy"].apply(lambda s: (s == "selection").mean())
        for value, p in want.items():
            assert drawn[(vary, value, "all runs")] == pytest.approx(p)
        learned = rows[(rows["vary"] == vary) & rows["learned"]].groupby(vary)["strategy"]
        for value, p in learned.apply(lambda s: (s == "selection").mean()).items():
            assert drawn[(vary, value, "runs that learned")] == pytest.approx(p)
        counts = g.agg(seeds=("seed", "size"), learned=("learned", "sum"))
        for value, r in counts.iterrows():
            row = summary[(summary["vary"] == vary) & (summary["value"] == value)].iloc[0]
            assert (row["seeds"], row["learned"]) == (r["seeds"], r["learned"])
            assert row["learned_text"] == f"{r['learned']}/{r['seeds']}"
    labels = dict(zip(zip(summary["vary"], summary["value"]), summary["label"]))
    assert labels[("C", 3)] == "3 (n=120)" and labels[("C", 5)] == "5" and labels[("n", 20)] == "20"
    assert summary["base"].sum() == 3  # the base shape, once per panel
    assert "learned_text" in json.dumps(spec) and "tooltip" in json.dumps(spec)


def test_evidence_agreement_is_the_groupby() -> None:
    ev = evidence_frame()
    ev = pd.concat([ev, ev[ev["C"] == 2].assign(n=50, step=ev["step"] * 2)], ignore_index=True)  # a longer shape
    progress = ev["step"] / ev.groupby(["d", "C", "n", "seed"])["step"].transform("max")
    pooled = sweep_charts.evidence_agreement(ev, per_shape=False)
    want_all = ev.groupby(progress.round(3))["agrees"].mean()
    want_learned = ev[ev["learned"]].groupby(progress[ev["learned"]].round(3))["agrees"].mean()
    got = pooled.set_index(["population", "progress"])["fraction"]
    for p, f in want_all.items():
        assert got[("all runs", p)] == pytest.approx(f)
    for p, f in want_learned.items():
        assert got[("runs that learned", p)] == pytest.approx(f)
    assert np.allclose(sorted(set(pooled["progress"])), [0, 0.333, 0.667, 1])  # shapes of different lengths align
    per = sweep_charts.evidence_agreement(ev, per_shape=True)
    assert set(per["shape"]) == {"d=2 C=2 n=100", "d=2 C=5 n=100", "d=2 C=2 n=50"}
    sub = ev[(ev["C"] == 2) & (ev["n"] == 100)].groupby("step")["agrees"].mean()
    got = per[(per["shape"] == "d=2 C=2 n=100") & (per["population"] == "all runs")]["fraction"].to_numpy()
    assert np.allclose(got, sub.to_numpy())
    spec = sweep_charts.agreement_chart(per).to_dict()
    assert len(records(spec, "fraction")) == len(per) and spec["layer"][0]["encoding"]["strokeDash"]["field"] == \
        "population"


def test_fig10_lines_and_log_axes() -> None:
    rows = fig10_frame()
    spec = sweep_charts.fig10_chart(sweep_charts.fig10_curves(rows), log_step=True).to_dict()
    panels = spec["hconcat"]
    assert [p["encoding"]["y"]["scale"].get("type") for p in panels] == ["log", "log", None]
    assert panels[0]["encoding"]["x"]["scale"]["type"] == "symlog"
    drawn = records(spec, "quantity")
    for quantity in ("c_sigma", "c_eta"):
        values = [r["value"] for r in drawn if r["quantity"] == quantity]
        assert min(values) > 0  # log axis: only positive values are drawn
        assert len(values) == int((rows[quantity] > 0).sum())
    lines = {r["run"] for r in drawn}
    assert lines == {f"paper's lr {lr:g} (run at {25 * lr:g})" for lr in figure_data.FIG10_LRS} | \
        {"fast-softmax-d10 lr=0.02"}
    assert panels[0]["encoding"]["color"]["scale"]["domain"][-1] == "fast-softmax-d10 lr=0.02"  # paper lrs first
    linear = sweep_charts.fig10_chart(sweep_charts.fig10_curves(rows), log_step=False).to_dict()
    assert "type" not in linear["hconcat"][0]["encoding"]["x"].get("scale", {})


def test_strategy_scatter_plots_each_seed() -> None:
    runs_ = [{"seed": 0, "strategy": "selection", "c_sigma": 3.0, "c_eta": 5.0, "eval_loss": 0.2},
             {"seed": 1, "strategy": "elimination", "c_sigma": -2.0, "c_eta": -4.0, "eval_loss": 0.3}]
    spec = sweep_charts.strategy_scatter(runs_).to_dict()
    pts = records(spec, "strategy")
    assert [(r["seed"], r["c_sigma"], r["c_eta"]) for r in pts] == [(0, 3.0, 5.0), (1, -2.0, -4.0)]
    enc = spec["layer"][-1]["encoding"]
    assert enc["color"]["scale"]["domain"][:2] == ["selection", "elimination"]
    assert enc["x"]["scale"]["type"] == enc["y"]["scale"]["type"] == "symlog"


def test_fig10_paths_one_per_rate_in_step_order() -> None:
    rows = fig10_frame()
    paths = sweep_charts.fig10_paths(rows[rows["recipe"] == "paper-softmax-d10"])
    by_run = {}
    for p in paths:
        by_run.setdefault(p["run"], []).append(p)
    assert set(by_run) == {f"paper's lr {lr:g} (run at {25 * lr:g})" for lr in figure_data.FIG10_LRS}
    for run, pts in by_run.items():
        assert [p["idx"] for p in pts] == list(range(len(pts))) and [p["step"] for p in pts] == sorted(
            p["step"] for p in pts)
        lr = float(run.split()[2])
        src = rows[(rows["paper_lr"] == lr)].sort_values("step")
        assert [p["c_eta"] for p in pts] == list(src["c_eta"])


def test_fig11_bars_are_the_wilson_intervals_of_each_series() -> None:
    rows = fig11_frame()
    summary = figure_analysis.fig11_summary(rows, BASE)
    spec = sweep_charts.fig11_chart(summary).to_dict()
    bars = [r for r in records(spec, "lo") if "series" in r]
    assert len(bars) == 2 * len(summary)
    for r in bars:
        group = rows[(rows["vary"] == r["vary"]) & (rows[r["vary"]] == r["value"])]
        if r["series"] == "runs that learned":
            group = group[group["learned"]]
        k = int((group["strategy"] == "selection").sum())
        assert (r["lo"], r["hi"]) == pytest.approx(figure_analysis.wilson(k, len(group)))


def test_init_chart_puts_both_readings_side_by_side_with_intervals() -> None:
    rows = pd.concat([fig11_frame().assign(init="normal"),
                      fig11_frame().assign(init="variance_scaling", strategy="elimination")], ignore_index=True)
    by_init = figure_analysis.fig11_by_init(rows[rows["vary"] == "C"], BASE)
    spec = sweep_charts.init_chart(by_init).to_dict()
    drawn = records(spec, "reading")
    assert {r["init"] for r in drawn} == {"normal", "variance_scaling"}
    for r in drawn:
        assert (r["lo"], r["hi"]) == pytest.approx((r["proportion_lo"], r["proportion_hi"])) or \
            (r["lo"], r["hi"]) == pytest.approx((r["proportion_learned_lo"], r["proportion_learned_hi"]))
    assert all(r["p"] == 0 for r in drawn if r["init"] == "variance_scaling")
    words = figure_analysis.init_words(by_init)
    assert "0/" in words and "under variance_scaling" in words
