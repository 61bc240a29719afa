"""Weights: inside a run. A and B through training against the construction, the alignment and the
constants c_sigma, c_eta through training, and the check that eq. 1 at the read-off constants tracks the model."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine import extract
from engine.closed_form import NAMES
from engine.config import TrainConfig
from engine.runs import RunError
from ui import compare_charts, loaders, run_charts, run_index, run_panels, snapshot_player, weight_charts, widgets

HEADLINE = "pretrained/fast-softmax-d3"  # the paper's Fig. 7 and 8 setting opens first

widgets.setup_page("Weights", "What training writes into A = W_Q^T W_K and B = W_V^T W_O^T, and how the constants "
                   "of the closed form a layer represents (eq. 1 for softmax, eq. 3 for kernel attention) are read "
                   "off them.")

entries = run_index.entries()
if not entries:
    st.info("No runs yet in pretrained/ or runs/ (pretrained runs are being produced; train one on the Train page). "
            "Below: the construction's block pattern at fitted constants, which a trained layer comes to resemble.")
    task, _ = widgets.task_inputs(with_seed=False)
    if task is None:
        st.stop()
    config = TrainConfig(kind="softmax", d=task.d, C=task.C, n=task.n)
    snap = run_panels.construction_snapshot(config, loaders.fit("adaptive", task.d, task.C, task.n).refined)
    widgets.show_chart(weight_charts.matrix_heatmaps([snap], task.d, title="softmax construction (eq. 1)",
                                                  cell=run_panels.heat_cell(task.D)),
                       weight_charts.snapshot_frame([snap]), "construction_softmax")
    st.stop()

softmax_first = sorted(entries, key=lambda e: (not (e.config and e.config.kind == "softmax"),
                                              e.origin != "pretrained"))
entry = widgets.run_picker("Run", "run", softmax_first, default=HEADLINE, url=True)
try:
    key = loaders.run_key(entry.path)  # names the contents read next: the charts below are built once per key
    run = loaders.load_run(entry.path)
except RunError as e:
    widgets.run_unreadable(e)
    st.stop()
cfg, task = run.config, run.config.task
if run.status == "diverged":
    st.error(f"**This run diverged.** {run.message or 'its loss became NaN'} Its last good weights are shown; train "
             "again with a lower learning rate or clipping threshold.")
elif run.verdict:
    (st.success if run.converged else st.warning)(("Converged: " if run.converged else "Not converged: ") +
                                                  run.verdict.get("message", ""))
widgets.download_json(cfg.to_dict(), f"config_{entry.name}")


def cached(name: str, build):
    """A chart of this run, serialised once per run contents (`loaders.chart_spec`)."""
    return loaders.chart_spec(f"weights|{name}|{key}", build)


# ---------------------------------------------------------------- A and B through training, and the path
st.subheader("A and B through training, and the run's way across its landscape")
st.caption("Drag the snapshot slider under the chart, or press Play (it runs in your browser): the heatmaps (colours "
           "scaled to the largest entry at each step; dashed lines separate the x-block from the label block) and "
           "the ringed point on the landscape move together. Snapshots are dense early, where the structure forms.")
others = [e for e in entries if widgets.run_id(e) != widgets.run_id(entry)]
beside = widgets.run_picker("Beside it (optional)", "beside", others, url=True, optional=True)
if beside is None:
    run_panels.dynamics_panel(entry, room=300, key="w")
else:  # one control for both: the player moves the left run's slider, the right one follows it
    snapshot_player.player("w_play")
    for col, e, k in zip(st.columns(2), (entry, beside), ("w", "w2")):
        with col:
            run_panels.dynamics_panel(e, room=240, key=k, narrow=True, play=False)
    st.caption("Side by side the legends are left off: heatmaps red > 0 > blue, scaled to the largest entry; on the "
               "landscape brighter is lower loss, the red square and cross are the fitted optimum, white and orange "
               "dots the path's first positive step and its end, the ring the chosen snapshot.")
yard = run.history.get("yardsticks", {}).get(cfg.yardstick, {})
if yard.get("best"):
    snap = run_panels.construction_snapshot(cfg, yard["best"])
    consts = ", ".join(f"{k}={v:.3g}" for k, v in yard["best"].items())
    with st.expander(f"The construction at the fitted constants ({consts}), which training approaches"):
        widgets.show_chart(cached("construction", lambda: weight_charts.matrix_heatmaps(
            [snap], task.d, title=f"{NAMES[cfg.yardstick]} as a layer", cell=run_panels.heat_cell(task.D, 240),
            param_name="construction", show_step=False)), lambda: weight_charts.snapshot_frame([snap]),
            f"construction_{entry.name}")

# ---------------------------------------------------------------- alignment through training
for e, col in zip((entry, beside) if beside else (entry,), st.columns(2) if beside else (st.container(),)):
    try:  # the run beside it has not been read yet: it may be damaged
        history = loaders.read_history(e.path)
    except RunError:
        continue  # its dynamics panel above says what is wrong
    c = e.config
    if c is None:
        continue
    evals = history.get("evals", [])
    if not evals:
        continue
    with col:
        ys = history.get("yardsticks", {})
        label = NAMES[c.yardstick]
        other = next((NAMES[m] for m in ys if m != c.yardstick), "the other eq. 1")
        st.subheader(f"Loss and alignment: {e.name}" if beside else "Loss and alignment through training")
        narrow = dict(width=260, height=200) if beside else {}
        widgets.show_chart(loaders.chart_spec(f"loss|{loaders.run_key(e.path)}|{bool(beside)}", lambda: (
            run_charts.loss_curve(evals, ys.get(c.yardstick, {}).get("loss"), f"{label} optimum", log_step=True,
                                  **narrow))), lambda: pd.DataFrame(evals), f"history_{e.name}")
        widgets.chart_only(loaders.chart_spec(f"alignment|{loaders.run_key(e.path)}|{bool(beside)}", lambda: (
            run_charts.alignment_curves(evals, label, other, **(dict(width=160, height=140, columns=2) if beside
                                                                else {})))))

# ---------------------------------------------------------------- c_sigma and c_eta, several runs
softmax_runs = [e for e in entries if e.config and e.config.kind == "softmax"]
if softmax_runs:
    st.subheader("c_sigma and c_eta through training, across runs")
    run_panels.constants_across_runs(softmax_runs)

# ---------------------------------------------------------------- Fig. 8
if cfg.kind == "softmax":
    st.subheader("Reading the layer as eq. 1, and checking the reading")
    learner = loaders.run_learner(entry)
    paper = (task.d, task.C, task.n) == (3, 5, 100)  # the paper's Fig. 8 setting: its constants are checked too
    checks = (extract.PAPER_EXTRACTED, extract.PAPER_MOVED_OFF) if paper else ()
    with st.spinner("Comparing the layer with eq. 1 at and off the extracted constants ..."):
        reading = loaders.read_softmax(learner, task.d, task.C, task.n, 500, 0, checks)
    c1, c2, c3 = st.columns(3)
    c1.metric("c_sigma (extracted)", f"{reading.c_sigma:.4g}")
    c2.metric("c_eta (extracted)", f"{reading.c_eta:.4g}")
    c3.metric("algorithm", reading.strategy, help=f"margin {reading.margin:.3g}: selection attends to the nearest "
              "points and copies their labels; elimination attends to the furthest and subtracts theirs")
    widgets.show_chart(cached("fig8", lambda: compare_charts.extracted_check(list(reading.rows))),
                       pd.DataFrame(list(reading.rows)), f"extracted_check_{entry.name}")
    st.caption("Eq. 1 with the constants read off the weights should track the trained layer (small preds diff at "
               "factor 1) and do visibly worse when either constant is moved off (factors 1/4 to 4), on 500 fresh "
               "contexts.")
    if reading.pairs:
        own = {**next(r for r in reading.rows if r["factor"] == 1.0 and r["which"] == "c_sigma"),
               "which": "this run's extracted", "c_sigma": reading.c_sigma, "c_eta": reading.c_eta}
        pairs = [own] + [{**r, "which": w} for r, w in zip(reading.pairs, ("the paper's extracted (Fig. 8a)",
                                                                             "the paper's moved-off pair (Fig. 8b)"))]
        st.markdown("**The paper's Fig. 8, on this run.** Eq. 1 at the paper's extracted constants and at its "
                    "moved-off pair, next to this run's own reading:")
        st.dataframe(pd.DataFrame(pairs)[["which", "c_sigma", "c_eta", "preds_diff", "loss_model",
                                          "loss_closed_form"]], hide_index=True)

if cfg.kind == "kernel":
    st.subheader("Reading the layer as kernel GD (eq. 3), and checking the reading")
    learner = loaders.run_learner(entry)
    with st.spinner("Comparing the layer with eq. 3 at and off the constants read off it ..."):
        consts, rows = loaders.read_kernel(learner, task.d, task.C, task.n, 500, 0)
    fit_best = yard.get("best", {})
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("sigma^2 (read off)", f"{consts['sigma2']:.4g}", help="the kernel's width: the layer's RBF width 1 "
              "over the mean diagonal of A's x-block")
    c2.metric("eta (read off)", f"{consts['eta']:.4g}", help="n times B's label block (read as c_eta is) times "
              "the scale the key norms put on every kernel value")
    if fit_best:
        fitted_help = "the constant that minimises eq. 3's loss on 10,000 fit contexts"
        c3.metric("sigma^2 (eq. 3's fit)", f"{fit_best['sigma2']:.4g}", help=fitted_help)
        c4.metric("eta (eq. 3's fit)", f"{fit_best['eta']:.4g}", help=fitted_help)
    widgets.show_chart(cached("kernel_check", lambda: compare_charts.extracted_check(list(rows), closed_form="eq. 3")),
                       pd.DataFrame(list(rows)), f"extracted_check_{entry.name}")
    st.caption("Kernel attention represents kernel GD (eq. 3, Proposition 3.2): with |x| = 1 the kernel of W_Q q and "
               "W_K x is eq. 3's RBF kernel of width sigma^2 = 1 / A's x-diagonal, scaled by the key norms. Eq. 3 "
               "at the constants read off the weights should track the layer (small preds diff at factor 1) and do "
               "worse with either moved off (factors 1/4 to 4), on 500 fresh contexts.")

# ---------------------------------------------------------------- the shipped runs
with st.expander("The shipped runs in numbers (pretrained/)"):
    number = st.column_config.NumberColumn
    st.dataframe(run_panels.shipped_summary(), hide_index=True, column_config={
        "gap": number(format="percent"), "minutes": number(format="%.1f"),
        **{k: number(format="%.4g") for k in ("final eval loss", "optimum", "c_sigma", "c_eta")}})
    st.caption("Each run's last evaluation against the fitted optimum of the closed form it represents (gap: "
               "relative, converged: within 1% and flat, docs/science.md section 8). Made by `python -m engine train "
               "--preset NAME`; the same table is in pretrained/README.md (`python -m engine report pretrained`).")

# ---------------------------------------------------------------- the two softmax variants
twin = run_panels.other_variant(entry)
if twin is not None:
    st.subheader("The query among its keys, or not")
    table = run_panels.variants_table([entry, twin])
    for col in table.columns[table.isna().any()]:  # a missing value shows as a dash, not as None
        table[col] = ["\u2014" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else v for v in table[col]]
    st.dataframe(table, hide_index=True)
    st.caption("The same setting trained as the paper's layer (the query attends to the context only: it represents "
               "eq. 1) and with the query among its keys (it represents eq. 1 self-key). Each run records both "
               "yardsticks; losses are on the run's own evaluation contexts. \u2014: no value here; a closed form's "
               "fitted constants are listed once per run, under \"(its own)\" for the run that represents it and "
               "unmarked for the other, so each of those columns has one run's entry.")
