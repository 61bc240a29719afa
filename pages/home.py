"""Home: the claim, the story in order, and what each page shows."""

import streamlit as st

from engine import headline
from ui import compare_charts, loaders, run_index, widgets

widgets.ensure_navigation()
st.title("kernel-icl explorer")
st.markdown(
    "**The claim.** A one-layer transformer trained to classify points on a sphere from labelled examples in "
    "its prompt learns a learning algorithm. A trained **linear** attention layer takes one step of gradient "
    "descent on the context (eq. 2). A trained **softmax** attention layer takes one step of *kernel* gradient "
    "descent with an RBF kernel and a learning rate that adapts to the context (eq. 1)."
)

table = loaders.headline_table()
if table is not None:
    seeds = loaders.seed_results()
    summary, seed_words = seeds if seeds else (None, "")
    key = f"home-headline|{loaders.table_key(table)}|{'' if summary is None else loaders.table_key(summary)}"
    widgets.chart_only(loaders.chart_spec(key, lambda: compare_charts.headline_chart(
        table, width=420, height=240, yardsticks=True, seeds=summary)))
    st.markdown("**Softmax attention may learn the better algorithm.** A softmax layer can represent eq. 1, a "
                "linear layer only GD, and each trained layer sits on its closed form. "
                + (seed_words + " (Each linear and softmax layer's point is the mean over its seeds, trained by "
                   "`python -m engine seeds` with the shipped runs' recipes, on the same held-out contexts.)"
                   if seed_words else
                   headline.verdict(table) + " (The trained layers are the shipped fast runs.)"))
    kernel = headline.kernel_words(table)
    if kernel:
        st.markdown(kernel + " A kernel layer represents eq. 3 exactly (Weights page: its sigma^2 and eta read off "
                    "its weights).")
    st.markdown("**For scale**, in grey, classic learners on the same contexts:\n"
                + "\n".join(f"- {sentence}" for sentence in headline.yardsticks(table)))
    with st.expander("The numbers: cross-entropy (accuracy) by d"):
        numbers = headline.by_d(table)
        st.dataframe(numbers, hide_index=True, height=35 * (len(numbers) + 1) + 3)  # every row, no scrolling
        st.caption(f"{int(table['contexts'].iloc[0]):,} held-out contexts per d (C = 5, n = 100). Closed forms at "
                   "constants fitted on other contexts; baselines fitted on other contexts too: k-NN's k and "
                   "smoothing, each GD step count's rate, logistic regression's penalty (linear in x, no bias, "
                   "solved by Newton to a gradient under 1e-6). Each row's constants: pretrained/headline.csv.")
    st.page_link("pages/talk.py", label="Start the talk", icon=":material/slideshow:")
st.subheader("The story, in order")
st.markdown(
    """
1. **Contexts**: C hidden prototypes on the sphere, n labelled points, a query. Move the query and see where
   each model looks and what it predicts, and the decision regions of every model.
2. **Compare**: a trained layer against the closed forms, context by context (loss, probability of the
   correct class, entropy on the line y = x) and by its sensitivities to the query (preds diff, cos sim,
   model diff), with classic learners on the same contexts as yardsticks.
3. **Train**: train a layer live, from a preset or your own settings, and watch it reach the closed form's
   optimum; the run says whether it converged and how it knows.
4. **Weights**: A = W_Q^T W_K and B = W_V^T W_O^T through training taking the block shape of the construction;
   c_sigma and c_eta read off the weights; the check that eq. 1 at those values tracks the model.
5. **Strategies**: the two algorithms a softmax layer learns, *selection* (attend to the nearest points, copy
   their labels) and *elimination* (attend to the furthest, subtract theirs); how often seeds learn each as C,
   d and n vary (Fig. 11), c_sigma and c_eta per learning rate at d = 10 (Fig. 10), and a sweep run live.
6. **Landscapes**: the loss of each closed form over its whole parameter grid, with the optimum and the
   refined point.

**Talk** tells the same story in ten slides for a room (keyboard and clicker navigation, one link per slide), and
**Science** is the full account of the task, the models, the closed forms and the metrics.
"""
)

entries = run_index.entries()
pretrained = [e for e in entries if e.origin == "pretrained"]
user = [e for e in entries if e.origin == "runs"]
st.subheader("Runs available")
if pretrained:
    st.markdown(f"{len(pretrained)} pretrained run(s) and {len(user)} run(s) of your own.")
    st.dataframe([{"run": f"{e.origin}/{e.name}", "model": e.variant, "d": e.config.d, "C": e.config.C,
                   "n": e.config.n, "status": e.status, "converged": e.converged}
                  for e in entries if e.config], hide_index=True)
else:
    st.info(
        "No pretrained runs yet: the pages show the constructions at fitted constants instead (they compute the "
        f"closed forms exactly). {len(user)} run(s) of your own are available; train one on the Train page."
    )
st.caption("Notation: C classes, n context points, d dimensions, D = d + C token width. A softmax layer whose query "
           "attends to the context only (the default) represents eq. 1 exactly; with the query among its keys it "
           "represents eq. 1 self-key. That the paper's layer leaves the query out is an inference, not stated in "
           "the paper: trained that way a d = 3 layer reads c_sigma 30.0, c_eta 7.23 off its weights, close to the "
           "paper's 31.07, 7.15; with the query among its keys, 30.9 and 8.86. The science in full: the Science "
           "page (docs/science.md).")
st.caption(f"JAX runs on: {loaders.init_runtime()}.")
