"""Strategies: the two algorithms a softmax layer learns (selection, elimination) seen on one context, how often
seeds learn each while C, d and n vary (Fig. 11, and the evidence that it is decided early), c_sigma and c_eta
through training per learning rate (Fig. 10), and a small sweep run live."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine import figure_analysis, figure_tables
from engine.runs import RunError
from ui import loaders, sweep_charts, weight_charts, widgets
from ui.strategy_panels import STRATEGIES, draw_examples, example_runs, shipped_table, sweep_form, sweep_panel

widgets.setup_page("Strategies", "A trained softmax layer runs one of two algorithms: selection (attend to the "
                   "context points nearest the query and copy their labels) or elimination (attend to the furthest "
                   "and subtract theirs). Which one a run learns depends on its seed and on the task's shape.")

registry = loaders.job_registry()
BASE = figure_analysis.FIG11_BASE
BASE_TEXT = ", ".join(f"{k} = {v}" for k, v in BASE.items())
FIG11_CMD = "python -m engine figure_data fig11"
FIG10_CMD = "python -m engine figure_data fig10"
NONE = "\u2014"  # an em dash: no value in this cell
EXAMPLE_CMD = "python -m engine train --preset fig11-d2-C2 --seed S --out runs/fig11-d2-C2-seedS"


# ---------------------------------------------------------------- the two algorithms on one context


st.subheader("Selection and elimination on one context")
examples, problems = example_runs()
for p in problems:
    st.warning(f"Skipped an unreadable run: {p}")
if not any(examples.values()):
    st.info("No example run here yet. Train a few seeds of the Fig. 11 recipe at a small C, where elimination is "
            f"frequent: `{EXAMPLE_CMD}` for S = 0, 1, 2, ...; every `fig11-*` run in pretrained/ (or runs/) is "
            "classified by its weights and shown here.")
else:
    seed = int(st.number_input("context seed", 0, 10**6, 0, key="strat_ctx_seed"))
    picked = []
    for col, strategy in zip(st.columns(2), STRATEGIES):
        runs = examples[strategy]
        if not runs:
            col.info(f"No {strategy} example among the `fig11-*` runs yet: train more seeds with `{EXAMPLE_CMD}`.")
            continue
        names = [f"{e.origin}/{e.name}" for e, _ in runs]
        pick = names.index(col.selectbox(f"{strategy} run", names, key=f"strat_ex_{strategy}")) if len(runs) > 1 else 0
        picked.append(runs[pick])
    try:
        draw_examples(picked, seed)
    except RunError as err:
        widgets.run_unreadable(err)

# ---------------------------------------------------------------- Fig. 11
st.subheader("Fig. 11: how often seeds learn selection")
rows = shipped_table("fig11.csv", figure_tables.FIG11_COLUMNS, FIG11_CMD, bools=("learned",))
if rows is not None:
    summary = figure_analysis.fig11_summary(rows, BASE)
    widgets.show_chart(sweep_charts.fig11_chart(summary), summary, "fig11_proportions")
    seeds = sorted(set(summary["seeds"]))
    odd_n = sorted({f"C = {r.C}" for r in summary.itertuples() if r.vary == "C" and r.n != BASE["n"]})
    st.caption(
        f"{' to '.join(map(str, seeds[:: max(1, len(seeds) - 1)]))} seeds per point, trained with the Fig. 11 recipe "
        "(`engine.config.strategy_recipe`: warmup-cosine to lr 3e-2, batch 256, the paper's initialisation 0.002, "
        "longer runs for larger d). Blue: proportion of selection over all runs; orange: over the runs that learned "
        f"an algorithm (final eval loss below {figure_analysis.LEARNED:g} log C and a strategy margin "
        "|c_sigma / sqrt(D) + "
        f"c_eta| of at least {figure_analysis.DECIDED:g}; at C = 2 most runs stop near c_sigma = c_eta = 0, "
        "where the sign is noise). Bars beside each point: its 95% Wilson interval. Labels: runs that learned / "
        f"seeds ({int(summary['learned'].sum())} of "
        f"{int(summary['seeds'].sum())} in all). Circled: the base shape {BASE_TEXT}, which each panel varies one "
        f"value of. " + (f"{' and '.join(odd_n)} use n = 120 (n = 100 is not a multiple of C). " if odd_n else "") +
        "A run that learned no algorithm still has a strategy reading: read the orange line.")
    with st.expander("The numbers, and every run"):
        st.dataframe(summary.drop(columns=["learned_text", "base"]), hide_index=True)
        st.dataframe(rows, hide_index=True)

    init_rows = shipped_table("fig11_init.csv", figure_tables.FIG11_COLUMNS,
                              FIG11_CMD + " --vary C --values 2 5 --init normal variance_scaling --out "
                              "pretrained/sweeps/fig11_init.csv", bools=("learned",))
    if init_rows is not None:
        st.markdown("**The start decides.** The paper \"rescales\" its initial weights \"by 0.002\", which reads two "
                    "ways: every entry N(0, 0.002^2) (the project's default, every shipped run), or von Oswald et "
                    "al.'s VarianceScaling(0.002), standard deviation sqrt(0.002 / D), 8.5x to 11x larger here. Fig. "
                    "11's proportions at C = 2 and 5 under both, with 95% Wilson intervals:")
        by_init = figure_analysis.fig11_by_init(init_rows, BASE)
        widgets.show_chart(sweep_charts.init_chart(by_init), by_init, "fig11_init")
        st.caption(figure_analysis.init_words(by_init))
    st.markdown("**Is the strategy decided early?** The fraction of runs whose strategy at each evaluation is "
                "already their final one.")
    evidence = shipped_table("fig11_evidence.csv", figure_tables.FIG11_EVIDENCE_COLUMNS, FIG11_CMD,
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
f10 = shipped_table("fig10.csv", figure_tables.FIG10_COLUMNS, FIG10_CMD)
if f10 is not None:
    log_step = st.toggle("symlog step axis", True, key="strat_f10_log",
                         help="shows the paper's first hundreds of steps next to the fast recipe's thousands")
    widgets.show_chart(sweep_charts.fig10_chart(sweep_charts.fig10_curves(f10), log_step), f10, "fig10")
    summary = figure_analysis.fig10_summary(f10)
    # the two columns that can be empty, as text with a dash for "none" (a missing number would show as None)
    shown = summary.assign(paper_lr=[f"{v:.3g}" if pd.notna(v) else NONE for v in summary["paper_lr"]],
                           left_plateau_at=[str(int(v)) if pd.notna(v) else NONE for v in summary["left_plateau_at"]])
    st.dataframe(shown, hide_index=True, column_config={
        "lr": st.column_config.NumberColumn("lr (run at)", format="%.3g"),
        "paper_lr": st.column_config.TextColumn("paper's lr"),
        "left_plateau_at": st.column_config.TextColumn("left_plateau_at"),
        **{k: st.column_config.NumberColumn(format="%.4g") for k in ("c_eta_there", "final_c_eta", "final_c_sigma",
                                                                     "final_eval_loss")}})
    st.caption(f"{NONE} in paper's lr: the fast recipe is the project's own, the paper has no rate for it; in "
               f"left_plateau_at: the run never left the chance plateau.")
    paper = f10[f10["recipe"] == "paper-softmax-d10"]
    if len(paper):
        batch, scale = int(paper["batch"].iloc[0]), float(paper["lr"].iloc[0] / paper["paper_lr"].iloc[0])
        st.caption(f"The paper's recipe at d = 10 (Adam, constant rate, initialisation 0.002, clip 1), its four rates "
                   f"each times {scale:g} and batch {batch} instead of 2048: {int(paper['step'].max()):,} steps here "
                   f"stand for about {scale * paper['step'].max():,.0f} of the paper's (with Adam a step moves each "
                   "weight by about the rate, so one factor on every rate shortens every run's time scale alike and "
                   "keeps their ratios). `flattened_at`: the first evaluation with c_eta within 10% of its final "
                   "value. The fast recipe (the project's converging one) is shown beside them. "
                   "`python -m engine figure_data fig10` makes this table's data (~45 min here).")
        rows = sweep_charts.fig10_paths(paper)
        fit = loaders.fit("adaptive", 10, 5, 100)
        widgets.chart_only(loaders.chart_spec(f"fig10-paths|{loaders.table_key(paper)}", lambda: (
            weight_charts.landscape_with_path(fit, rows, size=420))))
        elimination = [f"paper's lr {r.paper_lr:g} learned elimination (final c_sigma {r.final_c_sigma:.3g}, c_eta "
                       f"{r.final_c_eta:.3g}): its path is off these log axes" for r in summary.itertuples()
                       if r.recipe == "paper-softmax-d10" and r.final_c_eta < 0]
        st.caption("Each rate's (c_sigma, c_eta) through training on eq. 1's landscape at d = 10 (fitted on 10,000 "
                   "contexts): the runs climb onto the bright valley, where c_sigma * c_eta ~ 350 and only the product "
                   "is pinned, and move along it towards larger c_eta. Non-positive constants (the plateau) are left "
                   "off. " + "; ".join(elimination) + ("." if elimination else ""))

# ---------------------------------------------------------------- a live sweep
st.subheader("Run a small sweep")
st.caption("Seeds 0 to S-1 of the Fig. 11 recipe, trained together in one vmapped program "
           "(`engine.sweep.sweep`); nothing is saved. One job trains at a time on this machine: a sweep waits for a "
           "run started on the Train page, and the other way round. d = 3 costs several times d = 2 per step.")
sweep_form(registry)


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
        sweep_panel(registry, job, job.view())
    if polling and not job.active:
        st.rerun()


live_sweep()
