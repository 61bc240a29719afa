"""Many training runs in one program: seeds (and learning rates) as a leading run axis.

Run r starts from exactly `engine.state.init_state(config with seed_r)`; the S states are stacked along a
new axis 0, and one jitted chunk advances them all with `jax.vmap` of the training step. The run axis
is split across devices by `shard_map` over a 1-D mesh named "runs": each device runs the same
per-run program on its own block of runs and nothing crosses devices, so a multi-GPU host runs a
sweep with no code change. S need not divide the device count: the last run is repeated to fill the
mesh and the copies are dropped from the result (`SweepResult.padded` says how many).

Equality with separate runs: every run samples exactly its own contexts (see `block_chunk`), and at
lr == config.lr its arithmetic is `train.make_chunk`'s, but XLA compiles the batched program
differently: multiply-adds are contracted into FMA instructions in other places, and blocks of one
run or meshes of several devices get other fusions. So runs agree to rounding (about 1e-15 in float64
after 200 steps in tests/test_sweep.py), not bit for bit. (On x86 with `--xla_cpu_max_isa=AVX`, i.e.
no FMA, a one-device sweep of two or more runs at config.lr is bit-identical to the separate runs.)

Per-run learning rates. Adam's direction does not depend on the learning rate, and every schedule of
`optim.learning_rate` is its peak lr times a shape that does not depend on lr (constant; warmup from
0, optionally a plateau, then cosine down to lr/100; `run_configs` checks this), so run r's step
size is the base schedule of `config` times lr_r / config.lr. For lr_r == config.lr the factor is
exactly 1 and the optimizer is bit-identical to `optim.optimizer(config)`; for another lr it is
`optax.adam(schedule with lr_r)` up to one rounding of the step size.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from engine import extract, models, optim, train
from engine.config import TrainConfig
from engine.state import init_state
from engine.tasks import Contexts, sample_contexts

Array = jax.Array
RUNS = "runs"


@dataclasses.dataclass
class SweepResult:
    """S runs of one shape. `histories[r]` is run r's evaluations: step, train_loss, eval_loss, eval_acc,
    lr, c_sigma, c_eta, strategy ("selection" | "elimination" | "diverged"), margin."""

    configs: list[TrainConfig]
    histories: list[list[dict]]
    params: list[dict[str, np.ndarray]]
    status: str  # "finished" | "stopped"
    elapsed_s: float
    devices: int
    padded: int

    @property
    def seeds(self) -> list[int]:
        return [c.seed for c in self.configs]

    @property
    def lrs(self) -> list[float]:
        return [c.lr for c in self.configs]

    def final(self) -> list[dict]:
        """The last evaluation of every run."""
        return [h[-1] for h in self.histories]

    def rows(self) -> list[dict]:
        """Every evaluation of every run as one flat table: seed and the run's peak lr (not the scheduled rate
        of the evaluation's step, which is 0 for every run at step 0 under warmup)."""
        return [{**e, "seed": c.seed, "lr": c.lr} for c, h in zip(self.configs, self.histories) for e in h]


def run_configs(config: TrainConfig, seeds: Sequence[int], lrs: Sequence[float] | None = None) -> list[TrainConfig]:
    """One config per run: `config` with that run's seed and learning rate (validated)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("a sweep needs at least one seed")
    if lrs is None:
        lrs = [config.lr] * len(seeds)
    if len(lrs) != len(seeds):
        raise ValueError(f"give one learning rate per seed: {len(seeds)} seeds, {len(lrs)} learning rates")
    configs = [dataclasses.replace(config, seed=s, lr=float(lr)) for s, lr in zip(seeds, lrs)]
    base = optim.learning_rate(config)
    counts = sorted({0, 1, config.warmup, config.steps // 2, int(0.9 * config.steps), config.steps - 1})
    for lr in sorted({c.lr for c in configs} - {config.lr}):
        own = optim.learning_rate(dataclasses.replace(config, lr=lr))
        if not all(math.isclose(float(own(t)), float(base(t)) * lr / config.lr, rel_tol=1e-5, abs_tol=1e-12)
                   for t in counts):
            raise ValueError(f"the {config.schedule!r} schedule is not proportional to its learning rate; "
                             "sweep learning rates with one sweep per rate")
    return configs


def stack(trees: Sequence[Any]) -> Any:
    """Pytrees of equal structure -> one pytree with a leading run axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack(tree: Any, count: int) -> list[Any]:
    """The inverse of `stack`, as numpy on the host."""
    host = jax.tree.map(np.asarray, tree)
    return [jax.tree.map(lambda a, i=i: a[i], host) for i in range(count)]


def scaled_optimizer(config: TrainConfig, lr_ratio: Array) -> optax.GradientTransformation:
    """`optim.optimizer(config)` with the step size multiplied by `lr_ratio` (traced, per run).

    The same transformations and state as `optim.optimizer` (clip, then Adam, the W_Q/W_K decay when
    qk_decay > 0, and the scheduled step), so the state made by `init_state` fits it; with
    lr_ratio == 1 every update is bit-identical.
    """
    schedule = optim.learning_rate(config)

    def step_size(count: Array) -> Array:
        s = -schedule(count)
        return s * jnp.asarray(lr_ratio, jnp.result_type(s))

    decay = [optim.qk_decay_transform(config)] if config.qk_decay else []
    return optax.chain(
        optax.clip_by_global_norm(config.clip),
        optax.chain(optax.scale_by_adam(), *decay, optax.scale_by_schedule(step_size)),
    )


def _update(config: TrainConfig, params: models.Params, opt_state, ctx: Contexts, lr_ratio: Array):
    """One run's gradient step on its contexts: the step of `train.make_chunk` after sampling."""
    loss, grads = jax.value_and_grad(train.loss_fn)(params, ctx, config.kind, config.query_in_keys)
    updates, opt_state = scaled_optimizer(config, lr_ratio).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, optax.tree.norm(grads)


def _is_count(path) -> bool:
    return getattr(path[-1], "name", None) == "count"


def block_chunk(config: TrainConfig, length: int) -> Callable[[dict, Array], tuple[dict, Array, Array]]:
    """A block of runs (leading axis), `length` steps in one `lax.scan`; per run, the steps of
    `train.make_chunk` (with the run's lr factor).

    Two things keep each run's data and arithmetic those of the run alone (what remains is the
    compiler's rounding, see the module docstring):
    - The sampler runs once per run through `lax.map`, not under `vmap`: its RngBitGenerator keys are
      not vmap-invariant (a batched RngBitGenerator draws every run's bits from the first run's key).
    - The optimizer's step counters are one scalar shared by the block (all runs step together), not
      a vector: Adam's bias correction b^t and the schedule then see a scalar t, as in a single run
      (a vectorised `pow` rounds differently, and Adam magnifies that in near-zero gradient entries).
    Everything else (loss, gradient, clipping, Adam's moments) is vmapped.
    """
    task = config.task

    def chunk(state: dict, lr_ratio: Array) -> tuple[dict, Array, Array]:
        opt_axes = jax.tree_util.tree_map_with_path(lambda p, _: None if _is_count(p) else 0, state["opt_state"])
        update = jax.vmap(functools.partial(_update, config), in_axes=(0, opt_axes, 0, 0),
                          out_axes=(0, opt_axes, 0, 0))

        def step(carry, _):
            params, opt_state, key = carry
            key, k_ctx = jnp.moveaxis(jax.vmap(jax.random.split)(key), 1, 0)
            ctx = jax.lax.map(lambda k: sample_contexts(k, task, config.batch), k_ctx)
            params, opt_state, loss, gnorm = update(params, opt_state, ctx, lr_ratio)
            return (params, opt_state, key), (loss, gnorm)

        shared = jax.tree_util.tree_map_with_path(lambda p, a: a[0] if _is_count(p) else a, state["opt_state"])
        carry = (state["params"], shared, jax.random.wrap_key_data(state["key"]))
        (params, opt_state, key), (losses, gnorms) = jax.lax.scan(step, carry, length=length)
        opt_state = jax.tree_util.tree_map_with_path(
            lambda p, a: jnp.broadcast_to(a, lr_ratio.shape) if _is_count(p) else a, opt_state)
        new = {"params": params, "opt_state": opt_state, "key": jax.random.key_data(key),
               "step": state["step"] + length}
        return new, losses.T, gnorms.T

    return chunk


def _on_mesh(fn: Callable, mesh: Mesh) -> Callable:
    """Each device applies `fn` to its block of the run axis; jitted. (check_vma is off: the sampler's
    while loops start from constants that become per-device values, which the check rejects.)"""
    return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=P(RUNS), out_specs=P(RUNS), check_vma=False))


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh named "runs" over the given devices (default: all of them)."""
    return Mesh(np.asarray(list(devices) if devices is not None else jax.devices()), (RUNS,))


@functools.lru_cache(maxsize=32)
def make_sweep_chunk(config: TrainConfig, length: int, mesh: Mesh) -> Callable[[dict, Array], tuple]:
    """Jitted: (stacked state, lr ratios (S,)) -> (state, losses (S, length), grad norms (S, length))."""
    return _on_mesh(block_chunk(config, length), mesh)


@functools.lru_cache(maxsize=32)
def _make_eval(kind: str, query_in_keys: bool, mesh: Mesh) -> Callable:
    def one(params, ctx: Contexts):
        return train.evaluate(params, ctx, kind, query_in_keys)

    return _on_mesh(jax.vmap(one), mesh)


def eval_contexts(config: TrainConfig) -> Contexts:
    """`train.contexts_for(config)["eval"]` (same keys; tests/test_sweep.py checks it) without drawing
    the alignment and fitting sets, whose sampler would compile once more per shape."""
    return sample_contexts(train.context_keys(config)["eval"], config.task, config.eval_contexts)


def _read(params: dict[str, np.ndarray], config: TrainConfig) -> dict:
    """c_sigma, c_eta and the strategy of one run's weights."""
    if not all(np.all(np.isfinite(p)) for p in params.values()):
        return {"c_sigma": float("nan"), "c_eta": float("nan"), "strategy": "diverged", "margin": float("nan")}
    c_sigma, c_eta = extract.effective_constants(params, config.task)
    name, margin = extract.strategy(params, config.task)
    return {"c_sigma": c_sigma, "c_eta": c_eta, "strategy": name, "margin": margin}


def sweep(
    config: TrainConfig,
    seeds: Sequence[int],
    lrs: Sequence[float] | None = None,
    steps_per_chunk: int | None = None,
    on_progress: Callable[[dict], Any] | None = None,
    stop_event: threading.Event | None = None,
    mesh_devices: Sequence[jax.Device] | None = None,
) -> SweepResult:
    """Train one run per seed (with its lr, default config.lr) for config.steps steps, all at once.

    Evaluation (on each run's own `train.contexts_for` evaluation contexts) at step 0, every
    config.eval_every steps and at the end. `steps_per_chunk` bounds the steps per jitted call
    (default config.eval_every); chunks also end at evaluations. A run whose loss or weights become
    non-finite keeps its row (NaN, strategy "diverged") and does not disturb the others.
    `on_progress` gets {"step", "steps", "evals" (the latest row per run), "elapsed_s"} after every
    evaluation; a set `stop_event` ends the sweep before the next chunk (status "stopped").
    """
    t0 = time.time()
    configs = run_configs(config, seeds, lrs)
    mesh = make_mesh(mesh_devices)
    n_dev = mesh.devices.size
    S = len(configs)
    padded = -S % n_dev
    padded_cfgs = configs + [configs[-1]] * padded
    spec = NamedSharding(mesh, P(RUNS))
    state = jax.device_put(stack([init_state(c) for c in padded_cfgs]), spec)
    ratios = jax.device_put(np.asarray([c.lr / config.lr for c in padded_cfgs], state["params"]["W_Q"].dtype), spec)
    ctx = jax.device_put(stack([eval_contexts(c) for c in padded_cfgs]), spec)
    evaluate = _make_eval(config.kind, config.query_in_keys, mesh)
    schedule = optim.learning_rate(config)
    chunk_len = int(config.eval_every if steps_per_chunk is None else steps_per_chunk)
    if chunk_len < 1:
        raise ValueError(f"steps_per_chunk must be a positive integer, got {steps_per_chunk!r}")
    histories: list[list[dict]] = [[] for _ in range(S)]

    def record(state: dict, losses: list[np.ndarray]) -> None:
        step = int(np.asarray(state["step"])[0])
        loss, acc = (np.asarray(a) for a in evaluate(state["params"], ctx))
        train_loss = np.concatenate(losses, axis=1).mean(1) if losses else loss
        params = unstack(state["params"], S)
        lr_step = float(schedule(max(step - 1, 0)))
        for r, cfg in enumerate(configs):
            histories[r].append({"step": step, "train_loss": float(train_loss[r]), "eval_loss": float(loss[r]),
                                 "eval_acc": float(acc[r]), "lr": lr_step * cfg.lr / config.lr,
                                 **_read(params[r], cfg)})
        if on_progress is not None:
            on_progress({"step": step, "steps": config.steps, "evals": [h[-1] for h in histories],
                         "elapsed_s": time.time() - t0})

    record(state, [])
    step, losses, status = 0, [], "finished"
    while step < config.steps:
        if stop_event is not None and stop_event.is_set():
            status = "stopped"
            break
        length = min(chunk_len, config.eval_every - step % config.eval_every, config.steps - step)
        state, chunk_losses, _ = make_sweep_chunk(config, length, mesh)(state, ratios)
        losses.append(np.asarray(chunk_losses)[:S])
        step += length
        if step % config.eval_every == 0 or step == config.steps:
            record(state, losses)
            losses = []
    return SweepResult(configs=configs, histories=histories, params=unstack(state["params"], S), status=status,
                       elapsed_s=time.time() - t0, devices=n_dev, padded=padded)
