"""Loss landscape chart builders through their Vega-Lite specs: log axes, cells around the grid points, the optima."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.chart_support import dataset_rows, layers, mark_type, spec
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


def _path(names, values):
    rows = [{"idx": i, "step": 10 * i, **dict(zip(names, v))} for i, v in enumerate(values)]
    return landscape_charts.path_frame(rows, names)


def test_path_on_the_heatmap_keeps_non_positive_and_near_zero_points_off_the_log_axes() -> None:
    xg, yg = np.logspace(-1, 2, 12), np.logspace(-1, 2, 12)
    L = np.add.outer(np.log(xg) ** 2, np.log(yg) ** 2)
    best = {"c_sigma": 1.0, "c_eta": 1.0}
    values = [(0.0, 0.0), (-0.5, 0.2), (1e-4, 0.3), (0.5, 0.4), (3.0, 2.0), (400.0, 30.0)]  # the last leaves the grid
    s = spec(landscape_charts.landscape_heatmap(xg, yg, L, "c_sigma", "c_eta", best, path=_path(
        ["c_sigma", "c_eta"], values), param_name="snapshot"))
    units = layers(s)
    for u in units:  # every layer drawing at data coordinates gets only positive values on the log axes
        for ch in ("x", "y"):
            if u.get("encoding", {}).get(ch, {}).get("scale", {}).get("type") == "log":
                field = u["encoding"][ch]["field"]
                rows = u["data"]["values"] if "values" in u.get("data", {}) else s["datasets"][u["data"]["name"]]
                if "transform" in u:  # the marker: its filter keeps `on_axes` rows only
                    assert "datum.on_axes" in json.dumps(u["transform"]) or u["mark"] == "text" or \
                        mark_type(u) == "text"
                    continue
                assert all(r[field] > 0 for r in rows if field in r)
    line = next(u for u in units if mark_type(u) == "line" and "tooltip" in u["encoding"])
    drawn = s["datasets"][line["data"]["name"]]
    assert [r["step"] for r in drawn] == [30, 40, 50]  # 1e-4 is near 0 (a decade below the grid): left off
    lo, hi = units[0]["encoding"]["x"]["scale"]["domain"]
    assert lo == pytest.approx(xg[0] / (xg[1] / xg[0]) ** 0.5) and hi == pytest.approx(xg[-1] * (xg[1] / xg[0]) ** 0.5)
    assert 0.5 < hi < 400.0  # the axes are the grid's cells (no blank margin round the heatmap) ...
    on_data = [u for u in units[2:] if u.get("encoding", {}).get("x", {}).get("field") == "c_sigma"]
    assert on_data and all(u["mark"].get("clip") for u in on_data)  # ... and the path is clipped at its edges
    labels = {r["step"]: r["label"] for d in s["datasets"].values() for r in d if "label" in r and "step" in r}
    assert "not positive" in labels[0] and "not positive" in labels[10] and "near 0" in labels[20]
    assert any("datum.idx == snapshot" in json.dumps(u.get("transform", [])) for u in units)


def test_path_on_the_loss_curve_sits_on_the_curve_inside_the_grid() -> None:
    grid = np.logspace(0, 2.5, 40)
    losses = (np.log(grid) - 3.0) ** 2
    frame = _path(["eta"], [(-1.0,), (0.5,), (5.0,), (20.0,), (44.0,)])
    s = spec(landscape_charts.landscape_line(grid, losses, "eta", 20.0, 20.1, path=frame, param_name="snapshot"))
    pts = next(u for u in layers(s)
               if mark_type(u) == "point" and u["encoding"].get("color", {}).get("field") == "step")
    rows = s["datasets"][pts["data"]["name"]]
    assert [r["step"] for r in rows] == [20, 30, 40]  # -1 and 0.5 are off the curve (not positive / below the grid)
    for r in rows:  # on the drawn curve: straight segments between grid points on the log axis
        k = np.searchsorted(grid, r["eta"])
        t = (np.log(r["eta"]) - np.log(grid[k - 1])) / (np.log(grid[k]) - np.log(grid[k - 1]))
        assert r["loss"] == pytest.approx((1 - t) * losses[k - 1] + t * losses[k], rel=1e-9)
        assert r["loss"] == pytest.approx((np.log(r["eta"]) - 3.0) ** 2, abs=6e-3)  # ... close to the true loss
