"""Compare: a model against a closed form, context by context and by its sensitivities to the query."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from engine.runs import RunError
from ui import charts, loaders, widgets

widgets.setup_page("Compare", "A trained layer (or a construction) against a closed form with fitted constants: "
                   "each dot is one context, the model on x and the closed form on y.")

SIZES = [100, 200, 500, 1000, 2000, 5000]
CONSTRUCTIONS = {"softmax SA, query among keys": ("softmax", True), "softmax SA, query not among keys":
                 ("softmax", False), "linear SA": ("linear", True), "kernel SA": ("kernel", True)}

side = st.sidebar
side.markdown("**Model**")
entries = [e for e in loaders.run_entries() if e.config is not None or e.error]
source = side.radio("Model from", ["a trained run", "a construction"], index=0 if entries else 1, key="cmp_source",
                    help="constructions are the weights that compute a closed form exactly (SPEC 4)")
spec, task, config = None, None, None
if source == "a trained run":
    entry = widgets.run_picker("Run", "cmp_run", entries, container=side) if entries else None
    if entry is None:
        st.info("No runs yet in pretrained/ or runs/: choose a construction, or train one on the Train page.")
        st.stop()
    try:
        spec = loaders.run_spec(entry)
        run = loaders.load_run(entry.path)
    except RunError as e:
        st.error(f"**This run cannot be read.** {e}. Choose another run, or delete the folder and train it again.")
        st.stop()
    if run.status == "diverged":
        st.error(f"**This run diverged.** {run.message or 'its loss became NaN'}. The last good weights are "
                 "compared below; train again with a lower learning rate.")
    config = run.config
    task = config.task
else:
    which = side.selectbox("Construction", list(CONSTRUCTIONS), key="cmp_con")
    task, _ = widgets.task_inputs("cmp", with_seed=False)
    if task is None:
        st.stop()

side.markdown("**Closed form**")
if config is not None:
    default = config.yardstick
else:
    kind, qik = CONSTRUCTIONS[which]
    default = {"linear": "gd", "kernel": "kernel_gd"}.get(kind, "adaptive_self_key" if qik else "adaptive")
methods = list(loaders.CLOSED_FORMS)
method = side.selectbox("Against", methods, index=methods.index(default), key="cmp_method",
                        format_func=loaders.CLOSED_FORMS.get)
N = side.select_slider("Contexts N", SIZES, value=500, key="cmp_N")
seed = int(side.number_input("seed", 0, 10**6, 0, key="cmp_seed"))

with st.spinner("Fitting the closed form ..."):
    if spec is None:
        kind, qik = CONSTRUCTIONS[which]
        spec = loaders.construction_spec(kind, task, query_in_keys=qik)
    ref = loaders.fitted_closed_form(method, task)
st.markdown(f"**{spec.label}** vs **{ref.label}** on {N} fresh contexts of d={task.d}, C={task.C}, n={task.n}. "
            f"{spec.note}; closed form {ref.note}.")

with st.spinner(f"Evaluating both on {N} contexts ..."):
    m = loaders.per_context(spec.key, spec, task.d, task.C, task.n, N, seed)
    r = loaders.per_context(ref.key, ref, task.d, task.C, task.n, N, seed)
    al = loaders.alignment(spec.key, spec, ref.key, ref, task.d, task.C, task.n, N, seed)

cols = st.columns(5)
cols[0].metric("preds diff", f"{al['preds_diff']:.4f}", help="mean |y_hat model - y_hat closed form|_2")
cols[1].metric("cos sim", f"{al['cos_sim']:.4f}", help="mean cosine of the sensitivities d y_hat / d x_q")
cols[2].metric("model diff", f"{al['model_diff']:.4f}", help="mean |s model - s closed form|_2 of sensitivities")
cols[3].metric("loss: model", f"{m['loss'].mean():.4f}", help=f"accuracy {m['correct'].mean():.3f}")
cols[4].metric("loss: closed form", f"{r['loss'].mean():.4f}", delta=f"{r['loss'].mean() - m['loss'].mean():+.4f}",
               delta_color="off", help=f"accuracy {r['correct'].mean():.3f}; delta = closed form - model")

panels = [("loss", "cross-entropy", None), ("p_correct", "P(correct class)", (0.0, 1.0)),
          ("entropy", "entropy of y_hat", (0.0, math.log(task.C) * 1.02))]
short = widgets.short_name(spec)
chart = alt.hconcat(*[charts.identity_scatter(m[k], r[k], f"{short}: {label}", f"{loaders.CLOSED_FORMS[method]}: "
                                              f"{label}", title=label, domain=dom, size=265)
                      for k, label, dom in panels])
table = pd.DataFrame({"context": np.arange(N), **{f"{k}_model": m[k] for k, _, _ in panels},
                      **{f"{k}_closed_form": r[k] for k, _, _ in panels}})
widgets.show_chart(chart, table, "compare_per_context")
st.caption("Dashed: y = x (the closed form predicts exactly as the model). Red cross: the means. Points above "
           "the line in the loss panel are contexts where the closed form does worse than the model.")
if config is not None:
    widgets.download_json(config.to_dict(), f"config_{entry.name}")
