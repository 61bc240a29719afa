"""The app's caching layer, and only that: every expensive engine call the pages make goes through a
`st.cache_data` / `st.cache_resource` wrapper here, keyed on plain values (task sizes, seeds, a
learner's `key`, a run folder's last write). JAX arrays never cross the cache boundary: inputs and
outputs are numpy arrays or the engine's plain dataclasses."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import streamlit as st

from engine import extract, fitted, learners, metrics, valley
from engine.figure_tables import read_table
from engine.learners import Learner
from engine.runs import Run, read_json
from engine.runs import load_run as engine_load_run
from engine.tasks import Contexts, TaskConfig, sample_contexts, with_queries
from ui import run_index

BY_KEY = {Learner: lambda learner: learner.key}  # a learner is cached under its key, never hashed by content


@st.cache_resource(show_spinner=False)
def job_registry():
    """The one registry of training jobs for this server process (every session sees the same jobs)."""
    from ui.jobs import JobRegistry

    return JobRegistry(parallel=1)


@st.cache_resource(show_spinner=False)
def init_runtime() -> str:
    """Once per process: JAX's persistent compilation cache; returns where JAX runs, in words."""
    from engine.runtime import device_summary, enable_compilation_cache

    enable_compilation_cache()
    return device_summary()


def digest(obj: object) -> str:
    """A short name for JSON-like content, for cache keys that must change whenever what is drawn changes."""
    return hashlib.blake2b(json.dumps(obj, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=256)
def chart_spec(key: str, _build: Callable[[], object]) -> dict:
    """The serialised Vega-Lite spec of a chart, built once per `key`, which must name everything the chart
    shows: Altair's building and serialising costs far more than the numbers behind a chart. Shared, so
    treat it as read-only (`ui.specs.fill` copies before adding data)."""
    from ui import specs

    return specs.to_spec(_build())


def arrow_datasets(spec: dict) -> dict:
    """The spec with its named datasets as Arrow IPC bytes, the form Streamlit sends them in. Streamlit converts
    a dataset of rows through pandas to Arrow on every draw, half a talk slide's rerun: a cached spec converts once."""
    from streamlit.dataframe_util import convert_anything_to_arrow_bytes

    if not spec.get("datasets"):
        return spec
    return {**spec, "datasets": {name: rows if isinstance(rows, bytes) else convert_anything_to_arrow_bytes(rows)
                                 for name, rows in spec["datasets"].items()}}


@st.cache_resource(show_spinner=False, max_entries=64)
def live_chart_spec(key: str, _build: Callable[[], object]) -> dict:
    """`chart_spec` for the charts a polling fragment redraws (a training job's): in the form Streamlit sends
    (`arrow_datasets`), converted once and not at every poll, and with datasets named by their place
    (`specs.stable_names`), so that a rebuild with new rows updates the drawn chart in place."""
    from ui import specs

    return arrow_datasets(specs.stable_names(specs.to_spec(_build())))


@st.cache_resource(show_spinner=False, max_entries=64)
def _slide(key: str, stamp: tuple[float, ...], _build: Callable[[], object]):
    content = _build()
    return content if content.spec is None else dataclasses.replace(content, spec=arrow_datasets(content.spec))


def slide_content(slide):
    """A talk slide's content (`ui.talk.Slide.build`), built once per slide until a run or shipped file changes,
    its data ready to send: every viewer of a shared talk asks for the same ten slides. Shared: read-only."""
    return _slide(slide.key, run_index.roots_stamp(), slide.build)


# ---------------------------------------------------------------- contexts


def _key(seed: int, stream: int) -> jax.Array:
    """Independent streams per purpose (shown contexts 0, comparisons 2, the extracted check 3) from one seed."""
    return jax.random.fold_in(jax.random.key(int(seed)), stream)


@st.cache_data(show_spinner="Sampling contexts ...", max_entries=64)
def contexts(d: int, C: int, n: int, seed: int, N: int, stream: int = 0) -> dict[str, np.ndarray]:
    """N contexts of task (d, C, n) as numpy arrays (xs, ys, xq, yq, protos)."""
    ctx = sample_contexts(_key(seed, stream), TaskConfig(d, C, n), int(N))
    return {k: np.asarray(v) for k, v in ctx._asdict().items()}


def as_contexts(arrays: dict[str, np.ndarray]) -> Contexts:
    return Contexts(**{k: jnp.asarray(v) for k, v in arrays.items()})


# ---------------------------------------------------------------- fitted closed forms


@st.cache_resource(show_spinner="Fitting the closed forms ...", max_entries=64)
def fit(method: str, d: int, C: int, n: int) -> fitted.Fitted:
    """The stored fit of a closed form for a task setting (`engine.fitted`: shipped, cached on disk, or fitted
    once): the same constants on every page and in every run's yardstick."""
    return fitted.fitted(method, TaskConfig(d, C, n))


@st.cache_resource(show_spinner=False, max_entries=8)
def fit_valley(d: int, C: int, n: int) -> valley.Valley | None:
    """Eq. 1's valley followed to its GD end, where `python -m engine valley` shipped one for the setting (about a
    minute to compute: no page makes one), else None."""
    return valley.stored(TaskConfig(d, C, n))


def fitted_closed_form(method: str, task: TaskConfig) -> Learner:
    f = fit(method, task.d, task.C, task.n)
    return learners.of_closed_form(method, f.refined, note=f"fitted on {f.N:,} contexts")


def construction(kind: str, task: TaskConfig, query_in_keys: bool = False) -> Learner:
    """The construction of `kind` at the fitted constants of the closed form it computes."""
    from engine.closed_form import represented_by

    consts = fit(represented_by(kind, query_in_keys), task.d, task.C, task.n).refined
    return learners.of_construction(kind, task, consts, query_in_keys)


@st.cache_resource(show_spinner="Fitting the baselines (once per task setting) ...", max_entries=16)
def baseline_fits(d: int, C: int, n: int) -> dict:
    """The baselines' constants for a task setting (`engine.baselines.fitted`: k-NN's k and smoothing, each GD step
    count's rate, logistic regression's penalty), fitted once per server process."""
    from engine import baselines

    return baselines.fitted(TaskConfig(d, C, n))


@st.cache_data(show_spinner=False, max_entries=32)
def baseline_rows(d: int, C: int, n: int, N: int, seed: int) -> list[dict]:
    """Each baseline's loss, accuracy and constants on the N comparison contexts `per_context` uses."""
    from engine import baselines

    ctx = as_contexts(contexts(d, C, n, seed, N, stream=2))
    return baselines.table(ctx, baseline_fits(d, C, n))


# ---------------------------------------------------------------- runs


@st.cache_data(show_spinner="Loading run ...", max_entries=32)
def _load_run(path: str, stamp: float) -> Run:
    return engine_load_run(path)


def load_run(path: str) -> Run:
    """The run (config, final weights, history, verdict), reloaded when its files change.
    Raises `engine.runs.RunError` for a missing or corrupt folder, or one outside the run roots."""
    p = run_index.allowed(path)
    return _load_run(str(p), run_index.stamp(p))


def run_key(path: str) -> str:
    """Names a run's current contents (folder and last write) for the caches of what is drawn from it."""
    p = run_index.allowed(path)
    return f"{p}@{run_index.stamp(p)}"


@st.cache_data(show_spinner=False, max_entries=64)
def _history(path: str, stamp: float) -> dict:
    from engine.runs import upgrade_history

    return upgrade_history(read_json(Path(path) / "history.json"))


def read_history(path: str) -> dict:
    """history.json of a run alone (no checkpoint restore), reread when the run writes: live curves of
    running jobs, and several runs' curves on one chart."""
    p = run_index.allowed(path)
    return _history(str(p), run_index.stamp(p))


@st.cache_data(show_spinner=False, max_entries=64)
def _path(path: str, stamp: float, d: int, C: int, n: int) -> list[dict]:
    return extract.path(_history(path, stamp).get("snapshots", []), TaskConfig(d, C, n))


def run_path(path: str, d: int, C: int, n: int) -> list[dict]:
    """A run's (c_sigma, c_eta, eta) at every stored snapshot (`engine.extract.path`), reread when it writes."""
    p = run_index.allowed(path)
    return _path(str(p), run_index.stamp(p), d, C, n)


def run_learner(entry: run_index.RunEntry) -> Learner:
    """The trained layer of a run (raises RunError when it cannot be read)."""
    run = load_run(entry.path)
    return learners.of_run(run.config.kind, run.params, run.config.query_in_keys, run_key(entry.path), entry.name,
                           note=f"trained: {entry.origin}/{entry.name} ({run.status})")


# ---------------------------------------------------------------- learners on contexts


@st.cache_data(show_spinner=False, max_entries=256, hash_funcs=BY_KEY)
def decision_map(learner: Learner, d: int, C: int, n: int, seed: int, grid: str) -> np.ndarray:
    """Predicted class (0-based) of the learner for every query on a grid ("circle" or "sphere"), the context
    fixed."""
    from ui import geometry

    if grid not in ("circle", "sphere"):
        raise ValueError(f"decision regions are drawn on the circle or the sphere, not on {grid!r}")
    arrays = contexts(d, C, n, seed, 1)
    if grid == "circle":
        angles = geometry.circle_grid()
        queries = np.stack([np.cos(angles), np.sin(angles)], -1)
    else:
        queries = geometry.sphere_grid()["xyz"]
    asked = with_queries(arrays["xs"][0], arrays["ys"][0], arrays["protos"][0], queries)
    probs, _ = learners.probabilities(learner, asked)
    return np.argmax(probs, -1)


@st.cache_data(show_spinner=False, max_entries=32, hash_funcs=BY_KEY)
def query_view_data(models: tuple[Learner, ...], names: tuple[str, ...], d: int, C: int, n: int, seed: int,
                    contrast: tuple[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """The data of the in-browser query view (`ui.query_charts`) for one context: every learner's query-row
    form, its decision regions, and where the two `contrast` learners disagree."""
    from engine import query_row
    from ui import geometry, query_charts

    arrays = contexts(d, C, n, seed, 1)
    xs, ys, protos = arrays["xs"][0], arrays["ys"][0], arrays["protos"][0]
    forms = {name: query_row.of_learner(m, xs, ys, C) for name, m in zip(names, models)}
    grid_name = geometry.view_for(d)
    regions = {name: decision_map(m, d, C, n, seed, grid_name) for name, m in zip(names, models)}
    grid = {"angle": geometry.circle_grid()} if d == 2 else geometry.sphere_grid()
    return query_charts.datasets(forms, xs, ys, protos, regions, grid, contrast)


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_KEY)
def per_context(learner: Learner, d: int, C: int, n: int, N: int, seed: int) -> dict[str, np.ndarray]:
    """Loss, P(correct), entropy, correct for each of N comparison contexts."""
    ctx = as_contexts(contexts(d, C, n, seed, N, stream=2))
    lg = learners.logits_fn(learner)(ctx)
    return {k: np.asarray(v) for k, v in metrics.per_context(lg, ctx.yq).items()}


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_KEY)
def alignment(learner: Learner, ref: Learner, d: int, C: int, n: int, N: int, seed: int) -> dict[str, float]:
    """Preds diff, cos sim, model diff of a learner against a closed form on N contexts (float64)."""
    ctx = as_contexts(contexts(d, C, n, seed, N, stream=2))
    out = metrics.alignment(learners.logits_fn(learner), learners.logits_fn(ref), ctx)
    return {k: float(v) for k, v in out.items() if not k.endswith("_per_context")}


@st.cache_data(show_spinner=False, max_entries=32, hash_funcs=BY_KEY)
def read_softmax(learner: Learner, d: int, C: int, n: int, N: int, seed: int,
                 checks: tuple[tuple[float, float], ...] = ()) -> extract.Reading:
    """eq. 1 read off a softmax layer, checked at the extracted constants, moved off them, and at each
    (c_sigma, c_eta) pair of `checks`."""
    ctx = as_contexts(contexts(d, C, n, seed, N, stream=3))
    return extract.reading(learner.weights, ctx, learner.query_in_keys, checks)


@st.cache_data(show_spinner=False, max_entries=32, hash_funcs=BY_KEY)
def read_kernel(learner: Learner, d: int, C: int, n: int, N: int, seed: int) -> tuple[dict[str, float], tuple]:
    """Eq. 3 read off a kernel layer (sigma2, eta), checked at the read constants and moved off them."""
    ctx = as_contexts(contexts(d, C, n, seed, N, stream=3))
    return extract.kernel_reading(learner.weights, ctx)


# ---------------------------------------------------------------- shipped tables and strategies


def sweep_path(name: str) -> Path:
    """Where a shipped sweep table lives (read at call time: tests point the roots elsewhere)."""
    return run_index.PRETRAINED / "sweeps" / name


@st.cache_data(show_spinner=False, max_entries=16)
def _sweep_table(path: str, stamp: float, columns: tuple[str, ...], bools: tuple[str, ...]) -> pd.DataFrame:
    return read_table(Path(path), columns, bools)


def sweep_table(name: str, columns: Sequence[str], bools: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV of pretrained/sweeps/, reread when the file changes. FileNotFoundError when it is missing,
    ValueError when it is not that table."""
    path = sweep_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    return _sweep_table(str(path), path.stat().st_mtime, tuple(columns), tuple(bools))


@st.cache_data(show_spinner=False, max_entries=4)
def _headline(path: str, stamp: float) -> pd.DataFrame:
    from engine.headline import COLUMNS

    return read_table(Path(path), COLUMNS)


def table_key(frame: pd.DataFrame) -> str:
    """Names a table's contents, for the caches of what is drawn from it."""
    return str(int(pd.util.hash_pandas_object(frame, index=False).sum()))


def headline_table() -> pd.DataFrame | None:
    """pretrained/headline.csv (softmax vs linear and the closed forms by d), or None when it is missing or
    unreadable."""
    path = run_index.PRETRAINED / "headline.csv"
    try:
        return _headline(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return None


@st.cache_data(show_spinner=False, max_entries=4)
def _seed_results(path: str, stamp: float) -> tuple[pd.DataFrame, str]:
    from engine import seeds

    rows = read_table(Path(path), seeds.COLUMNS, ["converged"]).to_dict("records")
    return pd.DataFrame(seeds.summary(rows)), seeds.verdict(rows)


def seed_results() -> tuple[pd.DataFrame, str] | None:
    """The headline's layers over seeds (pretrained/sweeps/seeds.csv): the summary per (d, layer) with 95%
    intervals (`engine.seeds.summary`) and what they allow in words (`engine.seeds.verdict`), computed once per
    version of the file; None when it is missing or unreadable."""
    from engine import seeds

    path = sweep_path(seeds.default_path().name)
    try:
        return _seed_results(str(path), path.stat().st_mtime)
    except (OSError, ValueError):
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def _seed_band(path: str, stamp: float, preset: str, sign: float) -> list[dict]:
    from engine import seeds

    history = read_table(Path(path), seeds.HISTORY_COLUMNS)
    return seeds.band(history[history["preset"] == preset].to_dict("records"), preset, sign)


def seed_band(preset: str, final_c_eta: float) -> list[dict]:
    """The range of c_sigma and c_eta through training over the seeds of a shipped recipe that ended on the branch
    of `final_c_eta`'s sign (pretrained/sweeps/seeds_history.csv, `engine.seeds.band`), computed once per version of
    the file; empty when it is missing or unreadable."""
    from engine import seeds

    path = seeds.history_path(sweep_path(seeds.default_path().name))
    try:
        return _seed_band(str(path), path.stat().st_mtime, preset, float(np.sign(final_c_eta or 0)))
    except (OSError, ValueError):
        return []


@st.cache_data(show_spinner=False, max_entries=64)
def _strategy_of(path: str, stamp: float) -> dict:
    run = load_run(path)
    params = {k: jnp.asarray(v) for k, v in run.params.items()}
    c_sigma, c_eta = extract.effective_constants(params, run.config.task)
    name, margin = extract.strategy(params, run.config.task)
    return {"strategy": name, "margin": float(margin), "c_sigma": float(c_sigma), "c_eta": float(c_eta)}


def strategy_of(entry: run_index.RunEntry) -> dict:
    """The algorithm a softmax run learned: strategy, margin, c_sigma, c_eta (RunError when unreadable)."""
    p = run_index.allowed(entry.path)
    return _strategy_of(str(p), run_index.stamp(p))
