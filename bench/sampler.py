"""Speed, draw count and memory of the exact context sampler (engine.tasks, docs/science.md section 1).

Run: .venv/bin/python -m bench.sampler [--baseline REV]

1. Per batch of 256 (a training step's) and 2048 contexts (n = 100, C = 5, d = 3, 5, 10), in one process:
   - the RNG floor: JAX's default generator (threefry) drawing, as one flat vector, the normals that the
     minimum number of points needs (d normals per point, the mean draws of a sequential rejection sampler);
   - this sampler, and the sampler of git revision REV (by default the one before the one-block sampler);
   - their contexts per second, time against the floor (goal <= 2x), ns per normal drawn, points drawn per
     context against the minimum.
2. Peak memory of one batch at d = 10, measured in a fresh process.
Times are medians of 40 jitted calls after a compiling one, the floor, this sampler and the baseline called in
turn, so that a machine whose speed drifts (a shared host) slows all three alike.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

from bench._baseline import module_at
from engine.runtime import device_summary, enable_compilation_cache
from engine.tasks import TaskConfig, sample_contexts_with_stats

BATCH = 2048  # the memory child's batch
BATCHES = (256, 2048)  # a training step's, and a large one
N, C = 100, 5
CALLS = 40
MIN_CONTEXTS = 500  # contexts simulated for the minimum draw count
GOAL_FLOOR = 2.0
BASELINE = "e30cead"  # the sampler before bit-mask slots (a per-context sort of each block, rounds picked by argsort)
MEMORY_CHILD = "--memory-child"


def unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def problem(rng: np.random.Generator, task: TaskConfig) -> tuple[np.ndarray, np.ndarray]:
    """Prototypes (C, d) and the quota per class (n/C, plus one for the query's class)."""
    protos = unit_rows(rng.standard_normal((task.C, task.d)))
    quota = np.full(task.C, task.per_class)
    quota[rng.integers(task.C)] += 1
    return protos, quota


def minimum_draws(task: TaskConfig, contexts: int, seed: int, chunk: int = 4096) -> float:
    """Mean number of uniform points a sequential rejection sampler draws before every class quota
    is met: the first index of a uniform stream at which each class has appeared often enough."""
    rng = np.random.default_rng(seed)
    needed = []
    for _ in range(contexts):
        protos, quota = problem(rng, task)
        counts = np.zeros(task.C, np.int64)
        offset = 0
        while True:
            x = unit_rows(rng.standard_normal((chunk, task.d)))
            onehot = np.eye(task.C, dtype=np.int64)[np.argmax(x @ protos.T, axis=1)]
            running = counts + np.cumsum(onehot, axis=0)
            done = np.all(running >= quota, axis=1)
            if done.any():
                needed.append(offset + int(np.argmax(done)) + 1)
                break
            counts, offset = running[-1], offset + chunk
    return float(np.mean(needed))


def median_ms(*fns, calls: int = CALLS) -> list[float]:
    """Median wall time of each fn(i) for i = 1..calls, after a first (compiling) call fn(0); the functions are
    called in turn, one call each per round."""
    for fn in fns:
        jax.block_until_ready(fn(0))
    times = [[] for _ in fns]
    for i in range(1, calls + 1):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(i))
            out.append(time.perf_counter() - t0)
    return [1e3 * float(np.median(t)) for t in times]


def compare(batch: int, baseline: str) -> None:
    """The table of part 1 for one batch size."""
    old = module_at(baseline, "engine/tasks.py")
    print(f"\nbatch {batch}: ms per batch (median of {CALLS}); x floor = time / RNG floor (goal <= {GOAL_FLOOR:.0f})")
    print(f"{'d':>3} {'floor':>7} | {'ours':>7} {'x floor':>7} {'ctx/s':>8} {'ns/normal':>9} {'pts':>5} {'/min':>5}"
          f" {'goal':>4} | {'baseline':>8} {'x floor':>7} {'ctx/s':>8} {'pts':>5} | {'speed-up':>8}")
    for d in (3, 5, 10):
        task = TaskConfig(d=d, C=C, n=N)
        low = minimum_draws(task, MIN_CONTEXTS, seed=200 + d)
        floor_fn = jax.jit(lambda k, size=int(batch * low * d): jax.random.normal(k, (size,)))
        samplers = sample_contexts_with_stats, old.sample_contexts_with_stats
        floor, ms, ms_old = median_ms(lambda i: floor_fn(jax.random.key(i)),
                                      *(lambda i, s=s: s(jax.random.key(i), task, batch) for s in samplers))
        pts, pts_old = (float(np.mean([int(s(jax.random.key(i), task, batch)[1]) for i in range(5)])) for s in samplers)
        ok = "ok" if ms / floor <= GOAL_FLOOR else "MISS"
        print(f"{d:>3} {floor:>7.2f} | {ms:>7.2f} {ms / floor:>7.2f} {1e3 * batch / ms:>8.0f}"
              f" {1e6 * ms / (batch * pts * d):>9.1f} {pts:>5.0f} {pts / low:>5.2f} {ok:>4}"
              f" | {ms_old:>8.2f} {ms_old / floor:>7.2f} {1e3 * batch / ms_old:>8.0f} {pts_old:>5.0f}"
              f" | {ms_old / ms:>7.2f}x")


def peak_rss_kib() -> int:
    """Peak resident memory of this process in KiB.

    VmHWM belongs to the current address space, so it starts afresh at exec; ru_maxrss does not
    (Linux carries it over from the parent across fork + exec), so it is only the fallback.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child() -> None:
    """In a fresh process: peak RSS after importing jax, after compiling and after sampling."""
    enable_compilation_cache()
    task = TaskConfig(d=10, C=C, n=N)
    key = jax.random.key(0)
    jax.block_until_ready(jax.numpy.zeros(1))  # backend up
    kib = [peak_rss_kib()]
    compiled = sample_contexts_with_stats.lower(key, task, BATCH).compile()
    kib.append(peak_rss_kib())
    jax.block_until_ready(compiled(key))
    kib.append(peak_rss_kib())
    report = {"peak_kib": kib, "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    try:
        mem = compiled.memory_analysis()
        report["xla"] = {
            name: int(getattr(mem, f"{name}_size_in_bytes"))
            for name in ("argument", "output", "temp", "alias", "generated_code")
            if hasattr(mem, f"{name}_size_in_bytes")
        }
    except Exception as err:  # memory_analysis is optional per backend
        report["xla_error"] = repr(err)
    print(json.dumps(report))


def memory_report() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.sampler", MEMORY_CHILD], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    imported, compiled, sampled = (k / 1024 for k in report["peak_kib"])
    contexts_mib = BATCH * ((N + 1) * 10 + N + 1 + C * 10) * 4 / 2**20
    print(f"\nPeak memory, batch {BATCH}, d = 10 (fresh process, peak RSS = VmHWM):")
    print(f"  after import jax + backend   {imported:8.1f} MiB")
    print(f"  after compile                {compiled:8.1f} MiB  (+{compiled - imported:.1f})")
    print(f"  after sampling one batch     {sampled:8.1f} MiB  (+{sampled - compiled:.1f} over compile)")
    print(f"  the contexts themselves      {contexts_mib:8.1f} MiB  (float32/int32 arrays returned)")
    if "xla" in report:
        sizes = "  ".join(f"{name} {b / 2**20:.2f} MiB" for name, b in report["xla"].items())
        print(f"  XLA memory_analysis: {sizes}")
    else:
        print(f"  XLA memory_analysis unavailable: {report.get('xla_error')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=BASELINE, help="git revision whose sampler is timed beside this one")
    ap.add_argument("--batches", type=int, nargs="+", default=BATCHES, help="batch sizes to time")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    args = ap.parse_args()
    print(f"device: {device_summary()}", flush=True)
    enable_compilation_cache()
    print(f"Sampler: n = {N}, C = {C}; jax {jax.__version__} on {jax.devices()[0].platform}; baseline {args.baseline}")
    for batch in args.batches:
        compare(batch, args.baseline)
    print("\nfloor: threefry normals for batch x min pts x d, one flat vector; ns/normal: our time per normal drawn;"
          "\npts: points drawn per context; /min: over a sequential rejection sampler's mean (simulated in numpy, "
          f"{MIN_CONTEXTS} contexts).")
    if not args.no_memory:
        memory_report()


if __name__ == "__main__":
    if MEMORY_CHILD in sys.argv[1:]:
        memory_child()
    else:
        main()
