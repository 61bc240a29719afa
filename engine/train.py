"""Training the four matrices W_Q, W_K, W_V, W_O on fresh contexts (SPEC 8), and its CLI.

Steps run in jitted chunks (`lax.scan`, one sampler call and one Adam step each). Between chunks
the loop evaluates, records history, checkpoints, reports progress and honours a stop request,
so a chunk of k steps is exactly k single steps and a resumed run continues bit-identically.

    python -m engine.train --preset fast-softmax-d3 --out runs/my-run
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from engine import metrics, models
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
from engine.tasks import Contexts, TaskConfig, sample_contexts

Array = jax.Array
SCHEDULES = ("constant", "warmup_cosine", "warmup_plateau_cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run; two runs with equal configs are identical."""

    kind: str = "softmax"
    d: int = 3
    C: int = 5
    n: int = 100
    batch: int = 512
    steps: int = 3000
    lr: float = 1e-2
    schedule: str = "warmup_cosine"
    warmup: int = 100
    clip: float = 1.0
    init_scale: float = 0.002
    qk_decay: float = 0.0
    cosine_power: float = 1.0
    seed: int = 0
    eval_every: int = 100
    eval_contexts: int = 512
    align_contexts: int = 100
    fit_contexts: int = 10_000
    query_in_keys: bool = True
    max_snapshots: int = 60
    preset: str = ""

    def __post_init__(self) -> None:
        TaskConfig(self.d, self.C, self.n)  # validates d, C, n with a clear message
        if self.kind not in ("linear", "softmax"):
            raise ValueError(f"kind must be 'linear' or 'softmax', got {self.kind!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("batch", "steps", "eval_every", "eval_contexts", "align_contexts", "fit_contexts"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not (self.lr > 0 and self.clip > 0 and self.init_scale > 0):
            raise ValueError("lr, clip and init_scale must be positive")
        if not self.cosine_power > 0:
            raise ValueError(f"cosine_power must be positive, got {self.cosine_power!r}")
        if not self.qk_decay >= 0:
            raise ValueError(f"qk_decay must be >= 0, got {self.qk_decay!r}")

    @property
    def task(self) -> TaskConfig:
        return TaskConfig(self.d, self.C, self.n)

    @property
    def yardstick(self) -> str:
        """The closed form the model can represent exactly: convergence is measured against it."""
        if self.kind == "linear":
            return "gd"
        return "adaptive_self_key" if self.query_in_keys else "adaptive"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        return cls(**d)


def _presets() -> dict[str, TrainConfig]:
    """The paper's recipes (SPEC 8) and the project's fast converging ones."""
    out: dict[str, TrainConfig] = {}
    paper_lr = {2: 6e-4, 3: 3e-5, 5: 1e-4, 10: 5e-4}
    for d in (2, 3, 5, 10):
        common = dict(d=d, batch=2048, schedule="constant", warmup=0, init_scale=0.002, eval_every=100)
        out[f"paper-linear-d{d}"] = TrainConfig(kind="linear", lr=5e-5, steps=200_000, clip=1e-3, **common)
        out[f"paper-softmax-d{d}"] = TrainConfig(kind="softmax", lr=paper_lr[d], steps=2_000_000, clip=1.0, **common)
        # Fast: warmup + cosine decay, smaller batches. At d = 10 the 0.002 initialisation sits on a
        # saddle near log C for thousands of steps; a larger initialisation starts off it, a larger batch
        # steadies the walk along the c_sigma * c_eta valley, and a decay on W_Q, W_K for the first half
        # pushes c_sigma down it (the optimum is its GD end, c_sigma -> 0). At d = 2 c_sigma must grow to
        # ~300: a higher rate. At d = 2 and 10 the loss is sensitive to the optimiser's noise (saturated
        # attention; a long flat valley): a squared cosine ends the run at a lower rate. Linear attention
        # is unnormalised (logits sum over n points), so Adam's fixed-size steps need a lower rate to
        # settle. 4096 evaluation contexts: on a small set the loss has a first-order slope at the
        # population optimum, so the optimiser's residual noise shows as noise in the curve that the
        # flatness check reads.
        init = 0.1 if d == 10 else 0.002
        fast = dict(d=d, schedule="warmup_cosine", warmup=100, init_scale=init, eval_every=100, clip=1.0,
                    eval_contexts=4096)
        out[f"fast-linear-d{d}"] = TrainConfig(kind="linear", lr=2e-3, steps=9000 if d == 2 else 6000, batch=512,
                                               **fast)
        softmax = {2: dict(lr=3e-2, steps=40_000, batch=512, cosine_power=2.0),
                   3: dict(lr=1e-2, steps=6000, batch=512), 5: dict(lr=1e-2, steps=6000, batch=512),
                   10: dict(lr=1.5e-2, steps=6000, batch=2048, qk_decay=0.5, cosine_power=2.0)}
        out[f"fast-softmax-d{d}"] = TrainConfig(kind="softmax", **softmax[d], **fast)
    for lr in (5e-5, 1e-4, 8e-4, 3e-3):
        out[f"paper-softmax-d10-lr{lr:g}"] = dataclasses.replace(out["paper-softmax-d10"], lr=lr)
    # One seed of the Fig. 11 sweep as a run of its own (C = 2: elimination is frequent): the strategy
    # examples. `--seed S` picks the seed; the sweep's CSV says which seeds learn which strategy.
    out["fig11-d2-C2"] = strategy_recipe(2, 2, 100)
    return {name: dataclasses.replace(cfg, preset=name) for name, cfg in out.items()}


def strategy_recipe(d: int, C: int, n: int, steps: int = 350, batch: int = 256) -> TrainConfig:
    """The recipe of the strategy sweeps (Fig. 11): warmup-cosine to lr 3e-2, the paper's small
    initialisation (the strategy is a symmetry broken early in training, so the start matters), clip 1."""
    return TrainConfig(kind="softmax", d=d, C=C, n=n, batch=batch, steps=steps, lr=3e-2, schedule="warmup_cosine",
                       warmup=max(1, min(100, steps // 10)), clip=1.0, init_scale=0.002,
                       eval_every=max(1, steps // 10), eval_contexts=512)


PRESETS: dict[str, TrainConfig] = _presets()


PLATEAU_END = 0.7  # warmup_plateau_cosine holds the peak rate until this fraction of the steps


def learning_rate(config: TrainConfig) -> optax.Schedule:
    """constant; warmup then cosine decay to 1% of lr; or warmup, a plateau at lr, and the cosine
    decay only over the last 30% (long walks along a flat valley need the high rate for longer).

    `cosine_power` raises the cosine factor to a power: with 2 the rate is 25% of the peak at mid-run
    (50% with a plain cosine) and ~2% instead of ~10% in the last fifth, where the optimiser's noise
    no longer moves the loss (the flatness check reads the last fifth)."""
    if config.schedule == "constant":
        return optax.constant_schedule(config.lr)
    warmup = max(1, min(config.warmup, config.steps - 1))
    if config.schedule == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(0.0, config.lr, warmup, config.steps, end_value=config.lr * 1e-2,
                                                  exponent=config.cosine_power)
    plateau = max(warmup, int(PLATEAU_END * config.steps))
    return optax.join_schedules(
        [optax.linear_schedule(0.0, config.lr, warmup), optax.constant_schedule(config.lr),
         optax.cosine_decay_schedule(config.lr, max(1, config.steps - plateau), alpha=1e-2,
                                     exponent=config.cosine_power)],
        [warmup, plateau],
    )


QK_DECAY_END = 0.5  # qk_decay acts until this fraction of the steps, then plain Adam settles on the valley


def optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Clipped Adam; with `qk_decay`, decoupled weight decay on W_Q and W_K only, for the first
    QK_DECAY_END of the steps.

    Where the optimum is a limit along a flat valley (d = 10: c_sigma -> 0 with c_sigma * c_eta fixed,
    SPEC 7), the loss's own pull down the valley is tiny; shrinking W_Q and W_K pushes c_sigma the same
    way while W_V and W_O grow c_eta to keep the product. The decay also holds the layer a little off
    the valley floor, so it stops before the end and the last steps settle without it.
    """
    if config.qk_decay == 0:  # the plain chain: same optimiser state as runs saved before the option
        return optax.chain(optax.clip_by_global_norm(config.clip), optax.adam(learning_rate(config)))
    return optax.chain(optax.clip_by_global_norm(config.clip),  # optax.adamw's chain, with the masked decay
                       optax.chain(optax.scale_by_adam(), qk_decay_transform(config),
                                   optax.scale_by_learning_rate(learning_rate(config))))


def qk_decay_transform(config: TrainConfig) -> optax.GradientTransformation:
    """Adds qk_decay * W to the Adam direction of W_Q and W_K until QK_DECAY_END of the steps (it is then
    scaled by the learning rate, as in AdamW)."""
    mask = {name: name in ("W_Q", "W_K") for name in models.MATRICES}
    decay = optax.piecewise_constant_schedule(config.qk_decay, {int(QK_DECAY_END * config.steps): 0.0})
    return optax.add_decayed_weights(decay, mask)


def loss_fn(params: models.Params, ctx: Contexts, kind: str, query_in_keys: bool) -> Array:
    """Mean cross-entropy of the query's prediction."""
    logits = models.logits(params, ctx, kind, query_in_keys=query_in_keys)
    return optax.softmax_cross_entropy_with_integer_labels(logits, ctx.yq).mean()


def init_state(config: TrainConfig) -> dict:
    """Step-0 training state: the four matrices, Adam's state, the sampler's key, the step."""
    k_init, k_train = jax.random.split(jax.random.key(config.seed), 2)
    params = models.init_params(k_init, config.task, config.init_scale)
    return {
        "params": params,
        "opt_state": optimizer(config).init(params),
        "key": jax.random.key_data(k_train),
        "step": jnp.asarray(0, jnp.int32),
    }


def state_template(config: TrainConfig) -> dict:
    """The shapes and types of a checkpoint (orbax restores into it)."""
    return jax.eval_shape(lambda: init_state(config))


@functools.lru_cache(maxsize=32)
def make_chunk(config: TrainConfig, length: int) -> Callable[[dict], tuple[dict, Array, Array]]:
    """Jitted: `length` training steps in one `lax.scan`; returns the state and per-step loss, grad norm."""
    opt = optimizer(config)
    task = config.task

    def step(carry, _):
        params, opt_state, key = carry
        key, k_ctx = jax.random.split(key)
        ctx = sample_contexts(k_ctx, task, config.batch)
        loss, grads = jax.value_and_grad(loss_fn)(params, ctx, config.kind, config.query_in_keys)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, key), (loss, optax.tree.norm(grads))

    @jax.jit
    def chunk(state: dict) -> tuple[dict, Array, Array]:
        carry = (state["params"], state["opt_state"], jax.random.wrap_key_data(state["key"]))
        (params, opt_state, key), (losses, gnorms) = jax.lax.scan(step, carry, length=length)
        new = {"params": params, "opt_state": opt_state, "key": jax.random.key_data(key),
               "step": state["step"] + length}
        return new, losses, gnorms

    return chunk


@functools.partial(jax.jit, static_argnames=("kind", "query_in_keys"))
def _eval(params, ctx, kind, query_in_keys):
    m = metrics.per_context(models.logits(params, ctx, kind, query_in_keys=query_in_keys), ctx.yq)
    return m["loss"].mean(), m["correct"].mean()


@functools.partial(jax.jit, static_argnames=("kind", "query_in_keys", "method"))
def _align(params, ctx, consts, kind, query_in_keys, method):
    from engine.fit import closed_form_fn

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
    """Keys of the evaluation, alignment and fitting contexts: fixed per seed, apart from training draws."""
    base = jax.random.fold_in(jax.random.key(config.seed), 1_000_003)
    return dict(zip(("eval", "align", "fit"), jax.random.split(base, 3), strict=True))


def contexts_for(config: TrainConfig) -> dict[str, Contexts]:
    """Evaluation, alignment and fitting contexts of a run."""
    keys = context_keys(config)
    sizes = {"eval": config.eval_contexts, "align": config.align_contexts, "fit": config.fit_contexts}
    return {name: sample_contexts(keys[name], config.task, size) for name, size in sizes.items()}


def fit_yardsticks(config: TrainConfig, ctxs: dict[str, Contexts]) -> dict[str, dict]:
    """Best closed forms (fitted on the fit contexts), with their loss on the evaluation contexts."""
    from engine import fit

    methods = [config.yardstick] + (["adaptive"] if config.yardstick == "adaptive_self_key" else [])
    out = {}
    for method in methods:
        self_key = method == "adaptive_self_key"
        res = fit.fit_gd(ctxs["fit"]) if method == "gd" else fit.fit_adaptive(ctxs["fit"], self_key=self_key)
        best = {k: float(v) for k, v in res.refined.items()}
        logits = fit.closed_form_fn(method, best)(ctxs["eval"])
        eval_loss = float(metrics.per_context(logits, ctxs["eval"].yq)["loss"].mean())
        out[method] = {"method": method, "best": best, "fit_loss": float(res.refined_loss), "loss": eval_loss}
    return out


def snapshot_steps(config: TrainConfig) -> set[int]:
    """Steps whose A and B are kept: every evaluation early, log-spaced later, and the last."""
    n_evals = math.ceil(config.steps / config.eval_every)
    idx = np.unique(np.round(np.geomspace(1, n_evals, max(2, config.max_snapshots - 1))).astype(int))
    return {0, config.steps} | {min(int(i) * config.eval_every, config.steps) for i in idx}


def _snapshot(params, step: int) -> dict:
    A, B = models.products(params)
    return {"step": step, "A": np.round(np.asarray(A, np.float64), 6).tolist(),
            "B": np.round(np.asarray(B, np.float64), 6).tolist()}


def verdict(config: TrainConfig, evals: list[dict], yard_loss: float) -> dict:
    """SPEC 8: within 1% of (or below) the yardstick on the same contexts, and flat over the last fifth.

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


def _constants(params, task: TaskConfig) -> dict[str, float]:
    from engine.extract import effective_constants

    c_sigma, c_eta = effective_constants(params, task)
    return {"c_sigma": float(c_sigma), "c_eta": float(c_eta)}


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
    if resume:
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
    else:
        if (run_dir / "config.json").exists():
            raise RunError(f"{run_dir.name}: a run already exists here; resume it or choose another folder")
        write_json(run_dir / "config.json", config.to_dict())
        state = init_state(config)
        history = {"evals": [], "snapshots": []}

    ctxs = contexts_for(config)
    if "yardsticks" not in history:
        history["yardsticks"] = fit_yardsticks(config, ctxs)
    yard = history["yardsticks"][config.yardstick]
    schedule = learning_rate(config)
    keep = snapshot_steps(config)
    mngr = checkpoint_manager(run_dir)

    def record(state, losses=None, gnorms=None) -> dict:
        step = int(state["step"])
        params = state["params"]
        eval_loss, eval_acc = _eval(params, ctxs["eval"], config.kind, config.query_in_keys)
        row = {"step": step, "eval_loss": float(eval_loss), "eval_acc": float(eval_acc),
               "train_loss": float(np.mean(losses)) if losses is not None else float(eval_loss),
               "grad_norm": float(np.mean(gnorms)) if gnorms is not None else float("nan"),
               "lr": float(schedule(max(step - 1, 0))), "elapsed_s": round(time.time() - t_start, 2)}
        for method, ys in history["yardsticks"].items():
            suffix = "" if method == config.yardstick else "_plain"
            aligned = alignment_row(params, ctxs["align"], config, method, ys["best"])
            row.update({k + suffix: v for k, v in aligned.items()})
        row.update(_constants(params, config.task))
        history["evals"].append(row)
        if step in keep:
            history["snapshots"].append(_snapshot(params, step))
        return row

    if not history["evals"]:
        record(state)
        save_state(mngr, 0, state)
    write_json(run_dir / "history.json", history)
    v0 = verdict(config, history["evals"], yard["loss"])
    write_json(run_dir / "status.json", {"status": "running", "verdict": v0})

    def loop(state: dict) -> tuple[str, str]:
        step = int(state["step"])
        while step < config.steps:
            if stop_event is not None and stop_event.is_set():
                return "stopped", f"stopped at step {step}; resume to continue"
            length = min(config.eval_every - step % config.eval_every, config.steps - step)
            new_state, losses, gnorms = make_chunk(config, length)(state)
            losses, gnorms = np.asarray(losses), np.asarray(gnorms)
            finite = np.all(np.isfinite(losses)) and all(
                bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(new_state["params"]))
            if not finite:
                return "diverged", (
                    f"the loss became NaN or infinite between steps {step} and {step + length}; the last good "
                    f"checkpoint (step {step}) is kept. Lower the learning rate or the clipping threshold.")
            state, step = new_state, int(new_state["step"])
            row = record(state, losses, gnorms)
            save_state(mngr, step, state)
            write_json(run_dir / "history.json", history)
            v = verdict(config, history["evals"], yard["loss"])
            write_json(run_dir / "status.json", {"status": "running", "verdict": v})
            if on_progress is not None:
                on_progress({"step": step, "steps": config.steps, "eval": row, "verdict": v,
                             "yardstick_loss": yard["loss"], "elapsed_s": time.time() - t_start})
        return "finished", ""

    try:
        status, message = loop(state)
    except KeyboardInterrupt:
        v = verdict(config, history["evals"], yard["loss"])
        write_json(run_dir / "status.json", {"status": "stopped", "verdict": v,
                                              "message": "interrupted; resume to continue"})
        raise

    v = verdict(config, history["evals"], yard["loss"])
    if status == "finished":
        message = v["message"]
    write_json(run_dir / "status.json", {"status": status, "verdict": v, "message": message})
    mngr.wait_until_finished()
    mngr.close()
    return load_run(run_dir)


def _progress_printer(stream=sys.stderr) -> Callable[[dict], None]:
    def show(info: dict) -> None:
        step, steps, e = info["step"], info["steps"], info["eval"]
        frac = step / steps
        eta = info["elapsed_s"] / max(frac, 1e-9) * (1 - frac)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        gap = 100 * (e["eval_loss"] - info["yardstick_loss"]) / info["yardstick_loss"]
        stream.write(f"\r[{bar}] {step}/{steps} eval {e['eval_loss']:.4f} gap {gap:+.2f}% "
                     f"c_sigma {e['c_sigma']:.3g} c_eta {e['c_eta']:.3g} ETA {eta:5.0f}s ")
        stream.flush()
    return show


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.train", description="Train a one-layer attention model.")
    p.add_argument("--preset", help="preset name (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--steps", type=int, help="override the number of steps")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--out", help="run folder (default runs/<preset>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    args = p.parse_args(argv)
    if args.list or not args.preset:
        for name, c in PRESETS.items():
            print(f"{name:28s} {c.kind:8s} d={c.d:<3d} steps={c.steps:<8d} batch={c.batch:<5d} lr={c.lr:g} "
                  f"{c.schedule}")
        return 0 if args.list else 2
    if args.preset not in PRESETS:
        print(f"unknown preset {args.preset!r}; choose one of: {', '.join(PRESETS)}", file=sys.stderr)
        return 2
    import logging

    from engine.runtime import enable_compilation_cache

    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's per-save notices would break the progress bar
    enable_compilation_cache()
    config = PRESETS[args.preset]
    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    try:
        config = dataclasses.replace(config, **overrides)
        out = Path(args.out or f"runs/{args.preset}")
        run = train(config, out, resume=args.resume, on_progress=_progress_printer())
    except (RunError, ValueError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: the last checkpoint is kept; continue with --resume", file=sys.stderr)
        return 130
    print(f"\n{run.status}: {run.message}")
    return 0 if run.status == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
