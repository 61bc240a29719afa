"""The Strategies page's panels: shipped sweep tables read with a note instead of a traceback, the
selection / elimination example runs on one context, and a finished sweep's results."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from engine import figure_analysis, learners
from engine import figure_data as figures
from engine.runs import RunError
from engine.tasks import with_queries
from ui import context_charts, geometry, loaders, query_charts, run_index, sweep_charts, widgets
from ui.job_status import job_status
from ui.specs import fill

STRATEGIES = ("selection", "elimination")
LOOKS_AT = {"selection": "attends to the points nearest the query and copies their labels",
            "elimination": "attends to the points furthest from the query and subtracts their labels"}


def shipped_table(name: str, columns: list[str], command: str, bools: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """A CSV of pretrained/sweeps/, or None with a note saying how to regenerate it (never a traceback)."""
    try:
        return loaders.sweep_table(name, columns, bools)
    except FileNotFoundError:
        st.info(f"No `pretrained/sweeps/{name}` here yet. Make it with `{command}`.")
    except (OSError, ValueError) as e:
        st.warning(f"`pretrained/sweeps/{name}` cannot be read ({e}). Regenerate it with `{command}`.")
    return None


def example_runs() -> tuple[dict[str, list[tuple[run_index.RunEntry, dict]]], list[str]]:
    """Finished or stopped softmax runs of a fig11-* preset (pretrained first), classified by their weights."""
    found: dict[str, list] = {s: [] for s in STRATEGIES}
    problems = []
    for e in run_index.entries():
        c = e.config
        if not (c and c.preset.startswith("fig11-") and c.kind == "softmax" and e.status in ("finished", "stopped")):
            continue
        try:
            reading = loaders.strategy_of(e)
        except RunError as err:
            problems.append(f"{e.origin}/{e.name}: {err}")
            continue
        # a clear reading: runs stopped near c_sigma = c_eta = 0 are not
        if reading["margin"] >= figure_analysis.DECIDED:
            found[reading["strategy"]].append((e, reading))  # examples of either algorithm
    return found, problems


def examples_view(picked: list[tuple[run_index.RunEntry, dict]], seed: int, size: int = 300,
                  stacked: bool = True) -> dict | None:
    """The runs' attention on one context (marker area) and their decision regions (outer ring) in one view,
    moved by one query in the browser: a filled spec, drawn by the Strategies page and the talk alike. None unless
    the runs share one task at d = 2 (elsewhere each run has its own view). `stacked`: the probability bars under
    the circles (a page's column), else beside them (a wide, short slide)."""
    shapes = {(e.config.d, e.config.C, e.config.n) for e, _ in picked}
    if len(shapes) != 1 or next(iter(shapes))[0] != 2:
        return None
    (d, C, n), = shapes
    names = tuple(f"{reading['strategy']}: {entry.name}" for entry, reading in picked)
    models = tuple(loaders.run_learner(entry) for entry, _ in picked)
    arrays = loaders.contexts(d, C, n, seed, 1)
    start = (geometry.angle_deg(arrays["xq"][0]),)
    data = loaders.query_view_data(models, names, d, C, n, seed)
    spec = loaders.chart_spec(f"strategies|{C}|{names}|{size}|{stacked}", lambda: query_charts.template(
        d, C, names, size=size, bar_width=260, start=start, side_by_side=True, stacked=stacked))
    return query_charts.fill(spec, data, arrays["protos"][0], start)


def draw_examples(picked: list[tuple[run_index.RunEntry, dict]], seed: int) -> None:
    """The runs on one context: at d = 2 one view holds them all (`examples_view`), with its data download;
    otherwise each run is drawn by its cosines to the prototypes at the context's own query."""
    view = examples_view(picked, seed)
    if view is None:
        for entry, reading in picked:
            _draw_one(entry, reading, seed)
        return
    d, C, n = picked[0][0].config.d, picked[0][0].config.C, picked[0][0].config.n
    arrays = loaders.contexts(d, C, n, seed, 1)
    xs, ys = arrays["xs"][0], arrays["ys"][0]
    points = pd.DataFrame({"point": np.arange(n), "class": ys + 1, **{f"x{k + 1}": xs[:, k] for k in range(d)}})
    widgets.show_chart(view, points, "strategy_examples")
    st.caption("One query for both runs: move it with the slider under the chart (it runs in your browser). Marker "
               "area: each run's attention on the context points; outer ring: the class it predicts for a query at "
               "that angle; arrows: the prototypes. " + " ".join(
                   f"`{e.origin}/{e.name}` (seed {e.config.seed}): c_sigma = {r['c_sigma']:.3g}, c_eta = "
                   f"{r['c_eta']:.3g}; it {LOOKS_AT[r['strategy']]}." for e, r in picked))


def _draw_one(entry: run_index.RunEntry, reading: dict, seed: int) -> None:
    """One run at the context's own query, its points by their cosines to the prototypes."""
    d, C, n = entry.config.d, entry.config.C, entry.config.n
    learner = loaders.run_learner(entry)
    arrays = loaders.contexts(d, C, n, seed, 1)
    xs, ys, protos, xq = arrays["xs"][0], arrays["ys"][0], arrays["protos"][0], arrays["xq"][0]
    yq = int(np.argmax(protos @ xq))
    one = with_queries(arrays["xs"][0], arrays["ys"][0], arrays["protos"][0], xq[None])
    probs, attn = learners.probabilities(learner, one)  # one query: not worth a cache
    title = f"{reading['strategy']}: {entry.name}"
    chart = fill(loaders.chart_spec(f"cosine|{C}|{title}", lambda: context_charts.cosine_template(C, title)),
                 context_charts.cosine_datasets(xs, ys, xq, yq, protos, attn[0]))
    widgets.chart_only(chart)
    st.caption(f"`{entry.origin}/{entry.name}`: c_sigma = {reading['c_sigma']:.3g}, c_eta = {reading['c_eta']:.3g}; "
               f"it {LOOKS_AT[reading['strategy']]}. P(true class {yq + 1}) = {float(probs[0][yq]):.2f}.")


def sweep_results(view: dict) -> None:
    """Proportion of selection, the per-seed table and the c_sigma-c_eta scatter of a finished (or stopped) sweep."""
    runs = pd.DataFrame(view["runs"])
    S, C_ = len(runs), view["config"].C
    runs["learned"] = [figure_analysis.learned(loss, margin, C_)
                       for loss, margin in zip(runs["eval_loss"], runs["margin"])]
    off_plateau = runs["eval_loss"].map(lambda loss: figure_analysis.off_plateau(loss, C_))
    runs["strategy"] = runs["strategy"].where(off_plateau, "on the plateau")  # no reading before it has left it
    sel, decided = int((runs["strategy"] == "selection").sum()), int(off_plateau.sum())
    m = st.columns(3)
    m[0].metric("proportion of selection", f"{sel / decided:.0%}" if decided else "none off the plateau",
                help=f"{sel} of the {decided} seeds (of {S}) that left the chance plateau")
    m[1].metric("runs that learned", f"{int(runs['learned'].sum())} / {S}",
                help=f"final eval loss below {figure_analysis.LEARNED:g} log C (off the chance plateau) and a strategy "
                     f"margin |c_sigma / sqrt(D) + c_eta| of at least {figure_analysis.DECIDED:g}")
    m[2].metric("time", f"{view['elapsed_s']:.0f} s")
    if not off_plateau.any():
        st.warning("No run left the chance plateau yet: these strategy readings are still noise. Train more steps "
                   "(at d = 2 runs leave it within about 35-140 steps, at d = 3 within a few hundred).")
    elif not runs["learned"].any():
        st.warning("The runs left the chance plateau but none reads clearly as selection or elimination (strategy "
                   f"margin below {figure_analysis.DECIDED:g}: c_sigma and c_eta near 0, common at C = 2): their "
                   "strategy column is noise.")
    table = runs[["seed", "strategy", "c_sigma", "c_eta", "eval_loss", "learned", "margin"]].rename(
        columns={"eval_loss": "final_eval_loss"})
    left, right = st.columns([3, 2])
    left.dataframe(table, hide_index=True)
    with right:
        widgets.show_chart(sweep_charts.strategy_scatter(runs), table, "live_sweep")


def sweep_form(registry) -> None:
    """d, C, n, seeds and steps of a live sweep of the Fig. 11 recipe, checked, and its Start button (on a
    read-only server, why there is none)."""
    if widgets.read_only_here("A live sweep"):
        return
    cols = st.columns(5)
    d = int(cols[0].selectbox("d", (2, 3), key="sw_d"))
    C = int(cols[1].number_input("C", 2, 10, 3, key="sw_C", help="at C = 3 the seeds split between the two "
                                                                "algorithms"))
    n = int(cols[2].number_input("n", 2, 500, 120, key="sw_n", help="must be divisible by C"))
    n_seeds = int(cols[3].number_input("seeds", 2, 10, 4, key="sw_seeds"))
    steps = int(cols[4].number_input("steps", 100, 600, 300, step=50, key="sw_steps"))
    config = None
    if n % C:
        st.error(f"**n must be divisible by C** (exactly n/C points per class): n = {n}, C = {C}. "
                 f"Try n = {max(C, n - n % C)} or {n + C - n % C}.")
    else:
        try:
            config = figures.fig11_config(d, C, n, steps)
        except ValueError as e:
            st.error(f"**This sweep cannot be built.** {e}")
    if st.button("Start the sweep", type="primary", disabled=config is None, key="sw_start"):
        try:
            registry.submit_sweep(config, range(n_seeds), f"d={d} C={C} n={n}, {n_seeds} seeds x {steps} steps "
                                                          f"({time.strftime('%H:%M:%S')})")
        except ValueError as e:
            st.error(str(e))
        else:
            st.rerun()


def sweep_panel(registry, job, view: dict) -> None:
    """The shared job panel (progress, ETA, Stop), then the results once the sweep ends."""
    runs = view["runs"]
    sel = sum(r["strategy"] == "selection" for r in runs)
    if not job_status(registry, job, view, f"**Sweep {view['name']}**", "sw_stop", "compiling the sweep (a few "
                      "seconds) ...", f"; selection now {sel} of {len(runs)}" if runs else ""):
        return
    if view["state"] == "stopped" and runs:
        st.caption("Strategies are read at the step it stopped.")
    if view["state"] in ("finished", "stopped") and runs:
        sweep_results(view)
