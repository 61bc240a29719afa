"""Compare: a model against a closed form, context by context and by its sensitivities to the query."""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from engine.closed_form import METHODS, NAMES, represented_by
from engine.runs import RunError
from ui import compare_charts, compare_panels, loaders, run_index, widgets

widgets.setup_page("Compare", "A trained layer (or a construction) against a closed form with fitted constants: "
                   "each dot is one context, the model on x and the closed form on y.")

SIZES = [100, 200, 500, 1000, 2000, 5000]
CONSTRUCTIONS = {"softmax SA": ("softmax", False), "softmax SA, query among keys": ("softmax", True),
                 "linear SA": ("linear", False), "kernel SA": ("kernel", False)}

side = st.sidebar
side.markdown("**Model**")
entries = run_index.entries()
# Every control below is bound to the URL under its key (`?source=a+construction&construction=linear+SA&against=...
# &N=1000&seed=3`, and the task's d, C, n for a construction). A bound widget leaves its own default (its first
# option) out of the URL, so each list starts with the page's default.
SOURCES = ["a trained run", "a construction"] if entries else ["a construction", "a trained run"]
live = widgets.in_script()  # not the server's warm-up, which runs the default view outside any session


def from_url(key: str, default, valid) -> None:
    if live:
        widgets.from_url(key, default, valid)


from_url("source", SOURCES[0], lambda raw: raw if raw in SOURCES else None)
source = side.radio("Model from", SOURCES, key="source", bind="query-params",
                    help="constructions are the weights that compute a closed form exactly (docs/science.md, 4)")
learner, task, config, entry, run = None, None, None, None, None
if source == "a trained run":
    entry = widgets.run_picker("Run", "run", entries, default="pretrained/fast-softmax-d3", container=side,
                               url=True) if entries else None
    if entry is None:
        st.info("No runs yet in pretrained/ or runs/: choose a construction, or train one on the Train page.")
        st.stop()
    try:
        learner = loaders.run_learner(entry)
        run = loaders.load_run(entry.path)
    except RunError as e:
        widgets.run_unreadable(e)
        st.stop()
    if run.status == "diverged":
        st.error(f"**This run diverged.** {run.message or 'its loss became NaN'}. The last good weights are "
                 "compared below; train again with a lower learning rate.")
    config = run.config
    task = config.task
    default, model_id = config.yardstick, widgets.run_id(entry)
else:
    from_url("construction", next(iter(CONSTRUCTIONS)), lambda raw: raw if raw in CONSTRUCTIONS else None)
    which = side.selectbox("Construction", list(CONSTRUCTIONS), key="construction", bind="query-params")
    task, _ = widgets.task_inputs(with_seed=False)
    if task is None:
        st.stop()
    default, model_id = represented_by(*CONSTRUCTIONS[which]), which

side.markdown("**Closed form**")
# The closed form the model represents comes first (the default); choosing another model starts again from its own.
against = [default, *(m for m in METHODS if m != default)]
if live and st.session_state.get("_against_of", model_id) != model_id:
    st.session_state["against"] = default
else:
    from_url("against", default, lambda raw: next((m for m in METHODS if raw in (m, NAMES[m])), None))
if live:
    st.session_state["_against_of"] = model_id
method = side.selectbox("Against", against, key="against", format_func=NAMES.get, bind="query-params")
N = side.select_slider("Contexts N", SIZES, value=500, key="N", bind="query-params")
from_url("seed", 0, widgets.int_in(0, 10**6))
seed = int(side.number_input("seed", 0, 10**6, key="seed", bind="query-params",
                             help="which N contexts are drawn"))

with st.spinner("Fitting the closed form ..."):
    if learner is None:
        kind, query_in_keys = CONSTRUCTIONS[which]
        learner = loaders.construction(kind, task, query_in_keys)
    ref = loaders.fitted_closed_form(method, task)
st.markdown(f"**{learner.label}** vs **{ref.label}** on {N} fresh contexts of d={task.d}, C={task.C}, n={task.n}. "
            f"{learner.note}; closed form {ref.note}.")
fit = loaders.fit(method, task.d, task.C, task.n)
if learner.kind == "kernel" and not learner.is_closed_form and entry is not None:
    read, _ = loaders.read_kernel(learner, task.d, task.C, task.n, 500, 0)
    own = loaders.fit("kernel_gd", task.d, task.C, task.n).refined
    st.caption(f"Read off this kernel layer's weights as eq. 3: sigma^2 = {read['sigma2']:.4g}, eta = "
               f"{read['eta']:.4g} (eq. 3's fit: sigma^2 = {own['sigma2']:.4g}, eta = {own['eta']:.4g}; the Weights "
               "page checks the reading).")
if fit.on_edge or fit.valley:
    st.caption(f"{fit.name}: {fit.constants_text()}")
if method != learner.represents:
    st.warning(f"This model represents **{NAMES[learner.represents]}**, not {NAMES[method]}: differences below are "
               "partly the closed forms' own.")

with st.spinner(f"Evaluating both on {N} contexts ..."):
    m = loaders.per_context(learner, task.d, task.C, task.n, N, seed)
    r = loaders.per_context(ref, task.d, task.C, task.n, N, seed)
    al = loaders.alignment(learner, ref, task.d, task.C, task.n, N, seed)

unconverged = run is not None and bool(run.verdict.get("yardstick_loss")) and not run.converged and \
    run.status != "diverged"
if unconverged:
    # as the Weights page judges a run: its verdict (within 1% of the optimum of the closed form it represents, and
    # flat); a run short of it is no instance of that closed form yet, whatever the table below calls it
    v, yard = run.verdict, NAMES[config.yardstick]
    here = (f" On these {N} contexts its predictions differ from {yard}'s by {al['preds_diff']:.3f} (preds diff)."
            if method == config.yardstick else "")
    st.warning(f"**This run has not converged to {yard}**, the closed form its layer can represent: its final eval "
               f"loss {v['final_eval_loss']:.4f} is {100 * v['gap']:+.0f}% from that closed form's optimum "
               f"{v['yardstick_loss']:.4f} (converged means within 1% and flat, docs/science.md section 8).{here} "
               f"The differences below are mostly the training's, not the closed forms'.")

cols = st.columns(5)
cols[0].metric("preds diff", f"{al['preds_diff']:.4f}", help="mean |y_hat model - y_hat closed form|_2")
cols[1].metric("cos sim", f"{al['cos_sim']:.4f}", help="mean cosine of the sensitivities d y_hat / d x_q")
cols[2].metric("model diff", f"{al['model_diff']:.4f}", help="mean |s model - s closed form|_2 of sensitivities")
cols[3].metric("loss: model", f"{m['loss'].mean():.4f}", help=f"accuracy {m['correct'].mean():.3f}")
cols[4].metric("loss: closed form", f"{r['loss'].mean():.4f}", delta=f"{r['loss'].mean() - m['loss'].mean():+.4f}",
               delta_color="off", help=f"accuracy {r['correct'].mean():.3f}; delta = closed form - model")

panels = [("loss", "cross-entropy", None), ("p_correct", "P(correct class)", (0.0, 1.0)),
          ("entropy", "entropy of y_hat", (0.0, math.log(task.C) * 1.02))]
chart = alt.hconcat(*[compare_charts.identity_scatter(m[k], r[k], f"{learner.short_name}: {label}",
                                                  f"{NAMES[method]}: {label}", title=label, domain=dom, size=190)
                      for k, label, dom in panels])
table = pd.DataFrame({"context": np.arange(N), **{f"{k}_model": m[k] for k, _, _ in panels},
                      **{f"{k}_closed_form": r[k] for k, _, _ in panels}})
widgets.show_chart(chart, table, "compare_per_context")
st.caption("Dashed: y = x (the closed form predicts exactly as the model). Red cross: the means. Points above "
           "the line in the loss panel are contexts where the closed form does worse than the model.")

st.subheader("Yardsticks on these contexts")
with st.spinner(f"Classic learners on the {N} contexts ..."):
    yard = loaders.baseline_rows(task.d, task.C, task.n, N, seed)
st.dataframe(pd.DataFrame([
    {"learner": learner.label, "kind": "model", "loss": float(m["loss"].mean()), "accuracy": float(m["correct"].mean()),
     "constants": ""},
    {"learner": NAMES[method], "kind": "closed form", "loss": float(r["loss"].mean()),
     "accuracy": float(r["correct"].mean()), "constants": fit.constants_text()}, *yard]), hide_index=True,
    column_config={"loss": st.column_config.NumberColumn("cross-entropy", format="%.4f"),
                   "accuracy": st.column_config.NumberColumn(format="%.3f")})
st.caption("The same contexts for every row. The oracle knows the prototypes, so it is always right (cross-entropy "
           "0): the floor, not a competitor. The others see only the context, with constants fitted on other "
           "contexts: k-NN's smoothed vote, 2 to 5 steps of GD (eq. 2's update) from zero weights, and logistic "
           "regression (linear in x, no bias, L2 penalty) solved on each context by Newton's method.")

if learner.kind == "softmax":
    st.subheader("The two variants of eq. 1")
    rows = []
    for variant in ("adaptive", "adaptive_self_key"):
        other = loaders.fitted_closed_form(variant, task)
        f = loaders.fit(variant, task.d, task.C, task.n)
        a = loaders.alignment(learner, other, task.d, task.C, task.n, N, seed)
        rows.append({"closed form": NAMES[variant], "represented by this layer": variant == learner.represents,
                     "constants": f.constants_text(), "closed-form loss": float(loaders.per_context(
                         other, task.d, task.C, task.n, N, seed)["loss"].mean()), **a})
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if unconverged:
        st.caption("Represented by this layer: the closed form its layer can compute exactly, which this run, not "
                   "converged, does not compute yet (see the warning above).")
    st.caption("A softmax layer whose query is not among its keys represents eq. 1 exactly; with the query among "
               "its keys, the query's own score joins the softmax's denominator and it represents eq. 1 self-key "
               "(docs/science.md, sections 2-4).")
if config is not None:
    widgets.download_json(config.to_dict(), f"config_{entry.name}")

compare_panels.context_size_panel(task.d)
