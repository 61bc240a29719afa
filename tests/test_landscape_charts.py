"""Loss landscape chart builders through their Vega-Lite specs: log axes, cells around the grid points, the optima."""

from __future__ import annotations

import numpy as np

from tests.chart_support import dataset_rows, layers, spec
from ui import landscape_charts


def test_landscape_line_marks_best_and_refined() -> None:
    grid = np.logspace(0, 2, 20)
    s = spec(landscape_charts.landscape_line(grid, (np.log(grid) - 2) ** 2, "eta", 7.0, 7.4))
    units = layers(s)
    assert units[0]["encoding"]["x"]["scale"]["type"] == "log"
    assert {r["point"] for r in dataset_rows(s) if "point" in r} == {"grid optimum", "refined"}


def test_landscape_heatmap_log_axes_and_cells() -> None:
    xg, yg = np.logspace(0, 3, 10), np.logspace(-1, 2, 8)
    L = np.add.outer(np.log(xg) ** 2, np.log(yg) ** 2)
    best = {"c_sigma": float(xg[0]), "c_eta": float(yg[2])}
    s = spec(landscape_charts.landscape_heatmap(xg, yg, L, "c_sigma", "c_eta", best, best))
    heat = layers(s)[0]
    assert heat["encoding"]["x"]["scale"]["type"] == "log" and heat["encoding"]["y"]["scale"]["type"] == "log"
    cells = [r for r in dataset_rows(s) if "loss" in r]
    assert len(cells) == 10 * 8
    assert all(r["x0"] < r["c_sigma"] < r["x1"] and r["y0"] < r["c_eta"] < r["y1"] for r in cells)
    lo, hi = heat["encoding"]["x"]["scale"]["domain"]
    assert lo < xg[0] and hi > xg[-1]
