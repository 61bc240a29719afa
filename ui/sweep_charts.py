"""Altair builders for the Strategies page: Fig. 11 (which algorithm seeds learn), the evidence that it is
decided early, Fig. 10 (c_sigma, c_eta through training per learning rate) and a sweep's c_sigma-c_eta scatter.

Pure functions, like `ui.run_charts`: tables in (the CSVs of `engine.figure_data`, a sweep's rows), plain frames or
`alt.Chart` out, so they are unit-tested through `.to_dict()` and know nothing of Streamlit or JAX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

STRATEGIES = ["selection", "elimination", "diverged", "on the plateau"]
STRATEGY_SCALE = alt.Scale(domain=STRATEGIES, range=["#1f77b4", "#d62728", "#999999", "#c7c7c7"])
SERIES = {"proportion": "all runs", "proportion_learned": "runs that learned"}
POPULATIONS = ("all runs", "runs that learned")


def fig11_chart(summary: pd.DataFrame, width: int = 200, height: int = 220) -> alt.HConcatChart:
    """Fig. 11: proportion of selection against C, d and n (one panel each), over all runs and over the runs
    that learned, each with its 95% Wilson interval as a bar (the two series side by side at each value); labels
    give learned/seeds, the circled point is the base shape, tooltips the counts."""
    tips = [alt.Tooltip("label:N", title="value"), "d:Q", "C:Q", "n:Q", alt.Tooltip("seeds:Q", title="seeds"),
            alt.Tooltip("selection:Q", title="selection (all)"), alt.Tooltip("learned:Q", title="learned"),
            alt.Tooltip("learned_selection:Q", title="selection (learned)"),
            alt.Tooltip("proportion:Q", format=".2f", title="proportion (all)"),
            alt.Tooltip("proportion_learned:Q", format=".2f", title="proportion (learned)")]
    color = alt.Color("series:N", title=None, scale=alt.Scale(domain=list(SERIES.values()),
                                                               range=["#1f77b4", "#ff7f0e"]),
                      legend=alt.Legend(orient="bottom"))  # under the panels: the row fits 880 px
    y = alt.Y("value_y:Q", title="proportion of selection", scale=alt.Scale(domain=[0, 1.08], nice=False),
              axis=alt.Axis(values=[0, 0.25, 0.5, 0.75, 1], format=".0%"))
    panels = []
    for vary in dict.fromkeys(summary["vary"]):
        part = summary[summary["vary"] == vary].sort_values("value")
        x = alt.X("label:N", sort=list(part["label"]), title=vary, axis=alt.Axis(labelAngle=0))
        long = part.melt(id_vars=[c for c in part.columns if c not in SERIES], value_vars=list(SERIES),
                         var_name="which", value_name="value_y")
        long["series"] = long["which"].map(SERIES)
        for edge in ("lo", "hi"):  # each series' own interval: proportion_lo or proportion_learned_lo, ...
            long[edge] = [r[f"{r['which']}_{edge}"] for r in long.to_dict("records")]
        base = alt.Chart(long).encode(x=x, y=y, color=color, tooltip=tips)
        lines = base.mark_line(point=alt.OverlayMarkDef(size=45, filled=True))
        bars = alt.Chart(long.dropna(subset=["lo"])).mark_rule(strokeWidth=1.5, opacity=0.6).encode(
            x=x, xOffset=alt.XOffset("series:N", scale=alt.Scale(domain=list(SERIES.values()), paddingOuter=1)),
            y=alt.Y("lo:Q"), y2="hi:Q", color=color,
            tooltip=[*tips, alt.Tooltip("lo:Q", format=".2f", title="95% interval from"),
                     alt.Tooltip("hi:Q", format=".2f", title="to")])
        allruns = alt.Chart(part.assign(value_y=part["proportion"])).encode(x=x, y=y)
        text = allruns.mark_text(dy=-11, fontSize=10, color="#444444").encode(text="learned_text:N", tooltip=tips)
        ring = allruns.transform_filter(alt.datum.base).mark_point(size=260, color="#111111", strokeWidth=1.5)
        panels.append(alt.layer(bars, lines, text, ring, title=f"varying {vary}").properties(width=width,
                                                                                              height=height))
    return alt.hconcat(*panels).resolve_scale(y="shared")


INIT_LABELS = {"normal": "N(0, 0.002^2) (the project's)",
               "variance_scaling": "VarianceScaling(0.002) (von Oswald et al.)"}


def init_chart(summary: pd.DataFrame, width: int = 200, height: int = 220) -> alt.HConcatChart:
    """Fig. 11's proportion of selection under both readings of the paper's 0.002 initialisation (`summary`:
    `fig11_summary` rows with an `init` column), over all runs and over the runs that learned: a point per (C,
    init) with its 95% Wilson interval, the two readings side by side at each C."""
    frame = summary.assign(reading=summary["init"].map(lambda i: INIT_LABELS.get(i, i)))
    readings = [INIT_LABELS.get(i, i) for i in dict.fromkeys(summary["init"])]
    color = alt.Color("reading:N", title="initial weights", sort=readings,
                      scale=alt.Scale(domain=readings, range=["#2ca02c", "#9467bd"][:len(readings)]),
                      legend=alt.Legend(orient="bottom", labelLimit=0, columns=1))
    panels = []
    for which, title in SERIES.items():
        part = frame.assign(p=frame[which], lo=frame[f"{which}_lo"], hi=frame[f"{which}_hi"]).dropna(subset=["p"])
        x = alt.X("label:N", title="C", sort=list(dict.fromkeys(part.sort_values("value")["label"])),
                  axis=alt.Axis(labelAngle=0))
        offset = alt.XOffset("reading:N", sort=readings)
        tips = ["reading:N", "C:Q", "seeds:Q", "selection:Q", "learned:Q", alt.Tooltip("p:Q", format=".2f",
                title="proportion"), alt.Tooltip("lo:Q", format=".2f", title="95% interval from"),
                alt.Tooltip("hi:Q", format=".2f", title="to")]
        base = alt.Chart(part).encode(x=x, xOffset=offset, color=color, tooltip=tips)
        y = alt.Y("p:Q", title=f"proportion of selection ({title})", scale=alt.Scale(domain=[0, 1], nice=False),
                  axis=alt.Axis(format=".0%"))
        panels.append(alt.layer(base.mark_rule(strokeWidth=2).encode(y=alt.Y("lo:Q"), y2="hi:Q"),
                                base.mark_point(filled=True, size=70).encode(y=y),
                                title=title).properties(width=width, height=height))
    return alt.hconcat(*panels)


def evidence_agreement(evidence: pd.DataFrame, per_shape: bool) -> pd.DataFrame:
    """Fraction of runs whose strategy at each evaluation already equals their final one, over all runs and
    over the runs that learned; pooled over shapes or one curve per shape. The x is the fraction of
    training done (`progress`: step over the run's last step), since shapes train for different lengths."""
    run = ["d", "C", "n", "seed"]
    last = evidence.groupby(run)["step"].transform("max").clip(lower=1)
    ev = evidence.assign(shape=[f"d={d} C={c} n={n}" for d, c, n in zip(evidence["d"], evidence["C"], evidence["n"])]
                         if per_shape else "all shapes", agrees=evidence["agrees"].astype(float),
                         progress=(evidence["step"] / last).round(3))
    parts = []
    for population, sub in zip(POPULATIONS, (ev, ev[ev["learned"].astype(bool)])):
        if sub.empty:
            continue
        g = sub.groupby(["shape", "progress"], sort=True)["agrees"].agg(["mean", "size"]).reset_index()
        parts.append(g.rename(columns={"mean": "fraction", "size": "runs"}).assign(population=population))
    cols = ["shape", "progress", "population", "fraction", "runs"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def agreement_chart(agreement: pd.DataFrame, width: int = 520, height: int = 240) -> alt.LayerChart:
    """The evidence that the strategy is decided early: agreement with the final strategy against the
    fraction of training done. Lines carry the population legend (dashes), points the tooltips."""
    shapes = list(dict.fromkeys(agreement["shape"]))
    base = alt.Chart(agreement).encode(
        x=alt.X("progress:Q", title="fraction of training done", axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("fraction:Q", title="fraction of runs", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%")),
        color=alt.Color("shape:N", title="shape", sort=shapes,
                        scale=alt.Scale(scheme="category10" if len(shapes) <= 10 else "tableau20")))
    lines = base.mark_line().encode(
        strokeDash=alt.StrokeDash("population:N", title=None, sort=list(POPULATIONS),
                                  legend=alt.Legend(symbolType="stroke", symbolStrokeColor="#444444")))
    points = base.mark_point(size=25, filled=True).encode(
        detail="population:N",
        tooltip=["shape:N", "population:N", alt.Tooltip("progress:Q", format=".0%", title="training done"),
                 alt.Tooltip("fraction:Q", format=".0%"), "runs:Q"])
    return alt.layer(lines, points, title="strategy at each evaluation = final strategy").properties(
        width=width, height=height)


def _fig10_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """fig10.csv with a `run` label: the paper's recipe by the paper's rate it stands for and the rate it ran at."""
    return rows.assign(run=[f"paper's lr {plr:g} (run at {lr:g})" if r.startswith("paper") and np.isfinite(plr)
                            else f"{r} lr={lr:g}" for r, lr, plr in zip(rows["recipe"], rows["lr"], rows["paper_lr"])])


def fig10_paths(rows: pd.DataFrame) -> list[dict]:
    """fig10.csv as runs' paths (run, idx, step, c_sigma, c_eta), for `weight_charts.landscape_with_path`."""
    out = []
    for run, part in _fig10_runs(rows).sort_values("step").groupby("run", sort=False):
        out += [{"run": run, "idx": i, "step": int(r.step), "c_sigma": float(r.c_sigma), "c_eta": float(r.c_eta)}
                for i, r in enumerate(part.itertuples())]
    return out


def fig10_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """fig10.csv in long form (run, recipe, lr, step, quantity, value, recipe_steps), one run per (recipe, lr),
    the paper's recipe named by the paper's rate it stands for and the rate it ran at: the paper's rates in
    ascending order first, then the other recipes."""
    runs = _fig10_runs(rows)
    long = runs.melt(id_vars=["run", "recipe", "lr", "step", "recipe_steps"], value_vars=["c_sigma", "c_eta",
                     "eval_loss"], var_name="quantity", value_name="value")
    long["paper"] = long["recipe"].str.startswith("paper")
    return long.sort_values(["paper", "lr", "step"], ascending=[False, True, True]).drop(columns="paper")


def fig10_chart(curves: pd.DataFrame, log_step: bool = True, width: int = 200,
                height: int = 220) -> alt.HConcatChart:
    """Fig. 10: c_sigma, c_eta (log axes: only positive values are drawn) and eval loss against step, one
    line per (recipe, lr). A symlog step axis shows a few hundred steps next to thousands; its ticks are
    put at the powers of ten (Vega's own symlog ticks are only the ends)."""
    order = list(dict.fromkeys(curves["run"]))
    paper = [r for r in order if r.startswith("paper")]
    palette = ["#9ecae1", "#4292c6", "#2171b5", "#08306b", "#6baed6", "#c6dbef"]
    others = ["#d62728", "#2ca02c", "#9467bd", "#8c564b"]
    colors = [palette[i % len(palette)] for i in range(len(paper))] + \
             [others[i % len(others)] for i in range(len(order) - len(paper))]
    top = float(curves["step"].max()) if len(curves) else 1.0
    ticks = [0] + [10**k for k in range(1, int(math.log10(max(top, 10))) + 1)]
    x = alt.X("step:Q", title="step" + (" (symlog)" if log_step else ""),
              scale=alt.Scale(type="symlog") if log_step else alt.Scale(),
              axis=alt.Axis(values=ticks, labelExpr="format(datum.value, ',')") if log_step else alt.Axis(format=","))
    panels = []
    for quantity, log in (("c_sigma", True), ("c_eta", True), ("eval_loss", False)):
        part = curves[(curves["quantity"] == quantity) & np.isfinite(curves["value"])]
        if log:
            part = part[part["value"] > 0]
        panels.append(alt.Chart(part, title=quantity + (" (log; positive values)" if log else "")).mark_line().encode(
            x=x, y=alt.Y("value:Q", title=quantity, scale=alt.Scale(type="log") if log else alt.Scale(zero=False)),
            color=alt.Color("run:N", title="recipe, learning rate", sort=order,
                            scale=alt.Scale(domain=order, range=colors),
                            legend=alt.Legend(orient="bottom", columns=2, labelLimit=260)),
            strokeDash=alt.StrokeDash("recipe:N", title="recipe",
                                      legend=alt.Legend(orient="bottom", symbolType="stroke",
                                                        symbolStrokeColor="#444444")),
            tooltip=["run:N", "step:Q", alt.Tooltip("value:Q", format=".4g", title=quantity),
                     alt.Tooltip("recipe_steps:Q", format=",", title="recipe's steps")],
        ).properties(width=width, height=height))
    return alt.hconcat(*panels)


def strategy_scatter(runs: pd.DataFrame | Sequence[Mapping], size: int = 270) -> alt.LayerChart:
    """c_sigma against c_eta of a sweep's runs, coloured by strategy: selection lies in the positive quadrant,
    elimination in the negative one. Symlog axes keep both signs and several decades readable."""
    frame = pd.DataFrame(runs)
    pts = alt.Chart(frame).mark_point(size=90, filled=True, opacity=0.85).encode(
        x=alt.X("c_sigma:Q", scale=alt.Scale(type="symlog")), y=alt.Y("c_eta:Q", scale=alt.Scale(type="symlog")),
        color=alt.Color("strategy:N", scale=STRATEGY_SCALE, title="strategy", legend=alt.Legend(orient="bottom")),
        tooltip=["seed:Q", "strategy:N", alt.Tooltip("c_sigma:Q", format=".4g"), alt.Tooltip("c_eta:Q", format=".4g"),
                 alt.Tooltip("eval_loss:Q", format=".4f", title="final eval loss")])
    axes = [alt.Chart().mark_rule(color="#bbbbbb").encode(x=alt.datum(0)),
            alt.Chart().mark_rule(color="#bbbbbb").encode(y=alt.datum(0))]
    return alt.layer(*axes, pts, title="c_sigma and c_eta of each seed").properties(width=size, height=size)
