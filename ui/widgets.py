"""Page building blocks shared by several pages: task inputs, charts with their data downloads, model
pickers, error reporting. Kept here so pages stay thin and never copy each other."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import altair as alt
import pandas as pd
import streamlit as st

from engine.learners import LAYER_NAMES, Learner
from engine.runs import RunError
from engine.tasks import TaskConfig
from ui import loaders, run_index, specs


def _disable_page_discovery() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the automatic-pages shim
        return
    PagesManager.uses_pages_directory = False


def mark_entry() -> None:
    """Called by app.py: this session runs through app.py's `st.navigation`."""
    _disable_page_discovery()
    st.session_state["_entry"] = True


def ensure_navigation() -> None:
    """Make a page opened directly run through app.py instead.

    Streamlit decides per process, before any script runs, whether a folder named `pages/` means
    automatic page discovery; until `st.navigation` has been called once, a page opened by URL in the
    server's first session runs on its own (no app.py: no page config, the automatic menu). Switching
    discovery off and rerunning gives that visitor the same app as everyone else."""
    if not st.session_state.get("_entry"):
        _disable_page_discovery()
        st.rerun()


def setup_page(title: str, caption: str) -> None:
    """Title and one-line purpose of a page; JAX's compilation cache on first use."""
    ensure_navigation()
    loaders.init_runtime()
    st.title(title)
    st.caption(caption)


def run_unreadable(error: object) -> None:
    """The one message for a chosen run whose files cannot be read (every page that opens runs says this)."""
    st.error(f"**This run cannot be read.** {error}. Choose another run, or delete the folder and train it again.")


def read_only_here(what: str) -> bool:
    """On a read-only server (`KICL_READ_ONLY=1`), say why `what` cannot start here, in place of the controls that
    would start it, and return True; the job layer refuses it too (`ui.jobs.ReadOnlyError`)."""
    from engine.runs import read_only
    from ui.jobs import READ_ONLY

    if not read_only():
        return False
    st.info(f"**{what} is off on this server.** {READ_ONLY}", icon=":material/lock:")
    return True


def in_script() -> bool:
    """Whether a visitor's script run is drawing this (not the server's warm-up running a page outside any
    session, where widgets have no state and only the default view makes sense)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True) is not None


def from_url(key: str, default, valid) -> None:
    """Give a URL-bound widget its first value: the URL's `key=` when `valid(raw)` returns a value for it, else
    `default` with a short note (a bad link opens the default view, never a traceback). Later values are
    kept in the URL by the widget's `bind="query-params"`."""
    if key in st.session_state:
        return
    raw = st.query_params.get(key)
    value = valid(raw) if raw is not None else None
    if raw is not None and value is None:
        st.caption(f"The link's `{key}={raw}` is not valid here: showing {key} = {default}.")
    st.session_state[key] = default if value is None else value


def int_in(lo: int, hi: int):
    """A `valid` for `from_url`: an integer from lo to hi, or None."""
    def valid(raw: str) -> int | None:
        try:
            v = int(raw)
        except ValueError:
            return None
        return v if lo <= v <= hi else None
    return valid


TASK_MAX = {"d": 20, "C": 10, "n": 1000}  # the task inputs' upper bounds (d and C start at 2, n at 1)
SEED_MAX = 10**6
TASK_RANGES = (f"Ranges: d 2 to {TASK_MAX['d']}, C 2 to {TASK_MAX['C']}, n 1 to {TASK_MAX['n']:,} and divisible "
               "by C")


def task_inputs(d: int = 2, C: int = 5, n: int = 100, with_seed: bool = True,
                container=None) -> tuple[TaskConfig | None, int]:
    """d, C, n (and seed) inputs, bound to the URL (`?d=3&C=5&n=100&seed=4`) and shared by the pages; an
    invalid combination is reported with what to change (no traceback). Returns (task or None, seed)."""
    box = container if container is not None else st.sidebar
    box.markdown("**Task**")
    fresh = [k for k in ("d", "C", "n") if k not in st.session_state]
    if fresh:  # a link's task that cannot be built (n not divisible by C, d or C below 2) opens the default task
        got = {k: int_in(1, TASK_MAX[k])(st.query_params.get(k, str(v)))  # the boxes' own ranges
               for k, v in (("d", d), ("C", C), ("n", n))}
        try:
            TaskConfig(**{k: v if v is not None else {"d": d, "C": C, "n": n}[k] for k, v in got.items()})
        except ValueError as e:
            st.session_state["_task_note"] = f"The link's task cannot be built ({e}): showing d = {d}, C = {C}, " \
                                             f"n = {n}."
            for k, v in (("d", d), ("C", C), ("n", n)):
                st.session_state.setdefault(k, v)
                if k in st.query_params:
                    del st.query_params[k]
            st.rerun()  # a bound box takes the URL's value over the session's on its first run: run again without
    if note := st.session_state.pop("_task_note", None):
        st.caption(note)

    def number(label: str, key: str, default: int, lo: int, hi: int, **kw) -> int:
        if not in_script():  # the warm-up runs pages outside a session: the default view
            return default
        from_url(key, default, int_in(lo, hi))  # callbacks (New context) set it too: no value= here
        return int(box.number_input(label, min_value=lo, max_value=hi, step=1, key=key, bind="query-params", **kw))

    d_ = number("d (dimension)", "d", d, 1, TASK_MAX["d"],
                help=f"2 to {TASK_MAX['d']}: points live on the unit sphere S^(d-1); d = 2 is the circle, d = 3 "
                     "the sphere")
    C_ = number("C (classes)", "C", C, 1, TASK_MAX["C"], help=f"2 to {TASK_MAX['C']}")
    n_ = number("n (context points)", "n", n, 1, TASK_MAX["n"],
                help=f"1 to {TASK_MAX['n']:,}, divisible by C: exactly n/C points per class")
    seed = number("seed", "seed", 0, 0, SEED_MAX) if with_seed else 0
    if in_script():  # a value typed outside the box's range is not applied: say the ranges where they are seen
        box.caption(TASK_RANGES + (f"; seed 0 to {SEED_MAX:,}" if with_seed else "") + ". A number outside its "
                    "range is not applied (the box keeps it, asking for Enter): bring it into the range.")
    try:
        return TaskConfig(int(d_), int(C_), int(n_)), seed
    except ValueError as e:
        st.error(f"**This task cannot be built.** {e}")
        return None, seed


def chart_only(chart: alt.TopLevelMixin | dict, width: str = "content") -> None:
    """Draw a chart (an Altair chart or a serialised spec from `loaders.chart_spec` / `specs.fill`) at
    the size its builder chose; its action menu saves PNG/SVG."""
    st.vega_lite_chart(chart if isinstance(chart, dict) else specs.to_spec(chart), width=width)


def show_chart(chart: alt.TopLevelMixin | dict, data: pd.DataFrame | Mapping | Sequence | Callable[[], pd.DataFrame],
               name: str, label: str = "Download the data (CSV)", width: str = "content") -> None:
    """A chart and a download button for the data behind it. The CSV is written when the button is
    clicked (`data` may be a callable giving the frame), not on every rerun."""
    chart_only(chart, width)

    def csv() -> bytes:
        frame = data() if callable(data) else data
        return (frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)).to_csv(index=False).encode()

    st.download_button(label, csv, file_name=f"{name}.csv", mime="text/csv", key=f"dl_{name}", on_click="ignore")


def download_json(obj: object, name: str, label: str = "Download the config (JSON)") -> None:
    st.download_button(label, json.dumps(obj, indent=2).encode(), file_name=f"{name}.json",
                       mime="application/json", key=f"dl_{name}", on_click="ignore")


CONSTRUCTION = "construction at fitted constants"


def attention_model(kind: str, task: TaskConfig, container=None) -> tuple[Learner, str | None]:
    """The layer of `kind` shown for this task: a selectbox offers the construction and every matching run,
    defaulting to the best pretrained or converged run, else the construction. Returns the learner and, when
    the construction stands in, why."""
    box = container if container is not None else st.sidebar
    ranked = run_index.matching(kind, task.d, task.C, task.n, query_in_keys=False)
    runs = {run_id(e): e for e in ranked}
    default = run_index.best_of(ranked)
    options = [CONSTRUCTION, *runs]
    choice = box.selectbox(f"{LAYER_NAMES[kind]} from", options,
                           index=options.index(run_id(default)) if default else 0,
                           format_func=lambda o: runs[o].label if o in runs else o,
                           key=f"src_{kind}_{task.d}_{task.C}")
    if choice != CONSTRUCTION:
        try:
            return loaders.run_learner(runs[choice]), None
        except RunError as e:
            return loaders.construction(kind, task), f"run {runs[choice].name} is unreadable ({e})"
    construction = loaders.construction(kind, task)
    if not runs:
        return construction, f"no trained {kind} run for d={task.d}, C={task.C}"
    if default is None:
        return construction, (f"no pretrained or converged {kind} run for d={task.d}, C={task.C} (others can be "
                               "picked in the sidebar)")
    return construction, None


def standard_models(task: TaskConfig) -> tuple[list[Learner], list[str]]:
    """The four models of the Contexts page: linear SA, softmax SA, GD (eq. 2), eq. 1; and fallback notes."""
    models, notes = [], []
    st.sidebar.markdown("**Models**")
    for kind in ("linear", "softmax"):
        learner, why = attention_model(kind, task)
        models.append(learner)
        if why:
            notes.append(f"{LAYER_NAMES[kind]}: {why}, so its construction at fitted constants is shown.")
    models.append(loaders.fitted_closed_form("gd", task))
    models.append(loaders.fitted_closed_form("adaptive", task))
    return models, notes


def run_id(entry: run_index.RunEntry) -> str:
    """How a run is named in pickers and links: 'pretrained/fast-softmax-d3', 'runs/my-run'."""
    return f"{entry.origin}/{entry.name}"


NO_RUN = "none"


def run_picker(label: str, key: str, entries: Sequence[run_index.RunEntry] | None = None,
               multi: bool = False, default: Sequence[str] | str = (), container=None, url: bool = False,
               optional: bool = False):
    """Choose among the runs of pretrained/ and runs/ (options are run ids, shown by label, so a running
    run's changing label keeps its selection); returns entries (or one entry, or None). `default`: the ids
    selected first (one id for a single choice). With `url`, a single choice is bound to the URL's `key=`
    (only ids of listed runs are accepted: a link cannot point the app anywhere else). `optional`: a single
    choice whose first option, "none", returns None."""
    box = container if container is not None else st
    entries = list(run_index.entries() if entries is None else entries)
    by_id = {run_id(e): e for e in entries}
    show = {k: e.label for k, e in by_id.items()}.get
    if multi:
        chosen = box.multiselect(label, list(by_id), default=[i for i in default if i in by_id], format_func=show,
                                 key=key)
        return [by_id[i] for i in chosen]
    if not by_id:
        return None
    ids = ([NO_RUN] if optional else []) + list(by_id)
    first = default if isinstance(default, str) and default in by_id else ids[0]
    if url:
        if not in_script():  # the warm-up: the default view
            return by_id.get(first)
        # the bound widget leaves its own default, the first option, out of the URL: the page's default must be it,
        # or a link to the first listed run would lose its `key=` and reopen on the page's default
        ids.insert(0, ids.pop(ids.index(first)))
        from_url(key, first, lambda raw: raw if raw in ids else None)
        if st.session_state[key] not in ids:  # a run that has gone since
            st.session_state[key] = first
        # no format_func here: a bound widget writes what it shows into the URL, and the id is what links name
        chosen = by_id.get(box.selectbox(label, ids, key=key, bind="query-params"))
        if chosen:
            box.caption(chosen.label.split(": ", 1)[-1])
        return chosen
    return by_id.get(box.selectbox(label, ids, index=ids.index(first), format_func=lambda i: show(i) or i, key=key))
