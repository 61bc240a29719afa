"""Seeds as a run axis: S = 20 runs vmapped in one program against the same 20 runs one after another.

Run: .venv/bin/python -m bench.sweep

Softmax, d = 2, C = 5, n = 100, batch 256, 200 steps per run, float32, times after compilation.
The sequential baseline is `train.make_chunk` (one `lax.scan` of 200 steps, the CLI's and the app's
path), compiled once and applied to each run's state in turn; the vmapped side is
`sweep.make_sweep_chunk` on the stacked states. Both do the same 20 x 200 steps on the same contexts.
Each time is given as wall-clock and as this process's CPU time (the machine's 2 cores are shared,
so wall time moves with other load); the two sides are timed in alternation so that a change of
load hits both alike.
"""

from __future__ import annotations

import os
import statistics
import time

import jax
import numpy as np

from engine import sweep, train
from engine.runtime import device_summary, enable_compilation_cache

CONFIG = train.TrainConfig(kind="softmax", d=2, C=5, n=100, batch=256, steps=200, lr=1e-2, warmup=20)
S = 20
REPEATS = 3


def clocked(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    print(f"device: {device_summary()}", flush=True)
    enable_compilation_cache()
    print(f"JAX {jax.__version__}, {jax.default_backend()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f} at start")
    print(f"softmax d={CONFIG.d} C={CONFIG.C} n={CONFIG.n} batch={CONFIG.batch}: {S} runs x {CONFIG.steps} steps, "
          f"float32; medians of {REPEATS}")
    configs = sweep.run_configs(CONFIG, range(S))
    states = [train.init_state(c) for c in configs]
    chunk = train.make_chunk(CONFIG, CONFIG.steps)  # the seed only enters the initial state
    mesh = sweep.make_mesh(jax.devices()[:1])
    vchunk = sweep.make_sweep_chunk(CONFIG, CONFIG.steps, mesh)
    stacked = sweep.stack(states)
    ratios = np.ones(S, np.float32)

    def sequential():
        return [chunk(s)[0]["params"] for s in states]

    def vmapped():
        return vchunk(stacked, ratios)[0]["params"]

    t0 = time.perf_counter()
    seq_out, vm_out = sequential(), vmapped()
    jax.block_until_ready((seq_out, vm_out))
    print(f"compile + first call, both sides: {time.perf_counter() - t0:.1f} s")
    diff = max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(vm_out[k][i]))))
               for i, a in enumerate(seq_out) for k in a)
    print(f"largest |param difference| between the two sides after {CONFIG.steps} steps: {diff:.2e}")

    walls = {"sequential": [], "vmapped": []}
    cpus = {"sequential": [], "vmapped": []}
    for _ in range(REPEATS):
        for name, fn in (("sequential", sequential), ("vmapped", vmapped)):
            w, c = clocked(fn)
            walls[name].append(w)
            cpus[name].append(c)
    steps = S * CONFIG.steps
    for name in walls:
        w, c = statistics.median(walls[name]), statistics.median(cpus[name])
        print(f"  {name:10s}: wall {w:.2f} s (min {min(walls[name]):.2f}), CPU {c:.2f} s, "
              f"{steps / w:,.0f} run-steps/s wall")
    ratio_w = statistics.median(walls["sequential"]) / statistics.median(walls["vmapped"])
    ratio_c = statistics.median(cpus["sequential"]) / statistics.median(cpus["vmapped"])
    print(f"vmapped / sequential throughput: {ratio_w:.2f}x (wall), {ratio_c:.2f}x (CPU)")


if __name__ == "__main__":
    main()
