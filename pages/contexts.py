"""Contexts: one context on the circle / sphere, the query moved by hand, and what each model does with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import context_charts, geometry, loaders, widgets
from ui.specs import fill, hconcat

widgets.setup_page("Contexts", "One context: C hidden prototypes, n labelled points, a query. Move the query and "
                   "watch where each model looks (marker area = attention weight) and what it predicts.")

task, seed = widgets.task_inputs("ctx")
if task is None:
    st.stop()
st.sidebar.button("New context", help="draw the next seed", on_click=lambda: st.session_state.update(
    ctx_seed=int(st.session_state.get("ctx_seed", seed)) + 1))

arrays = loaders.contexts(task.d, task.C, task.n, seed, 1)
xs, ys, protos = arrays["xs"][0], arrays["ys"][0], arrays["protos"][0]
xq0 = arrays["xq"][0]
tag = f"{task.d}_{task.C}_{task.n}_{seed}"  # a new context starts from its own query
view_kind = geometry.view_for(task.d)  # "circle", "sphere" or "cosine"

# ---------------------------------------------------------------- the query
if view_kind == "circle":
    angle = st.slider("query angle (degrees)", 0, 359, geometry.angle_deg(xq0), key=f"q_angle_{tag}")
    xq = geometry.from_angle(angle)
elif view_kind == "sphere":
    lon0, lat0 = geometry.lonlat(xq0)
    c1, c2 = st.columns(2)
    lon = c1.slider("query longitude", -180, 180, int(round(float(lon0))), key=f"q_lon_{tag}")
    lat = c2.slider("query latitude", -90, 90, int(round(float(lat0))), key=f"q_lat_{tag}")
    xq = geometry.from_lonlat(lon, lat).astype(np.float32)
else:
    draws = st.session_state.setdefault(f"q_draws_{tag}", 0)
    if st.button("Resample the query", help="a uniform point on the sphere; its class is that of the nearest "
                 "prototype"):
        st.session_state[f"q_draws_{tag}"] = draws = draws + 1
    if draws == 0:
        xq = xq0
    else:
        v = np.random.default_rng([seed, draws]).normal(size=task.d)
        xq = (v / np.linalg.norm(v)).astype(np.float32)
yq = int(np.argmax(protos @ xq))

# ---------------------------------------------------------------- the models
with st.spinner("Fitting the closed forms and loading the models ..."):
    models, notes = widgets.standard_models(task)
for note in notes:
    st.info(note)
names = [m.short_name for m in models]
single = loaders.with_queries(arrays, xq[None])
results = {name: loaders.evaluate(m, single) for name, m in zip(names, models)}
probs = {name: r[0][0] for name, r in results.items()}
attn = {name: r[1][0] for name, r in results.items()}

shown = st.radio("Attention of", names, index=1, horizontal=True, key="ctx_model",
                 help="marker area is |attention weight| relative to the largest; crosses mark negative weights "
                      "(linear attention and GD can repel)")
grid = view_kind if view_kind != "cosine" else None
regions = {}
if grid:
    with st.spinner("Decision regions ..."):
        regions = {nm: loaders.decision_map(m, task.d, task.C, task.n, seed, grid) for nm, m in zip(names, models)}


def template(title: str, size: int, sized: bool, prefix: str = "", with_params: bool = True):
    """The chart's structure for this task's d (data by name); built once per key by `loaders.chart_spec`."""
    if view_kind == "circle":
        return context_charts.circle_template(task.C, title, size, ring=bool(regions), sized=sized, prefix=prefix)
    if view_kind == "sphere":
        return context_charts.sphere_template(task.C, title, size, cells=bool(regions), sized=sized,
                                              with_params=with_params, prefix=prefix)
    return context_charts.cosine_template(task.C, title, sized=sized, prefix=prefix)


def datasets(name: str, weights: np.ndarray | None, prefix: str = "") -> dict[str, pd.DataFrame]:
    """What `template` draws for the model `name`: the context, the query, its attention and regions."""
    if view_kind == "circle":
        return context_charts.circle_datasets(xs, ys, xq, yq, protos, weights, (geometry.circle_grid(), regions[name]),
                                              prefix)
    if view_kind == "sphere":
        g = geometry.sphere_grid()
        cells = {"lon": g["lon"], "lat": g["lat"], "class": regions[name], "step": g["step"]}
        return context_charts.sphere_datasets(xs, ys, xq, yq, protos, weights, cells, prefix)
    return context_charts.cosine_datasets(xs, ys, xq, yq, protos, weights, prefix)


view = context_charts.rotation_values(*geometry.lonlat(xq)) if view_kind == "sphere" else None  # spheres face the query
title = (f"{shown}: attention and decision regions" if grid else f"{shown}: attention (cosines to prototypes)")
main = loaders.chart_spec(f"ctx-main|{task.d}|{task.C}|{title}", lambda: template(title, 420, True))


points = pd.DataFrame({"point": np.arange(task.n), "class": ys + 1,
                       **{f"x{k + 1}": xs[:, k] for k in range(task.d)},
                       **{f"attention {nm}": attn[nm] for nm in names}})
left, right = st.columns([3, 2])
with left:
    widgets.show_chart(fill(main, datasets(shown, attn[shown]), view), points, "context_points")
with right:
    prob_rows = pd.DataFrame([{"model": nm, "class": j + 1, "p": float(p)} for nm in names
                              for j, p in enumerate(probs[nm])])
    widgets.show_chart(context_charts.prob_bars(probs, yq, width=330), prob_rows, "query_probabilities")
    summary = pd.DataFrame({
        "model": names, "predicts": [int(np.argmax(probs[nm])) + 1 for nm in names],
        "P(true class)": [float(probs[nm][yq]) for nm in names], "source": [m.note or m.label for m in models]})
    st.dataframe(summary, hide_index=True, width="stretch")
    st.caption(f"Query class (nearest prototype): **{yq + 1}**. Constants: " +
               "; ".join(f"{nm}: {', '.join(f'{k}={v:.3g}' for k, v in m.consts) or 'trained weights'}"
                         for nm, m in zip(names, models)))

if grid:
    st.subheader("Decision regions of every model")
    st.caption("The class each model predicts for a query anywhere on the " +
               ("circle (outer ring)." if view_kind == "circle" else
                "sphere (coloured cells; rotate with the sliders)."))
    def row_template():
        parts = [template(nm, 215, False, prefix=f"p{i}_", with_params=False) for i, nm in enumerate(names)]
        row = hconcat(parts) if view_kind == "circle" else context_charts.sphere_row(parts, 0.0, 0.0)
        return row.configure_legend(disable=True)

    row = loaders.chart_spec(f"ctx-row|{task.d}|{task.C}|{names}", row_template)
    row_data = {k: v for i, nm in enumerate(names) for k, v in datasets(nm, None, f"p{i}_").items()}
    region_rows = pd.DataFrame({"query": np.arange(len(regions[names[0]])),
                                **{nm: regions[nm] + 1 for nm in names}})
    widgets.show_chart(fill(row, row_data, view), region_rows, "decision_regions")
else:
    st.caption(f"For d = {task.d} the points are shown by their cosine to each prototype; decision regions are "
               "drawn for d = 2 and d = 3.")
