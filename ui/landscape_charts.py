"""Altair builders for the closed forms' loss landscapes: a 1-D line or a log x log heatmap of the mean
cross-entropy over the fitted parameters, with the grid optimum and the refined point.

Pure functions from numbers to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import altair as alt
import numpy as np
import pandas as pd

if TYPE_CHECKING:  # a type only: this module stays free of JAX
    from engine.valley import Valley

# A layer that may rightly draw nothing (a marker filtered to a snapshot that can be off the axes) is named with
# this prefix, so the browser test that every layer drew its data leaves it out.
OPTIONAL = "optional_"

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


def path_frame(rows: Sequence[Mapping], names: Sequence[str]) -> pd.DataFrame:
    """A run's path (engine.extract.path rows, optionally with `run`) with `on_axes` (every named constant
    positive: log axes can show it) and a `label` saying where the run is at that snapshot."""
    frame = pd.DataFrame(list(rows), columns=None if rows else ["idx", "step", *names])
    if "run" not in frame:
        frame["run"] = "this run"
    frame["on_axes"] = np.all([frame[k].to_numpy(float) > 0 for k in names], axis=0) if len(frame) else []
    values = [", ".join(f"{k} = {v:.3g}" for k, v in zip(names, vals)) for vals in zip(*(frame[k] for k in names))]
    frame["label"] = [f"step {step:,}: {v}" + ("" if ok else " (not positive: off these log axes)")
                      for step, v, ok in zip(frame["step"], values, frame["on_axes"])]
    return frame


def left_off(path: pd.DataFrame, grids: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """`path` (`path_frame`) with the points its landscape chart cannot draw taken off the axes, their label
    saying why: on a loss curve (one constant) those outside the grid, where the loss is not known; on a
    heatmap (two) those a decade or more below the grid, which are near 0. The charts and their captions
    both decide through this."""
    names = list(grids)
    if len(names) == 1:
        (k,) = names
        lo, hi = float(np.min(grids[k])), float(np.max(grids[k]))
        outside = ((path[k] < lo) | (path[k] > hi)).to_numpy()
        why = f"off this curve: {k} outside {lo:.3g} to {hi:.3g}"
    else:
        outside = np.any([path[k].to_numpy(float) < float(np.min(grids[k])) / 10 for k in names], axis=0)
        why = "near 0: below these axes"
    newly = path["on_axes"].to_numpy(bool) & outside
    return path.assign(on_axes=path["on_axes"].to_numpy(bool) & ~outside,
                       label=[f"{t} ({why})" if n else t for t, n in zip(path["label"], newly)])


def _path_layers(frame: pd.DataFrame, x: alt.X, y: alt.Y, param_name: str | None,
                 trail: bool = True) -> list[alt.Chart]:
    """A path's line (positive points only, coloured by run when there are several) with its first and last
    points (`trail`), and with `param_name` a marker at that snapshot, or a note when it is off the axes."""
    on = frame[frame["on_axes"]]
    several = frame["run"].nunique() > 1
    tip = ["run:N", "step:Q", "label:N"] if several else ["step:Q", "label:N"]
    layers = []
    if trail and len(on):
        color = (alt.Color("run:N", title="run", legend=alt.Legend(orient="bottom", columns=1, labelLimit=300))
                 if several else alt.value("white"))
        if not several:  # a dark casing keeps the white line visible off the heatmap (a path can leave the grid)
            layers.append(alt.Chart(on).mark_line(strokeWidth=5, color="#333333", opacity=0.6, clip=True).encode(
                x=x, y=y, order="step:Q", detail="run:N"))
        layers.append(alt.Chart(on).mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(size=16, clip=True),
                                              clip=True).encode(
            x=x, y=y, order="step:Q", color=color, detail="run:N", tooltip=tip))
        first = on.groupby("run", sort=False).head(1).assign(where="first positive step")
        last = on.groupby("run", sort=False).tail(1).assign(where="end of training")
        layers.append(alt.Chart(pd.concat([first, last])).mark_point(size=200, filled=True, stroke="black",
                                                                      clip=True).encode(
            x=x, y=y, fill=alt.Fill("where:N", scale=alt.Scale(domain=["first positive step", "end of training"],
                                                                range=["white", "#ff7f0e"]), title=None),
            tooltip=["where:N", *tip]))
    if param_name is not None:  # the marker is absent at a snapshot off the axes: an optional layer (OPTIONAL)
        now = alt.Chart(frame).transform_filter(f"datum.idx == {param_name}")
        layers.append(now.transform_filter("datum.on_axes").mark_point(
            size=420, strokeWidth=3, color="#e6550d", filled=False, clip=True).encode(x=x, y=y, tooltip=tip)
            .properties(name=f"{OPTIONAL}{param_name}_ring"))
        layers.append(now.mark_text(align="left", baseline="bottom", x=0, y=-8, fontSize=13, fontWeight="bold",
                                    color="#222222").encode(text="label:N"))
    return layers


def landscape_line(grid: np.ndarray, losses: np.ndarray, name: str, best: float, refined: float | None = None,
                   width: int = 520, height: int = 280, path: pd.DataFrame | None = None,
                   param_name: str | None = None) -> alt.LayerChart:
    """Mean cross-entropy over a log-spaced 1-D grid, with the grid optimum and the refined point.
    `path` (`path_frame` over [name]) puts a run's value at each snapshot on the curve (inside the grid: the
    loss is only known there); with `param_name` a marker follows that snapshot parameter."""
    grid, losses = np.asarray(grid, float), np.asarray(losses, float)
    frame = pd.DataFrame({name: grid, "loss": losses})
    lo, hi = float(grid[0]), float(grid[-1])
    x = alt.X(f"{name}:Q", scale=alt.Scale(type="log", domain=[lo, hi], nice=False), title=name)
    y = alt.Y("loss:Q", title="mean cross-entropy", scale=alt.Scale(zero=False))
    line = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=10)).encode(
        x, y=y, tooltip=[alt.Tooltip(f"{name}:Q", format=".4g"), alt.Tooltip("loss:Q", format=".5f")])
    marks = [{"point": "grid optimum", name: float(best)}]
    if refined is not None:
        marks.append({"point": "refined", name: float(refined)})
    rules = alt.Chart(pd.DataFrame(marks)).mark_rule(strokeWidth=2, strokeDash=[5, 3]).encode(
        x, color=alt.Color("point:N", scale=alt.Scale(domain=["grid optimum", "refined"],
                                                      range=["#ff7f0e", "#d62728"]), title=None),
        tooltip=["point:N", alt.Tooltip(f"{name}:Q", format=".5g")])
    layers = [line, rules]
    if path is not None and len(path):  # on the curve: the loss at each snapshot's value, where the grid has it
        curve = left_off(path, {name: grid})
        curve["loss"] = np.interp(np.log(np.clip(curve[name].to_numpy(float), lo, hi)), np.log(grid), losses)
        layers.append(alt.Chart(curve[curve["on_axes"]]).mark_point(size=30, filled=True, opacity=0.8).encode(
            x, y=y, color=alt.Color("step:Q", scale=alt.Scale(scheme="oranges", type="symlog"), title="step"),
            tooltip=["step:Q", "label:N"]))
        layers += _path_layers(curve, x, y, param_name, trail=False)
    return alt.layer(*layers).resolve_scale(color="independent").properties(width=width, height=height)


def _heat(x_grid: np.ndarray, y_grid: np.ndarray, losses: np.ndarray, x_name: str, y_name: str,
          x_title: str | None = None, y_title: str | None = None,
          x_labels: str | None = None, x_ticks: list[float] | None = None) -> tuple[alt.Chart, alt.Scale, alt.Scale]:
    """The log x log heatmap layer (`losses[i, j]` at x_grid[i], y_grid[j]) and its two scales, which span the
    grid's cells exactly (no blank margins); brighter = lower, the colour clamped to the better half of the grid
    so that a valley stands out. `x_labels`, `x_ticks`: a Vega expression for the x tick labels, their values."""
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
        x=alt.X("x0:Q", scale=xs, title=x_title or x_name,
                axis=alt.Axis(grid=False, **({"labelExpr": x_labels} if x_labels else {}),
                              **({"values": x_ticks} if x_ticks else {}))), x2="x1:Q",
        y=alt.Y("y0:Q", scale=ys, title=y_title or y_name, axis=alt.Axis(grid=False)), y2="y1:Q",
        color=alt.Color("loss:Q", scale=alt.Scale(scheme="viridis", domain=[lo, hi], clamp=True, reverse=True),
                        title="cross-entropy"),
        tooltip=[alt.Tooltip(f"{x_name}:Q", format=".4g"), alt.Tooltip(f"{y_name}:Q", format=".4g"),
                 alt.Tooltip("loss:Q", format=".5f")])
    return heat, xs, ys


def landscape_heatmap(x_grid: np.ndarray, y_grid: np.ndarray, losses: np.ndarray, x_name: str, y_name: str,
                      best: Mapping[str, float], refined: Mapping[str, float] | None = None,
                      size: int = 440, path: pd.DataFrame | None = None,
                      param_name: str | None = None) -> alt.LayerChart:
    """Mean cross-entropy on a log x log grid (`losses[i, j]` at x_grid[i], y_grid[j]), brighter = lower,
    the colour clamped to the better half so the valley stands out; the grid optimum and the refined point.
    `path` (`path_frame` over [x_name, y_name]) draws training runs' ways across the landscape, clipped at the
    grid's edges (beyond them the loss is not known); with `param_name` a marker follows that snapshot parameter."""
    if path is not None and len(path):
        path = left_off(path, {x_name: x_grid, y_name: y_grid})
    heat, xs, ys = _heat(x_grid, y_grid, losses, x_name, y_name)
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
    if path is not None and len(path):
        layers += _path_layers(path, alt.X(f"{x_name}:Q", scale=xs), alt.Y(f"{y_name}:Q", scale=ys), param_name)
    return alt.layer(*layers).resolve_scale(color="independent").properties(width=size, height=size)

# Tick labels for log axes that reach far below 1: 1e-5 rather than 0.00001.
SMALL_LABELS = "datum.value < 0.001 ? format(datum.value, '.0e') : format(datum.value, '~g')"


def _decades(lo: float, hi: float, step: int = 1) -> list[float]:
    """Powers of ten from lo to hi, every `step`-th: the ticks of a log axis spanning many decades."""
    return [10.0 ** k for k in range(math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9) + 1, step)]


def valley_chart(v: Valley, path: pd.DataFrame | None = None, size: int = 360,
                 stacked: bool = False) -> alt.HConcatChart | alt.VConcatChart:
    """Eq. 1 along its valley (`engine.valley.Valley`), in the valley's own coordinates c_sigma and
    eta = c_sigma c_eta / sqrt(D), beside the floor's loss above GD's: the valley runs on past the fitting grid's
    top edge (c_eta = 10^4, drawn) and ends, as c_sigma -> 0, at GD (eq. 2), whose rate is marked. `path`
    (`path_frame` over c_sigma and eta, eta in these coordinates) draws runs across it. `stacked`: one above the
    other, for a page with a sidebar."""
    D = v.task.D
    (cs_lo, cs_hi), (ce_lo, ce_hi) = v.shipped["c_sigma_range"], v.shipped["c_eta_range"]
    y_title = "eta = c_sigma c_eta / sqrt(D)"
    heat, xs, ys = _heat(v.c_sigma, v.eta, v.losses, "c_sigma", "eta", y_title=y_title, x_labels=SMALL_LABELS,
                         x_ticks=_decades(v.c_sigma[0], v.c_sigma[-1]))
    x, y = alt.X("c_sigma:Q", scale=xs), alt.Y("eta:Q", scale=ys)
    floor = pd.DataFrame({"c_sigma": v.c_sigma, "eta": v.floor_eta, "c_eta": v.floor_c_eta, "loss": v.floor_loss,
                          "above GD": v.excess})
    tips = [alt.Tooltip("c_sigma:Q", format=".3g"), alt.Tooltip("c_eta:Q", format=".4g"),
            alt.Tooltip("eta:Q", format=".4g"), alt.Tooltip("loss:Q", format=".7f"),
            alt.Tooltip("above GD:Q", format=".2e")]
    floor_line = alt.Chart(floor).mark_line(color="white", strokeWidth=1.5, clip=True).encode(x, y, tooltip=tips)
    # The fitting grid's outline in these coordinates: its c_eta edges are the diagonals eta = c_eta c_sigma / sqrt(D).
    corners = [(cs_lo, ce_lo), (cs_hi, ce_lo), (cs_hi, ce_hi), (cs_lo, ce_hi), (cs_lo, ce_lo)]
    outline = pd.DataFrame([{"k": k, "c_sigma": a, "eta": b * a / math.sqrt(D), "c_eta": b}
                            for k, (a, b) in enumerate(corners)])
    grid_line = alt.Chart(outline).mark_line(color="#ff7f0e", strokeWidth=2, strokeDash=[6, 3], clip=True).encode(
        x, y, order="k:Q")
    label_eta = float(v.eta[-1]) / 1.6
    grid_text = alt.Chart(pd.DataFrame([{"c_sigma": label_eta * math.sqrt(D) / ce_hi / 1.4, "eta": label_eta,
                                         "text": f"c_eta = {ce_hi:,.0f}: the fitting grid's top"}])).mark_text(
        align="right", color="#ff7f0e", fontWeight="bold", fontSize=12).encode(x, y, text="text:N")
    eq1 = v.shipped["eq1"]
    marks = pd.DataFrame([
        {"c_sigma": float(v.c_sigma[0]), "eta": v.gd["eta"], "loss": v.gd["loss"], "at": "end",
         "text": f"GD (eq. 2), eta {v.gd['eta']:.3g}: the valley's end"},
        {"c_sigma": eq1["c_sigma"], "eta": eq1["c_sigma"] * eq1["c_eta"] / math.sqrt(D), "loss": eq1["loss_here"],
         "at": "fit", "text": "shipped fit, grid's edge"}])
    point = alt.Chart(marks).mark_point(filled=True, stroke="white", strokeWidth=1.5).encode(
        x, y, shape=alt.Shape("at:N", scale=alt.Scale(domain=["end", "fit"], range=["diamond", "cross"]), legend=None),
        size=alt.Size("at:N", scale=alt.Scale(domain=["end", "fit"], range=[280, 160]), legend=None),
        color=alt.value("#d62728"), tooltip=["text:N", alt.Tooltip("loss:Q", format=".7f")])
    words = [alt.Chart(marks[marks["at"] == at]).mark_text(
        align=align, baseline=base, dx=dx, dy=dy, color="white", fontWeight="bold", fontSize=12).encode(
        x, y, text="text:N")
        for at, align, base, dx, dy in (("end", "left", "bottom", 8, -8), ("fit", "right", "top", -6, 8))]
    left = [heat, floor_line, grid_line, grid_text, point, *words]
    if path is not None and len(path):
        left += _path_layers(left_off(path, {"c_sigma": v.c_sigma, "eta": v.eta}), x, y, None)
    valley = (alt.layer(*left).resolve_scale(color="independent")
              .properties(width=size, height=size, title="Eq. 1 along its valley"))

    edge, paper = v.at_c_eta(ce_hi), v.at_c_eta(v.paper_c_eta)
    above = floor[floor["above GD"] > 0]  # a log axis: a floor at or below GD's loss would be left off anyway
    x_domain = [float(_edges(v.c_sigma)[0]), float(_edges(v.c_sigma)[-1])]  # the heatmap's, so the two line up
    xls = alt.Scale(type="log", domain=x_domain, nice=False)
    xl = alt.X("c_sigma:Q", scale=xls, title="c_sigma",
               axis=alt.Axis(labelExpr=SMALL_LABELS, values=_decades(v.c_sigma[0], v.c_sigma[-1])))
    yl = alt.Y("above GD:Q", scale=alt.Scale(type="log"), title="floor's loss above GD's (eq. 2)",
               axis=alt.Axis(format=".0e", values=_decades(above["above GD"].min(), above["above GD"].max())))
    line = alt.Chart(above).mark_line(color="#3b528b", strokeWidth=2.5, point=alt.OverlayMarkDef(size=12)).encode(
        xl, yl, tooltip=tips)
    beyond = alt.Chart(pd.DataFrame([{"lo": x_domain[0], "hi": edge["c_sigma"],
                                      "text": f"beyond the grid: c_eta > {ce_hi:,.0f}"}]))
    shade = beyond.mark_rect(color="#ff7f0e", opacity=0.12).encode(x=alt.X("lo:Q", scale=xls), x2="hi:Q")
    shade_text = beyond.mark_text(align="left", baseline="top", x=6, y=6, color="#c45a00", fontWeight="bold",
                                  fontSize=12).encode(text="text:N")
    edge_rule = alt.Chart(pd.DataFrame([edge])).mark_rule(color="#ff7f0e", strokeWidth=2, strokeDash=[6, 3]).encode(
        x=alt.X("c_sigma:Q", scale=xls))
    marks = pd.DataFrame([{**paper, "above GD": paper["excess"],
                           "text": f"paper's c_eta ~ {v.paper_c_eta:,.0f}: +{paper['excess']:.1e}"}])
    paper_mark = alt.Chart(marks).mark_point(shape="diamond", size=200, filled=True, color="#d62728").encode(
        xl, yl, tooltip=["text:N", alt.Tooltip("c_sigma:Q", format=".3g"), alt.Tooltip("loss:Q", format=".7f")])
    paper_text = alt.Chart(marks).mark_text(align="right", baseline="middle", dx=-10, color="#d62728",
                                            fontWeight="bold", fontSize=12).encode(xl, yl, text="text:N")
    floor_chart = (alt.layer(line, shade, shade_text, edge_rule, paper_mark, paper_text)
                   .properties(width=size if stacked else int(size * 1.1), height=size,  # stacked: the axes align
                               title="The valley's floor, down to GD"))
    return (alt.vconcat if stacked else alt.hconcat)(valley, floor_chart).resolve_scale(color="independent")
