"""The talk's diagram builders through their Vega-Lite specs."""

from __future__ import annotations

import numpy as np

from tests.chart_support import dataset_rows, spec
from ui import talk_charts


def test_adaptive_rate_chart_draws_the_rate_it_is_given_against_the_fixed_one() -> None:
    rng = np.random.default_rng(0)
    ang = rng.uniform(0, 2 * np.pi, 12)
    xs, ys = np.c_[np.cos(ang), np.sin(ang)], np.arange(12) % 3
    eta = np.exp(np.sin(np.radians(np.arange(360))) * 3)  # any positive curve: the chart only draws it
    s = spec(talk_charts.adaptive_rate_chart(xs, ys, eta, 7.5))
    rows = dataset_rows(s)
    curve = sorted({(r["angle"], r["eta"]) for r in rows if r.get("rate") == "eq. 1: eta(X)"})  # two layers read it
    assert [a for a, _ in curve] == list(range(360)) and np.allclose([e for _, e in curve], eta)
    assert {r["eta"] for r in rows if r.get("rate") == "kernel GD (eq. 3): fixed"} == {7.5}
    ticks = sorted({r["angle"] for r in rows if "class" in r})
    assert np.allclose(ticks, sorted(np.degrees(ang) % 360))  # one tick per context point, at its angle
    assert s["params"][0]["name"] == "rate_query"


def test_token_diagram_has_n_context_rows_and_the_query() -> None:
    s = spec(talk_charts.token_diagram(d=2, C=3, n=6))
    rows = [dict(t) for t in {tuple(sorted(r.items())) for r in dataset_rows(s) if "part" in r}]  # layers share rows
    assert len(rows) == 7 * 5  # (n + 1) tokens of width D = d + C
    assert {r["label"] for r in rows if r["query"] and r["part"] == "y"} == {"?"}
    assert all(r["A"] == (r["part"] == "x") for r in rows)
    assert all(r["B"] == (r["part"] == "y" and not r["query"]) for r in rows)
