"""Altair builders for a run and its closed forms: per-context model vs closed form scatters, loss,
alignment and c_sigma / c_eta through training, A and B through training, and the extracted-constants check.

Pure functions from numbers (numpy arrays, lists of history rows) to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

from ui import landscape_charts
from ui.context_charts import class_scale

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


def reached_optimum(evals: Sequence[Mapping], optimum: float | None, within: float = 0.01) -> int | None:
    """The first evaluated step whose eval loss is within `within` (relative) of the closed form's optimum."""
    if optimum is None or not np.isfinite(optimum):
        return None
    return next((int(e["step"]) for e in evals if e.get("eval_loss", np.inf) <= optimum * (1 + within)), None)


def loss_curve(evals: Sequence[Mapping], optimum: float | None = None, optimum_label: str = "closed form",
               width: int = 420, height: int = 260, log_step: bool = False) -> alt.LayerChart:
    """Train and eval loss through training, with the fitted closed form's loss as a horizontal rule and the
    step where the eval loss first came within 1% of it. `log_step`: a log step axis, where a fast descent is
    not a vertical sliver at the left edge (step 0 is left out there)."""
    frame = _long(evals, ["train_loss", "eval_loss"], {"train_loss": "train loss", "eval_loss": "eval loss"})
    if log_step:
        frame = frame[frame["step"] > 0]
    x = alt.X("step:Q", scale=alt.Scale(type="log") if log_step else alt.Undefined,
              title="step (log)" if log_step else "step")
    lines = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=12)).encode(
        x=x, y=alt.Y("value:Q", title="cross-entropy", scale=alt.Scale(zero=False)),
        color=alt.Color("metric:N", title=None, scale=alt.Scale(domain=["eval loss", "train loss"],
                                                                 range=["#1f77b4", "#aec7e8"]),
                        legend=alt.Legend(orient="bottom")),  # the plot's top right holds the labels
        tooltip=["step:Q", "metric:N", alt.Tooltip("value:Q", format=".5f")])
    layers = [lines]
    if optimum is not None and np.isfinite(optimum):
        opt = pd.DataFrame({"value": [float(optimum)], "label": [f"{optimum_label}: {optimum:.4f}"]})
        layers.append(alt.Chart(opt).mark_rule(color="#d62728", strokeDash=[6, 3], strokeWidth=2).encode(
            y="value:Q", tooltip=["label:N"]))
        layers.append(alt.Chart(opt).mark_text(align="right", dy=-7, color="#d62728", x="width").encode(
            y="value:Q", text="label:N"))
        step = reached_optimum(evals, optimum)
        if step is not None and (step > 0 or not log_step):
            hit = pd.DataFrame({"step": [step], "label": [f"within 1% of the optimum at step {step:,}"]})
            layers.append(alt.Chart(hit).mark_rule(color="#2ca02c", strokeWidth=2).encode(x=x, tooltip=["label:N"]))
            layers.append(alt.Chart(hit).mark_text(align="left", dx=4, y=8, color="#2ca02c", fontWeight="bold")
                          .encode(x=x, text="label:N"))
    return alt.layer(*layers, title="loss").properties(width=width, height=height)


def alignment_curves(evals: Sequence[Mapping], yardstick_label: str, other_label: str = "the other eq. 1",
                     width: int = 190, height: int = 200, columns: int = 3) -> alt.ConcatChart:
    """Preds diff, cos sim and model diff through training, against the yardstick closed form
    and, for softmax runs, against their second closed form too (fields `*_other`)."""
    panels = []
    for field, label in ALIGN_FIELDS.items():
        frame = _long(evals, [field, field + "_other"], {field: yardstick_label, field + "_other": other_label})
        panels.append(alt.Chart(frame, title=label).mark_line().encode(
            x=alt.X("step:Q"), y=alt.Y("value:Q", title=label, scale=alt.Scale(zero=field != "cos_sim")),
            color=alt.Color("metric:N", title="against", scale=alt.Scale(domain=[yardstick_label, other_label],
                                                                          range=["#1f77b4", "#ff7f0e"]),
                            legend=alt.Legend(orient="bottom")),  # under the panels: the row fits 880 px
            tooltip=["step:Q", "metric:N", alt.Tooltip("value:Q", format=".4g")],
        ).properties(width=width, height=height))
    return alt.concat(*panels, columns=columns)


RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
              "#bcbd22", "#393b79", "#ad494a"]  # distinct hues first: neighbouring runs never share a colour
STEP_AXES = {"step": "step", "log": "step (log)", "fraction": "fraction of training"}


def log_ticks(lo: float, hi: float, px: float) -> list[float]:
    """Tick values for a log axis from lo to hi (> 0) on `px` pixels: 1-2-5 per decade where labels have room
    (about 22 px each), else 1-3, else powers of ten; every value between lo and hi is then within a factor of
    2.5 (1-2-5), 3.2 (1-3) or 10 of a labelled tick."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**k for k in decades for m in steps if lo <= m * 10.0**k <= hi]
        if len(ticks) * 22 <= px:
            return ticks
    return ticks


def constants_curves(rows: Sequence[Mapping], width: int = 330, height: int = 240, legend: bool = True,
                     x_title: str = "step", legend_orient: str = "bottom", x_axis: str = "step",
                     references: Sequence[Mapping] = ()) -> alt.HConcatChart:
    """c_sigma and c_eta through training, one line per run (rows carry `run`, `step`, `c_sigma`, `c_eta`, and
    for `x_axis="fraction"` `steps`, the run's length), each run's last value written at its line's end.

    `x_axis`: "step"; "log" (step 0 left out), where runs of 350 and 40,000 steps both show their
    descent; "fraction" of each run's training, where they line up end to end. The value axis is logarithmic
    (d = 2's hundreds and d = 10's ones read together) with labelled ticks near every value a run ends at
    (`log_ticks`), from a twentieth of the smallest of them: the start of training, near 0, is below the axis.
    Runs that end negative (elimination) get a panel of their own on |value|, so no sign is hidden.
    `references` (run, c_sigma, c_eta): each run's fitted constants of the closed form it represents, dashed in
    the run's colour."""
    runs = list(dict.fromkeys(r["run"] for r in rows))
    colors = alt.Scale(domain=runs, range=[RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(runs))])
    if x_axis not in STEP_AXES:
        raise ValueError(f"x_axis must be one of {tuple(STEP_AXES)}, got {x_axis!r}")
    field = "fraction" if x_axis == "fraction" else "step"
    x = alt.X(f"{field}:Q", title=STEP_AXES[x_axis] if x_title == "step" else x_title,
              scale=alt.Scale(type="log") if x_axis == "log" else alt.Undefined,
              axis=alt.Axis(format="%") if x_axis == "fraction" else alt.Undefined)
    steps = {r["run"]: r.get("steps") for r in rows}
    panels = []
    for name in ("c_sigma", "c_eta"):
        frame = _long(rows, [name])
        frame["fraction"] = [s / (steps[r] or 1) for s, r in zip(frame["step"], frame["run"])]
        if x_axis == "log":
            frame = frame[frame["step"] > 0]
        last = frame.sort_values("step").groupby("run", sort=False).tail(1).set_index("run")["value"]
        refs = {r["run"]: float(r[name]) for r in references if r.get(name) is not None}
        for sign in (1, -1):
            mine = [r for r in runs if r in last.index and np.sign(last[r]) == sign and last[r] != 0]
            if not mine and (sign == -1 or len(last)):
                continue
            part = frame[frame["run"].isin(mine)].assign(size=lambda f: sign * f["value"])
            ends = [abs(float(last[r])) for r in mine] + [sign * refs[r] for r in mine if sign * refs.get(r, 0) > 0]
            lo = min(ends) / 20 if ends else 0.01
            hi = max([*ends, *part["size"][part["size"] > 0]] or [1.0]) * 1.4
            title = name if sign == 1 else f"-{name} (runs ending negative)"
            y = alt.Y("size:Q", title=title, scale=alt.Scale(type="log", domain=[lo, hi], nice=False),
                      axis=alt.Axis(values=log_ticks(lo, hi, height), format="~g", labelOverlap=False))
            color = alt.Color("run:N", title="run", scale=colors,
                              legend=alt.Legend(labelLimit=320, orient=legend_orient, columns=1,
                                                symbolType="stroke") if legend and not panels else None)
            drawn = part[part["size"] > 0]
            layers = [alt.Chart(drawn).mark_line(clip=True).encode(
                x=x, y=y, color=color, tooltip=["run:N", "step:Q", alt.Tooltip("value:Q", format=".4g")])]
            tail = drawn.sort_values("step").groupby("run", sort=False).tail(1).assign(
                text=lambda f: [f"{v:.3g}" for v in f["value"]])
            layers.append(alt.Chart(tail).mark_text(align="right", dy=-9, fontSize=13, fontWeight="bold").encode(
                x=x, y=y, text="text:N", color=alt.Color("run:N", scale=colors, legend=None)))
            ref_rows = pd.DataFrame([{"run": r, "size": sign * refs[r], "label": f"{r}: fitted {name} {refs[r]:.4g}"}
                                     for r in mine if sign * refs.get(r, 0) > 0])
            if len(ref_rows):
                layers.append(alt.Chart(ref_rows).mark_rule(strokeDash=[6, 4], strokeWidth=1.5, opacity=0.8).encode(
                    y=y, color=alt.Color("run:N", scale=colors, legend=None), tooltip=["label:N"]))
            panels.append(alt.layer(*layers, title=title).properties(width=width, height=height))
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


def weights_with_path(snapshots: Sequence[Mapping], d: int, fit, path_rows: Sequence[Mapping], title: str = "",
                      cell: int = 18, size: int = 330, stacked: bool = False) -> alt.HConcatChart | alt.VConcatChart:
    """A and B through training over the run's path on the landscape of the closed form it represents, one
    snapshot control driving both: the weights take the construction's shape as the marker walks to the optimum.
    `stacked`: everything in one narrow column."""
    param = "snapshot" if len(snapshots) > 1 else None
    return matrix_heatmaps(snapshots, d, title=title, cell=cell, stacked=stacked,
                           below=[landscape_with_path(fit, path_rows, param, size=size)])


# ---------------------------------------------------------------- Fig. 8: the extracted constants, checked


def extracted_check(rows: Sequence[Mapping], width: int = 420, height: int = 240) -> alt.Chart:
    """Preds diff between the trained model and eq. 1 at the extracted constants times a factor (x, log),
    one line per constant moved; the minimum should sit at factor 1."""
    frame = pd.DataFrame(rows)
    factors = sorted(float(f) for f in frame["factor"].unique())
    return alt.Chart(frame, title="trained model vs eq. 1 at the extracted constants, moved off").mark_line(
        point=True).encode(
        x=alt.X("factor:Q", scale=alt.Scale(type="log", domain=[factors[0], factors[-1]], nice=False),
                title="factor on the extracted value", axis=alt.Axis(values=factors, format="~g")),
        y=alt.Y("preds_diff:Q", title="preds diff"),
        color=alt.Color("which:N", title="constant moved", scale=alt.Scale(domain=["c_sigma", "c_eta"],
                                                                            range=["#1f77b4", "#d62728"])),
        tooltip=["which:N", alt.Tooltip("factor:Q", format=".3g"), alt.Tooltip("c_sigma:Q", format=".4g"),
                 alt.Tooltip("c_eta:Q", format=".4g"), alt.Tooltip("preds_diff:Q", format=".4g")],
    ).properties(width=width, height=height)


# ---------------------------------------------------------------- softmax >= linear, by d

HEADLINE_COLORS = {"softmax SA (trained)": "#d62728", "eq. 1": "#ff9896", "linear SA (trained)": "#1f77b4",
                   "GD (eq. 2)": "#aec7e8", "kernel GD (eq. 3)": "#7f7f7f"}


def headline_chart(rows: pd.DataFrame | Sequence[Mapping], width: int = 460, height: int = 260,
                   legend_orient: str = "right") -> alt.Chart:
    """Cross-entropy on held-out contexts against d: trained layers as solid lines, closed forms dashed (each
    trained layer lies on the closed form it represents); lower is better."""
    frame = pd.DataFrame(rows)
    order = list(HEADLINE_COLORS)
    return alt.Chart(frame, title="cross-entropy on the same held-out contexts (lower is better)").mark_line(
        point=True).encode(
        x=alt.X("d:O", title="d (dimension)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("loss:Q", title="cross-entropy", scale=alt.Scale(zero=False)),
        # one legend for both channels (same field): each learner's line in its colour and dash
        color=alt.Color("learner:N", sort=order, title="solid: trained layer, dashed: closed form",
                        scale=alt.Scale(domain=order, range=list(HEADLINE_COLORS.values())),
                        legend=alt.Legend(orient=legend_orient, columns=2 if legend_orient == "bottom" else 1,
                                          symbolType="stroke", symbolStrokeWidth=3, symbolSize=600,
                                          titleLimit=400)),
        strokeDash=alt.StrokeDash("learner:N", sort=order, scale=alt.Scale(
            domain=order, range=[[1, 0] if "trained" in name else [5, 3] for name in order])),
        tooltip=["d:O", "learner:N", alt.Tooltip("loss:Q", format=".4f"), alt.Tooltip("accuracy:Q", format=".3f")],
    ).properties(width=width, height=height)


# ---------------------------------------------------------------- the talk's diagrams


def token_diagram(d: int = 2, C: int = 3, n: int = 6, cell: int = 34) -> alt.LayerChart:
    """The model as a picture (the paper's Fig. 2): the token matrix X (n context rows [x_i, y_i] and the query
    [x_q, 0]) and what each product touches, picked with a radio in the chart: A = W_Q^T W_K compares the
    query's x-part with every token's x-part (the scores); B = W_V^T W_O^T carries the attended tokens' labels
    into the query's output y-part (the prediction)."""
    rows = []
    for i in range(n + 1):
        query = i == n
        for j in range(d + C):
            part = "x" if j < d else "y"
            rows.append({"row": "query [x_q, 0]" if query else f"token {i + 1} [x_{i + 1}, y_{i + 1}]",
                         "col": f"x{j + 1}" if part == "x" else f"y{j - d + 1}", "part": part, "query": query,
                         "label": "" if part == "x" else ("?" if query else ("1" if (j - d) == i % C else "0")),
                         "A": part == "x", "B": part == "y" and not query})
    frame = pd.DataFrame(rows)
    which = alt.param(name="touches", value="A (scores)", bind=alt.binding_radio(
        options=["A (scores)", "B (values)"], name="what it touches: "))
    lit = "(touches == 'A (scores)' ? datum.A : datum.B)"
    y = alt.Y("row:N", sort=list(dict.fromkeys(frame["row"])), title=None, axis=alt.Axis(labelLimit=260))
    x = alt.X("col:N", sort=list(dict.fromkeys(frame["col"])), title=None, axis=alt.Axis(orient="top", labelAngle=0))
    cells = alt.Chart(frame).mark_rect(stroke="white", strokeWidth=2).encode(
        x=x, y=y, color=alt.Color("part:N", scale=alt.Scale(domain=["x", "y"], range=["#4c78a8", "#f58518"]),
                                  legend=alt.Legend(title="block", labelExpr="datum.label == 'x' ? 'x-part (the "
                                                    "point)' : 'y-part (the label)'")),
        opacity=alt.condition(lit, alt.value(1.0), alt.value(0.18)))
    text = alt.Chart(frame).mark_text(fontSize=14, color="white", fontWeight="bold").encode(
        x=x, y=y, text="label:N")
    query_edge = alt.Chart(frame[frame["query"]]).mark_rect(fill=None, stroke="black", strokeWidth=3).encode(
        x=x, y=y)
    return alt.layer(cells, text, query_edge).add_params(which).properties(
        width=cell * (d + C), height=cell * (n + 1), title="X: the context tokens, then the query")


def adaptive_rate_chart(xs: np.ndarray, ys: np.ndarray, eta_by_degree: np.ndarray, kernel_eta: float,
                        height: int = 280, width: int = 820) -> alt.LayerChart:
    """Eq. 1's context-adaptive rate eta(X) as the query goes round the circle (`eta_by_degree`: at 0, 1, ...,
    359 degrees, from `engine.closed_form.adaptive_rate`; log scale), against kernel GD's fixed rate, with the
    context points as ticks at their angles and a query the reader moves (in the chart)."""
    xs = np.asarray(xs, float)
    C = int(np.max(ys)) + 1
    angles = np.arange(360)
    curve = pd.DataFrame({"angle": angles, "eta": np.asarray(eta_by_degree, float), "rate": "eq. 1: eta(X)"})
    flat = pd.DataFrame({"angle": [0, 359], "eta": [kernel_eta] * 2, "rate": "kernel GD (eq. 3): fixed"})
    pts = pd.DataFrame({"angle": np.mod(np.degrees(np.arctan2(xs[:, 1], xs[:, 0])), 360), "class": np.asarray(ys) + 1})
    lo = float(min(curve["eta"].min(), kernel_eta)) / 3
    ys_scale = alt.Scale(type="log", domain=[lo, float(max(curve["eta"].max(), kernel_eta)) * 3], nice=False)
    x = alt.X("angle:Q", scale=alt.Scale(domain=[0, 359], nice=False), title="query angle (degrees)")
    query = alt.param(name="rate_query", value=90, bind=alt.binding_range(min=0, max=359, step=1,
                                                                          name="query angle (degrees) "))
    color = alt.Color("rate:N", title=None, scale=alt.Scale(domain=["eq. 1: eta(X)", "kernel GD (eq. 3): fixed"],
                                                            range=["#d62728", "#7f7f7f"]),
                      legend=alt.Legend(orient="top-left", fillColor="white"))
    lines = alt.Chart(pd.concat([curve, flat])).mark_line(strokeWidth=2.5).encode(
        x=x, y=alt.Y("eta:Q", scale=ys_scale, title="learning rate (log)"), color=color,
        tooltip=["angle:Q", alt.Tooltip("eta:Q", format=".4g"), "rate:N"])
    ticks = alt.Chart(pts).mark_tick(thickness=2, size=14).encode(
        x=x, y=alt.datum(lo * 1.3, scale=ys_scale), color=alt.Color("class:N", scale=class_scale(C),
                                                                    legend=None))
    rule = alt.Chart(pd.DataFrame({"a": [0]})).mark_rule(color="black", strokeDash=[4, 3]).encode(
        x=alt.datum(alt.expr("rate_query"), type="quantitative"))
    here = alt.Chart(curve).transform_filter("datum.angle == rate_query").mark_text(
        align="left", dx=6, dy=-10, fontSize=13, fontWeight="bold").transform_calculate(
        t="'eta(X) = ' + format(datum.eta, '.3~g')").encode(x=x, y=alt.Y("eta:Q", scale=ys_scale), text="t:N")
    return alt.layer(lines, ticks, rule, here).add_params(query).resolve_scale(color="independent").properties(
        width=width, height=height)
