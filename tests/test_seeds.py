"""Seeds: Student's and Welch's intervals against tabled quantiles, the verdict's words against the intervals, the
seeds' range through training, and a small sweep measured against full attention in float64 numpy on the headline's
held-out contexts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from engine import headline, seeds
from engine.config import PRESETS
from engine.figure_tables import read_table
from tests import reference as ref

T_975 = {4: 2.7764451051977987, 8: 2.306004135033371}  # Student's t, 0.975 quantile, from tables


def test_interval_is_students_t_on_the_mean():
    x = [0.31, 0.35, 0.29, 0.33, 0.32]
    mean, lo, hi = seeds.interval(x)
    half = T_975[4] * np.std(x, ddof=1) / math.sqrt(5)
    assert mean == pytest.approx(np.mean(x)) and (lo, hi) == pytest.approx((mean - half, mean + half), rel=1e-9)
    assert math.isnan(seeds.interval([0.3])[1])  # one seed: no interval


def test_difference_is_welchs_interval():
    a, b = [0.10, 0.12, 0.11, 0.13, 0.09], [0.20, 0.23, 0.19, 0.21, 0.22]
    diff, lo, hi = seeds.difference(a, b)
    assert np.var(a, ddof=1) == pytest.approx(np.var(b, ddof=1))  # equal variances and sizes: 2n - 2 dof
    half = T_975[8] * math.sqrt(np.var(a, ddof=1) / 5 + np.var(b, ddof=1) / 5)
    assert diff == pytest.approx(np.mean(a) - np.mean(b)) and (lo, hi) == pytest.approx((diff - half, diff + half))


def _rows(d, softmax, linear):
    return ([{"d": d, "layer": "softmax", "loss": v, "accuracy": 0.9, "converged": True, "strategy": "selection"}
             for v in softmax] + [{"d": d, "layer": "linear", "loss": v, "accuracy": 0.8, "converged": False,
                                   "strategy": "selection"} for v in linear])


def test_verdict_says_only_what_the_intervals_allow():
    rows = _rows(2, [0.11, 0.12, 0.10], [0.35, 0.34, 0.36]) + _rows(5, [0.470, 0.475, 0.468], [0.472, 0.469, 0.474])
    words = seeds.verdict(rows)
    assert words.startswith("Over 3 seeds per layer:")
    assert "lower than linear attention's at d = 2 (by" in words and "d = 5 (by" not in words
    assert "At d = 5" in words and "do not tell the two layers apart" in words
    flipped = seeds.verdict(_rows(3, [0.5, 0.51, 0.52], [0.3, 0.31, 0.29]))
    assert "higher at d = 3" in flipped and "lower" not in flipped
    summary = {(s["d"], s["layer"]): s for s in seeds.summary(rows)}
    assert summary[(2, "softmax")]["converged"] == 3 and summary[(2, "linear")]["converged"] == 0
    assert summary[(2, "softmax")]["learner"] == "softmax SA (trained)"


def test_band_spans_the_seeds_on_the_runs_branch():
    history = [{"preset": "p", "seed": s, "step": t, "c_sigma": c * t, "c_eta": e * t}
               for s, c, e in ((0, 1.0, 2.0), (1, 3.0, 1.0), (2, -1.0, -5.0)) for t in (0, 10, 20)]
    history.append({"preset": "other", "seed": 0, "step": 10, "c_sigma": 100.0, "c_eta": 100.0})
    up = seeds.band(history, "p", sign=1.0)
    assert [r["step"] for r in up] == [0, 10, 20] and all(r["seeds"] == 2 for r in up)
    assert (up[2]["lo_c_sigma"], up[2]["hi_c_sigma"], up[2]["lo_c_eta"], up[2]["hi_c_eta"]) == (20, 60, 20, 40)
    down = seeds.band(history, "p", sign=-3.0)
    assert all(r["seeds"] == 1 for r in down) and down[2]["lo_c_eta"] == down[2]["hi_c_eta"] == -100


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Two seeds of fast-softmax-d3's recipe, a few steps (the shipped fit is its yardstick), run through
    `seeds.run` with a made-up preset name, beside a row of another preset that must be kept."""
    config = dataclasses.replace(PRESETS["fast-softmax-d3"], steps=6, eval_every=3, eval_contexts=64, batch=16,
                                 warmup=2, preset="tiny-softmax-d3")
    out = tmp_path_factory.mktemp("seeds") / "seeds.csv"
    keep = {c: "" for c in seeds.COLUMNS} | {"d": 9, "layer": "linear", "preset": "kept", "seed": 0, "loss": 1.0,
                                            "converged": False}
    from engine.figure_tables import write_csv

    write_csv(out, seeds.COLUMNS, [keep])
    mp = pytest.MonkeyPatch()
    mp.setitem(PRESETS, "tiny-softmax-d3", config)
    try:
        rows = seeds.run(out, ["tiny-softmax-d3"], seeds=(0, 1), N=24)
    finally:
        mp.undo()
    return config, out, rows


def test_run_measures_each_seed_on_the_headlines_held_out_contexts(tiny):
    config, out, rows = tiny
    assert [r["preset"] for r in rows] == ["kept", "tiny-softmax-d3", "tiny-softmax-d3"]
    written = read_table(out, seeds.COLUMNS, ["converged"])
    assert list(written["preset"]) == ["kept", "tiny-softmax-d3", "tiny-softmax-d3"]
    history = read_table(seeds.history_path(out), seeds.HISTORY_COLUMNS)
    assert sorted(set(zip(history["seed"], history["step"]))) == [(s, t) for s in (0, 1) for t in (0, 3, 6)]

    from engine.sweep import sweep

    again = sweep(config, [0, 1])  # the same runs: their weights, to score independently
    ctx = ref.as_np(headline.held_out(config.task, 24))
    for r, params in zip(rows[1:], again.params):
        losses = []
        for b in range(24):
            lg = ref.model_logits(params, ctx["xs"][b], ctx["ys"][b], ctx["xq"][b], config.C, "softmax",
                                  query_in_keys=False)
            losses.append(-np.log(ref.softmax(lg)[ctx["yq"][b]]))
        assert r["loss"] == pytest.approx(np.mean(losses), rel=1e-4)
        assert r["loss_se"] == pytest.approx(np.std(losses, ddof=1) / math.sqrt(24), rel=1e-3)
        assert r["contexts"] == 24 and not r["converged"]  # six steps: far from eq. 1
