"""Altair builders for a run and its closed forms: per-context model vs closed form scatters, loss,
alignment and c_sigma / c_eta through training, A and B through training, and the extracted-constants check.

Pure functions from numbers (numpy arrays, lists of history rows) to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

# Snapshots of A and B through training exceed Altair's default 5,000-row guard.
alt.data_transformers.disable_max_rows()

ALIGN_FIELDS = {"preds_diff": "preds diff", "cos_sim": "cos sim", "model_diff": "model diff"}


# ---------------------------------------------------------------- model (x) vs closed form (y)


def identity_scatter(x: np.ndarray, y: np.ndarray, x_title: str, y_title: str, title: str = "",
                     domain: tuple[float, float] | None = None, size: int = 300) -> alt.LayerChart:
    """Per-context scatter, model on x and closed form on y, with the line y = x and the means (a red cross).

    Both axes share one fixed domain so that y = x is the diagonal of the square."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if domain is None:
        both = np.concatenate([x[np.isfinite(x)], y[np.isfinite(y)]]) if x.size else np.zeros(1)
        lo, hi = float(np.min(both, initial=0.0)), float(np.max(both, initial=1.0))
        pad = 0.03 * (hi - lo or 1.0)
        domain = (min(lo - pad, 0.0) if lo >= 0 else lo - pad, hi + pad)
    lo, hi = float(domain[0]), float(domain[1])
    sx = alt.Scale(domain=[lo, hi], nice=False, clamp=True)
    frame = pd.DataFrame({"model": x, "closed_form": y, "context": np.arange(x.size)})
    pts = alt.Chart(frame).mark_circle(size=18, opacity=0.45, color="#4c78a8").encode(
        x=alt.X("model:Q", scale=sx, title=x_title), y=alt.Y("closed_form:Q", scale=sx, title=y_title),
        tooltip=["context:Q", alt.Tooltip("model:Q", format=".4g"), alt.Tooltip("closed_form:Q", format=".4g")])
    diag = alt.Chart().mark_rule(color="#888888", strokeDash=[4, 3]).encode(
        x=alt.datum(lo, scale=sx), y=alt.datum(lo, scale=sx), x2=alt.datum(hi), y2=alt.datum(hi))
    means = pd.DataFrame({"model": [float(np.nanmean(x)) if x.size else 0.0],
                          "closed_form": [float(np.nanmean(y)) if y.size else 0.0]})
    mean = alt.Chart(means).mark_point(shape="cross", size=260, filled=True, color="#d62728", opacity=1).encode(
        x=alt.X("model:Q", scale=sx), y=alt.Y("closed_form:Q", scale=sx),
        tooltip=[alt.Tooltip("model:Q", format=".4f", title="mean (model)"),
                 alt.Tooltip("closed_form:Q", format=".4f", title="mean (closed form)")])
    return alt.layer(pts, diag, mean, title=title).properties(width=size, height=size)


# ---------------------------------------------------------------- training curves


def _long(rows: Sequence[Mapping], fields: Sequence[str], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    out = []
    for r in rows:
        for f in fields:
            v = r.get(f)
            if v is not None and np.isfinite(v):
                out.append({"step": r["step"], "metric": (labels or {}).get(f, f), "value": float(v),
                            "run": r.get("run", "")})
    return pd.DataFrame(out, columns=["step", "metric", "value", "run"])


def loss_curve(evals: Sequence[Mapping], optimum: float | None = None, optimum_label: str = "closed form",
               width: int = 420, height: int = 260) -> alt.LayerChart:
    """Train and eval loss through training, with the fitted closed form's loss as a horizontal rule."""
    frame = _long(evals, ["train_loss", "eval_loss"], {"train_loss": "train loss", "eval_loss": "eval loss"})
    lines = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("step:Q"), y=alt.Y("value:Q", title="cross-entropy", scale=alt.Scale(zero=False)),
        color=alt.Color("metric:N", title=None, scale=alt.Scale(domain=["eval loss", "train loss"],
                                                                 range=["#1f77b4", "#aec7e8"])),
        tooltip=["step:Q", "metric:N", alt.Tooltip("value:Q", format=".5f")])
    layers = [lines]
    if optimum is not None and np.isfinite(optimum):
        opt = pd.DataFrame({"value": [float(optimum)], "label": [f"{optimum_label}: {optimum:.4f}"]})
        layers.append(alt.Chart(opt).mark_rule(color="#d62728", strokeDash=[6, 3], strokeWidth=2).encode(
            y="value:Q", tooltip=["label:N"]))
        layers.append(alt.Chart(opt).mark_text(align="right", dy=-7, color="#d62728", x="width").encode(
            y="value:Q", text="label:N"))
    return alt.layer(*layers, title="loss").properties(width=width, height=height)


def alignment_curves(evals: Sequence[Mapping], yardstick_label: str, other_label: str = "the other eq. 1",
                     width: int = 230, height: int = 200) -> alt.HConcatChart:
    """Preds diff, cos sim and model diff through training, against the yardstick closed form
    and, for softmax runs, against their second closed form too (fields `*_other`)."""
    panels = []
    for field, label in ALIGN_FIELDS.items():
        frame = _long(evals, [field, field + "_other"], {field: yardstick_label, field + "_other": other_label})
        panels.append(alt.Chart(frame, title=label).mark_line().encode(
            x=alt.X("step:Q"), y=alt.Y("value:Q", title=label, scale=alt.Scale(zero=field != "cos_sim")),
            color=alt.Color("metric:N", title="against", scale=alt.Scale(domain=[yardstick_label, other_label],
                                                                          range=["#1f77b4", "#ff7f0e"])),
            tooltip=["step:Q", "metric:N", alt.Tooltip("value:Q", format=".4g")],
        ).properties(width=width, height=height))
    return alt.hconcat(*panels)


def constants_curves(rows: Sequence[Mapping], width: int = 330, height: int = 240,
                     legend: bool = True) -> alt.HConcatChart:
    """c_sigma and c_eta through training, one line per run (rows carry `run`, `step`, `c_sigma`, `c_eta`).

    A symmetric-log axis keeps d = 2's hundreds and d = 10's tenths readable together, signs included
    (elimination runs go negative)."""
    panels = []
    for field, label in (("c_sigma", "c_sigma"), ("c_eta", "c_eta")):
        frame = _long(rows, [field])
        panels.append(alt.Chart(frame, title=label).mark_line().encode(
            x=alt.X("step:Q"), y=alt.Y("value:Q", title=label, scale=alt.Scale(type="symlog")),
            color=alt.Color("run:N", title="run", scale=alt.Scale(scheme="category10"),
                            legend=alt.Legend(labelLimit=320, orient="bottom", columns=1) if legend else None),
            tooltip=["run:N", "step:Q", alt.Tooltip("value:Q", format=".4g")],
        ).properties(width=width, height=height))
    return alt.hconcat(*panels)


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
                    cell: int = 18) -> alt.HConcatChart:
    """A and B side by side, one cell per entry, red/blue by sign; with more than one snapshot a slider
    (client-side, no rerun) picks the training step. Lines separate the x-block (first d) from the y-block."""
    frame = snapshot_frame(snapshots)
    D = int(frame["row"].max()) + 1 if len(frame) else d
    param = None
    if len(snapshots) > 1:
        param = alt.param(name=param_name, value=len(snapshots) - 1,
                          bind=alt.binding_range(min=0, max=len(snapshots) - 1, step=1,
                                                 name="training snapshot (0 = init) "))
    panels = []
    for name, label in (("A", "A = W_Q^T W_K"), ("B", "B = W_V^T W_O^T")):
        base = alt.Chart(frame).transform_filter(alt.datum.matrix == name)
        if param is not None:
            base = base.transform_filter(f"datum.idx == {param_name}")
        heat = base.mark_rect().encode(
            x=alt.X("col:O", title=None, axis=alt.Axis(labels=D <= 20)),
            y=alt.Y("row:O", title=None, axis=alt.Axis(labels=D <= 20)),
            color=alt.Color("scaled:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True),
                            title="entry / max |entry|"),
            tooltip=["step:Q", "row:O", "col:O", alt.Tooltip("value:Q", format=".4g")])
        edge = pd.DataFrame({"pos": [d - 0.5]})
        sep_x = alt.Chart(edge).mark_rule(color="#333333", strokeDash=[3, 2]).encode(
            x=alt.X("pos:Q", scale=alt.Scale(domain=[-0.5, D - 0.5], nice=False), axis=None))
        sep_y = alt.Chart(edge).mark_rule(color="#333333", strokeDash=[3, 2]).encode(
            y=alt.Y("pos:Q", scale=alt.Scale(domain=[D - 0.5, -0.5], nice=False), axis=None))
        caption = base.transform_aggregate(step="max(step)", max_abs="max(max_abs)").transform_calculate(
            text=f"'{label}: step ' + datum.step + ', max |entry| ' + format(datum.max_abs, '.3g')"
        ).mark_text(align="left", baseline="bottom", x=0, y=-6, fontSize=12).encode(text="text:N")
        panels.append(alt.layer(heat, sep_x, sep_y, caption).resolve_scale(x="independent", y="independent")
                      .properties(width=cell * D, height=cell * D))
    chart = alt.hconcat(*panels, title=title)
    return chart.add_params(param) if param is not None else chart


# ---------------------------------------------------------------- Fig. 8: the extracted constants, checked


def extracted_check(rows: Sequence[Mapping], width: int = 420, height: int = 240) -> alt.Chart:
    """Preds diff between the trained model and eq. 1 at the extracted constants times a factor (x, log),
    one line per constant moved; the minimum should sit at factor 1."""
    frame = pd.DataFrame(rows)
    return alt.Chart(frame, title="trained model vs eq. 1 at the extracted constants, moved off").mark_line(
        point=True).encode(
        x=alt.X("factor:Q", scale=alt.Scale(type="log", domain=[float(frame["factor"].min()),
                                                                float(frame["factor"].max())], nice=False),
                title="factor on the extracted value"),
        y=alt.Y("preds_diff:Q", title="preds diff"),
        color=alt.Color("which:N", title="constant moved", scale=alt.Scale(domain=["c_sigma", "c_eta"],
                                                                            range=["#1f77b4", "#d62728"])),
        tooltip=["which:N", alt.Tooltip("factor:Q", format=".3g"), alt.Tooltip("c_sigma:Q", format=".4g"),
                 alt.Tooltip("c_eta:Q", format=".4g"), alt.Tooltip("preds_diff:Q", format=".4g")],
    ).properties(width=width, height=height)
