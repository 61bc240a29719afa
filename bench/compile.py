"""Compile time and run time of the engine's main programs under XLA's two CPU code generators.

    .venv/bin/python -m bench.compile

`engine.runtime.CPU_FLAGS` switches XLA's CPU fusion emitters off; this measures why. Each setting runs in a
fresh process with its own empty compilation cache, so every first call compiles. Programs: the sampler
(batch 2048, d = 3), a chunk of 20 training steps (fast-softmax-d5 at batch 512), eq. 1's grid fit on 2,000
contexts (grid, then refinement) and the alignment metrics against eq. 1 on 100 contexts. Reported: first
call (compile + one run) and the median of 5 later calls, with the ratio default / project flags.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = "--child"
SETTINGS = {"XLA default (fusion emitters)": "--xla_cpu_use_fusion_emitters=true",
            "project (engine.runtime.CPU_FLAGS)": ""}


def _timed(fn) -> tuple[float, float]:
    """(first call seconds, median of 5 later calls in seconds)."""
    import jax
    import numpy as np

    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    later = []
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        later.append(time.perf_counter() - t0)
    return first, float(np.median(later))


def child() -> None:
    import dataclasses

    import jax

    from engine import fit, train
    from engine.runtime import device_summary, enable_compilation_cache
    from engine.tasks import TaskConfig, sample_contexts

    enable_compilation_cache(tempfile.mkdtemp(prefix="kicl-bench-compile-"))
    task = TaskConfig(3, 5, 100)
    cfg = dataclasses.replace(train.PRESETS["fast-softmax-d5"], batch=512)
    chunk = train.make_chunk(cfg, 20)
    state = train.init_state(cfg)
    fit_ctx = sample_contexts(jax.random.key(1), task, 2000)
    align_ctx = sample_contexts(jax.random.key(2), cfg.task, 100)
    params = state["params"]
    consts = {"c_sigma": 2.0, "c_eta": 3.0}
    out = {
        "sampler (2048 contexts)": _timed(lambda: sample_contexts(jax.random.key(0), task, 2048).xs),
        "training chunk (20 steps)": _timed(lambda: chunk(state)[1]),
        "eq. 1 fit (grid + refine)": _timed(lambda: fit.fit_method(fit_ctx, "adaptive").refined_loss),
        "alignment vs eq. 1": _timed(lambda: train.alignment_row(params, align_ctx, cfg, "adaptive", consts)),
    }
    print(json.dumps({"device": device_summary(), "flags": os.environ.get("XLA_FLAGS", ""), "times": out}))


def main(rounds: int = 3) -> None:
    import numpy as np

    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for _ in range(rounds):  # interleaved, so a busy spell on the machine hits both settings alike
        for name, flags in SETTINGS.items():
            env = {**os.environ, "XLA_FLAGS": flags, "PYTHONPATH": os.getcwd()}
            proc = subprocess.run([sys.executable, __file__, CHILD], env=env, capture_output=True, text=True,
                                  check=True)
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = {name: {**rs[0], "times": {prog: np.median([r["times"][prog] for r in rs], axis=0).tolist()
                                         for prog in rs[0]["times"]}} for name, rs in runs.items()}
    default, ours = results.values()
    print(f"medians of {rounds} fresh processes per setting, run alternately")
    print(f"device: {ours['device']}")
    for name, r in results.items():
        print(f"{name}: XLA_FLAGS={r['flags']!r}")
    print(f"\n{'program':28s} {'first call (compile + run) s':>30s} {'ratio':>6s}   "
          f"{'later calls ms':>22s} {'ratio':>6s}")
    for prog, (f_ours, t_ours) in ours["times"].items():
        f_def, t_def = default["times"][prog]
        print(f"{prog:28s} {f_def:13.2f} -> {f_ours:6.2f} {f_def / f_ours:10.2f}x   "
              f"{1e3 * t_def:9.1f} -> {1e3 * t_ours:7.1f} {t_def / t_ours:7.2f}x")
    print("\nratio: XLA default / project flags (above 1: the project's setting is faster)")


if __name__ == "__main__":
    if CHILD in sys.argv[1:]:
        child()
    else:
        main()
