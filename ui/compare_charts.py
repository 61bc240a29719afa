"""Altair builders that set a model against the closed forms: per-context scatters (model on x, closed form
on y), the extracted-constants check (Fig. 8) and softmax against linear attention by d (the headline).

Pure functions from numbers to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

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


# ---------------------------------------------------------------- Fig. 8: the extracted constants, checked


CONSTANT_COLORS = ["#1f77b4", "#d62728"]  # the first and second constant of a reading (c_sigma, c_eta; sigma2, eta)


def extracted_check(rows: Sequence[Mapping], width: int = 420, height: int = 240, closed_form: str = "eq. 1"
                    ) -> alt.Chart:
    """Preds diff between the trained model and its closed form at the extracted constants times a factor (x, log),
    one line per constant moved; the minimum should sit at factor 1."""
    frame = pd.DataFrame(rows)
    factors = sorted(float(f) for f in frame["factor"].unique())
    which = list(dict.fromkeys(frame["which"]))
    return alt.Chart(frame, title=f"trained model vs {closed_form} at the extracted constants, moved off").mark_line(
        point=True).encode(
        x=alt.X("factor:Q", scale=alt.Scale(type="log", domain=[factors[0], factors[-1]], nice=False),
                title="factor on the extracted value", axis=alt.Axis(values=factors, format="~g")),
        y=alt.Y("preds_diff:Q", title="preds diff"),
        color=alt.Color("which:N", title="constant moved", scale=alt.Scale(domain=which,
                                                                            range=CONSTANT_COLORS[:len(which)])),
        tooltip=["which:N", alt.Tooltip("factor:Q", format=".3g"),
                 *(alt.Tooltip(f"{w}:Q", format=".4g") for w in which), alt.Tooltip("preds_diff:Q", format=".4g")],
    ).properties(width=width, height=height)


# ---------------------------------------------------------------- softmax >= linear, by d

HEADLINE_COLORS = {"softmax SA (trained)": "#d62728", "eq. 1": "#ff9896", "linear SA (trained)": "#1f77b4",
                   "GD (eq. 2)": "#aec7e8", "kernel SA (trained)": "#9467bd",
                   "kernel GD (eq. 3)": "#c5b0d5"}  # grey is the yardsticks'


YARDSTICK_GREY = "#8c8c8c"
YARDSTICK_SHAPES = ["diamond", "triangle-up", "square", "cross", "triangle-down", "circle"]


def yardstick_families(learners: Sequence[str]) -> dict[str, str]:
    """The legend entry each baseline is drawn under: the GD step counts share one ("GD, 2-5 steps"), each still
    drawn as its own line; every other baseline is its own."""
    steps = {name: int(name.split()[1]) for name in learners
             if name.startswith("GD, ") and name.endswith(" steps") and name.split()[1].isdigit()}
    gd = f"GD, {min(steps.values())}-{max(steps.values())} steps" if len(steps) > 1 else None
    return {name: gd if name in steps and gd else name for name in learners}


def with_seeds(rows: pd.DataFrame, seeds: pd.DataFrame | Sequence[Mapping]) -> pd.DataFrame:
    """The headline's rows with each trained layer's loss and accuracy replaced by its mean over seeds where the
    seeds' summary (`engine.seeds.summary`) has the (d, learner), and `loss_lo`, `loss_hi` its 95% interval."""
    frame = rows.copy()
    summary = pd.DataFrame(seeds)
    if not len(summary):
        return frame
    by = {(int(r["d"]), r["learner"]): r for r in summary.to_dict("records")}
    for col in ("loss_lo", "loss_hi", "seeds"):
        frame[col] = np.nan
    for i, r in frame.iterrows():
        s = by.get((int(r["d"]), r["learner"]))
        if s is not None:
            frame.loc[i, ["loss", "accuracy", "loss_lo", "loss_hi", "seeds"]] = [
                s["loss"], s["accuracy"], s["loss_lo"], s["loss_hi"], s["seeds"]]
    return frame


def headline_chart(rows: pd.DataFrame | Sequence[Mapping], width: int = 460, height: int = 260,
                   legend_orient: str = "right", yardsticks: bool = False,
                   seeds: pd.DataFrame | Sequence[Mapping] | None = None) -> alt.Chart | alt.LayerChart:
    """Cross-entropy on held-out contexts against d: trained layers as solid lines, closed forms dashed (each
    trained layer lies on the closed form it represents); lower is better. With `seeds` (`engine.seeds.summary`
    rows), each trained layer's point is its mean over seeds with a bar for the 95% interval. With `yardsticks`, the
    table's baselines (kind "baseline") as thin grey lines, one point shape per family in a legend of their own;
    without, they are left out."""
    frame = pd.DataFrame(rows)
    if seeds is not None:
        frame = with_seeds(frame, seeds)
    base = frame[frame["kind"] != "baseline"] if "kind" in frame else frame
    order = [name for name in HEADLINE_COLORS if name in set(base["learner"])]
    columns = 2 if legend_orient == "bottom" else 1
    title = "cross-entropy on the same held-out contexts (lower is better)"
    bars = base.dropna(subset=["loss_lo"]) if "loss_lo" in base else base.iloc[:0]
    n_seeds = sorted({int(v) for v in bars["seeds"]}) if len(bars) else []
    single = [name.replace(" (trained)", "") for name in order
              if "trained" in name and n_seeds and name not in set(bars["learner"])]
    solid = ([f"solid: trained layer, mean of {'-'.join(map(str, n_seeds))} seeds",
              "(bar: 95% interval" + (f"; {', '.join(single)}: one run" if single else "") + ")"]
             if n_seeds else ["solid: trained layer"])  # short lines: a legend title is cut at its titleLimit
    main = alt.Chart(base, title=title).mark_line(
        point=True).encode(
        x=alt.X("d:O", title="d (dimension)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("loss:Q", title="cross-entropy", scale=alt.Scale(zero=False)),
        # one legend for both channels (same field): each learner's line in its colour and dash
        color=alt.Color("learner:N", sort=order, title=[*solid, "dashed: closed form"],
                        scale=alt.Scale(domain=order, range=[HEADLINE_COLORS[name] for name in order]),
                        legend=alt.Legend(orient=legend_orient, columns=columns,
                                          symbolType="stroke", symbolStrokeWidth=3, symbolSize=600,
                                          titleLimit=400)),
        strokeDash=alt.StrokeDash("learner:N", sort=order, scale=alt.Scale(
            domain=order, range=[[1, 0] if "trained" in name else [5, 3] for name in order])),
        tooltip=["d:O", "learner:N", alt.Tooltip("loss:Q", format=".4f"), alt.Tooltip("accuracy:Q", format=".3f")],
    ).properties(width=width, height=height)
    if len(bars):
        interval = alt.Chart(bars).mark_rule(strokeWidth=2.5).encode(
            x=alt.X("d:O"), y=alt.Y("loss_lo:Q"), y2="loss_hi:Q",
            color=alt.Color("learner:N", sort=order, scale=alt.Scale(domain=order, range=[HEADLINE_COLORS[name]
                                                                                          for name in order]),
                            legend=None),
            tooltip=["d:O", "learner:N", alt.Tooltip("loss:Q", format=".4f", title="mean over seeds"),
                     alt.Tooltip("loss_lo:Q", format=".4f", title="95% interval from"),
                     alt.Tooltip("loss_hi:Q", format=".4f", title="to"), alt.Tooltip("seeds:Q", format="d")])
        main = alt.layer(main, interval)
    if not yardsticks or "kind" not in frame or not (frame["kind"] == "baseline").any():
        return main
    extra = frame[frame["kind"] == "baseline"]
    extra = extra.assign(family=extra["learner"].map(yardstick_families(list(dict.fromkeys(extra["learner"])))))
    families = list(dict.fromkeys(extra["family"]))
    grey = alt.Chart(extra).encode(
        x=alt.X("d:O"), y=alt.Y("loss:Q"), detail="learner:N",
        tooltip=["d:O", "learner:N", alt.Tooltip("loss:Q", format=".4f"), alt.Tooltip("accuracy:Q", format=".3f"),
                 "constants:N"])
    lines = grey.mark_line(color=YARDSTICK_GREY, strokeWidth=1, opacity=0.8)
    points = grey.mark_point(color=YARDSTICK_GREY, size=40, filled=True, opacity=0.9).encode(
        shape=alt.Shape("family:N", sort=families, title="grey: classic learners, for scale",
                        scale=alt.Scale(domain=families, range=YARDSTICK_SHAPES[:len(families)]),
                        legend=alt.Legend(orient=legend_orient, columns=columns, titleLimit=400,
                                          symbolFillColor=YARDSTICK_GREY, symbolStrokeColor=YARDSTICK_GREY)))
    # the learners' layer first, so that their legend comes first (Vega-Lite orders legends by layer)
    return alt.layer(main.properties(title=""), lines, points, title=title).properties(width=width, height=height)


# ---------------------------------------------------------------- other context sizes at test time

REFITTED = "refitted at each n"


def trained_at(n: int) -> str:
    """The dash legend's other entry: weights and constants as trained (fitted) at the training n."""
    return f"as trained (fitted) at n = {n}"


def context_size_frame(rows: pd.DataFrame | Sequence[Mapping], d: int) -> pd.DataFrame:
    """The context-size table's rows at d, with what the chart draws: the series (learner and fitting), the error
    bar's ends (loss +- one standard error) and the fitting in words."""
    frame = pd.DataFrame(rows)
    frame = frame[frame["d"].astype(int) == int(d)].copy()
    refit = frame["refitted"].astype(str).str.strip().str.lower().isin(("true", "1", "1.0"))
    frame["refitted"] = refit
    frame["fitting"] = [REFITTED if r else trained_at(int(n)) for r, n in zip(refit, frame["fit_n"])]
    frame["series"] = frame["learner"] + np.where(refit, ", refitted", "")
    frame["lo"] = frame["loss"] - frame["loss_se"]
    frame["hi"] = frame["loss"] + frame["loss_se"]
    return frame.reset_index(drop=True)


# drawn first and widest: where two lines coincide (eq. 1 in GD's valley at d = 10; a layer on its closed form), the
# one beneath still shows as a rim
CONTEXT_SIZE_WIDTHS = {"GD (eq. 2)": 6.0, "eq. 1": 3.5, "linear SA (trained)": 2.0, "softmax SA (trained)": 2.0}


def context_size_chart(rows: pd.DataFrame | Sequence[Mapping], d: int, width: int = 460,
                       height: int = 300) -> alt.LayerChart:
    """Cross-entropy against the context size n at test time (log x, one tick per n) for the layers trained at one
    n: one colour per learner (the headline's), solid as trained (or at the constants fitted at the training n),
    dashed refitted at each n; error bars of one standard error, and a rule at the training n. Closed forms are
    drawn under the layers, wider, so that lines that coincide stay visible."""
    frame = context_size_frame(rows, d)
    ns = sorted(int(n) for n in frame["n"].unique())
    learners = [name for name in HEADLINE_COLORS if name in set(frame["learner"])]
    train_ns = sorted(int(n) for n in frame.loc[~frame["refitted"], "fit_n"].unique())
    fittings = [trained_at(n) for n in train_ns] + [REFITTED]
    x = alt.X("n:Q", title="context size n at test time (log scale)",
              scale=alt.Scale(type="log", domain=[ns[0] / 1.15, ns[-1] * 1.15], nice=False),
              axis=alt.Axis(values=ns, format="d", grid=False))
    y = alt.Y("loss:Q", title="cross-entropy (held-out; lower is better)", scale=alt.Scale(zero=False))
    color = alt.Color("learner:N", title="learner", sort=learners, scale=alt.Scale(
        domain=learners, range=[HEADLINE_COLORS[name] for name in learners]),
        legend=alt.Legend(orient="right", symbolType="stroke", symbolStrokeWidth=4, symbolSize=500))
    dash = alt.StrokeDash("fitting:N", title="constants", sort=fittings, scale=alt.Scale(
        domain=fittings, range=[[1, 0]] * len(train_ns) + [[7, 4]]),
        legend=alt.Legend(orient="right", symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=500,
                          symbolStrokeColor="#444444", labelLimit=260))
    tooltip = ["learner:N", "fitting:N", "n:Q", alt.Tooltip("loss:Q", format=".4f"),
               alt.Tooltip("loss_se:Q", format=".4f", title="standard error"),
               alt.Tooltip("accuracy:Q", format=".3f"), "constants:N"]
    marks = [alt.Chart(pd.DataFrame({"n": train_ns})).mark_rule(color="#999999", strokeDash=[2, 3]).encode(
        x=alt.X("n:Q"), tooltip=[alt.Tooltip("n:Q", title="trained at n")])]
    for name in sorted(learners, key=lambda k: -CONTEXT_SIZE_WIDTHS.get(k, 2.0)):
        part = alt.Chart(frame[frame["learner"] == name]).encode(x=x, color=color, detail="series:N")
        marks.append(part.mark_rule(strokeWidth=1.5).encode(y=alt.Y("lo:Q"), y2="hi:Q", tooltip=tooltip))
        marks.append(part.mark_line(strokeWidth=CONTEXT_SIZE_WIDTHS.get(name, 2.0)).encode(y=y, strokeDash=dash))
        marks.append(part.mark_circle(size=45, opacity=1).encode(y=y, tooltip=tooltip))  # apart from the lines, so
        # that the dash legend keeps stroked symbols (a filled overlay turns them transparent)
    title = alt.Title(f"d = {int(d)}: layers trained at n = {', '.join(map(str, train_ns))}, tested at other n",
                      subtitle="solid: weights or constants from the training n; dashed: the closed form refitted "
                               "at each n; bars: one standard error")
    return alt.layer(*marks, title=title).properties(width=width, height=height)
