"""Altair builders for the talk's diagrams: the model as a picture (the token matrix and what A and B touch) and
eq. 1's context-adaptive learning rate round the circle.

Pure functions from numbers to `alt.Chart`; no Streamlit or JAX.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from ui.context_charts import class_scale

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


