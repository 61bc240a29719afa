"""The thin caching layer between the pages and the engine: the only module that caches.

Every expensive engine call goes through a `st.cache_data` / `st.cache_resource` wrapper keyed on
plain, hashable values (task sizes, seeds, strings naming a model and its constants), so that moving
a slider recomputes only what depends on it. JAX arrays never cross the cache boundary: inputs and
outputs are numpy arrays, and models are described by `ModelSpec`, whose `key` names it for caching.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import streamlit as st

from engine import closed_form, constructions, metrics, models
from engine.tasks import Contexts, TaskConfig, sample_contexts

Array = jax.Array
ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "pretrained"
USER_RUNS = ROOT / "runs"
FIT_CONTEXTS = 2000  # contexts behind the app's fitted constants (SPEC's 10,000 on the Landscapes page)
CLOSED_FORMS = {
    "gd": "GD, eq. 2",
    "kernel_gd": "kernel GD, eq. 3",
    "adaptive": "eq. 1",
    "adaptive_self_key": "eq. 1, self-key",
}


@st.cache_resource(show_spinner=False)
def job_registry():
    """The one registry of training jobs for this server process (every session sees the same jobs)."""
    from ui.jobs import JobRegistry

    return JobRegistry(parallel=1)


@st.cache_resource(show_spinner=False)
def init_runtime() -> str:
    """Once per process: JAX's persistent compilation cache, so a restarted app skips most compiles."""
    from engine.runtime import enable_compilation_cache

    return str(enable_compilation_cache())


@st.cache_resource(show_spinner=False, max_entries=256)
def chart_spec(key: str, _build: Callable[[], object]) -> dict:
    """The serialised Vega-Lite spec of a chart (`ui.charts.to_spec`), built once per `key`, which must
    name everything the chart shows: Altair's building and serialising costs far more than the numbers
    behind a chart. Shared, so treat it as read-only (`ui.charts.fill` copies before adding data)."""
    from ui import charts

    return charts.to_spec(_build())


# ---------------------------------------------------------------- contexts


def _key(seed: int, stream: int) -> Array:
    """Independent streams per purpose (shown contexts, fitting, comparisons) from one seed."""
    return jax.random.fold_in(jax.random.key(int(seed)), stream)


@st.cache_data(show_spinner="Sampling contexts ...", max_entries=64)
def contexts(d: int, C: int, n: int, seed: int, N: int, stream: int = 0) -> dict[str, np.ndarray]:
    """N contexts of task (d, C, n) as numpy arrays (xs, ys, xq, yq, protos)."""
    ctx = sample_contexts(_key(seed, stream), TaskConfig(d, C, n), int(N))
    return {k: np.asarray(v) for k, v in ctx._asdict().items()}


def as_contexts(arrays: dict[str, np.ndarray]) -> Contexts:
    return Contexts(**{k: jnp.asarray(v) for k, v in arrays.items()})


def with_queries(arrays: dict[str, np.ndarray], queries: np.ndarray) -> Contexts:
    """One context (the first of `arrays`) with Q different queries: a batch of Q contexts.

    The query's true label is recomputed from the prototypes for each query."""
    Q = len(queries)
    xs, ys, protos = arrays["xs"][0], arrays["ys"][0], arrays["protos"][0]
    queries = np.asarray(queries, xs.dtype)
    yq = np.argmax(queries @ protos.T, axis=-1)
    return Contexts(jnp.broadcast_to(xs, (Q, *xs.shape)), jnp.broadcast_to(ys, (Q, *ys.shape)),
                    jnp.asarray(queries), jnp.asarray(yq), jnp.broadcast_to(protos, (Q, *protos.shape)))


# ---------------------------------------------------------------- fitted closed forms


@dataclasses.dataclass(frozen=True)
class Fit:
    """A fitted closed form in plain numbers (what `engine.fit.FitResult` holds)."""

    method: str
    best: dict
    loss: float
    axes: dict
    losses: np.ndarray
    refined: dict
    refined_loss: float
    N: int


@st.cache_data(show_spinner=False, max_entries=64)
def fitted(method: str, d: int, C: int, n: int, N: int | None = None, seed: int = 0) -> Fit:
    """Grid search + refinement of a closed form on N fresh contexts (its own stream, so never the shown ones);
    N defaults to FIT_CONTEXTS."""
    from engine import fit

    N = FIT_CONTEXTS if N is None else int(N)

    ctx = as_contexts(contexts(d, C, n, seed, N, stream=1))
    if method == "gd":
        res = fit.fit_gd(ctx)
    elif method == "kernel_gd":
        res = fit.fit_kernel_gd(ctx)
    else:
        res = fit.fit_adaptive(ctx, self_key=method == "adaptive_self_key")
    return Fit(res.method, {k: float(v) for k, v in res.best.items()}, float(res.loss),
               {k: np.asarray(v) for k, v in res.axes.items()}, np.asarray(res.losses),
               {k: float(v) for k, v in res.refined.items()}, float(res.refined_loss), int(N))


# ---------------------------------------------------------------- runs


def _stamp(path: Path) -> float:
    """Changes whenever a run writes (status and history are rewritten after every chunk)."""
    return max((p.stat().st_mtime for p in (path / "status.json", path / "history.json", path / "config.json")
                if p.exists()), default=0.0)


@dataclasses.dataclass(frozen=True)
class RunEntry:
    """A run folder as listed on the pages: where it lives, and its config or why it cannot be read."""

    name: str
    path: str
    origin: str  # "pretrained" | "runs"
    config: dict | None
    status: str
    error: str = ""
    converged: bool = False

    @property
    def label(self) -> str:
        if self.config is None:
            return f"{self.origin}/{self.name} (unreadable)"
        c = self.config
        return f"{self.origin}/{self.name}: {c['kind']} d={c['d']} C={c['C']} n={c['n']} [{self.status}]"


def run_entries() -> list[RunEntry]:
    """Every run folder under pretrained/ and runs/ (the app reads runs from nowhere else).

    Not cached: a directory listing and two small JSON files per run, and a run started on the Train
    page must show up on the next rerun of any page."""
    from engine.runs import list_runs

    out = []
    for origin, root in (("pretrained", PRETRAINED), ("runs", USER_RUNS)):
        for path in list_runs(root):
            try:
                config = json.loads((path / "config.json").read_text())
                status_file = path / "status.json"
                status = json.loads(status_file.read_text()) if status_file.exists() else {}
                out.append(RunEntry(path.name, str(path), origin, config, status.get("status", "unknown"),
                                    converged=bool(status.get("verdict", {}).get("converged"))))
            except (OSError, ValueError) as e:
                out.append(RunEntry(path.name, str(path), origin, None, "unreadable", f"{type(e).__name__}: {e}"))
    return sorted(out, key=lambda e: (e.origin != "pretrained", e.config is None, e.name))


def _allowed(path: str) -> Path:
    """Runs are read from pretrained/ and runs/ only, whatever string reaches here."""
    p = Path(path).resolve()
    if p.parent not in (PRETRAINED.resolve(), USER_RUNS.resolve()):
        from engine.runs import RunError

        raise RunError(f"{p.name}: runs are read only from pretrained/ and runs/")
    return p


@st.cache_data(show_spinner="Loading run ...", max_entries=32)
def _load_run(path: str, stamp: float):
    from engine.runs import load_run as engine_load_run

    return engine_load_run(path)


def load_run(path: str):
    """The run (config, final weights, history, verdict), reloaded when its files change.
    Raises `engine.runs.RunError` for a missing or corrupt folder."""
    p = _allowed(path)
    return _load_run(str(p), _stamp(p))


def run_key(path: str) -> str:
    """Names a run's current contents (folder and last write) for the caches of what is drawn from it."""
    p = _allowed(path)
    return f"{p}@{_stamp(p)}"


@st.cache_data(show_spinner=False, max_entries=64)
def _history(path: str, stamp: float) -> dict:
    from engine.runs import read_json

    return read_json(Path(path) / "history.json")


def read_history(path: str) -> dict:
    """history.json of a run alone (no checkpoint restore), reread when the run writes: live curves of
    running jobs, and several runs' curves on one chart."""
    p = _allowed(path)
    return _history(str(p), _stamp(p))


def matching_runs(kind: str, d: int, C: int, n: int | None = None) -> list[RunEntry]:
    """Runs of a model kind at (d, C), best first: pretrained before user runs, converged before the rest,
    finished before stopped, the same n before another n."""
    cands = [e for e in run_entries() if e.config and e.config["kind"] == kind and e.config["d"] == d
             and e.config["C"] == C and e.status in ("finished", "stopped")]

    def rank(e: RunEntry):
        return (e.origin != "pretrained", not e.converged, e.status != "finished", n is not None and e.config["n"] != n,
                e.name)

    return sorted(cands, key=rank)


def pick_run(kind: str, d: int, C: int, n: int | None = None) -> RunEntry | None:
    """The run shown by default: the best match if it is pretrained or converged, else none (an unconverged
    run of one's own is offered, not imposed)."""
    runs = matching_runs(kind, d, C, n)
    return runs[0] if runs and (runs[0].origin == "pretrained" or runs[0].converged) else None


# ---------------------------------------------------------------- models


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: an attention layer (kind linear / kernel / softmax with its four matrices)
    or a closed form (kind in CLOSED_FORMS with its constants). `key` names it for the caches."""

    key: str
    label: str
    kind: str
    consts: tuple[tuple[str, float], ...] = ()
    params: tuple[tuple[str, np.ndarray], ...] = ()
    query_in_keys: bool = True
    note: str = ""

    @property
    def constants(self) -> dict[str, float]:
        return dict(self.consts)

    @property
    def is_closed_form(self) -> bool:
        return self.kind in CLOSED_FORMS


def closed_form_spec(method: str, consts: dict[str, float], note: str = "") -> ModelSpec:
    consts_t = tuple(sorted((k, float(v)) for k, v in consts.items()))
    shown = ", ".join(f"{k}={v:.3g}" for k, v in consts_t)
    return ModelSpec(f"cf:{method}:{consts_t}", f"{CLOSED_FORMS[method]} ({shown})", method, consts_t, note=note)


def fitted_closed_form(method: str, task: TaskConfig) -> ModelSpec:
    f = fitted(method, task.d, task.C, task.n)
    return closed_form_spec(method, f.refined, note=f"fitted on {f.N} contexts")


def construction_spec(kind: str, task: TaskConfig, query_in_keys: bool = True) -> ModelSpec:
    """The construction of SPEC 4 at the fitted constants of the closed form it computes."""
    if kind == "linear":
        eta = fitted("gd", task.d, task.C, task.n).refined["eta"]
        params, consts, what = constructions.linear_construction(task, eta), {"eta": eta}, "GD eq. 2"
    elif kind == "kernel":
        best = fitted("kernel_gd", task.d, task.C, task.n).refined
        params, consts, what = constructions.kernel_construction(task, best["eta"]), best, "kernel GD eq. 3"
    else:
        method = "adaptive_self_key" if query_in_keys else "adaptive"
        best = fitted(method, task.d, task.C, task.n).refined
        params = constructions.softmax_construction(task, best["c_eta"], best["c_sigma"])
        consts, what = best, CLOSED_FORMS[method]
    consts_t = tuple(sorted((k, float(v)) for k, v in consts.items()))
    shown = ", ".join(f"{k}={v:.3g}" for k, v in consts_t)
    label = {"linear": "linear SA", "kernel": "kernel SA", "softmax": "softmax SA"}[kind]
    return ModelSpec(f"con:{kind}:{query_in_keys}:{task}:{consts_t}", f"{label} (construction, {shown})", kind,
                     consts_t, tuple((k, np.asarray(v)) for k, v in params.items()), query_in_keys,
                     note=f"construction = {what} at fitted constants")


def run_spec(entry: RunEntry) -> ModelSpec:
    """The trained layer of a run (raises RunError when it cannot be read)."""
    run = load_run(entry.path)
    cfg = run.config
    label = f"{cfg.kind} SA (run {entry.name})"
    return ModelSpec(f"run:{entry.path}:{_stamp(Path(entry.path))}", label, cfg.kind, (),
                     tuple((k, np.asarray(v)) for k, v in run.params.items()), bool(cfg.query_in_keys),
                     note=f"trained: {entry.origin}/{entry.name} ({run.status})")


def _attention(spec_kind: str, params, consts, ctx: Contexts, query_in_keys: bool) -> tuple[Array, Array]:
    """(logits (B, C), attention on the n context points (B, n)) for any model kind."""
    if spec_kind in models.KINDS:
        sigma2 = consts.get("sigma2", models.DEFAULT_SIGMA2)
        lg = models.logits(params, ctx, spec_kind, sigma2=sigma2, query_in_keys=query_in_keys)
        w = models.attention_weights(params, ctx, spec_kind, sigma2=sigma2, query_in_keys=query_in_keys)
        return lg, w[:, :-1]
    n = ctx.xs.shape[1]
    if spec_kind == "gd":
        w = consts["eta"] / n * jnp.einsum("bnd,bd->bn", ctx.xs, ctx.xq)
        return closed_form.gd_logits(ctx, consts["eta"]), w
    if spec_kind == "kernel_gd":
        w = consts["eta"] / n * closed_form.rbf(ctx, consts["sigma2"])
        return closed_form.kernel_gd_logits(ctx, consts["eta"], consts["sigma2"]), w
    self_key = spec_kind == "adaptive_self_key"
    w = closed_form.adaptive_weights(ctx, consts["c_sigma"], self_key)
    return closed_form.adaptive_logits(ctx, consts["c_eta"], consts["c_sigma"], self_key), w


@functools.lru_cache(maxsize=32)
def _evaluator(kind: str, query_in_keys: bool) -> Callable:
    return jax.jit(lambda params, consts, ctx: _attention(kind, params, consts, ctx, query_in_keys))


def logits_fn(spec: ModelSpec) -> Callable[[Contexts], Array]:
    """Contexts -> logits of the model (the form `metrics.alignment` takes)."""
    params = {k: jnp.asarray(v) for k, v in spec.params}
    consts = spec.constants
    return lambda ctx: _attention(spec.kind, params, consts, ctx, spec.query_in_keys)[0]


def evaluate(spec: ModelSpec, ctx: Contexts) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (B, C), attention weights on the context points (B, n)), jitted per kind."""
    params = {k: jnp.asarray(v) for k, v in spec.params}
    consts = {k: jnp.asarray(v, ctx.xs.dtype) for k, v in spec.consts}
    lg, w = _evaluator(spec.kind, spec.query_in_keys)(params, consts, ctx)
    return np.asarray(jax.nn.softmax(lg, -1)), np.asarray(w)


@st.cache_data(show_spinner=False, max_entries=256)
def decision_map(spec_key: str, _spec: ModelSpec, d: int, C: int, n: int, seed: int, grid: str) -> np.ndarray:
    """Predicted class (0-based) of the model for every query on a grid, the context fixed.

    `grid` names the query grid ("circle" or "sphere") so the cache key is complete."""
    from ui import charts

    arrays = contexts(d, C, n, seed, 1)
    if grid == "circle":
        angles = charts.circle_grid()
        queries = np.stack([np.cos(angles), np.sin(angles)], -1)
    else:
        queries = charts.sphere_grid()["xyz"]
    probs, _ = evaluate(_spec, with_queries(arrays, queries.astype(np.float32)))
    return np.argmax(probs, -1)


# ---------------------------------------------------------------- comparisons over many contexts


@st.cache_data(show_spinner=False, max_entries=64)
def per_context(spec_key: str, _spec: ModelSpec, d: int, C: int, n: int, N: int, seed: int) -> dict[str, np.ndarray]:
    """Loss, P(correct), entropy, correct for each of N comparison contexts."""
    ctx = as_contexts(contexts(d, C, n, seed, N, stream=2))
    lg = logits_fn(_spec)(ctx)
    return {k: np.asarray(v) for k, v in metrics.per_context(lg, ctx.yq).items()}


@st.cache_data(show_spinner=False, max_entries=64)
def alignment(spec_key: str, _spec: ModelSpec, ref_key: str, _ref: ModelSpec, d: int, C: int, n: int, N: int,
              seed: int) -> dict[str, float]:
    """Preds diff, cos sim, model diff of a model against a closed form on N contexts (float64)."""
    ctx = as_contexts(contexts(d, C, n, seed, N, stream=2))
    out = metrics.alignment(logits_fn(_spec), logits_fn(_ref), ctx)
    return {k: float(v) for k, v in out.items() if not k.endswith("_per_context")}


# ---------------------------------------------------------------- reading a trained softmax layer


@dataclasses.dataclass(frozen=True)
class Reading:
    """eq. 1 read off a softmax layer (SPEC 7) and checked at and off the extracted constants."""

    c_sigma: float
    c_eta: float
    strategy: str
    margin: float
    rows: tuple[dict, ...]  # one per (constant moved, factor): preds_diff and mean metrics


@st.cache_data(show_spinner=False, max_entries=32)
def read_softmax(spec_key: str, _spec: ModelSpec, d: int, C: int, n: int, N: int, seed: int,
                 factors: tuple[float, ...]) -> Reading:
    from engine import extract

    task = TaskConfig(d, C, n)
    params = {k: jnp.asarray(v) for k, v in _spec.params}
    c_sigma, c_eta = extract.effective_constants(params, task)
    name, margin = extract.strategy(params, task)
    ctx = as_contexts(contexts(d, C, n, seed, N, stream=3))
    rows = extract.check_extracted(params, ctx, c_sigma, c_eta, factors=factors, self_key=_spec.query_in_keys,
                                   query_in_keys=_spec.query_in_keys)
    plain = tuple({k: v for k, v in r.items() if k != "per_context"} for r in rows)
    return Reading(float(c_sigma), float(c_eta), name, float(margin), plain)


# ---------------------------------------------------------------- sweep results (Figs 10 and 11) and strategies

FIG11_EVIDENCE_COLUMNS = ["d", "C", "n", "seed", "step", "strategy", "margin", "c_sigma", "c_eta", "eval_loss",
                          "final_strategy", "agrees", "learned"]  # what engine.figures.fig11 writes beside fig11.csv


def sweep_path(name: str) -> Path:
    """Where a shipped sweep table lives (read at call time: tests point PRETRAINED elsewhere)."""
    return PRETRAINED / "sweeps" / name


@st.cache_data(show_spinner=False, max_entries=16)
def _sweep_table(path: str, stamp: float, columns: tuple[str, ...], bools: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{Path(path).name} lacks the column(s) {', '.join(missing)}")
    if frame.empty:
        raise ValueError(f"{Path(path).name} has no rows")
    for c in bools:  # written as True/False; tolerate 1/0 and any case
        frame[c] = frame[c].astype(str).str.strip().str.lower().isin(("true", "1", "1.0"))
    return frame


def sweep_table(name: str, columns: Sequence[str], bools: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV of pretrained/sweeps/ as a DataFrame, reread when the file changes (keyed on its mtime).

    Raises FileNotFoundError when it is missing and ValueError when it is not that table (no such
    column, no rows, not CSV)."""
    path = sweep_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    try:
        return _sweep_table(str(path), path.stat().st_mtime, tuple(columns), tuple(bools))
    except UnicodeDecodeError as e:
        raise ValueError(f"{name} is not a text file ({e.reason})") from e


@st.cache_data(show_spinner=False, max_entries=64)
def _strategy_of(path: str, stamp: float) -> dict:
    from engine import extract

    run = load_run(path)
    params = {k: jnp.asarray(v) for k, v in run.params.items()}
    c_sigma, c_eta = extract.effective_constants(params, run.config.task)
    name, margin = extract.strategy(params, run.config.task)
    return {"strategy": name, "margin": float(margin), "c_sigma": float(c_sigma), "c_eta": float(c_eta)}


def strategy_of(entry: RunEntry) -> dict:
    """The algorithm a softmax run learned (SPEC 7): strategy, margin, c_sigma, c_eta.
    Raises `engine.runs.RunError` when the run cannot be read."""
    p = _allowed(entry.path)
    return _strategy_of(str(p), _stamp(p))
