"""Altair builders for a run's weights: A = W_Q^T W_K and B = W_V^T W_O^T through training, and the run's path
over its closed form's landscape, one snapshot control driving both.

Pure functions from numbers (stored snapshots, path rows, a fit's landscape) to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ui import landscape_charts

# Snapshots of A and B through training exceed Altair's default 5,000-row guard.
alt.data_transformers.disable_max_rows()

# ---------------------------------------------------------------- weights


def snapshot_frame(snapshots: Sequence[Mapping]) -> pd.DataFrame:
    """Long form (idx, step, matrix, row, col, value, scaled): `scaled` = value / max |entry| of that matrix
    at that step, so the block pattern shows while the weights grow by orders of magnitude."""
    rows = []
    for idx, snap in enumerate(snapshots):
        for name in ("A", "B"):
            m = np.asarray(snap[name], float)
            top = float(np.max(np.abs(m))) or 1.0
            r, c = np.indices(m.shape)
            rows.append(pd.DataFrame({"idx": idx, "step": int(snap["step"]), "matrix": name, "row": r.ravel(),
                                      "col": c.ravel(), "value": m.ravel(), "scaled": m.ravel() / top,
                                      "max_abs": top}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["idx", "step", "matrix", "row", "col", "value", "scaled", "max_abs"])


def matrix_heatmaps(snapshots: Sequence[Mapping], d: int, title: str = "", param_name: str = "snapshot",
                    cell: int = 18, show_step: bool = True, below: Sequence[alt.TopLevelMixin] = (),
                    stacked: bool = False) -> alt.HConcatChart | alt.VConcatChart:
    """A and B side by side, one cell per entry, red/blue by sign; with more than one snapshot a slider
    (client-side, no rerun) picks the snapshot, whose training step each title shows. Lines separate the
    x-block (first d) from the y-block; rows and columns are named by block (x1..xd, y1..yC).
    `show_step=False` for weights that were not trained (a construction). `below`: charts in a row under the
    heatmaps that follow the same snapshot parameter (a run's path on its landscape). `stacked`: A over B (and
    `below` under them), no legends, for a narrow column (two runs side by side)."""
    frame = snapshot_frame(snapshots)
    D = int(frame["row"].max()) + 1 if len(frame) else d
    param = None
    if len(snapshots) > 1:
        param = alt.param(name=param_name, value=len(snapshots) - 1,
                          bind=alt.binding_range(min=0, max=len(snapshots) - 1, step=1,
                                                 name="snapshot (0 = initialisation; its step is in the titles) "))
    panels = []
    for name, label in (("A", "A = W_Q^T W_K"), ("B", "B = W_V^T W_O^T")):
        base = alt.Chart(frame).transform_filter(alt.datum.matrix == name)
        if param is not None:
            base = base.transform_filter(f"datum.idx == {param_name}")
        names = f"datum.value < {d} ? 'x' + (datum.value + 1) : 'y' + (datum.value - {d} + 1)"  # the blocks
        heat = base.mark_rect().encode(
            x=alt.X("col:O", title=None, axis=alt.Axis(labels=D <= 20, labelExpr=names, labelAngle=0)),
            y=alt.Y("row:O", title=None, axis=alt.Axis(labels=D <= 20, labelExpr=names)),
            color=alt.Color("scaled:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
                            title="entry / max |entry|"),
            tooltip=["step:Q", "row:O", "col:O", alt.Tooltip("value:Q", format=".4g")])
        edge = pd.DataFrame({"pos": [d - 0.5]})
        sep_x = alt.Chart(edge).mark_rule(color="#333333", strokeDash=[3, 2]).encode(
            x=alt.X("pos:Q", scale=alt.Scale(domain=[-0.5, D - 0.5], nice=False), axis=None))
        sep_y = alt.Chart(edge).mark_rule(color="#333333", strokeDash=[3, 2]).encode(
            y=alt.Y("pos:Q", scale=alt.Scale(domain=[D - 0.5, -0.5], nice=False), axis=None))
        at_step = ": step ' + format(datum.step, ',') + ', " if show_step else ": "
        caption = base.transform_aggregate(step="max(step)", max_abs="max(max_abs)").transform_calculate(
            text=f"'{label}{at_step}max |entry| ' + format(datum.max_abs, '.3g')"
        ).mark_text(align="left", baseline="bottom", x=0, y=-6, fontSize=12).encode(text="text:N")
        panels.append(alt.layer(heat, sep_x, sep_y, caption).resolve_scale(x="independent", y="independent")
                      .properties(width=cell * D, height=cell * D))
    if param is not None:  # the title says the training step of the snapshot the control points at
        steps = json.dumps([f"{int(s['step']):,}" for s in snapshots])
        title = alt.Title(alt.expr(f"{json.dumps((title + ': ') if title else '')} + 'training step ' + "
                                   f"{steps}[{param_name}] + ' of {int(snapshots[-1]['step']):,}'"), anchor="start")
    if stacked:  # one narrow column: no room for legends (the page's caption says what the marks are)
        chart = alt.vconcat(*panels, *below, title=title).configure_legend(disable=True)
    elif below:
        chart = alt.vconcat(alt.hconcat(*panels), alt.hconcat(*below), title=title)
    else:
        chart = alt.hconcat(*panels, title=title)
    return chart.add_params(param) if param is not None else chart


def path_names(fit_axes: Mapping[str, np.ndarray]) -> list[str]:
    """The constants a path is drawn in on this closed form's landscape: its own fitted parameters."""
    return list(fit_axes)


def landscape_with_path(fit, path_rows: Sequence[Mapping], param_name: str | None = None,
                        size: int = 330) -> alt.LayerChart:
    """A closed form's fitted landscape (`engine.fitted.Fitted`: eq. 1's c_sigma x c_eta heatmap, or eq. 2's
    loss against eta) with runs' paths on it (`engine.extract.path` rows, `run` per row when several)."""
    names = path_names(fit.axes)
    frame = landscape_charts.path_frame(path_rows, names)
    if len(names) == 2:
        x, y = names
        return landscape_charts.landscape_heatmap(fit.axes[x], fit.axes[y], fit.losses, x, y, fit.best, fit.refined,
                                                  size=size, path=frame, param_name=param_name)
    (name,) = names
    return landscape_charts.landscape_line(fit.axes[name], fit.losses, name, fit.best[name], fit.refined[name],
                                           width=int(size * 1.25), height=int(size * 0.8), path=frame,
                                           param_name=param_name)


def valley_with_path(valley, path_rows: Sequence[Mapping], size: int = 360,
                     stacked: bool = False) -> alt.HConcatChart | alt.VConcatChart:
    """Eq. 1's valley followed to its GD end (`engine.valley.Valley`) with runs' paths drawn in its coordinates,
    c_sigma and eta = c_sigma c_eta / sqrt(D) (`engine.extract.path` rows); `stacked`: the two panels in a column."""
    root_D = math.sqrt(valley.task.D)
    rows = [{**r, "eta": r["c_sigma"] * r["c_eta"] / root_D} for r in path_rows]
    return landscape_charts.valley_chart(valley, landscape_charts.path_frame(rows, ["c_sigma", "eta"]), size=size,
                                         stacked=stacked)


def weights_with_path(snapshots: Sequence[Mapping], d: int, fit, path_rows: Sequence[Mapping], title: str = "",
                      cell: int = 18, size: int = 330, stacked: bool = False) -> alt.HConcatChart | alt.VConcatChart:
    """A and B through training over the run's path on the landscape of the closed form it represents, one
    snapshot control driving both: the weights take the construction's shape as the marker walks to the optimum.
    `stacked`: everything in one narrow column."""
    param = "snapshot" if len(snapshots) > 1 else None
    return matrix_heatmaps(snapshots, d, title=title, cell=cell, stacked=stacked,
                           below=[landscape_with_path(fit, path_rows, param, size=size)])




