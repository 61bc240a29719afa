"""The talk: the paper told in ten slides, one idea each. `SLIDES` is the registry the Talk page walks (its
order is the URL's `?slide=k`) and the static export (`ui.talk_export`) writes; each slide has a headline, a speaker
note (shown in the presenter window, not to the room) and a builder that makes its one chart and captions from the
shipped runs and fits (through the cached loaders), sized to fit a 1280 x 720 projector, in type sized for a room
(`ROOM_CONFIG`, `ROOM_CSS`). Nothing here draws: the builders return plain data (`SlideContent`), so that a page and
a static file show the same slide.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import altair as alt
import numpy as np

from engine import closed_form, figure_analysis, figure_tables, headline
from engine.closed_form import NAMES
from engine.fit import best_at
from engine.fitted import VALLEY_TOLERANCE
from engine.runs import RunError
from engine.tasks import TaskConfig, with_queries
from ui import (
    compare_charts,
    context_charts,
    loaders,
    query_charts,
    run_charts,
    run_index,
    specs,
    strategy_panels,
    talk_charts,
    weight_charts,
)

SETTING = TaskConfig(3, 5, 100)  # d = 3: the paper's Figs. 5b, 6b, 7 and 8 (its Figs. 3 and 4 show d = 5)
CHART_HEIGHT = 330  # every slide's chart fits under a headline at 1280 x 720

# Type for a room: ticks, titles and legends a row back can read (Vega-Lite's defaults are 10-11 px).
ROOM_CONFIG = {"axis": {"labelFontSize": 14, "titleFontSize": 15},
               "legend": {"labelFontSize": 14, "titleFontSize": 14, "labelLimit": 0},  # no label cut short
               "title": {"fontSize": 17}, "header": {"labelFontSize": 14, "titleFontSize": 15}}

# The projected page: no Streamlit toolbar (Deploy, menu), no chart action menus or hover toolbars, less top
# margin so a slide fits 1280 x 720, captions a room can read.
ROOM_CSS = """<style>
header[data-testid="stHeader"] { display: none; }
[data-testid="stMainBlockContainer"] { padding-top: 1.1rem; padding-bottom: 0.5rem; }
[data-testid="stElementToolbar"], .vega-embed details, .vega-embed .vega-actions { display: none !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {
  font-size: 1.02rem !important; color: #31333f !important; }
.talk-headline { font-size: 2.1rem; font-weight: 700; line-height: 1.15; margin: 0; }
.talk-note { font-size: 1.45rem; line-height: 1.45; }
.talk-next { font-size: 1.2rem; color: #555; }
@media (min-width: 1800px) and (min-height: 1000px) {  /* a full-HD screen: the 1280 x 720 layout, enlarged */
  [data-testid="stMainBlockContainer"] { zoom: 1.4; }
}
</style>"""


def current_slide(go: dict | None, raw: str | None, n: int) -> tuple[int, int | None, str | None]:
    """The slide to show: a key press's target (`go` = {slide, seq} from the navigation) when there is one, else
    the URL's `slide=` (Back/Forward, a link). Returns (slide, the press it answers or None, a note for a link
    that could not be shown as given). Out of range is clamped, not reset: `slide=99` opens the last slide."""
    if go is not None:
        try:
            return min(max(1, int(go["slide"])), n), int(go["seq"]), None
        except (KeyError, TypeError, ValueError):
            pass
    if raw is None:
        return 1, None, None
    try:
        k = int(raw)
    except ValueError:
        return 1, None, f"The link's `slide={raw}` is not valid here: showing slide 1."
    if 1 <= k <= n:
        return k, None, None
    shown = min(max(1, k), n)
    return shown, None, f"The link's `slide={raw}` is past the talk's {n} slides: showing slide {shown}."


@dataclasses.dataclass(frozen=True)
class SlideContent:
    """What a slide shows under its headline, built without Streamlit so that the Talk page and the static export
    (`ui.talk_export`) draw the same thing: the chart's Vega-Lite spec in the room's type sizes, its captions, or a
    notice saying why the chart is missing here (a shipped file absent or unreadable)."""

    spec: dict | None = None
    captions: tuple[str, ...] = ()
    notice: str | None = None
    warn: bool = False  # the notice reports a damaged file (a warning), not an absent one (information)


class Missing(Exception):
    """Raised by a slide's builder when a shipped file it needs is absent or unreadable: the slide shows the
    message instead of its chart."""

    def __init__(self, notice: str, warn: bool = False) -> None:
        super().__init__(notice)
        self.notice, self.warn = notice, warn


@dataclasses.dataclass(frozen=True)
class Slide:
    key: str
    headline: str
    note: str
    make: Callable[[], SlideContent]

    def build(self) -> SlideContent:
        """The slide's content from the shipped runs and fits (through the cached loaders)."""
        try:
            return self.make()
        except Missing as m:
            return SlideContent(notice=m.notice, warn=m.warn)


def content(chart: alt.TopLevelMixin | dict, *captions: str) -> SlideContent:
    """A slide's chart (an Altair chart or a serialised spec) in the room's type sizes, with its captions."""
    spec = chart if isinstance(chart, dict) else specs.to_spec(chart)
    return SlideContent(specs.with_config(spec, ROOM_CONFIG), captions)


def _run(name: str):
    """A shipped run by folder name, as (entry, learner); `Missing` when it is absent or unreadable."""
    entry = run_index.by_name(f"pretrained/{name}")
    if entry is None:
        raise Missing(f"The shipped run `pretrained/{name}` is missing here: `bash pretrained/regenerate.sh {name}`.")
    try:
        return entry, loaders.run_learner(entry)
    except RunError as e:
        raise Missing(f"`pretrained/{name}` cannot be read ({e}).", warn=True) from e


def task_slide() -> SlideContent:
    arrays2, arrays3 = loaders.contexts(2, 5, 100, 0, 1), loaders.contexts(3, 5, 100, 0, 1)

    def build():
        parts = []
        for arrays, chart, prefix in ((arrays2, context_charts.circle_chart, "c2_"),
                                      (arrays3, context_charts.sphere_chart, "s3_")):
            xs, ys, xq, protos = arrays["xs"][0], arrays["ys"][0], arrays["xq"][0], arrays["protos"][0]
            parts.append(chart(xs, ys, xq, int(np.argmax(protos @ xq)), protos, size=CHART_HEIGHT - 20,
                               title="d = 2: the circle" if chart is context_charts.circle_chart
                               else "d = 3: the sphere (turn it with the sliders)", prefix=prefix))
        return specs.hconcat(parts)  # each part's datasets lifted to the top, where Vega-Lite reads them

    return content(specs.with_config(loaders.chart_spec("talk-task", build), {"legend": {"disable": True}}))


def model_slide() -> SlideContent:
    return content(loaders.chart_spec("talk-model", lambda: talk_charts.token_diagram(d=2, C=3, n=6, cell=40)))


def _scatter_slide(run: str, method: str, figure: str) -> SlideContent:
    _, learner = _run(run)
    t, N = SETTING, 500
    ref = loaders.fitted_closed_form(method, t)
    m = loaders.per_context(learner, t.d, t.C, t.n, N, 0)
    r = loaders.per_context(ref, t.d, t.C, t.n, N, 0)
    panels = [("loss", "cross-entropy", None), ("p_correct", "P(correct class)", (0.0, 1.0)),
              ("entropy", "entropy of y_hat", (0.0, math.log(t.C) * 1.02))]

    def build():
        return alt.hconcat(*[compare_charts.identity_scatter(m[k], r[k], f"trained {learner.short_name}",
                                                         NAMES[method], title=label, domain=dom, size=255)
                             for k, label, dom in panels])

    al = loaders.alignment(learner, ref, t.d, t.C, t.n, 200, 0)
    said = (f"{N} fresh contexts, d = 3, C = 5, n = 100 (the paper's {figure}); one dot per context, the trained "
            f"layer ({run}, a fast recipe) on x and {NAMES[method]} at its fitted constants on y. Preds diff "
            f"{al['preds_diff']:.4f}, cos sim of the sensitivities {al['cos_sim']:.4f} (on 200 of them, in float64).")
    return content(loaders.chart_spec(f"talk-scatter|{learner.key}|{method}", build), said)


def linear_slide() -> SlideContent:
    return _scatter_slide("fast-linear-d3", "gd", "Fig. 5b")


def softmax_slide() -> SlideContent:
    return _scatter_slide("fast-softmax-d3", "adaptive", "Fig. 6b")


def adaptive_rate_slide() -> SlideContent:
    arrays = loaders.contexts(2, 5, 100, 0, 1)
    xs, ys = arrays["xs"][0], arrays["ys"][0]
    eq1 = loaders.fit("adaptive", 2, 5, 100).refined
    sigma2 = math.sqrt(2 + 5) / eq1["c_sigma"]  # eq. 1's kernel width
    kgd, _ = best_at(loaders.fit("kernel_gd", 2, 5, 100), "sigma2", sigma2)  # kernel GD on the same kernel

    def build():  # eta(X) with the query at every degree of the circle: computed once, with the chart
        round_ = np.radians(np.arange(360))
        asked = with_queries(xs, ys, arrays["protos"][0], np.stack([np.cos(round_), np.sin(round_)], -1))
        eta = np.asarray(closed_form.adaptive_rate(asked, eq1["c_eta"], eq1["c_sigma"]))
        return talk_charts.adaptive_rate_chart(xs, ys, eta, kgd["eta"], height=CHART_HEIGHT - 60)

    return content(loaders.chart_spec(f"talk-eta|{kgd['sigma2']:.6g}", build),
                   f"One context at d = 2. Eq. 1 at its fitted constants is kernel GD with sigma^2 = sqrt(D) / "
                   f"c_sigma = {sigma2:.2g} and the rate eta(X) drawn in red. Grey: kernel GD (eq. 3) on the same "
                   f"kernel (sigma^2 = {kgd['sigma2']:.2g}, the nearest on its fitting grid) with its best fixed rate "
                   f"there, {kgd['eta']:.3g}, the same everywhere. Ticks: the context points.")


def weights_slide() -> SlideContent:
    entry, _ = _run("fast-softmax-d3")
    run = loaders.load_run(entry.path)
    snaps = run.history.get("snapshots", [])
    if not snaps:
        raise Missing("This run kept no A/B snapshots.")
    return content(loaders.chart_spec(f"talk-weights|{loaders.run_key(entry.path)}", lambda: (
        weight_charts.matrix_heatmaps(snaps, SETTING.d, cell=30, param_name="talk_snapshot"))),
        "fast-softmax-d3 (a fast recipe, not the paper's): drag the slider through training. A's x-block "
        "becomes c_sigma times the identity, "
        "B's label block c_eta times the identity (up to a shift per row that softmax ignores).")


def mirrored(row: dict) -> bool:
    """A run's constants on the mirrored branch (both negative: elimination), off the positive-constant charts."""
    return row["c_sigma"] < 0 and row["c_eta"] < 0


def constants_slide() -> SlideContent:
    rows, keys, bands = [], [], []
    for d in (2, 3, 5, 10):
        entry = run_index.by_name(f"pretrained/fast-softmax-d{d}")
        if entry is None:
            continue
        keys.append(loaders.run_key(entry.path))
        evals = loaders.read_history(entry.path)["evals"]
        last = evals[-1]["step"]
        rows += [{"run": f"d = {d}", "step": e["step"], "steps": last, "c_sigma": e["c_sigma"], "c_eta": e["c_eta"]}
                 for e in evals]
        bands += [{"run": f"d = {d}", **b} for b in loaders.seed_band(f"fast-softmax-d{d}", evals[-1]["c_eta"])]
    if not rows:
        raise Missing("No shipped softmax runs here.")
    counts = sorted({b["seeds"] for b in bands})
    caption = ("The shipped softmax runs (fast-softmax-d2 ... d10: fast recipes, not the paper's), step axis as a "
               "fraction of each run; each line's last value written at its end."
               + (f" Shaded: the range over {'-'.join(map(str, counts))} seeds of each recipe that ended on the "
                  "shown run's branch." if bands else ""))
    d10 = next((r for r in reversed(rows) if r["run"] == "d = 10"), None)
    fit10 = loaders.fit("adaptive", 10, 5, 100)
    v = fit10.valley
    if d10 is not None and mirrored(d10):
        caption += (f" At d = 10 this run took the mirrored branch: both constants negative (c_sigma "
                    f"{d10['c_sigma']:.3g}, c_eta {d10['c_eta']:.3g}; elimination). Which branch a run takes is "
                    "set early by its seed, and near c_sigma = 0 the two branches meet at GD (eq. 2), d = 10's "
                    "optimum.")
    elif d10 is not None and v:
        inside = v["lo"] <= d10["c_sigma"] <= v["hi"]
        caption += (f" At d = 10 they do not settle at eq. 1's optimum: under the W_Q/W_K decay the run stops part-way "
                    f"along the landscape's flat valley (c_sigma {d10['c_sigma']:.3g}, c_eta {d10['c_eta']:.3g}, "
                    + ("inside" if inside else "outside")
                    + f" the band c_sigma {v['lo']:.2g} to {v['hi']:.2g} where eq. 1's loss is within "
                    f"{100 * VALLEY_TOLERANCE:g}% of its best; the fit sits at c_sigma "
                    f"{fit10.refined['c_sigma']:.2g}, c_eta {fit10.refined['c_eta']:,.0f}).")
    return content(loaders.chart_spec(f"talk-constants|{'|'.join(keys)}|{len(bands)}", lambda: (
        run_charts.constants_curves(rows, width=run_charts.constants_panel_width(rows, 1000, 400),
                                    height=CHART_HEIGHT - 50, x_axis="fraction", legend_orient="right",
                                    bands=bands))), caption)


def headline_slide() -> SlideContent:
    table = loaders.headline_table()
    if table is None:
        raise Missing("No `pretrained/headline.csv` yet: `python -m engine headline`.")
    seeds = loaders.seed_results()
    summary, seed_words = seeds if seeds else (None, "")
    key = f"talk-headline|{loaders.table_key(table)}|{'' if summary is None else loaders.table_key(summary)}"
    layers = ("the trained layers are each recipe's mean over seeds (bars: 95% intervals)" if seed_words else
              "the trained layers are the fast runs")
    return content(loaders.chart_spec(key, lambda: compare_charts.headline_chart(table, width=520,
                                                                                 height=CHART_HEIGHT - 60,
                                                                                 yardsticks=True, seeds=summary)),
                   f"{int(table['contexts'].iloc[0]):,} held-out contexts per d; {layers}, the closed forms at "
                   "constants fitted on other contexts; in grey, classic learners on the same contexts for scale. "
                   + (seed_words or headline.verdict(table)))


def strategies_slide() -> SlideContent:
    examples, _ = strategy_panels.example_runs()
    picked = [runs[0] for s in strategy_panels.STRATEGIES if (runs := examples[s])]
    if not picked:
        raise Missing("No strategy example runs here: `bash pretrained/regenerate.sh examples`.")
    view = strategy_panels.examples_view(picked, 0, size=240, stacked=False)  # a slide is wide, not tall
    if view is None:
        raise Missing("The strategy example runs here are not of one task at d = 2, the slide's one view.")
    view = query_charts.with_class_legend(view)  # the headline names the query's class: the room needs the key
    try:
        rows = loaders.sweep_table("fig11.csv", figure_tables.FIG11_COLUMNS, ("learned",))
    except (OSError, ValueError):
        return content(view)
    summary = figure_analysis.fig11_summary(rows)
    by_c = summary[summary["vary"] == "C"]
    return content(view, "Fig. 11 with the fast recipe: of the seeds that learned an algorithm, those that learned "
                   "selection: " + ", ".join(f"C = {int(r.C)}: {r.learned_selection} of {r.learned}"
                                             + (f" ({r.seeds - r.learned} of {r.seeds} never left the plateau)"
                                                if r.learned < r.seeds else "") for r in by_c.itertuples()) + ".")


def valley_slide() -> SlideContent:
    entry = run_index.by_name("pretrained/fast-softmax-d10")
    rows = loaders.run_path(entry.path, 10, 5, 100) if entry is not None else []
    if rows and mirrored(rows[-1]):
        run = (f"fast-softmax-d10 (a fast recipe) took the mirrored branch: it ends at c_sigma "
               f"{rows[-1]['c_sigma']:.3g}, c_eta {rows[-1]['c_eta']:.3g}, both negative (elimination), off this "
               "chart of positive constants; near c_sigma = 0 the two branches meet at GD.")
    else:
        run = ("The white path is fast-softmax-d10 (a fast recipe) through training, positive constants only"
               + (f", ending at c_sigma {rows[-1]['c_sigma']:.2g}." if rows else "."))
    valley = loaders.fit_valley(10, 5, 100)
    if valley is not None:  # the valley followed past the fitting grid to its GD end (`python -m engine valley`)
        ce_hi = valley.shipped["c_eta_range"][1]
        paper, lo = valley.at_c_eta(valley.paper_c_eta), valley.at_c_sigma(float(valley.c_sigma[0]))
        return content(loaders.chart_spec(f"talk-valley-whole|{entry and loaders.run_key(entry.path)}", lambda: (
            weight_charts.valley_with_path(valley, rows, size=CHART_HEIGHT - 40))),
            f"Eq. 1 at d = 10 on {valley.N:,} contexts, in the valley's coordinates c_sigma and "
            "eta = c_sigma c_eta / sqrt(D). Along the floor the loss keeps falling as c_sigma shrinks, past the "
            f"fitting grid's top (c_eta = {ce_hi:,.0f}): {paper['excess']:.1e} above GD's at the paper's c_eta ~ "
            f"{valley.paper_c_eta:,.0f}, {lo['excess']:.1e} at c_sigma {lo['c_sigma']:.0e}, down to GD (eq. 2, eta "
            f"{valley.gd['eta']:.3g}) at its end. The paper's \"optimal c_eta ~ {valley.paper_c_eta:,.0f}\" is where "
            "its grid stopped, not an optimum. " + run)
    fit = loaders.fit("adaptive", 10, 5, 100)
    v = fit.valley or {}
    return content(loaders.chart_spec(f"talk-valley|{entry and loaders.run_key(entry.path)}", lambda: (
        weight_charts.landscape_with_path(fit, rows, size=CHART_HEIGHT - 30))),
        f"Eq. 1's loss at d = 10 on 10,000 contexts: {fit.constants_text()}. " + run
        + " The paper's run at its rates had not converged (c_eta still growing; its grid optimum near c_eta 8,000). "
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
          "sit on y = x: same loss, same confidence, same entropy, context by context (the paper's Fig. 5b at d = 3; "
          "its Fig. 3 shows the same at d = 5).",
          linear_slide),
    Slide("softmax", "Trained softmax attention is one step of context-adaptive kernel GD",
          "The same for the trained softmax layer against eq. 1 at its fitted constants (Fig. 6b at d = 3; Fig. 4 at "
          "d = 5). With the query "
          "attending to the context only, the layer represents eq. 1 exactly.", softmax_slide),
    Slide("rate", "Its learning rate adapts to the context",
          "Eq. 1 is kernel GD whose step shrinks where many context points sit near the query and grows where "
          "they are sparse. Move the query: the rate follows the local density of points; plain kernel GD on the "
          "same kernel keeps one rate.", adaptive_rate_slide),
    Slide("weights", "The weights take the construction's shape",
          "A's x-block turns into a scaled identity (c_sigma), B's label block into a scaled identity (c_eta), "
          "the rest to zero: the paper's Fig. 7. Drag through training.", weights_slide),
    Slide("constants", "c_sigma and c_eta through training, per dimension",
          "The two constants read off the weights through training for d = 2, 3, 5, 10 (Fig. 9, with the fast "
          "recipes). Larger d wants a wider kernel (smaller c_sigma) and a larger step. At d = 2, 3 and 5 they "
          "settle near eq. 1's fitted optimum; at d = 10 the run stops part-way along a flat valley.",
          constants_slide),
    Slide("claim", "Softmax attention may learn the better algorithm",
          "Cross-entropy on the same held-out contexts. Each trained layer's point is the mean over five seeds of "
          "its recipe with a 95% interval (seeds of one recipe agree so closely that the bars hide under the "
          "points), and each sits on the closed form it represents; purple: kernel attention, the paper's third "
          "layer, on kernel GD (eq. 3). The caption says where softmax beats linear by more than the seeds allow "
          "and where it does not (at d = 10 eq. 1's optimum is close to its GD limit). No figure of the paper "
          "shows this directly.", headline_slide),
    Slide("strategies", "Two algorithms: selection and elimination",
          "Selection attends to the nearest points and copies their labels; elimination attends to the furthest "
          "and subtracts theirs. Which one a run learns depends on its seed; elimination is frequent for small C "
          "(Fig. 11, counted here among the seeds that learned an algorithm at all).", strategies_slide),
    Slide("valley", "At d = 10 the landscape is a flat valley that ends at GD",
          "Along c_sigma * c_eta = const the loss barely changes, so the paper's run kept growing c_eta and never "
          "converged. Followed past the fitting grid, the valley ends where eq. 1 becomes GD: c_sigma -> 0 with "
          "c_sigma c_eta / sqrt(D) held is one GD step with that rate. The loss keeps falling all the way there, so "
          "the paper's \"optimal c_eta ~ 8,000\" is where its grid stopped, not an optimum. A decay on W_Q, W_K and "
          "a squared-cosine schedule walk the shipped run onto the valley.",
          valley_slide),
]
