"""Training step cost against its parts and against a baseline revision's sampler, and time to convergence of
the shipped runs.

    .venv/bin/python -m bench.train [--baseline REV] [--batch 256]

1. Per step at batch 256 (the demo presets'), d = 3 and 5, softmax: the full training step (sample +
   forward/backward + clipped Adam) against sampling alone and forward/backward alone, each run as a 20-step
   `lax.scan` in the same process; and the same step built on the sampler of git revision REV (by default
   bench.sampler.BASELINE). Goals: the step <= 6 ms at d = 5; the step at most 1.3x its parts.
2. For each run in pretrained/: steps and wall time to the end and to the first evaluation within 1%
   of the closed-form optimum, against the paper's step budget for the same setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from bench._baseline import module_at
from bench.sampler import BASELINE
from engine import train
from engine.runs import PRETRAINED_ROOT, list_runs, load_run
from engine.runtime import device_summary, enable_compilation_cache
from engine.tasks import sample_contexts

K = 20
GOAL_STEP_MS = 6.0


def timed(fn, *args, repeats: int = 5) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) / K


def step_cost(d: int, batch: int, baseline) -> None:
    cfg = dataclasses.replace(train.PRESETS[f"fast-softmax-d{d}"], batch=batch)
    state = train.init_state(cfg)
    chunk = train.make_chunk(cfg, K)
    t_step = timed(lambda s: chunk(s)[1], state)  # traced (and compiled) on this sampler first
    train.sample_contexts = baseline.sample_contexts  # the same step, traced now on the baseline's sampler
    try:
        chunk_old = train.make_chunk.__wrapped__(cfg, K)  # not the cached one
        t_old = timed(lambda s: chunk_old(s)[1], state)
    finally:
        train.sample_contexts = sample_contexts

    @jax.jit
    def sample_only(key):
        def body(k, _):
            k, sub = jax.random.split(k)
            return k, sum(a.sum() for a in sample_contexts(sub, cfg.task, cfg.batch))  # every output
        return jax.lax.scan(body, key, length=K)[1]

    ctx = sample_contexts(jax.random.key(1), cfg.task, cfg.batch)

    @jax.jit
    def grad_only(params):
        def body(p, _):
            loss, g = jax.value_and_grad(train.loss_fn)(p, ctx, cfg.kind, cfg.query_in_keys)
            return jax.tree.map(lambda a, b: a - 1e-9 * b, p, g), loss
        return jax.lax.scan(body, params, length=K)[1]

    t_sample = timed(sample_only, jax.random.key(0))
    t_grad = timed(grad_only, state["params"])
    goal = f"  (goal <= {GOAL_STEP_MS:.0f} ms)" if d == 5 else ""
    print(f"\nbatch {cfg.batch}, d = {cfg.d}, C = {cfg.C}, n = {cfg.n}, softmax; per step (median of 5 x {K}-step"
          " scans)")
    print(f"  sampling alone         {1e3 * t_sample:8.2f} ms")
    print(f"  forward/backward alone {1e3 * t_grad:8.2f} ms")
    print(f"  training step          {1e3 * t_step:8.2f} ms  ({1 / t_step:.1f} steps/s){goal}")
    print(f"  step on the baseline   {1e3 * t_old:8.2f} ms  ({1 / t_old:.1f} steps/s): {t_old / t_step:.2f}x slower")
    print(f"  step / (sampling + forward/backward) = {t_step / (t_sample + t_grad):.2f}  (goal <= 1.3)")


def convergence_table() -> None:
    print("\nshipped runs: time to convergence against the paper's step budget")
    print(f"{'run':20s} {'steps':>7s} {'wall':>8s} {'first <=1%':>11s} {'at':>8s} {'paper steps':>12s} {'ratio':>7s}")
    for path in list_runs(PRETRAINED_ROOT):
        run = load_run(path)
        evals = run.history["evals"]
        yard = run.history["yardsticks"][run.config.yardstick]["loss"]
        first = next((e for e in evals if (e["eval_loss"] - yard) / yard <= 0.01), None)
        first_s = f"{first['step']:>11,d} {first['elapsed_s']:7.0f}s" if first else f"{'never':>11s} {'':>8s}"
        line = f"{run.name:20s} {evals[-1]['step']:7,d} {evals[-1]['elapsed_s']:7.0f}s {first_s}"
        paper = train.PRESETS.get(f"paper-{run.config.kind}-d{run.config.d}")
        if paper is None:  # the paper trains no such layer (kernel attention) or setting
            print(f"{line} {'-':>12s} {'-':>7s}")
            continue
        ratio = paper.steps * paper.batch / (evals[-1]["step"] * run.config.batch)
        print(f"{line} {paper.steps:12,d} {ratio:6.0f}x  (contexts seen, paper / ours)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=BASELINE, help="git revision whose sampler the baseline step uses")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    print(f"device: {device_summary()}", flush=True)
    enable_compilation_cache()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; baseline sampler: {args.baseline}")
    old = module_at(args.baseline, "engine/tasks.py")
    for d in (3, 5):
        step_cost(d, args.batch, old)
    convergence_table()
