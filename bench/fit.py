"""Grid fits of the closed forms (docs/science.md section 6): the separable grid against one evaluation per grid point.

Run: .venv/bin/python -m bench.fit

Float32, 10,000 contexts of n = 100 at d = 5 (C = 5), all times after compilation. Each time is
given as wall-clock and as this process's CPU time: the machine's 2 cores are shared, so wall time
moves with other people's load while CPU time measures the work done. The grid and the per-point
baseline are timed in alternation, so that a change of load hits both alike.

Per-point baselines: a jitted mean cross-entropy of eq. (1) at one (c_sigma, c_eta), called for each
point of a 10 x 10 sub-grid and scaled to the 100 x 100 grid, (a) straight from
`closed_form.adaptive_logits` (evaluating every grid point independently) and (b) with the grid's
faster label sums, which isolates the gain of sharing h (the attention weights) across c_eta.
Peak memory is the process's peak resident set (JAX runtime and contexts included).
"""

from __future__ import annotations

import os
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from engine import closed_form as cf
from engine import fit
from engine.runtime import device_summary, enable_compilation_cache
from engine.tasks import TaskConfig, sample_contexts

TASK = TaskConfig(d=5, C=5, n=100)
N_CONTEXTS = 10_000
REPEATS = 3
SUB = 10  # the per-point baselines run on a SUB x SUB sub-grid


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def clocked(fn, *args) -> tuple[float, float, object]:
    """(wall s, CPU s, result) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0, time.process_time() - c0, out


def timed(fn, *args, repeats: int = REPEATS) -> tuple[list[float], list[float], object]:
    """Wall and CPU seconds of `repeats` calls after one warm-up call (which compiles)."""
    fn(*args)
    walls, cpus = [], []
    for _ in range(repeats):
        w, c, out = clocked(fn, *args)
        walls.append(w)
        cpus.append(c)
    return walls, cpus, out


@jax.jit
def point_loss(ctx, c_eta, c_sigma):
    """Mean cross-entropy of eq. (1) at one grid point, straight from closed_form."""
    logp = jax.nn.log_softmax(cf.adaptive_logits(ctx, c_eta, c_sigma), -1)
    return -jnp.mean(jnp.take_along_axis(logp, ctx.yq[:, None], 1))


@jax.jit
def point_loss_grouped(ctx, c_eta, c_sigma):
    """The same with the grid's label sums for contexts grouped by class."""
    return fit._mean_loss(ctx, "adaptive", {"c_sigma": c_sigma, "c_eta": c_eta}, grouped=True)


def per_point(loss_fn, ctx, cs_sub, ce_sub) -> np.ndarray:
    """Every point of the sub-grid, one jitted call each."""
    return np.array([[float(loss_fn(ctx, ce, cs)) for ce in ce_sub] for cs in cs_sub])


def fmt(walls: list[float], cpus: list[float]) -> str:
    return f"wall {statistics.median(walls):.3f} s (min {min(walls):.3f}), CPU {statistics.median(cpus):.3f} s"


def main() -> None:
    print(f"device: {device_summary()}", flush=True)
    enable_compilation_cache()
    print(
        f"JAX {jax.__version__}, {jax.default_backend()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    print(f"task d={TASK.d} C={TASK.C} n={TASK.n}, {N_CONTEXTS} contexts, float32; times are medians of {REPEATS}")
    ctx = jax.block_until_ready(sample_contexts(jax.random.key(0), TASK, N_CONTEXTS))
    rss_before = peak_rss_mb()

    axes = fit.default_grid("adaptive", TASK.d)
    shape = tuple(len(v) for v in axes.values())
    points = int(np.prod(shape))
    step = shape[0] // SUB
    cs_sub = [float(v) for v in axes["c_sigma"][::step]]
    ce_sub = [float(v) for v in axes["c_eta"][::step]]
    baselines = {"closed_form.adaptive_logits": point_loss, "grouped label sums": point_loss_grouped}

    # Compile everything, then alternate grid and baselines.
    losses = fit.grid_losses(ctx, "adaptive", axes)
    for fn in baselines.values():
        jax.block_until_ready(fn(ctx, ce_sub[0], cs_sub[0]))
    grid_w, grid_c = [], []
    base_w = {k: [] for k in baselines}
    base_c = {k: [] for k in baselines}
    agree = {}
    for _ in range(REPEATS):
        w, c, losses = clocked(fit.grid_losses, ctx, "adaptive", axes)
        grid_w.append(w)
        grid_c.append(c)
        for label, fn in baselines.items():
            w, c, sub = clocked(per_point, fn, ctx, cs_sub, ce_sub)
            base_w[label].append(w * points / SUB**2)
            base_c[label].append(c * points / SUB**2)
            agree[label] = float(np.max(np.abs(sub - losses[::step, ::step]) / sub))

    print(f"\neq. (1) grid {shape[0]} c_sigma x {shape[1]} c_eta = {points} points")
    print(f"  separable grid: {fmt(grid_w, grid_c)}")
    ratios = {}
    for label in baselines:
        ratios[label] = (
            statistics.median(base_w[label]) / statistics.median(grid_w),
            statistics.median(base_c[label]) / statistics.median(grid_c),
        )
        print(
            f"  per point, {label}: {statistics.median(base_w[label]) / points * 1e3:.2f} ms x {points} "
            f"= {fmt(base_w[label], base_c[label])} (scaled from a {SUB} x {SUB} sub-grid; "
            f"max rel diff to the grid {agree[label]:.1e})\n"
            f"    -> the separable grid is {ratios[label][0]:.0f}x faster in wall time, {ratios[label][1]:.0f}x in CPU"
        )

    best = fit.fit(ctx, "adaptive", axes)
    w, c, _ = timed(fit.refine, ctx, "adaptive", best.best, best.loss)
    print(
        f"  refinement: {fmt(w, c)}; grid best "
        f"{ {k: round(v, 4) for k, v in best.best.items()} } loss {best.loss:.5f} -> "
        f"{ {k: round(v, 4) for k, v in best.refined.items()} } loss {best.refined_loss:.5f}"
    )
    fit_w, fit_c, _ = timed(fit.fit_adaptive, ctx)
    print(f"  fit_adaptive (grid + refinement): {fmt(fit_w, fit_c)}")

    print("\nother methods, full fit (grid + refinement)")
    for name, fn in [
        ("gd", fit.fit_gd),
        ("kernel_gd", fit.fit_kernel_gd),
        ("adaptive_self_key", lambda c: fit.fit_adaptive(c, self_key=True)),
    ]:
        w, c, r = timed(fn, ctx)
        print(
            f"  {name:18s} {fmt(w, c)}; refined { ({k: round(v, 4) for k, v in r.refined.items()}) } "
            f"loss {r.refined_loss:.5f}"
        )

    peak = peak_rss_mb()
    print(
        f"\npeak RSS {peak:.0f} MB (after sampling the contexts: {rss_before:.0f} MB); "
        f"load average {os.getloadavg()[0]:.2f} at end"
    )
    grid_ok = statistics.median(grid_w) <= 2.0
    ratio_ok = min(ratios["closed_form.adaptive_logits"]) >= 50
    print(
        "targets: grid <= 2 s wall:",
        "met" if grid_ok else "NOT met",
        "| >= 50x vs evaluating each point with closed_form (wall and CPU):",
        "met" if ratio_ok else "NOT met",
        "| peak RSS < 2 GB:",
        "met" if peak < 2048 else "NOT met",
    )


if __name__ == "__main__":
    main()
