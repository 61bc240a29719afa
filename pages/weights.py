"""Weights: inside a run. A and B through training against the construction, the alignment and the
constants c_sigma, c_eta through training, and the check that eq. 1 at the read-off constants tracks the model."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from engine import extract
from engine.closed_form import NAMES
from engine.config import TrainConfig
from engine.runs import RunError
from ui import loaders, run_charts, run_index, run_panels, widgets
from ui.specs import fill

HEADLINE = "pretrained/fast-softmax-d3"  # the paper's Fig. 7 and 8 setting opens first

widgets.setup_page("Weights", "What training writes into A = W_Q^T W_K and B = W_V^T W_O^T, and how the constants "
                   "of eq. 1 are read off them.")

def heat_cell(D: int) -> int:
    return max(12, min(30, 300 // D))


entries = run_index.entries()
if not entries:
    st.info("No runs yet in pretrained/ or runs/ (pretrained runs are being produced; train one on the Train page). "
            "Below: the construction's block pattern at fitted constants, which a trained layer comes to resemble.")
    task, _ = widgets.task_inputs(with_seed=False)
    if task is None:
        st.stop()
    config = TrainConfig(kind="softmax", d=task.d, C=task.C, n=task.n)
    snap = run_panels.construction_snapshot(config, loaders.fit("adaptive", task.d, task.C, task.n).refined)
    widgets.show_chart(run_charts.matrix_heatmaps([snap], task.d, title="softmax construction (eq. 1)",
                                                  cell=heat_cell(task.D)),
                       run_charts.snapshot_frame([snap]), "construction_softmax")
    st.stop()

softmax_first = sorted(entries, key=lambda e: (not (e.config and e.config["kind"] == "softmax"),
                                              e.origin != "pretrained"))
entry = widgets.run_picker("Run", "run", softmax_first, default=HEADLINE, url=True)
try:
    key = loaders.run_key(entry.path)  # names the contents read next: the charts below are built once per key
    run = loaders.load_run(entry.path)
except RunError as e:
    st.error(f"**This run cannot be read.** {e}. Choose another run, or delete the folder and train it again.")
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


# ---------------------------------------------------------------- A and B through training
st.subheader("A and B through training")
snapshots = run.history.get("snapshots", [])
yard = run.history.get("yardsticks", {}).get(cfg.yardstick, {})
cell = heat_cell(task.D)
if not snapshots:
    st.info("This run has no snapshots of A and B yet.")
else:
    st.caption("Drag the slider under the chart to move through training (0 = initialisation). Colours are scaled "
               "to the largest entry at each step, so the pattern shows while the weights grow; hover for values. "
               "Dashed lines separate the x-block (first d) from the label block.")
    placeholder = st.empty()
    movie = cached("snapshots", lambda: run_charts.matrix_heatmaps(snapshots, task.d, title=f"{entry.name}",
                                                                  cell=cell))
    if st.button("Play through training", key="w_play", help="shows every snapshot in turn"):
        for i in range(len(snapshots)):  # the one cached chart, its step parameter moved: nothing is rebuilt
            with placeholder.container():
                widgets.chart_only(fill(movie, {}, {"snapshot": i}) if len(snapshots) > 1 else movie)
            time.sleep(0.15)
    with placeholder.container():
        widgets.show_chart(movie,
                           lambda: run_charts.snapshot_frame(snapshots), f"weights_{entry.name}")
    if yard.get("best"):
        snap = run_panels.construction_snapshot(cfg, yard["best"])
        consts = ", ".join(f"{k}={v:.3g}" for k, v in yard["best"].items())
        widgets.show_chart(cached("construction", lambda: run_charts.matrix_heatmaps(
            [snap], task.d, title=f"the construction at fitted constants ({consts})", cell=cell,
            param_name="construction", show_step=False)), lambda: run_charts.snapshot_frame([snap]),
            f"construction_{entry.name}")

# ---------------------------------------------------------------- alignment through training
evals = run.history.get("evals", [])
if evals:
    st.subheader("Loss and alignment through training")
    label = NAMES[cfg.yardstick]
    other = next((NAMES[m] for m in run.history.get("yardsticks", {}) if m != cfg.yardstick), "the other eq. 1")
    widgets.show_chart(cached("loss", lambda: run_charts.loss_curve(evals, yard.get("loss"), f"{label} optimum")),
                       lambda: pd.DataFrame(evals), f"history_{entry.name}")
    widgets.chart_only(cached("alignment", lambda: run_charts.alignment_curves(evals, label, other)))

# ---------------------------------------------------------------- c_sigma and c_eta, several runs
softmax_runs = [e for e in entries if e.config and e.config["kind"] == "softmax"]
if softmax_runs:
    st.subheader("c_sigma and c_eta through training")
    default = [widgets.run_id(e) for e in softmax_runs[:6]]
    chosen = widgets.run_picker("Runs", "w_multi", softmax_runs, multi=True, default=default)
    rows = []
    keys = "|".join(loaders.run_key(e.path) for e in chosen)  # before reading: a run may write meanwhile
    for e in chosen:
        try:
            hist = loaders.read_history(e.path)
        except RunError as err:
            st.error(f"{e.name}: {err}")
            continue
        tag = f"{e.name} (d={e.config['d']}, lr={e.config['lr']:g})"
        rows += [{"run": tag, "step": r["step"], "c_sigma": r.get("c_sigma"), "c_eta": r.get("c_eta")}
                 for r in hist.get("evals", [])]
    if rows:
        widgets.show_chart(loaders.chart_spec(f"constants|{keys}", lambda: run_charts.constants_curves(rows)),
                           lambda: pd.DataFrame(rows), "constants_through_training")

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
    widgets.show_chart(cached("fig8", lambda: run_charts.extracted_check(list(reading.rows))),
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

# ---------------------------------------------------------------- the two softmax variants
twin = run_panels.other_variant(entry)
if twin is not None:
    st.subheader("The query among its keys, or not")
    st.dataframe(run_panels.variants_table([entry, twin]), hide_index=True)
    st.caption("The same setting trained as the paper's layer (the query attends to the context only: it represents "
               "eq. 1) and with the query among its keys (it represents eq. 1 self-key). Each run records both "
               "yardsticks; losses are on the run's own evaluation contexts.")
