"""Landscapes: the loss of each closed form over its whole parameter grid, not only its argmin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from engine.closed_form import METHODS, NAMES, represented_by
from ui import loaders, run_index, run_panels, weight_charts, widgets

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

# Runs whose layer's constants are this closed form's parameters: softmax runs of either variant on both eq. 1
# landscapes (c_sigma, c_eta), linear runs on GD's (eta); chosen first, those that represent it. The runs chosen are
# remembered across changes of the closed form (and of the task): the ones that apply to the new one stay chosen.
layer = {"adaptive": "softmax", "adaptive_self_key": "softmax", "gd": "linear"}.get(method)
runs = [e for e in run_index.entries() if e.config and e.config.kind == layer
        and (e.config.d, e.config.C, e.config.n) == (task.d, task.C, task.n)]
ids = [widgets.run_id(e) for e in runs]
remembered = st.session_state.get("land_paths", {}) if widgets.in_script() else {}  # per layer and task
slot = f"{layer}|{task}"
first = [widgets.run_id(e) for e in runs if e.origin == "pretrained"
         and represented_by(e.config.kind, e.query_in_keys) == method][:3]
chosen = widgets.run_picker("Paths of runs on it", f"land_runs|{slot}", runs, multi=True,
                            default=[i for i in remembered.get(slot, first) if i in ids]) if runs else []
if runs and widgets.in_script():
    st.session_state["land_paths"] = {**remembered, slot: [widgets.run_id(e) for e in chosen]}
path_rows = [{**p, "run": e.name} for e in chosen for p in loaders.run_path(e.path, task.d, task.C, task.n)]
chart = loaders.chart_spec(f"landscape|{method}|{task}|" + "|".join(loaders.run_key(e.path) for e in chosen),
                           lambda: weight_charts.landscape_with_path(fit, path_rows, size=440))
i = np.indices(fit.losses.shape)
table = pd.DataFrame({**{k: fit.axes[k][i[a].ravel()] for a, k in enumerate(names)}, "loss": fit.losses.ravel()})
widgets.show_chart(chart, table, f"landscape_{method}_d{task.d}")
if fit.on_edge:
    st.warning(f"The grid optimum lies on the edge of the grid in {', '.join(fit.on_edge)}: the true optimum may be "
               "outside it; the refined point is not bound by the grid.")
if fit.valley:
    v = fit.valley
    st.info(f"A flat valley: every c_sigma from {v['lo']:.2g} to {v['hi']:.2g} ({v['decades']:.1f} decades) comes "
            f"within 0.5% of the best loss with c_sigma * c_eta ~ {v['product']:.3g}. Only the product is pinned; the "
            "optimum is its small-c_sigma end, where eq. 1 becomes GD (eq. 2): the valley, whole, is below.")
st.caption(f"d={task.d}, C={task.C}, n={task.n}, fitted on {fit.N:,} fixed contexts. Colour is clamped to the better "
           "half of the grid so the valley stands out; hover for values.")
if chosen:
    others = [e.name for e in chosen if represented_by(e.config.kind, e.query_in_keys) != method]
    st.caption("Paths: each chosen run's constants at every stored snapshot, read off its A and B. " +
               (f"{', '.join(others)} represent{'s' if len(others) == 1 else ''} the other eq. 1 (its query is "
                "treated otherwise), drawn here by the same two constants. " if others else "") +
               run_panels.path_caption(method, fit, path_rows, intro=False))
elif not runs:
    st.caption("No run of this setting represents this closed form: train one on the Train page to see its path.")

# Eq. 1's valley followed past the grid to its end, GD, where `python -m engine valley` shipped it (d = 10).
valley = loaders.fit_valley(task.d, task.C, task.n) if method == "adaptive" else None
if valley is not None:
    st.subheader("The valley, whole: where eq. 1 becomes GD")
    chart = loaders.chart_spec(f"valley|{task}|" + "|".join(loaders.run_key(e.path) for e in chosen),
                               lambda: weight_charts.valley_with_path(valley, path_rows, size=400, stacked=True))
    floor = pd.DataFrame({"c_sigma": valley.c_sigma, "eta": valley.floor_eta, "c_eta": valley.floor_c_eta,
                          "loss": valley.floor_loss, "above GD": valley.excess})
    st.markdown(valley.summary())
    widgets.show_chart(chart, floor, f"valley_d{task.d}")
    st.caption("Top: eq. 1's loss in the valley's own coordinates, c_sigma and eta = c_sigma c_eta / sqrt(D) (the "
               "rate of GD that eq. 1 becomes as c_sigma -> 0 with eta held), the floor (the best eta at each c_sigma) "
               "in white, the fitting grid's outline dashed (its top edge c_eta = const is a diagonal here), and the "
               "runs' paths. Below: the floor's loss above GD's, on log axes. Computed in float64 on "
               f"{valley.N:,} fixed contexts by `python -m engine valley`.")
elif method == "adaptive" and fit.valley:
    st.caption("`python -m engine valley --setting "
               f"{task.d},{task.C},{task.n}` follows this valley past the grid to its GD end (about a minute).")
