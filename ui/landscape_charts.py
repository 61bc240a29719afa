"""Altair builders for the closed forms' loss landscapes: a 1-D line or a log x log heatmap of the mean
cross-entropy over the fitted parameters, with the grid optimum and the refined point.

Pure functions from numbers to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import numpy as np
import pandas as pd

# 100 x 100 landscapes exceed Altair's default 5,000-row guard.
alt.data_transformers.disable_max_rows()


def _edges(grid: np.ndarray) -> np.ndarray:
    """Cell edges of a log-spaced grid: geometric midpoints, extended half a step at each end."""
    g = np.log10(np.asarray(grid, float))
    mid = (g[1:] + g[:-1]) / 2
    first, last = g[0] - (mid[0] - g[0]), g[-1] + (g[-1] - mid[-1])
    return 10 ** np.concatenate([[first], mid, [last]])


def _overlap(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Upper cell edges pushed a quarter cell on (log scale), so antialiased seams do not draw a mesh."""
    return lo * (hi / lo) ** 1.25


def landscape_line(grid: np.ndarray, losses: np.ndarray, name: str, best: float, refined: float | None = None,
                   width: int = 520, height: int = 280) -> alt.LayerChart:
    """Mean cross-entropy over a log-spaced 1-D grid, with the grid optimum and the refined point."""
    frame = pd.DataFrame({name: np.asarray(grid, float), "loss": np.asarray(losses, float)})
    x = alt.X(f"{name}:Q", scale=alt.Scale(type="log"), title=name)
    line = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=10)).encode(
        x, y=alt.Y("loss:Q", title="mean cross-entropy", scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip(f"{name}:Q", format=".4g"), alt.Tooltip("loss:Q", format=".5f")])
    marks = [{"point": "grid optimum", name: float(best)}]
    if refined is not None:
        marks.append({"point": "refined", name: float(refined)})
    rules = alt.Chart(pd.DataFrame(marks)).mark_rule(strokeWidth=2, strokeDash=[5, 3]).encode(
        x, color=alt.Color("point:N", scale=alt.Scale(domain=["grid optimum", "refined"],
                                                      range=["#ff7f0e", "#d62728"]), title=None),
        tooltip=["point:N", alt.Tooltip(f"{name}:Q", format=".5g")])
    return alt.layer(line, rules).properties(width=width, height=height)


def landscape_heatmap(x_grid: np.ndarray, y_grid: np.ndarray, losses: np.ndarray, x_name: str, y_name: str,
                      best: Mapping[str, float], refined: Mapping[str, float] | None = None,
                      size: int = 440, path: pd.DataFrame | None = None) -> alt.LayerChart:
    """Mean cross-entropy on a log x log grid (`losses[i, j]` at x_grid[i], y_grid[j]), brighter = lower,
    the colour clamped to the better half so the valley stands out; the grid optimum and the refined point.
    `path` (step, x_name, y_name; positive values only) draws a training run's way across the landscape."""
    L = np.asarray(losses, float)
    xe, ye = _edges(x_grid), _edges(y_grid)
    i, j = np.indices(L.shape)
    frame = pd.DataFrame({x_name: np.asarray(x_grid)[i.ravel()], y_name: np.asarray(y_grid)[j.ravel()],
                          "x0": xe[i.ravel()], "x1": _overlap(xe[i.ravel()], xe[i.ravel() + 1]),
                          "y0": ye[j.ravel()], "y1": _overlap(ye[j.ravel()], ye[j.ravel() + 1]),
                          "loss": L.ravel()})
    finite = L[np.isfinite(L)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(np.quantile(finite, 0.5)) if finite.size else 1.0
    hi = hi if hi > lo else lo + 1e-6
    xs = alt.Scale(type="log", domain=[float(xe[0]), float(xe[-1])], nice=False)
    ys = alt.Scale(type="log", domain=[float(ye[0]), float(ye[-1])], nice=False)
    heat = alt.Chart(frame).mark_rect(clip=True).encode(
        x=alt.X("x0:Q", scale=xs, title=x_name, axis=alt.Axis(grid=False)), x2="x1:Q",
        y=alt.Y("y0:Q", scale=ys, title=y_name, axis=alt.Axis(grid=False)), y2="y1:Q",
        color=alt.Color("loss:Q", scale=alt.Scale(scheme="viridis", domain=[lo, hi], clamp=True, reverse=True),
                        title="cross-entropy"),
        tooltip=[alt.Tooltip(f"{x_name}:Q", format=".4g"), alt.Tooltip(f"{y_name}:Q", format=".4g"),
                 alt.Tooltip("loss:Q", format=".5f")])
    marks = [{"point": "grid optimum", "x": float(best[x_name]), "y": float(best[y_name])}]
    if refined is not None:
        marks.append({"point": "refined", "x": float(refined[x_name]), "y": float(refined[y_name])})
    pts = alt.Chart(pd.DataFrame(marks)).mark_point(size=240, strokeWidth=3, filled=False, color="#d62728").encode(
        x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys),
        shape=alt.Shape("point:N", scale=alt.Scale(domain=["grid optimum", "refined"], range=["square", "cross"]),
                        title=None),
        tooltip=["point:N", alt.Tooltip("x:Q", format=".5g", title=x_name),
                 alt.Tooltip("y:Q", format=".5g", title=y_name)])
    layers = [heat, pts]
    if path is not None:  # the part of the path on the grid
        inside = ((path[x_name] >= xe[0]) & (path[x_name] <= xe[-1]) & (path[y_name] >= ye[0])
                  & (path[y_name] <= ye[-1]))
        path = path[inside]
    if path is not None and len(path):
        line = alt.Chart(path).mark_line(color="white", strokeWidth=2.5, point=alt.OverlayMarkDef(
            color="white", size=18)).encode(
            x=alt.X(f"{x_name}:Q", scale=xs), y=alt.Y(f"{y_name}:Q", scale=ys), order="step:Q",
            tooltip=["step:Q", alt.Tooltip(f"{x_name}:Q", format=".4g"), alt.Tooltip(f"{y_name}:Q", format=".4g")])
        ends = path.iloc[[0, -1]].assign(where=["first step on the grid", "end of training"])
        end_marks = alt.Chart(ends).mark_point(size=200, filled=True, stroke="black").encode(
            x=alt.X(f"{x_name}:Q", scale=xs), y=alt.Y(f"{y_name}:Q", scale=ys),
            fill=alt.Fill("where:N", scale=alt.Scale(domain=["first step on the grid", "end of training"],
                                                     range=["white", "#ff7f0e"]), title=None),
            tooltip=["where:N", "step:Q", alt.Tooltip(f"{x_name}:Q", format=".4g"),
                     alt.Tooltip(f"{y_name}:Q", format=".4g")])
        layers += [line, end_marks]
    return alt.layer(*layers).resolve_scale(color="independent").properties(width=size, height=size)
