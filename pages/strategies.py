"""Strategies: the two algorithms a softmax layer learns (selection, elimination) seen on one context, how often
seeds learn each while C, d and n vary (Fig. 11, and the evidence that it is decided early), c_sigma and c_eta
through training per learning rate (Fig. 10), and a small sweep run live."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import streamlit as st

from engine import figures
from engine.runs import RunError
from ui import charts, loaders, sweep_charts, widgets

widgets.setup_page("Strategies", "A trained softmax layer runs one of two algorithms: selection (attend to the "
                   "context points nearest the query and copy their labels) or elimination (attend to the furthest "
                   "and subtract theirs). Which one a run learns depends on its seed and on the task's shape.")

registry = loaders.job_registry()
BASE = figures.FIG11_BASE
BASE_TEXT = ", ".join(f"{k} = {v}" for k, v in BASE.items())
FIG11_CMD = "python -m engine.figures fig11"
FIG10_CMD = "python -m engine.figures fig10"
EXAMPLE_CMD = "python -m engine.train --preset fig11-d2-C2 --seed S --out runs/fig11-d2-C2-seedS"
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


# ---------------------------------------------------------------- the two algorithms on one context


def example_runs() -> tuple[dict[str, list[tuple[loaders.RunEntry, dict]]], list[str]]:
    """Finished or stopped softmax runs of a fig11-* preset (pretrained first), classified by their weights."""
    found: dict[str, list] = {s: [] for s in STRATEGIES}
    problems = []
    for e in loaders.run_entries():
        c = e.config or {}
        if not (str(c.get("preset", "")).startswith("fig11-") and c.get("kind") == "softmax"
                and e.status in ("finished", "stopped")):
            continue
        try:
            reading = loaders.strategy_of(e)
        except RunError as err:
            problems.append(f"{e.origin}/{e.name}: {err}")
            continue
        if reading["margin"] >= figures.DECIDED:  # a clear reading: runs stopped near c_sigma = c_eta = 0 are not
            found[reading["strategy"]].append((e, reading))  # examples of either algorithm
    return found, problems


def draw_example(entry: loaders.RunEntry, reading: dict, seed: int, angle: int | None) -> None:
    """The run's attention on one context (marker area) and its decision regions (outer ring, d = 2)."""
    d, C, n = (int(entry.config[k]) for k in ("d", "C", "n"))
    spec = loaders.run_spec(entry)
    arrays = loaders.contexts(d, C, n, seed, 1)
    xs, ys, protos = arrays["xs"][0], arrays["ys"][0], arrays["protos"][0]
    xq = arrays["xq"][0] if angle is None or d != 2 else charts.from_angle(angle)
    yq = int(np.argmax(protos @ xq))
    probs, attn = loaders.evaluate(spec, loaders.with_queries(arrays, xq[None]))
    w = attn[0]
    title = f"{reading['strategy']}: {entry.name}"
    if d == 2:  # templates built once (loaders.chart_spec), the data filled per query, as on Contexts
        regions = loaders.decision_map(spec.key, spec, d, C, n, seed, "circle")
        chart = charts.fill(loaders.chart_spec(f"circle|{C}|{title}|330|ring",
                                               lambda: charts.circle_template(C, title, 330, ring=True)),
                            charts.circle_datasets(xs, ys, xq, yq, protos, w, (charts.circle_grid(), regions)))
    else:
        chart = charts.fill(loaders.chart_spec(f"cosine|{C}|{title}", lambda: charts.cosine_template(C, title)),
                            charts.cosine_datasets(xs, ys, xq, yq, protos, w))
    cos = xs @ xq
    points = pd.DataFrame({"point": np.arange(n), "class": ys + 1, **{f"x{k + 1}": xs[:, k] for k in range(d)},
                           "cos_to_query": cos, "attention": w})
    widgets.show_chart(chart, points, f"example_{reading['strategy']}")
    st.caption(f"`{entry.origin}/{entry.name}` (d = {d}, C = {C}, n = {n}, seed {entry.config.get('seed')}): "
               f"c_sigma = {reading['c_sigma']:.3g}, c_eta = {reading['c_eta']:.3g}; it "
               f"{LOOKS_AT[reading['strategy']]}. Attention-weighted mean cosine to the query "
               f"{float(w @ cos / w.sum()):.2f} (unweighted {float(cos.mean()):.2f}); P(true class {yq + 1}) = "
               f"{float(probs[0][yq]):.2f}.")


st.subheader("Selection and elimination on one context")
examples, problems = example_runs()
for p in problems:
    st.warning(f"Skipped an unreadable run: {p}")
if not any(examples.values()):
    st.info("No example run here yet. Train a few seeds of the Fig. 11 recipe at a small C, where elimination is "
            f"frequent: `{EXAMPLE_CMD}` for S = 0, 1, 2, ...; every `fig11-*` run in pretrained/ (or runs/) is "
            "classified by its weights and shown here.")
else:
    shown = [e for s in STRATEGIES for e, _ in examples[s][:1]]
    c1, c2 = st.columns([1, 3])
    seed = int(c1.number_input("context seed", 0, 10**6, 0, key="strat_ctx_seed"))
    angle = None
    if any(e.config["d"] == 2 for e in shown):
        first = shown[0].config
        xq0 = loaders.contexts(first["d"], first["C"], first["n"], seed, 1)["xq"][0]
        angle = c2.slider("query angle (degrees)", 0, 359, charts.angle_deg(xq0),
                          key=f"strat_q_{seed}", help="the same query for both runs (d = 2)")
    st.caption("Marker area: the run's attention on each context point for this query; outer ring: the class it "
               "predicts for a query at that angle; arrows: the prototypes.")
    for col, strategy in zip(st.columns(2), STRATEGIES):
        with col:
            runs = examples[strategy]
            if not runs:
                st.info(f"No {strategy} example among the `fig11-*` runs yet: train more seeds with `{EXAMPLE_CMD}`.")
                continue
            pick = 0
            if len(runs) > 1:
                names = [f"{e.origin}/{e.name}" for e, _ in runs]
                pick = names.index(st.selectbox(f"{strategy} run", names, key=f"strat_ex_{strategy}"))
            try:
                draw_example(*runs[pick], seed, angle)
            except RunError as err:
                st.error(f"**This run cannot be read.** {err}")

# ---------------------------------------------------------------- Fig. 11
st.subheader("Fig. 11: how often seeds learn selection")
rows = shipped_table("fig11.csv", figures.FIG11_COLUMNS, FIG11_CMD, bools=("learned",))
if rows is not None:
    summary = sweep_charts.fig11_summary(rows, BASE)
    widgets.show_chart(sweep_charts.fig11_chart(summary), summary, "fig11_proportions")
    seeds = sorted(set(summary["seeds"]))
    odd_n = sorted({f"C = {r.C}" for r in summary.itertuples() if r.vary == "C" and r.n != BASE["n"]})
    st.caption(
        f"{' to '.join(map(str, seeds[:: max(1, len(seeds) - 1)]))} seeds per point, trained with the Fig. 11 recipe "
        "(`engine.train.strategy_recipe`: warmup-cosine to lr 3e-2, batch 256, the paper's initialisation 0.002, "
        "longer runs for larger d). Blue: proportion of selection over all runs; orange: over the runs that learned "
        f"an algorithm (final eval loss below {figures.LEARNED:g} log C and a strategy margin |c_sigma / sqrt(D) + "
        f"c_eta| of at least {figures.DECIDED:g}; at C = 2 most runs stop near c_sigma = c_eta = 0, "
        f"where the sign is noise). Labels: runs that learned / seeds ({int(summary['learned'].sum())} of "
        f"{int(summary['seeds'].sum())} in all). Circled: the base shape {BASE_TEXT}, which each panel varies one "
        f"value of. " + (f"{' and '.join(odd_n)} use n = 120 (n = 100 is not a multiple of C). " if odd_n else "") +
        "A run that learned no algorithm still has a strategy reading: read the orange line.")
    with st.expander("The numbers, and every run"):
        st.dataframe(summary.drop(columns=["learned_text", "base"]), hide_index=True)
        st.dataframe(rows, hide_index=True)

    st.markdown("**Is the strategy decided early?** The fraction of runs whose strategy at each evaluation is "
                "already their final one.")
    evidence = shipped_table("fig11_evidence.csv", loaders.FIG11_EVIDENCE_COLUMNS, FIG11_CMD,
                             bools=("agrees", "learned"))
    if evidence is not None:
        split = st.radio("Curves", ["pooled over shapes", "one per shape"], horizontal=True, key="strat_ev_split")
        agreement = sweep_charts.evidence_agreement(evidence, per_shape=split == "one per shape")
        widgets.show_chart(sweep_charts.agreement_chart(agreement), agreement, "fig11_evidence")
        pooled = sweep_charts.evidence_agreement(evidence, per_shape=False).set_index(["population", "progress"])
        parts = [f"{pooled.loc[(p, 0.5), 'fraction']:.0%} of {p}" for p in sweep_charts.POPULATIONS
                 if (p, 0.5) in pooled.index]
        if parts:
            st.caption(f"Halfway through training, {' and '.join(parts)} already have their final strategy. "
                       "Solid: all runs; dashed: the runs that learned. Early readings sit on the plateau at chance "
                       "level, where the sign of c_sigma / sqrt(D) + c_eta flips with noise.")

# ---------------------------------------------------------------- Fig. 10
st.subheader("Fig. 10: c_sigma and c_eta through training, d = 10, per learning rate")
f10 = shipped_table("fig10.csv", figures.FIG10_COLUMNS, FIG10_CMD)
if f10 is not None:
    log_step = st.toggle("symlog step axis", True, key="strat_f10_log",
                         help="shows the paper's first hundreds of steps next to the fast recipe's thousands")
    widgets.show_chart(sweep_charts.fig10_chart(sweep_charts.fig10_curves(f10), log_step), f10, "fig10")
    spans = []
    for recipe, part in f10.groupby("recipe", sort=False):
        done, full = int(part["step"].max()), int(part["recipe_steps"].max())
        lrs = ", ".join(f"{lr:g}" for lr in sorted(part["lr"].unique()))
        spans.append(f"**{recipe}** (lr {lrs}): steps 0 to {done:,} of its {full:,}" +
                     (" — a truncated prefix" if done < full else ""))
    hidden = int(((f10[["c_sigma", "c_eta"]] <= 0).sum()).sum())
    st.caption("; ".join(spans) + ". The paper's recipe (batch 2048, constant lr, initialisation 0.002) did not "
               "converge at d = 10; the project's fast recipe does. " +
               (f"{hidden} non-positive values (c_sigma and c_eta start near 0) are left off the log axes."
                if hidden else ""))

# ---------------------------------------------------------------- a live sweep
st.subheader("Run a small sweep")
st.caption("Seeds 0 to S-1 of the Fig. 11 recipe, trained together in one vmapped program "
           "(`engine.sweep.sweep`); nothing is saved. One job trains at a time on this machine: a sweep waits for a "
           "run started on the Train page, and the other way round. d = 3 costs several times d = 2 per step.")
cols = st.columns(5)
d = int(cols[0].selectbox("d", (2, 3), key="sw_d"))
C = int(cols[1].number_input("C", 2, 10, 5, key="sw_C"))
n = int(cols[2].number_input("n", 2, 500, 100, key="sw_n", help="must be divisible by C"))
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


def sweep_results(view: dict) -> None:
    """Proportion of selection, the per-seed table and the c_sigma-c_eta scatter of a finished (or stopped) sweep."""
    runs = pd.DataFrame(view["runs"])
    S, C_ = len(runs), int(view["config"]["C"])
    runs["learned"] = [figures.learned(loss, margin, C_) for loss, margin in zip(runs["eval_loss"], runs["margin"])]
    sel = int((runs["strategy"] == "selection").sum())
    m = st.columns(3)
    m[0].metric("proportion of selection", f"{sel / S:.0%}", help=f"{sel} of {S} seeds")
    m[1].metric("runs that learned", f"{int(runs['learned'].sum())} / {S}",
                help=f"final eval loss below {figures.LEARNED:g} log C (off the chance plateau) and a strategy "
                     f"margin |c_sigma / sqrt(D) + c_eta| of at least {figures.DECIDED:g}")
    m[2].metric("time", f"{view['elapsed_s']:.0f} s")
    off_plateau = runs["eval_loss"] < figures.LEARNED * math.log(C_)
    if not off_plateau.any():
        st.warning("No run left the chance plateau yet: these strategy readings are still noise. Train more steps "
                   "(at d = 2 runs leave it within about 35-140 steps, at d = 3 within a few hundred).")
    elif not runs["learned"].any():
        st.warning("The runs left the chance plateau but none reads clearly as selection or elimination (strategy "
                   "margin below 1: c_sigma and c_eta near 0, common at C = 2): their strategy column is noise.")
    table = runs[["seed", "strategy", "c_sigma", "c_eta", "eval_loss", "learned", "margin"]].rename(
        columns={"eval_loss": "final_eval_loss"})
    left, right = st.columns([3, 2])
    left.dataframe(table, hide_index=True)
    with right:
        widgets.show_chart(sweep_charts.strategy_scatter(runs), table, "live_sweep")


def sweep_panel(job, view: dict) -> None:
    """Progress with ETA and a Stop button while it runs; the results once it ends."""
    state, step, steps_ = view["state"], view["step"], view["steps"]
    head = st.columns([5, 1])
    head[0].markdown(f"**Sweep {view['name']}**: {state}")
    if state in ("queued", "preparing", "running") and not view["stop_requested"]:
        if head[1].button("Stop", key="sw_stop"):
            job.stop.set()
    if state == "queued":
        st.info(f"Queued (position {registry.queue_position(job)}): one job trains at a time on this machine; the "
                "sweep starts when the current one ends.")
        return
    runs = view["runs"]
    sel = sum(r["strategy"] == "selection" for r in runs)
    eta = view["eta_s"]
    text = f"step {step:,} / {steps_:,}" + (f", about {eta:,.0f} s left" if eta is not None and state == "running"
                                            else "") + (f"; selection now {sel} of {len(runs)}" if runs else "")
    if state == "preparing" or (state == "running" and not runs):
        text = "compiling the sweep (a few seconds) ..."
    st.progress(min(step / max(steps_, 1), 1.0), text=text)
    if state == "failed":
        st.error(f"**The sweep failed.** {view['message']}")
        with st.expander("Traceback"):
            st.code(view["detail"])
        return
    if state == "stopped":
        st.info(f"Stopped at step {step:,} of {steps_:,}" + (": strategies are read at that step." if runs else
                                                             f" ({view['message']})."))
    if state in ("finished", "stopped") and runs:
        sweep_results(view)


latest = registry.latest_sweep()
polling = latest is not None and latest.active


@st.fragment(run_every=1.0 if polling else None)
def live_sweep() -> None:
    """Polls the newest sweep (of any session); when it ends, reruns the page once to stop polling."""
    job = registry.latest_sweep()
    if job is None:
        st.caption("No sweep has run on this server yet.")
        return
    with st.container(border=True):
        sweep_panel(job, job.view())
    if polling and not job.active:
        st.rerun()


live_sweep()
