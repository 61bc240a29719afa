"""The talk: the paper told in ten slides, one idea each. `SLIDES` is the registry the Talk page walks (its
order is the URL's `?slide=k`); each slide has a headline, a speaker note and a function that draws its one
chart from the shipped runs and fits (through the cached loaders), sized to fit a 1280 x 720 projector."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import altair as alt
import numpy as np
import streamlit as st

from engine import figure_data
from engine.closed_form import NAMES
from engine.runs import RunError
from engine.tasks import TaskConfig
from ui import (
    context_charts,
    loaders,
    run_charts,
    run_index,
    strategy_panels,
    sweep_charts,
    widgets,
)

SETTING = TaskConfig(3, 5, 100)  # the paper's Figs. 3-8 setting
CHART_HEIGHT = 330  # every slide's chart fits under a headline at 1280 x 720


@dataclasses.dataclass(frozen=True)
class Slide:
    key: str
    headline: str
    note: str
    draw: Callable[[], None]


def _run(name: str):
    """A shipped run by folder name, as (entry, learner); None with a note when it is missing."""
    entry = run_index.by_name(f"pretrained/{name}")
    if entry is None:
        st.info(f"The shipped run `pretrained/{name}` is missing here: `bash pretrained/regenerate.sh {name}`.")
        return None
    try:
        return entry, loaders.run_learner(entry)
    except RunError as e:
        st.warning(f"`pretrained/{name}` cannot be read ({e}).")
        return None


def task_slide() -> None:
    arrays2, arrays3 = loaders.contexts(2, 5, 100, 0, 1), loaders.contexts(3, 5, 100, 0, 1)

    def build():
        parts = []
        for arrays, chart in ((arrays2, context_charts.circle_chart), (arrays3, context_charts.sphere_chart)):
            xs, ys, xq, protos = arrays["xs"][0], arrays["ys"][0], arrays["xq"][0], arrays["protos"][0]
            parts.append(chart(xs, ys, xq, int(np.argmax(protos @ xq)), protos, size=CHART_HEIGHT - 20,
                               title="d = 2: the circle" if chart is context_charts.circle_chart
                               else "d = 3: the sphere (turn it with the sliders)"))
        return alt.hconcat(*parts)

    widgets.chart_only(loaders.chart_spec("talk-task", build))


def model_slide() -> None:
    widgets.chart_only(loaders.chart_spec("talk-model", lambda: run_charts.token_diagram(d=2, C=3, n=6, cell=40)))


def _scatter_slide(run: str, method: str) -> None:
    got = _run(run)
    if got is None:
        return
    _, learner = got
    t, N = SETTING, 500
    ref = loaders.fitted_closed_form(method, t)
    m = loaders.per_context(learner, t.d, t.C, t.n, N, 0)
    r = loaders.per_context(ref, t.d, t.C, t.n, N, 0)
    panels = [("loss", "cross-entropy", None), ("p_correct", "P(correct class)", (0.0, 1.0)),
              ("entropy", "entropy of y_hat", (0.0, math.log(t.C) * 1.02))]

    def build():
        return alt.hconcat(*[run_charts.identity_scatter(m[k], r[k], f"trained {learner.short_name}",
                                                         NAMES[method], title=label, domain=dom, size=255)
                             for k, label, dom in panels])

    widgets.chart_only(loaders.chart_spec(f"talk-scatter|{learner.key}|{method}", build))
    al = loaders.alignment(learner, ref, t.d, t.C, t.n, 200, 0)
    st.caption(f"{N} fresh contexts, d = 3, C = 5, n = 100; one dot per context, the trained layer on x and "
               f"{NAMES[method]} at its fitted constants on y. Preds diff {al['preds_diff']:.4f}, cos sim of the "
               f"sensitivities {al['cos_sim']:.4f} (on 200 of them, in float64).")


def linear_slide() -> None:
    _scatter_slide("fast-linear-d3", "gd")


def softmax_slide() -> None:
    _scatter_slide("fast-softmax-d3", "adaptive")


def adaptive_rate_slide() -> None:
    arrays = loaders.contexts(2, 5, 100, 0, 1)
    xs, ys = arrays["xs"][0], arrays["ys"][0]
    eq1 = loaders.fit("adaptive", 2, 5, 100).refined
    kgd = loaders.fit("kernel_gd", 2, 5, 100).refined
    widgets.chart_only(loaders.chart_spec("talk-eta", lambda: run_charts.adaptive_rate_chart(
        xs, ys, eq1["c_sigma"], eq1["c_eta"], kgd["eta"], height=CHART_HEIGHT - 60)))
    st.caption(f"One context at d = 2. Eq. 1 at its fitted constants (c_sigma {eq1['c_sigma']:.3g}, c_eta "
               f"{eq1['c_eta']:.3g}) is kernel GD with sigma^2 = sqrt(D) / c_sigma and the rate eta(X) drawn here; "
               f"plain kernel GD (eq. 3) keeps one rate ({kgd['eta']:.3g}) everywhere. Ticks: the context points.")


def weights_slide() -> None:
    got = _run("fast-softmax-d3")
    if got is None:
        return
    entry, _ = got
    run = loaders.load_run(entry.path)
    snaps = run.history.get("snapshots", [])
    if not snaps:
        st.info("This run kept no A/B snapshots.")
        return
    widgets.chart_only(loaders.chart_spec(f"talk-weights|{loaders.run_key(entry.path)}", lambda: (
        run_charts.matrix_heatmaps(snaps, SETTING.d, cell=30, param_name="talk_snapshot"))))
    st.caption("fast-softmax-d3: drag the slider through training. A's x-block becomes c_sigma times the identity, "
               "B's label block c_eta times the identity (up to a shift per row that softmax ignores).")


def constants_slide() -> None:
    rows, keys = [], []
    for d in (2, 3, 5, 10):
        entry = run_index.by_name(f"pretrained/fast-softmax-d{d}")
        if entry is None:
            continue
        keys.append(loaders.run_key(entry.path))
        evals = loaders.read_history(entry.path)["evals"]
        last = evals[-1]["step"]
        rows += [{"run": f"d = {d}", "step": e["step"], "steps": last, "c_sigma": e["c_sigma"], "c_eta": e["c_eta"]}
                 for e in evals]
    if not rows:
        st.info("No shipped softmax runs here.")
        return
    widgets.chart_only(loaders.chart_spec("talk-constants|" + "|".join(keys), lambda: (
        run_charts.constants_curves(rows, width=420, height=CHART_HEIGHT - 40, x_axis="fraction",
                                    legend_orient="right"))))
    st.caption("The shipped softmax runs (fast-softmax-d2 ... d10), step axis as a fraction of each run. At d = 10 "
               "the two constants are not pinned separately: the landscape is a valley along c_sigma * c_eta.")


def headline_slide() -> None:
    table = loaders.headline_table()
    if table is None:
        st.info("No `pretrained/headline.csv` yet: `python -m engine.headline`.")
        return
    key = f"talk-headline|{loaders.table_key(table)}"
    widgets.chart_only(loaders.chart_spec(key, lambda: run_charts.headline_chart(
        table, width=560, height=CHART_HEIGHT - 40)))
    st.caption(f"{int(table['contexts'].iloc[0]):,} held-out contexts per d, the closed forms at constants fitted on "
               "other contexts. Softmax attention can represent eq. 1; linear attention only GD.")


def strategies_slide() -> None:
    examples, _ = strategy_panels.example_runs()
    picked = [runs[0] for s in strategy_panels.STRATEGIES if (runs := examples[s])]
    if not picked:
        st.info("No strategy example runs here: `bash pretrained/regenerate.sh examples`.")
        return
    strategy_panels.draw_examples(picked, 0, size=250, stacked=False)  # a slide is wide, not tall
    try:
        rows = loaders.sweep_table("fig11.csv", figure_data.FIG11_COLUMNS, ("learned",))
    except (OSError, ValueError):
        return
    summary = sweep_charts.fig11_summary(rows, figure_data.FIG11_BASE)
    by_c = summary[summary["vary"] == "C"]
    st.caption("Fig. 11, share of 20 seeds that learn selection: " + ", ".join(
        f"C = {int(r.C)}: {r.proportion:.0%}" for r in by_c.itertuples()) + ".")


def valley_slide() -> None:
    fit = loaders.fit("adaptive", 10, 5, 100)
    entry = run_index.by_name("pretrained/fast-softmax-d10")
    rows = loaders.run_path(entry.path, 10, 5, 100) if entry is not None else []
    widgets.chart_only(loaders.chart_spec(f"talk-valley|{entry and loaders.run_key(entry.path)}", lambda: (
        run_charts.landscape_with_path(fit, rows, size=CHART_HEIGHT - 30))))
    v = fit.valley or {}
    st.caption(f"Eq. 1's loss at d = 10 on 10,000 contexts: {fit.constants_text()}. The white path is "
               "fast-softmax-d10 through training, walking along the valley towards its small-c_sigma end (positive "
               "constants only); the paper's run at these rates had not converged (c_eta still growing; its grid "
               "optimum near c_eta 8,000). "
               + (f"Every point of the bright band has c_sigma * c_eta ~ {v['product']:.3g}." if v else ""))


SLIDES: list[Slide] = [
    Slide("task", "Each prompt is a new classification task on the sphere",
          "C hidden prototypes (arrows), n labelled points per context, exactly n/C per class, and a query. The "
          "model never sees the prototypes: it must classify the query from the labelled points alone.", task_slide),
    Slide("model", "One attention layer reads the query's row",
          "Tokens are [x, y]; the query token is [x, 0]. A = W_Q^T W_K scores the query against every token from "
          "their x-parts; B = W_V^T W_O^T turns the attended tokens' labels into the prediction's y-part. Only the "
          "query's row of attention matters.", model_slide),
    Slide("linear", "Trained linear attention is one step of gradient descent",
          "Every dot is one context: the trained linear layer (x) against GD from zero weights, eq. 2 (y). They "
          "sit on y = x: same loss, same confidence, same entropy, context by context (the paper's Fig. 3).",
          linear_slide),
    Slide("softmax", "Trained softmax attention is one step of context-adaptive kernel GD",
          "The same for the trained softmax layer against eq. 1 at its fitted constants (Fig. 4). With the query "
          "attending to the context only, the layer represents eq. 1 exactly.", softmax_slide),
    Slide("rate", "Its learning rate adapts to the context",
          "Eq. 1 is kernel GD whose step shrinks where many context points sit near the query and grows where "
          "they are sparse. Move the query: the rate follows the local density of points; plain kernel GD keeps "
          "one rate.", adaptive_rate_slide),
    Slide("weights", "The weights take the construction's shape",
          "A's x-block turns into a scaled identity (c_sigma), B's label block into a scaled identity (c_eta), "
          "the rest to zero: the paper's Fig. 7. Drag through training.", weights_slide),
    Slide("constants", "c_sigma and c_eta settle, per dimension",
          "The two constants read off the weights through training for d = 2, 3, 5, 10 (Fig. 9). Larger d wants "
          "a wider kernel (smaller c_sigma) and a larger step.", constants_slide),
    Slide("claim", "Softmax beats linear attention, less so as d grows",
          "Cross-entropy on the same held-out contexts. Each trained layer sits on the closed form it represents; "
          "eq. 1 beats GD clearly at d = 2 and 3, and the gap closes by d = 10, where eq. 1's optimum is its GD "
          "limit. No figure of the paper shows this directly.", headline_slide),
    Slide("strategies", "Two algorithms: selection and elimination",
          "Selection attends to the nearest points and copies their labels; elimination attends to the furthest "
          "and subtracts theirs. Which one a run learns depends on its seed; elimination is frequent for small C "
          "(Fig. 11).", strategies_slide),
    Slide("valley", "At d = 10 the landscape is a flat valley",
          "Along c_sigma * c_eta = const the loss barely changes, so the paper's run kept growing c_eta and never "
          "converged. A decay on W_Q, W_K and a squared-cosine schedule walk the shipped run down the valley.",
          valley_slide),
]
