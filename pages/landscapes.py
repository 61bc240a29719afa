"""Landscapes: the loss of each closed form over its whole parameter grid, not only its argmin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui import charts, loaders, widgets

widgets.setup_page("Landscapes", "Mean cross-entropy of each closed form on a grid of its constants (100 log-spaced "
                   "values per axis, SPEC 6), with the grid's optimum and the point refined from it.")

task, seed = widgets.task_inputs("land")
if task is None:
    st.stop()
N = st.sidebar.select_slider("Contexts N", [500, 1000, 2000, 5000, 10000], value=2000, key="land_N",
                             help="the paper fits on 10,000 contexts; fewer are faster and noisier")
methods = list(loaders.CLOSED_FORMS)
method = st.radio("Closed form", methods, index=methods.index("adaptive_self_key"), horizontal=True,
                  format_func=loaders.CLOSED_FORMS.get, key="land_method")

with st.spinner(f"Evaluating the grid on {N} contexts ..."):
    fit = loaders.fitted(method, task.d, task.C, task.n, N, seed)

names = list(fit.axes)
points = pd.DataFrame([{"point": "grid optimum", **fit.best, "loss": fit.loss},
                       {"point": "refined", **fit.refined, "loss": fit.refined_loss}])
st.dataframe(points, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.5g")
                                                    for k in [*names, "loss"]})

if len(names) == 1:
    (name,) = names
    chart = charts.landscape_line(fit.axes[name], fit.losses, name, fit.best[name], fit.refined[name])
    table = pd.DataFrame({name: fit.axes[name], "loss": fit.losses})
else:
    x_name, y_name = names
    chart = charts.landscape_heatmap(fit.axes[x_name], fit.axes[y_name], fit.losses, x_name, y_name, fit.best,
                                     fit.refined)
    i, j = np.indices(fit.losses.shape)
    table = pd.DataFrame({x_name: fit.axes[x_name][i.ravel()], y_name: fit.axes[y_name][j.ravel()],
                          "loss": fit.losses.ravel()})
widgets.show_chart(chart, table, f"landscape_{method}_d{task.d}")
finite = np.isfinite(fit.losses)
edge = [k for k, idx in zip(names, np.unravel_index(int(np.argmin(np.where(finite, fit.losses, np.inf))),
                                                     fit.losses.shape)) if idx in (0, len(fit.axes[k]) - 1)]
if edge:
    st.warning(f"The grid optimum lies on the edge of the grid in {', '.join(edge)}: the true optimum may be "
               "outside it; the refined point is not bound by the grid.")
st.caption(f"d={task.d}, C={task.C}, n={task.n}, N={N} contexts (seed {seed}). Colour is clamped to the better "
           "half of the grid so the valley stands out; hover for values.")
