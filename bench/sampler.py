"""Speed, draw count and memory of the exact context sampler (engine.tasks, docs/science.md section 1).

Run: .venv/bin/python -m bench.sampler

1. Contexts per second at batch 2048 (n = 100, C = 5) against a per-context numpy reference that
   draws uniform points on the sphere one at a time until every class quota is met.
2. Random points drawn per context against the minimum for exact rejection sampling: the mean
   number of draws a sequential rejection sampler needs (simulated in numpy).
3. Peak memory of one batch at d = 10, measured in a fresh process.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import jax
import numpy as np

from engine.runtime import device_summary, enable_compilation_cache
from engine.tasks import TaskConfig, sample_contexts, sample_contexts_with_stats

BATCH = 2048
N, C = 100, 5
DIMS = (2, 3, 5, 10)
OURS_CALLS = 5  # timed calls of the jitted sampler per d (after the compiling one)
REF_CONTEXTS = 32  # contexts drawn by the numpy reference per d
MIN_CONTEXTS = 500  # contexts simulated for the minimum draw count
GOAL_SPEEDUP = 20.0
GOAL_DRAWS = 2.0
MEMORY_CHILD = "--memory-child"


def unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def problem(rng: np.random.Generator, task: TaskConfig) -> tuple[np.ndarray, np.ndarray]:
    """Prototypes (C, d) and the quota per class (n/C, plus one for the query's class)."""
    protos = unit_rows(rng.standard_normal((task.C, task.d)))
    quota = np.full(task.C, task.per_class)
    quota[rng.integers(task.C)] += 1
    return protos, quota


def reference_context(rng: np.random.Generator, task: TaskConfig) -> int:
    """One context the straightforward way: uniform points one by one, kept while their class needs
    more. Returns the number of points drawn."""
    protos, quota = problem(rng, task)
    kept = [[] for _ in range(task.C)]
    missing = int(quota.sum())
    drawn = 0
    while missing:
        x = rng.standard_normal(task.d)
        x /= np.sqrt(x @ x)
        drawn += 1
        c = int(np.argmax(protos @ x))
        if len(kept[c]) < quota[c]:
            kept[c].append(x)
            missing -= 1
    return drawn


def reference_rate(task: TaskConfig, contexts: int, seed: int) -> tuple[float, float]:
    """(contexts per second, mean points drawn per context) of the numpy reference."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    drawn = [reference_context(rng, task) for _ in range(contexts)]
    return contexts / (time.perf_counter() - t0), float(np.mean(drawn))


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


def ours_rate(task: TaskConfig, seed: int) -> tuple[float, float, float]:
    """(contexts per second, mean points drawn per context, first call seconds incl. compile)."""
    keys = jax.random.split(jax.random.key(seed), OURS_CALLS + 1)
    t0 = time.perf_counter()
    jax.block_until_ready(sample_contexts(keys[0], task, BATCH))
    first = time.perf_counter() - t0
    times, drawn = [], []
    for k in keys[1:]:
        t0 = time.perf_counter()
        jax.block_until_ready(sample_contexts(k, task, BATCH))
        times.append(time.perf_counter() - t0)
        drawn.append(int(sample_contexts_with_stats(k, task, BATCH)[1]))
    return BATCH / float(np.median(times)), float(np.mean(drawn)), first


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
    out = subprocess.run([sys.executable, __file__, MEMORY_CHILD], capture_output=True, text=True, check=True)
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
    print(f"device: {device_summary()}", flush=True)
    enable_compilation_cache()
    print(f"Sampler: batch {BATCH}, n = {N}, C = {C}; jax {jax.__version__} on {jax.devices()[0].platform}")
    print(
        f"ours: median of {OURS_CALLS} jitted calls after a compiling one; "
        f"reference: per-context numpy loop over {REF_CONTEXTS} contexts"
    )
    print(
        f"\n{'d':>3} {'ours ctx/s':>11} {'ref ctx/s':>10} {'speed-up':>9} {'goal':>5}"
        f" | {'ours pts':>9} {'min pts':>8} {'ours/min':>8} {'goal':>5} | {'ref pts':>8} {'1st call s':>10}"
    )
    for d in DIMS:
        task = TaskConfig(d=d, C=C, n=N)
        ours, ours_pts, first = ours_rate(task, seed=d)
        ref, ref_pts = reference_rate(task, REF_CONTEXTS, seed=100 + d)
        low = minimum_draws(task, MIN_CONTEXTS, seed=200 + d)
        speedup, ratio = ours / ref, ours_pts / low
        ok_speed = "ok" if speedup >= GOAL_SPEEDUP else "MISS"
        ok_draws = "ok" if ratio <= GOAL_DRAWS else "MISS"
        if d == 2:
            ok_draws = "n/a"
        print(
            f"{d:>3} {ours:>11.0f} {ref:>10.0f} {speedup:>8.1f}x {ok_speed:>5}"
            f" | {ours_pts:>9.0f} {low:>8.1f} {ratio:>8.2f} {ok_draws:>5} | {ref_pts:>8.1f} {first:>10.2f}"
        )
    print(
        f"\nd = 2 is analytic (each class region is an arc): one uniform per point, n + 1 = {N + 1} per context,"
        "\nfewer than exact rejection needs, so its ours/min is below 1 and the draw goal does not apply."
        "\nmin pts: mean draws of a sequential rejection sampler (numpy simulation over "
        f"{MIN_CONTEXTS} contexts);\nref pts: the same quantity from the reference's own {REF_CONTEXTS} contexts."
        f"\nGoals: speed-up >= {GOAL_SPEEDUP:.0f}x at d = 5; ours/min <= {GOAL_DRAWS:.0f}."
    )
    memory_report()


if __name__ == "__main__":
    if MEMORY_CHILD in sys.argv[1:]:
        memory_child()
    else:
        main()
