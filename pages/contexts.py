"""Contexts: one context on the circle / sphere, the query moved by hand, and what each model does with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from engine import learners
from engine.tasks import with_queries
from ui import context_charts, geometry, loaders, query_charts, widgets
from ui.specs import fill, hconcat

widgets.setup_page("Contexts", "One context: C hidden prototypes, n labelled points, a query. Move the query and "
                   "watch where each model looks (marker area = attention weight) and what it predicts.")

task, seed = widgets.task_inputs()
if task is None:
    st.stop()
st.sidebar.button("New context", help="draw the next seed", on_click=lambda: st.session_state.update(
    seed=int(st.session_state.get("seed", seed)) + 1))

arrays = loaders.contexts(task.d, task.C, task.n, seed, 1)
xs, ys, protos = arrays["xs"][0], arrays["ys"][0], arrays["protos"][0]
xq0 = arrays["xq"][0]
view_kind = geometry.view_for(task.d)  # "circle", "sphere" or "cosine"

with st.spinner("Fitting the closed forms and loading the models ..."):
    models, notes = widgets.standard_models(task)
for note in notes:
    st.info(note)
names = tuple(m.short_name for m in models)
sources = "; ".join(f"**{nm}**: {m.note or 'closed form'} ("
                    + (", ".join(f"{k}={v:.3g}" for k, v in m.consts) or "trained weights") + ")"
                    for nm, m in zip(names, models))
points = pd.DataFrame({"point": np.arange(task.n), "class": ys + 1, **{f"x{k + 1}": xs[:, k] for k in range(task.d)}})

if view_kind in ("circle", "sphere"):
    # ------------------------------------------------------------ the query moves in the browser
    start = (geometry.angle_deg(xq0),) if view_kind == "circle" else tuple(geometry.lonlat(xq0))
    stacked = st.session_state.get("ctx_stacked", False)
    with st.spinner("Decision regions ..."):
        data = loaders.query_view_data(tuple(models), names, task.d, task.C, task.n, seed, names[:2])
    where = data["disagree"]  # linear and softmax predict different classes there
    spots = ([(geometry.arc_middle(a),) for a in geometry.arcs(where["angle"])] if view_kind == "circle" else
             [((r.lon0 + r.lon1) / 2, (r.lat0 + r.lat1) / 2) for r in where.itertuples()])
    share = len(where) / (360 if view_kind == "circle" else len(geometry.sphere_grid()["lon"]))
    tag = f"spot|{task.d}|{task.C}|{task.n}|{seed}"
    unit = "arcs" if view_kind == "circle" else "cells"
    if spots and st.button(f"Go to a disagreement of linear and softmax ({len(spots)} {unit} on this context)",
                           key="ctx_spot", help="moves the query to the middle of the next region (black) where "
                                                "the two layers predict different classes"):
        st.session_state[tag] = st.session_state.get(tag, -1) + 1
    if tag in st.session_state and spots:
        start = spots[st.session_state[tag] % len(spots)]
    spec = loaders.chart_spec(f"qview|{task.d}|{task.C}|{names}|{stacked}", lambda: query_charts.template(
        task.d, task.C, names, size=360, bar_width=300, start=start, shown=names[1], stacked=stacked))
    widgets.show_chart(query_charts.fill(spec, data, protos, start), points, "context_points")
    st.toggle("probabilities under the context (narrow screens)", key="ctx_stacked")
    st.caption(f"Linear and softmax attention predict different classes for {share:.0%} of the queries on this "
               + ("circle (black arcs)." if view_kind == "circle" else "sphere (cells outlined in black).")
               + " Move the query with the slider under the chart (arrow keys work once it has focus), and pick whose "
               "attention is drawn: all of it runs in your browser. Marker area: |attention weight| relative to the "
               "largest; crosses: negative weights (linear attention and GD can repel). Outer "
               + ("ring" if view_kind == "circle" else "cells") + ": the class the chosen model predicts for a query "
               "there. Black outline in the bars: the query's true class. " + sources)
    regions = {nm: loaders.decision_map(m, task.d, task.C, task.n, seed, view_kind) for nm, m in zip(names, models)}
    st.subheader("Decision regions of every model")

    def datasets(name: str, prefix: str) -> dict[str, pd.DataFrame]:
        yq = int(np.argmax(protos @ xq0))
        if view_kind == "circle":
            return context_charts.circle_datasets(xs, ys, xq0, yq, protos, None, (geometry.circle_grid(),
                                                                                  regions[name]), prefix)
        g = geometry.sphere_grid()
        cells = {"lon": g["lon"], "lat": g["lat"], "class": regions[name], "step": g["step"]}
        return context_charts.sphere_datasets(xs, ys, xq0, yq, protos, None, cells, prefix)

    def row_template():
        if view_kind == "circle":
            parts = [context_charts.circle_template(task.C, nm, 185, ring=True, sized=False, prefix=f"p{i}_")
                     for i, nm in enumerate(names)]
            return hconcat(parts).configure_legend(disable=True)
        parts = [context_charts.sphere_template(task.C, nm, 185, cells=True, sized=False, with_params=False,
                                                prefix=f"p{i}_") for i, nm in enumerate(names)]
        return context_charts.sphere_row(parts, 0.0, 0.0).configure_legend(disable=True)

    row = loaders.chart_spec(f"ctx-row|{task.d}|{task.C}|{names}", row_template)
    view = context_charts.rotation_values(*geometry.lonlat(xq0)) if view_kind == "sphere" else None
    row_data = {k: v for i, nm in enumerate(names) for k, v in datasets(nm, f"p{i}_").items()}
    region_rows = pd.DataFrame({"query": np.arange(len(regions[names[0]])), **{nm: regions[nm] + 1 for nm in names}})
    widgets.show_chart(fill(row, row_data, view), region_rows, "decision_regions")
    st.caption("The class each model predicts for a query anywhere on the " + (
        "circle (outer ring)." if view_kind == "circle" else "sphere (coloured cells; rotate with the sliders).") +
        " The diamond marks the context's own query.")
else:
    # ------------------------------------------------------------ d > 3: the query is resampled on the server
    tag = f"{task.d}_{task.C}_{task.n}_{seed}"
    draws = st.session_state.setdefault(f"q_draws_{tag}", 0)
    if st.button("Resample the query", help="a uniform point on the sphere; its class is that of the nearest "
                 "prototype"):
        st.session_state[f"q_draws_{tag}"] = draws = draws + 1
    v = np.random.default_rng([seed, draws]).normal(size=task.d)
    xq = xq0 if draws == 0 else (v / np.linalg.norm(v)).astype(np.float32)
    yq = int(np.argmax(protos @ xq))
    one = with_queries(xs, ys, protos, xq[None])  # one query: evaluated afresh, microseconds
    results = {nm: learners.probabilities(m, one) for nm, m in zip(names, models)}
    shown = st.radio("Attention of", names, index=1, horizontal=True, key="ctx_model")
    title = f"{shown}: attention (cosines to prototypes)"
    main = loaders.chart_spec(f"ctx-cos|{task.d}|{task.C}|{title}", lambda: context_charts.cosine_template(
        task.C, title, width=400))
    probs = {nm: r[0][0] for nm, r in results.items()}
    left, right = st.columns([3, 2])
    with left:
        widgets.show_chart(fill(main, context_charts.cosine_datasets(xs, ys, xq, yq, protos, results[shown][1][0])),
                           points.assign(**{f"attention {nm}": r[1][0] for nm, r in results.items()}),
                           "context_points")
    with right:
        widgets.chart_only(context_charts.prob_bars(probs, yq, width=170))
        st.dataframe(pd.DataFrame({"model": names, "predicts": [int(np.argmax(probs[nm])) + 1 for nm in names],
                                   "P(true class)": [float(probs[nm][yq]) for nm in names]}), hide_index=True)
    st.caption(f"For d = {task.d} each point is drawn by its cosine to every prototype; decision regions are drawn "
               f"for d = 2 and d = 3. Query class (nearest prototype): **{yq + 1}**. " + sources)
