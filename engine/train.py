"""Training the four matrices W_Q, W_K, W_V, W_O on fresh contexts (docs/science.md section 8).

Steps run in jitted chunks (`lax.scan`, one sampler call and one Adam step each). Between chunks
the loop evaluates, records history, checkpoints, reports progress and honours a stop request,
so a chunk of k steps is exactly k single steps and a resumed run continues bit-identically.
The CLI is `python -m engine train` (`engine.cli`).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from engine import fitted, metrics, models
from engine.config import PRESETS, SCHEDULES, TrainConfig, strategy_recipe  # noqa: F401  (re-exported)
from engine.extract import run_constants
from engine.fit import closed_form_fn
from engine.optim import learning_rate, optimizer
from engine.runs import (
    Run,
    RunError,
    checkpoint_manager,
    load_run,
    read_json,
    restore_state,
    save_state,
    write_json,
)
from engine.state import init_state, state_template
from engine.tasks import Contexts, sample_contexts

Array = jax.Array


def loss_fn(params: models.Params, ctx: Contexts, kind: str, query_in_keys: bool) -> Array:
    """Mean cross-entropy of the query's prediction."""
    logits = models.logits(params, ctx, kind, query_in_keys=query_in_keys)
    return optax.softmax_cross_entropy_with_integer_labels(logits, ctx.yq).mean()


@functools.lru_cache(maxsize=32)
def make_chunk(config: TrainConfig, length: int) -> Callable[[dict], tuple[dict, Array, Array, Array, Array, Array]]:
    """Jitted: `length` training steps in one `lax.scan`; returns the state, per-step loss and grad norm,
    and A, B after every step (length x D x D each: cheap, and snapshots can fall between evaluations) with the
    key norms a kernel layer's reading needs (length x 2; zeros for the other kinds)."""
    opt = optimizer(config)
    task = config.task

    def step(carry, _):
        params, opt_state, key = carry
        key, k_ctx = jax.random.split(key)
        ctx = sample_contexts(k_ctx, task, config.batch)
        loss, grads = jax.value_and_grad(loss_fn)(params, ctx, config.kind, config.query_in_keys)
        updates, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        norms = models.key_norms(params, task.d) if config.kind == "kernel" else jnp.zeros(2)
        return (params, opt_state, key), (loss, optax.tree.norm(grads), *models.products(params), norms)

    @jax.jit
    def chunk(state: dict) -> tuple[dict, Array, Array, Array, Array, Array]:
        carry = (state["params"], state["opt_state"], jax.random.wrap_key_data(state["key"]))
        (params, opt_state, key), (losses, gnorms, As, Bs, Ns) = jax.lax.scan(step, carry, length=length)
        new = {"params": params, "opt_state": opt_state, "key": jax.random.key_data(key),
               "step": state["step"] + length}
        return new, losses, gnorms, As, Bs, Ns

    return chunk


@functools.partial(jax.jit, static_argnames=("kind", "query_in_keys"))
def evaluate(params, ctx, kind, query_in_keys):
    """(mean loss, accuracy) on `ctx`."""
    m = metrics.per_context(models.logits(params, ctx, kind, query_in_keys=query_in_keys), ctx.yq)
    return m["loss"].mean(), m["correct"].mean()


@functools.partial(jax.jit, static_argnames=("kind", "query_in_keys", "method"))
def _align(params, ctx, consts, kind, query_in_keys, method):
    model = models.model_fn(params, kind, query_in_keys=query_in_keys)
    out = metrics.alignment(model, closed_form_fn(method, consts), ctx, precise=False)
    return {k: out[k] for k in ("preds_diff", "cos_sim", "model_diff")}


def alignment_row(params, ctx: Contexts, config: TrainConfig, method: str, consts: dict) -> dict[str, float]:
    """Alignment metrics in float64 (saturated softmax needs it), compiled once per run shape."""
    with jax.enable_x64(True):
        out = _align(metrics.to_float64(params), metrics.to_float64(ctx),
                     {k: jnp.float64(v) for k, v in consts.items()}, config.kind, config.query_in_keys, method)
        return {k: float(v) for k, v in out.items()}


def context_keys(config: TrainConfig) -> dict[str, Array]:
    """Keys of the evaluation and alignment contexts: fixed per seed, apart from training draws."""
    base = jax.random.fold_in(jax.random.key(config.seed), 1_000_003)
    return dict(zip(("eval", "align", "fit"), jax.random.split(base, 3), strict=True))


def contexts_for(config: TrainConfig) -> dict[str, Contexts]:
    """Evaluation and alignment contexts of a run (the closed forms are fitted on `engine.fitted`'s)."""
    keys = context_keys(config)
    sizes = {"eval": config.eval_contexts, "align": config.align_contexts}
    return {name: sample_contexts(keys[name], config.task, size) for name, size in sizes.items()}


def yardstick_methods(config: TrainConfig) -> list[str]:
    """The run's own closed form first; a softmax run also records the other variant of eq. 1, so the two
    can be read side by side."""
    if config.kind != "softmax":
        return [config.yardstick]
    return [config.yardstick] + [m for m in ("adaptive", "adaptive_self_key") if m != config.yardstick]


def at_fit(config: TrainConfig, method: str, eval_ctx: Contexts) -> tuple[fitted.Fitted, float]:
    """A closed form at its stored fit (`engine.fitted`, on `fit_contexts` contexts) and its mean loss on
    `eval_ctx`: what a run of `config` is measured against."""
    f = fitted.fitted(method, config.task, config.fit_contexts)
    logits = closed_form_fn(method, f.refined)(eval_ctx)
    return f, float(metrics.per_context(logits, eval_ctx.yq)["loss"].mean())


def fit_yardsticks(config: TrainConfig, eval_ctx: Contexts) -> dict[str, dict]:
    """The closed forms of `yardstick_methods` at their stored fits (`at_fit`), with their loss on the run's
    evaluation contexts."""
    out = {}
    for method in yardstick_methods(config):
        f, eval_loss = at_fit(config, method, eval_ctx)
        out[method] = {"method": method, "best": f.refined, "fit_loss": f.refined_loss, "loss": eval_loss,
                       "fit_N": f.N, "on_edge": list(f.on_edge)}
    return out


def warm(config: TrainConfig) -> None:
    """Compiles a run's programs by running each once on the run's own shapes, writing nothing: its chunk of
    `eval_every` steps, the sampling of its evaluation contexts, evaluation, the closed forms at their fits and
    the alignment. The app does this for the demo presets ahead of a click, so Start spends no time compiling
    (and the persistent compilation cache keeps them for the next process)."""
    state = init_state(config)
    ctxs = contexts_for(config)
    jax.block_until_ready(make_chunk(config, min(config.eval_every, config.steps))(state))
    evaluate(state["params"], ctxs["eval"], config.kind, config.query_in_keys)
    for method, yard in fit_yardsticks(config, ctxs["eval"]).items():
        alignment_row(state["params"], ctxs["align"], config, method, yard["best"])


def snapshot_steps(config: TrainConfig) -> set[int]:
    """Steps whose A and B are kept: at least `max_snapshots` (or every step), half log-spaced (dense
    where the structure forms, in the first steps) and half evenly spaced, plus step 0 and the last."""
    steps, k = config.steps, max(2, config.max_snapshots // 2)
    want = min(config.max_snapshots, steps + 1)
    out: set[int] = {0, steps}
    while len(out) < want and k <= 4 * config.max_snapshots:
        log = np.round(np.geomspace(1, steps, k)).astype(int)
        even = np.round(np.linspace(0, steps, k)).astype(int)
        out = {0, steps} | {int(s) for s in np.concatenate([log, even])}
        k += max(1, k // 8)
    return out


def _snapshot(A, B, step: int, norms, config: TrainConfig) -> dict:
    """A and B at `step`; for a kernel layer also its key norms (`models.key_norms`), which its eq. 3 reading needs."""
    out = {"step": step, "A": np.round(np.asarray(A, np.float64), 6).tolist(),
           "B": np.round(np.asarray(B, np.float64), 6).tolist()}
    if config.kind == "kernel":
        out["norms"] = [float(v) for v in np.asarray(norms, np.float64)]
    return out


def verdict(config: TrainConfig, evals: list[dict], yard_loss: float) -> dict:
    """Within 1% of (or below) the yardstick on the same contexts, and flat over the last fifth.

    Flatness is the change of a least-squares line through the evaluations of the last fifth, relative
    to their mean: two single evaluations differ by the optimiser's noise alone, a trend does not.
    """
    if not evals:
        return {"converged": False, "within_1pct": False, "flat": False, "message": "no evaluation yet"}
    final = evals[-1]
    gap = (final["eval_loss"] - yard_loss) / yard_loss
    tail = [e for e in evals if e["step"] >= 0.8 * final["step"]]
    if len(tail) >= 3:
        steps = np.array([e["step"] for e in tail], float)
        losses = np.array([e["eval_loss"] for e in tail], float)
        slope = np.polyfit(steps, losses, 1)[0]
        rel_change = float(abs(slope) * (steps[-1] - steps[0]) / losses.mean())
    else:
        rel_change = float("inf")
    within, flat = gap <= 0.01, rel_change < 0.002
    msg = (f"eval loss {final['eval_loss']:.4f} vs closed form {yard_loss:.4f} (gap {100 * gap:+.2f}%, "
           f"needs <= +1%); trend over the last fifth {100 * rel_change:.3f}% (needs < 0.2%)")
    return {"converged": bool(within and flat), "within_1pct": bool(within), "flat": bool(flat),
            "gap": float(gap), "rel_change": rel_change, "final_eval_loss": float(final["eval_loss"]),
            "yardstick_loss": float(yard_loss), "step": int(final["step"]), "message": msg}


def _start(config: TrainConfig, run_dir: Path, resume: bool) -> tuple[dict, dict]:
    """The state and history to continue from: a new run's step 0, or a saved run's last checkpoint."""
    if not resume:
        if (run_dir / "config.json").exists():
            raise RunError(f"{run_dir.name}: a run already exists here; resume it or choose another folder")
        write_json(run_dir / "config.json", config.to_dict())
        return init_state(config), {"evals": [], "snapshots": []}
    saved = TrainConfig.from_dict(read_json(run_dir / "config.json"))
    if dataclasses.replace(saved, steps=config.steps) != config:
        raise RunError(f"{run_dir.name}: the saved config differs from the one given (only steps may change)")
    _, state = restore_state(run_dir, state_template(saved))
    history = read_json(run_dir / "history.json")
    step0 = int(state["step"])
    history["evals"] = [e for e in history["evals"] if e["step"] <= step0]
    history["snapshots"] = [s for s in history["snapshots"] if s["step"] <= step0]
    if config.steps != saved.steps:  # a longer (or shorter) run: same path, new end
        write_json(run_dir / "config.json", config.to_dict())
    return state, history


CHECKPOINT_EVERY_S = 10.0  # a stopped, finished or diverged run saves its state whatever the time
WRITE_EVERY_S = 1.0  # history.json and status.json: the Train page polls every second


def train(
    config: TrainConfig,
    out_dir: Path | str,
    *,
    resume: bool = False,
    on_progress: Callable[[dict], Any] | None = None,
    stop_event: threading.Event | None = None,
) -> Run:
    """Train (or resume) the run in `out_dir`; returns the saved run. Never raises on NaN: the run is
    marked diverged and its last good checkpoint kept."""
    run_dir = Path(out_dir).resolve()
    t_start = time.time()
    state, history = _start(config, run_dir, resume)
    ctxs = contexts_for(config)
    if "yardsticks" not in history:
        history["yardsticks"] = fit_yardsticks(config, ctxs["eval"])
    yard = history["yardsticks"][config.yardstick]
    schedule = jax.jit(learning_rate(config))  # eager, optax's joined schedules cost ~10 ms a call on CPU
    keep = snapshot_steps(config)
    mngr = checkpoint_manager(run_dir)
    saved = {"step": int(state["step"]), "state": state, "at": time.time()}  # the newest checkpoint, the newest state
    written = {"at": 0.0}

    def checkpoint(state: dict, force: bool = False) -> None:
        """Saves `state` when CHECKPOINT_EVERY_S have passed since the last save, or when `force`d: a checkpoint
        per evaluation cost a short run more than its steps (orbax ~0.1 s a save)."""
        step = int(state["step"])
        saved["state"] = state
        if step != saved["step"] and (force or time.time() - saved["at"] >= CHECKPOINT_EVERY_S):
            save_state(mngr, step, state)
            saved.update(step=step, at=time.time())

    def publish(force: bool = False) -> dict:
        """history.json and status.json for the pages that poll them, at most every WRITE_EVERY_S (or when
        `force`d); returns the verdict of the evaluations so far."""
        v = verdict(config, history["evals"], yard["loss"])
        if force or time.time() - written["at"] >= WRITE_EVERY_S:
            write_json(run_dir / "history.json", history)
            write_json(run_dir / "status.json", {"status": "running", "verdict": v})
            written["at"] = time.time()
        return v

    def record(state, losses=None, gnorms=None) -> dict:
        step = int(state["step"])
        params = state["params"]
        eval_loss, eval_acc = evaluate(params, ctxs["eval"], config.kind, config.query_in_keys)
        row = {"step": step, "eval_loss": float(eval_loss), "eval_acc": float(eval_acc),
               "train_loss": float(np.mean(losses)) if losses is not None else float(eval_loss),
               "grad_norm": float(np.mean(gnorms)) if gnorms is not None else float("nan"),
               "lr": float(schedule(max(step - 1, 0))), "elapsed_s": round(time.time() - t_start, 2)}
        for method, ys in history["yardsticks"].items():
            suffix = "" if method == config.yardstick else "_other"
            aligned = alignment_row(params, ctxs["align"], config, method, ys["best"])
            row.update({k + suffix: v for k, v in aligned.items()})
        row.update(run_constants(params, config.task, config.kind))
        history["evals"].append(row)
        return row

    if not history["evals"]:
        record(state)
        history["snapshots"].append(_snapshot(*models.products(state["params"]), 0,
                                              models.key_norms(state["params"], config.d), config))
        save_state(mngr, 0, state)
    publish(force=True)

    def loop(state: dict) -> tuple[str, str]:
        step = int(state["step"])
        while step < config.steps:
            if stop_event is not None and stop_event.is_set():
                return "stopped", f"stopped at step {step}"
            length = min(config.eval_every - step % config.eval_every, config.steps - step)
            new_state, losses, gnorms, As, Bs, Ns = make_chunk(config, length)(state)
            losses, gnorms = np.asarray(losses), np.asarray(gnorms)
            finite = np.all(np.isfinite(losses)) and all(
                np.all(np.isfinite(np.asarray(p))) for p in jax.tree.leaves(new_state["params"]))
            if not finite:
                checkpoint(state, force=True)  # the last good state
                return "diverged", (
                    f"the loss became NaN or infinite between steps {step} and {step + length}; the last good "
                    f"checkpoint (step {step}) is kept. Lower the learning rate or the clipping threshold.")
            kept = [t for t in range(step + 1, step + length + 1) if t in keep]
            if kept:  # one copy each to numpy: indexing the device arrays is a dispatch (and a compile) per slice
                As, Bs, Ns = np.asarray(As), np.asarray(Bs), np.asarray(Ns)
                history["snapshots"].extend(_snapshot(As[t - step - 1], Bs[t - step - 1], t, Ns[t - step - 1],
                                                      config) for t in kept)
            state, step = new_state, int(new_state["step"])
            row = record(state, losses, gnorms)
            checkpoint(state, force=step >= config.steps)
            v = publish()
            if on_progress is not None:
                on_progress({"step": step, "steps": config.steps, "eval": row, "verdict": v,
                             "yardstick_loss": yard["loss"], "elapsed_s": time.time() - t_start})
        return "finished", ""

    try:
        status, message = loop(state)
    except KeyboardInterrupt:
        checkpoint(saved["state"], force=True)  # the newest state, whose evaluation is in the history
        history["evals"] = [e for e in history["evals"] if e["step"] <= saved["step"]]
        write_json(run_dir / "history.json", history)
        v = verdict(config, history["evals"], yard["loss"])
        write_json(run_dir / "status.json", {"status": "stopped", "verdict": v, "message": "interrupted"})
        mngr.wait_until_finished()
        raise
    checkpoint(saved["state"], force=True)  # stopped: where it stopped; finished and diverged are saved already
    write_json(run_dir / "history.json", history)

    v = verdict(config, history["evals"], yard["loss"])
    if status == "finished":
        message = v["message"]
    write_json(run_dir / "status.json", {"status": status, "verdict": v, "message": message})
    mngr.wait_until_finished()
    mngr.close()
    return load_run(run_dir)
