"""Landscapes: the loss of each closed form over its whole parameter grid, not only its argmin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from engine.closed_form import METHODS, NAMES
from ui import landscape_charts, loaders, widgets

widgets.setup_page("Landscapes", "Mean cross-entropy of each closed form on a grid of its constants (100 log-spaced "
                   "values per axis, docs/science.md section 6), with the grid's optimum and the point refined from "
                   "it: the very fit every page and every run's yardstick uses.")

task, _ = widgets.task_inputs(d=3, with_seed=False)
if task is None:
    st.stop()
method = st.radio("Closed form", METHODS, index=METHODS.index("adaptive"), horizontal=True, format_func=NAMES.get,
                  key="land_method")

with st.spinner("Fitting on 10,000 contexts (once per setting; kept on disk) ..."):
    fit = loaders.fit(method, task.d, task.C, task.n)

names = list(fit.axes)
points = pd.DataFrame([{"point": "grid optimum", **fit.best, "loss": fit.loss},
                       {"point": "refined", **fit.refined, "loss": fit.refined_loss}])
st.dataframe(points, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.5g")
                                                    for k in [*names, "loss"]})

if len(names) == 1:
    (name,) = names
    chart = landscape_charts.landscape_line(fit.axes[name], fit.losses, name, fit.best[name], fit.refined[name])
    table = pd.DataFrame({name: fit.axes[name], "loss": fit.losses})
else:
    x_name, y_name = names
    chart = landscape_charts.landscape_heatmap(fit.axes[x_name], fit.axes[y_name], fit.losses, x_name, y_name,
                                               fit.best, fit.refined)
    i, j = np.indices(fit.losses.shape)
    table = pd.DataFrame({x_name: fit.axes[x_name][i.ravel()], y_name: fit.axes[y_name][j.ravel()],
                          "loss": fit.losses.ravel()})
widgets.show_chart(chart, table, f"landscape_{method}_d{task.d}")
if fit.on_edge:
    st.warning(f"The grid optimum lies on the edge of the grid in {', '.join(fit.on_edge)}: the true optimum may be "
               "outside it; the refined point is not bound by the grid.")
if fit.valley:
    v = fit.valley
    st.info(f"A flat valley: every c_sigma from {v['lo']:.2g} to {v['hi']:.2g} ({v['decades']:.1f} decades) comes "
            f"within 0.5% of the best loss with c_sigma * c_eta ~ {v['product']:.3g}. Only the product is pinned; the "
            "optimum is its small-c_sigma end, where eq. 1 becomes GD (eq. 2).")
st.caption(f"d={task.d}, C={task.C}, n={task.n}, fitted on {fit.N:,} fixed contexts. Colour is clamped to the better "
           "half of the grid so the valley stands out; hover for values.")
