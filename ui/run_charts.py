"""Altair builders for a run's training curves: loss, alignment with its closed forms, and c_sigma / c_eta
through training (one run or several).

Pure functions from numbers (lists of history rows) to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

ALIGN_FIELDS = {"preds_diff": "preds diff", "cos_sim": "cos sim", "model_diff": "model diff"}


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
    has_other = any(f"{field}_other" in e for e in evals for field in ALIGN_FIELDS)
    domain = [yardstick_label, other_label] if has_other else [yardstick_label]  # no legend entry without its line
    for field, label in ALIGN_FIELDS.items():
        frame = _long(evals, [field, field + "_other"], {field: yardstick_label, field + "_other": other_label})
        panels.append(alt.Chart(frame, title=label).mark_line().encode(
            x=alt.X("step:Q"), y=alt.Y("value:Q", title=label, scale=alt.Scale(zero=field != "cos_sim")),
            color=alt.Color("metric:N", title="against", scale=alt.Scale(domain=domain,
                                                                          range=["#1f77b4", "#ff7f0e"][:len(domain)]),
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


def constants_panel_width(rows: Sequence[Mapping], room: int, widest: int) -> int:
    """The width of each of `constants_curves`' panels so that all fit `room` px: c_sigma and c_eta, and one more
    panel for each of them that some run ends negative in (about 80 px of axes beside each)."""
    last = {r["run"]: r for r in sorted(rows, key=lambda r: r["step"])}
    panels = 2 + sum(any((r.get(c) or 0) < 0 for r in last.values()) for c in ("c_sigma", "c_eta"))
    return min(widest, room // panels - 80)


def constants_curves(rows: Sequence[Mapping], width: int = 330, height: int = 240, legend: bool = True,
                     x_title: str = "step", legend_orient: str = "bottom", x_axis: str = "step",
                     references: Sequence[Mapping] = (), names: Sequence[str] = ("c_sigma", "c_eta"),
                     bands: Sequence[Mapping] = ()) -> alt.HConcatChart:
    """c_sigma and c_eta (or other constants a run records: `names`, e.g. kernel attention's sigma2, eta) through
    training, one line per run (rows carry `run`, `step`, `c_sigma`, `c_eta`, and
    for `x_axis="fraction"` `steps`, the run's length), each run's last value written at its line's end.

    `x_axis`: "step"; "log" (step 0 left out), where runs of 350 and 40,000 steps both show their
    descent; "fraction" of each run's training, where they line up end to end. The value axis is logarithmic
    (d = 2's hundreds and d = 10's ones read together) with labelled ticks near every value a run ends at
    (`log_ticks`), from a twentieth of the smallest of them: the start of training, near 0, is below the axis.
    Runs that end negative (elimination) get a panel of their own on |value|, so no sign is hidden.
    `references` (run, c_sigma, c_eta): each run's fitted constants of the closed form it represents, dashed in
    the run's colour. `bands` (run, step, `lo_<name>`, `hi_<name>`): a range around a run's line (its recipe over
    seeds, `engine.seeds.band`), shaded in the run's colour."""
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
    for name in names:
        frame = _long(rows, [name])
        frame["fraction"] = [s / (steps[r] or 1) for s, r in zip(frame["step"], frame["run"])]
        if x_axis == "log":
            frame = frame[frame["step"] > 0]
        last = frame.sort_values("step").groupby("run", sort=False).tail(1).set_index("run")["value"]
        refs = {r["run"]: float(r[name]) for r in references if r.get(name) is not None}
        spread = pd.DataFrame([{"run": r["run"], "step": r["step"], "lo": r[f"lo_{name}"], "hi": r[f"hi_{name}"]}
                               for r in bands], columns=["run", "step", "lo", "hi"])
        spread["fraction"] = [s / (steps.get(r) or 1) for s, r in zip(spread["step"], spread["run"])]
        if x_axis == "log":
            spread = spread[spread["step"] > 0]
        for sign in (1, -1):
            mine = [r for r in runs if r in last.index and np.sign(last[r]) == sign and last[r] != 0]
            if not mine and (sign == -1 or len(last)):
                continue
            part = frame[frame["run"].isin(mine)].assign(size=lambda f: sign * f["value"])
            shade = spread[spread["run"].isin(mine)].assign(b_lo=lambda f: np.minimum(sign * f["lo"], sign * f["hi"]),
                                                            b_hi=lambda f: np.maximum(sign * f["lo"], sign * f["hi"]))
            shade = shade[shade["b_lo"] > 0]  # a log axis: where a seed is still near 0 the band is left off
            ends = [abs(float(last[r])) for r in mine] + [sign * refs[r] for r in mine if sign * refs.get(r, 0) > 0]
            lo = min(ends) / 20 if ends else 0.01
            hi = max([*ends, *part["size"][part["size"] > 0], *shade["b_hi"]] or [1.0]) * 1.4
            title = name if sign == 1 else f"-{name} (runs ending negative)"
            scale = alt.Scale(type="log", domain=[lo, hi], nice=False)
            y = alt.Y("size:Q", title=title, scale=scale,
                      axis=alt.Axis(values=log_ticks(lo, hi, height), format="~g", labelOverlap=False))
            color = alt.Color("run:N", title="run", scale=colors,
                              legend=alt.Legend(labelLimit=320, orient=legend_orient, columns=1, symbolType="stroke",
                                                symbolOpacity=1, symbolStrokeWidth=2.5)  # not the band's faint fill
                              if legend and not panels else None)
            drawn = part[part["size"] > 0]
            # the line's own colour encoding: a layer with legend=None on the shared scale would take the merged
            # run legend away from the whole panel
            layers = [alt.Chart(shade).mark_area(opacity=0.2, clip=True).encode(
                x=x, y=alt.Y("b_lo:Q", title=title, scale=scale), y2="b_hi:Q", color=color)] if len(shade) else []
            layers += [alt.Chart(drawn).mark_line(clip=True).encode(
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
            heading = title if sign == 1 else [f"-{name}", "(runs ending negative)"]  # two lines: narrow panels
            panels.append(alt.layer(*layers, title=heading).properties(width=width, height=height))
    return alt.hconcat(*panels)
