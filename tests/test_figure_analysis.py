"""What the figures' tables say: a run that learned, Fig. 10's flattening (Fig. 11's proportions are checked with
their chart in test_sweep_charts.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine import figure_analysis


def test_learned_needs_both_a_lower_loss_and_a_clear_reading():
    assert figure_analysis.learned(0.15, 6.8, 2)  # elimination at C = 2: low loss, margin |c_sigma/2 + c_eta| ~ 8
    assert not figure_analysis.learned(0.47, 0.05, 2)  # below log 2, but c_sigma ~ c_eta ~ 0: no algorithm to read
    assert not figure_analysis.learned(0.99 * math.log(5), 3.0, 5)  # still on the chance plateau
    # both limits inclusive of the margin
    assert figure_analysis.learned(figure_analysis.LEARNED * math.log(5) * 0.999, figure_analysis.DECIDED, 5)


def test_fig10_summary_reads_when_and_where_c_eta_flattens():
    """Saturating curves c_eta = V (1 - exp(-step / tau)) flatten (90% of V) at tau ln 10; one still climbing
    linearly is flagged; the plateau exit is the first step below 0.97 log C."""
    steps = np.arange(0, 20_001, 100)
    frames = []
    for lr, V, tau in ((1e-3, 300.0, 4000.0), (1e-2, 120.0, 500.0)):
        frames.append(pd.DataFrame({"recipe": "paper-softmax-d10", "lr": lr, "paper_lr": lr / 25, "step": steps,
                                    "c_sigma": 1.0, "c_eta": V * (1 - np.exp(-steps / tau)),
                                    "eval_loss": np.where(steps >= tau / 2, 1.0, 1.6)}))
    frames.append(pd.DataFrame({"recipe": "paper-softmax-d10", "lr": 1e-4, "paper_lr": 4e-6, "step": steps,
                                "c_sigma": 1.0, "c_eta": steps / 100.0, "eval_loss": 1.6}))
    got = figure_analysis.fig10_summary(pd.concat(frames)).set_index("lr")
    for lr, V, tau in ((1e-3, 300.0, 4000.0), (1e-2, 120.0, 500.0)):
        r = got.loc[lr]
        final = np.mean((V * (1 - np.exp(-steps / tau)))[-10:])
        expect = steps[np.argmax(V * (1 - np.exp(-steps / tau)) >= 0.9 * final)]
        assert r["flattened_at"] == expect and abs(expect - tau * np.log(10)) <= 100 + 0.03 * tau * np.log(10)
        assert r["left_plateau_at"] == steps[np.argmax(steps >= tau / 2)] and not r["still_growing"]
    assert got.loc[1e-4, "still_growing"] and pd.isna(got.loc[1e-4, "left_plateau_at"])
    assert got.loc[1e-2, "flattened_at"] < got.loc[1e-3, "flattened_at"]  # the faster rate flattens first


def test_wilson_interval_matches_its_closed_form_at_the_edges_and_the_middle():
    """0 of n: [0, z^2 / (n + z^2)]; n of n: its mirror; k = n / 2: symmetric about 1/2; always inside [0, 1]
    and around k / n."""
    z2 = 1.959963984540054 ** 2
    assert figure_analysis.wilson(0, 20) == pytest.approx((0.0, z2 / (20 + z2)), abs=1e-12)
    assert figure_analysis.wilson(20, 20) == pytest.approx((20 / (20 + z2), 1.0), abs=1e-12)
    lo, hi = figure_analysis.wilson(10, 20)
    assert lo + hi == pytest.approx(1.0) and lo == pytest.approx(0.2993, abs=1e-4)  # the textbook 10/20
    for k in range(21):
        lo, hi = figure_analysis.wilson(k, 20)
        assert 0 <= lo <= k / 20 <= hi <= 1
    assert all(math.isnan(v) for v in figure_analysis.wilson(0, 0))
