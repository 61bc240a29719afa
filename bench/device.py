"""One script for a machine with an accelerator: the engine tests, then one table of benchmarks.

    XLA_PYTHON_CLIENT_PREALLOCATE=false .venv/bin/python -m bench.device [--quick | --full] [--json PATH]

1. The engine tests (tests/test_{tasks,models,closed_form,constructions,fit,metrics,extract,train,sweep}.py,
   those that exist) in a subprocess under a time limit, `pytest -q -x`; the app and browser tests are left out.
2. Benchmarks, all after compilation, medians of a few calls:
   - the sampler (contexts/s; d = 5, C = 5, n = 100), a K-step `lax.scan` of `tasks.sample_contexts`;
   - the query-row forward + backward of softmax SA (`models.logits` under `jax.value_and_grad` of the mean
     cross-entropy), a K-step scan on one batch;
   - one training step (`train.make_chunk(config, K)`: sample + forward/backward + clipped Adam), against the
     sum of the two parts above (the ratio is the step's overhead over its parts);
   - a sweep of 4 x (device count) seeds sharded over all devices (`sweep.sweep`, evaluations included),
     and its jitted chunk alone (`sweep.make_sweep_chunk`), against one run's `make_chunk` of the same steps
     (the ratio is run-steps/s, sweep over single run);
   - the paper's softmax recipe at d = 10 (`config.PRESETS["paper-softmax-d10"]`, batch 2048), time per step
     on chunks after the compiling one, projected to the recipe's 2,000,000 steps.
   Speeds are reported, never asserted.

--full (the default on an accelerator): batch 2048, 100-step scans, a 200-step sweep and 10,000 paper steps;
about 8 minutes at most with the tests. --quick (the default on CPU): batch 256, 50-step scans, a 50-step
sweep and 200 paper steps (still at the paper's batch of 2048, so the projection means the same).
Only the engine's public functions, jax, numpy and the standard library are used, so it runs on whatever
Python and JAX the machine has. Prints the device first, then the Markdown table; `--json PATH` also
writes the results as JSON (e.g. bench/device_results.json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The test subprocess and this process share the accelerator: neither may grab most of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

TEST_FILES = ("test_tasks", "test_models", "test_closed_form", "test_constructions", "test_fit", "test_metrics",
              "test_extract", "test_train", "test_sweep")


@dataclasses.dataclass(frozen=True)
class Sizes:
    batch: int  # sampler, forward/backward, training step
    scan: int  # steps per timed lax.scan
    repeats: int  # timed calls after the compiling one
    sweep_steps: int
    sweep_eval_every: int
    sweep_batch: int
    paper_steps: int
    paper_chunk: int
    paper_cap_s: float  # stop the paper recipe early past this many seconds (projection still holds)
    tests_timeout_s: int


FULL = Sizes(batch=2048, scan=100, repeats=5, sweep_steps=200, sweep_eval_every=100, sweep_batch=512,
             paper_steps=10_000, paper_chunk=1000, paper_cap_s=120.0, tests_timeout_s=240)
QUICK = Sizes(batch=256, scan=50, repeats=3, sweep_steps=50, sweep_eval_every=25, sweep_batch=256,
              paper_steps=200, paper_chunk=50, paper_cap_s=90.0, tests_timeout_s=300)


def run_tests(files: list[str], timeout_s: int) -> dict:
    """pytest -q -x on the given files in a subprocess; the summary line, the exit code and the wall time."""
    present = [f for f in files if (ROOT / f).exists()]
    missing = sorted(set(files) - set(present))
    if not present:
        return {"status": "no test files", "missing": missing}
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *present]
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as err:
        tail = (err.stdout or b"")
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return {"status": f"timed out after {timeout_s} s", "files": present, "missing": missing,
                "wall_s": round(time.perf_counter() - t0, 1), "tail": tail[-2000:]}
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    summary = next((ln for ln in reversed(lines) if " in " in ln and ("passed" in ln or "failed" in ln
                                                                      or "error" in ln)), lines[-1] if lines else "")
    return {"status": "passed" if out.returncode == 0 else f"failed (exit {out.returncode})", "files": present,
            "missing": missing, "summary": summary.strip("= "), "wall_s": round(time.perf_counter() - t0, 1),
            "tail": "" if out.returncode == 0 else "\n".join(lines[-40:])}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="reduced sizes (default on CPU)")
    mode.add_argument("--full", action="store_true", help="full sizes (default on an accelerator)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    ap.add_argument("--no-tests", action="store_true", help="benchmarks only")
    ap.add_argument("--tests", nargs="+", metavar="FILE", help="test files to run instead of the engine tests")
    ap.add_argument("--tests-timeout", type=int, help="seconds for the test subprocess")
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp
    import numpy as np

    from engine import models, sweep, train
    from engine.config import PRESETS, TrainConfig
    from engine.runtime import device_summary, enable_compilation_cache
    from engine.state import init_state
    from engine.tasks import sample_contexts

    t_start = time.perf_counter()
    print(f"device: {device_summary()}", flush=True)
    platform = jax.devices()[0].platform
    quick = args.quick or (platform == "cpu" and not args.full)
    sz = QUICK if quick else FULL
    n_dev = jax.device_count()
    print(f"mode: {'quick' if quick else 'full'}; Python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPU cores", flush=True)
    enable_compilation_cache()
    results: dict = {"device": device_summary(), "platform": platform, "devices": n_dev, "jax": jax.__version__,
                     "mode": "quick" if quick else "full", "sizes": dataclasses.asdict(sz), "rows": []}

    # ---- (a) the engine tests ------------------------------------------------------------------------
    if args.no_tests:
        results["tests"] = {"status": "skipped (--no-tests)"}
    else:
        files = args.tests or [f"tests/{name}.py" for name in TEST_FILES]
        timeout = args.tests_timeout or sz.tests_timeout_s
        print(f"\ntests: pytest -q -x on {len(files)} files, at most {timeout} s ...", flush=True)
        results["tests"] = tests = run_tests(files, timeout)
        print(f"tests: {tests['status']}; {tests.get('summary', '')} ({tests.get('wall_s', 0)} s)"
              + (f"; not present: {', '.join(tests['missing'])}" if tests.get("missing") else ""), flush=True)
        if tests.get("tail"):
            print(tests["tail"], flush=True)

    # ---- (b) benchmarks ------------------------------------------------------------------------------
    def clock(fn, *a) -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*a))
        return time.perf_counter() - t0

    def timed(fn, *a) -> tuple[float, float]:
        """(first call incl. compilation, median of the timed calls), seconds."""
        first = clock(fn, *a)
        return first, statistics.median(clock(fn, *a) for _ in range(sz.repeats))

    rows = results["rows"]

    def row(name: str, size: str, per: str, secs: float, throughput: str, ratio: str, **extra) -> None:
        rows.append({"benchmark": name, "size": size, "per": per, "seconds": secs, "throughput": throughput,
                     "vs_baseline": ratio, **extra})
        print(f"  {name}: {secs * 1e3:.3f} ms per {per}, {throughput}; {ratio}", flush=True)

    print("\nbenchmarks ...", flush=True)
    K = sz.scan
    cfg = dataclasses.replace(PRESETS["fast-softmax-d5"], batch=sz.batch)
    task = cfg.task
    shape = f"batch {cfg.batch}, d={task.d}, C={task.C}, n={task.n}"

    @jax.jit
    def sample_scan(key):
        def body(k, _):
            k, sub = jax.random.split(k)
            ctx = sample_contexts(sub, task, cfg.batch)
            return k, ctx.xs.sum() + ctx.xq.sum()
        return jax.lax.scan(body, key, length=K)[1]

    _, t = timed(sample_scan, jax.random.key(0))
    t_sample = t / K
    row("sampler (tasks.sample_contexts)", shape, "batch", t_sample, f"{cfg.batch / t_sample:,.0f} contexts/s",
        f"{K}-step scan")

    def ce_loss(params, ctx):
        logp = jax.nn.log_softmax(models.logits(params, ctx, "softmax"), axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, ctx.yq[:, None], axis=-1))

    ctx = sample_contexts(jax.random.key(1), task, cfg.batch)

    @jax.jit
    def grad_scan(params):
        def body(p, _):
            loss, g = jax.value_and_grad(ce_loss)(p, ctx)
            return jax.tree.map(lambda a, b: a - 1e-9 * b, p, g), loss
        return jax.lax.scan(body, params, length=K)[1]

    state = init_state(cfg)
    _, t = timed(grad_scan, state["params"])
    t_grad = t / K
    row("fwd+bwd, softmax SA query row", shape, "batch", t_grad, f"{cfg.batch / t_grad:,.0f} contexts/s",
        f"{K}-step scan on one batch")

    chunk = train.make_chunk(cfg, K)
    compile_s, t = timed(lambda s: chunk(s)[1], state)
    t_step = t / K
    row("training step (train.make_chunk)", shape, "step", t_step, f"{1 / t_step:,.1f} steps/s",
        f"{t_step / (t_sample + t_grad):.2f}x (sampler + fwd+bwd)", first_call_s=round(compile_s, 2))

    # Sweep: 4 x devices seeds, sharded over all devices, against one run's make_chunk of the same steps.
    S = 4 * n_dev
    scfg = TrainConfig(kind="softmax", d=5, C=5, n=100, batch=sz.sweep_batch, steps=sz.sweep_steps, lr=1e-2,
                       warmup=max(1, sz.sweep_steps // 10), eval_every=sz.sweep_eval_every, eval_contexts=512)
    t0 = time.perf_counter()
    sweep.sweep(scfg, range(S))
    sweep_first = time.perf_counter() - t0
    walls = []
    for _ in range(max(1, sz.repeats - 2)):
        t0 = time.perf_counter()
        res = sweep.sweep(scfg, range(S))
        walls.append(time.perf_counter() - t0)
    t_sweep = statistics.median(walls)
    single = train.make_chunk(scfg, scfg.steps)
    _, t_single = timed(lambda s: single(s)[1], init_state(scfg))
    sweep_rate, single_rate = S * scfg.steps / t_sweep, scfg.steps / t_single
    # The sweep's jitted chunk alone (no evaluations, no host round trips), as compiled by the sweep above.
    schunk = sweep.make_sweep_chunk(scfg, scfg.eval_every, sweep.make_mesh())
    stacked = sweep.stack([init_state(c) for c in sweep.run_configs(scfg, range(S))])
    _, t_schunk = timed(lambda s: schunk(s, np.ones(S, np.float32))[1], stacked)
    chunk_rate = S * scfg.eval_every / t_schunk
    row(f"sweep (sweep.sweep, {S} seeds on {res.devices} device{'s' * (res.devices > 1)})",
        f"batch {scfg.batch}, d=5, {scfg.steps} steps, eval every {scfg.eval_every}", "sweep", t_sweep,
        f"{sweep_rate:,.0f} run-steps/s", f"{sweep_rate / single_rate:.2f}x one run's make_chunk "
        f"({single_rate:,.0f} steps/s)", first_call_s=round(sweep_first, 2),
        final_eval_loss=[round(h[-1]["eval_loss"], 4) for h in res.histories])
    row(f"sweep chunk only (sweep.make_sweep_chunk, {S} seeds)", f"batch {scfg.batch}, d=5, {scfg.eval_every} steps",
        "chunk", t_schunk, f"{chunk_rate:,.0f} run-steps/s", f"{chunk_rate / single_rate:.2f}x one run's make_chunk")

    # The paper's softmax recipe at d = 10, time per step on chunks after the compiling one.
    paper = PRESETS["paper-softmax-d10"]
    pcfg = dataclasses.replace(paper, steps=sz.paper_steps, eval_every=sz.paper_steps)
    pchunk = train.make_chunk(pcfg, sz.paper_chunk)
    pstate = init_state(pcfg)
    t0 = time.perf_counter()
    pstate, losses, *_ = pchunk(pstate)
    first_loss = float(np.mean(np.asarray(losses)))
    p_first = time.perf_counter() - t0
    chunk_s, done, t_loop = [], sz.paper_chunk, time.perf_counter()
    while done < pcfg.steps and (not chunk_s or time.perf_counter() - t_loop < sz.paper_cap_s):
        t0 = time.perf_counter()
        pstate, losses, *_ = pchunk(pstate)
        last_loss = float(np.mean(np.asarray(losses)))  # waits for the chunk
        chunk_s.append(time.perf_counter() - t0)
        done += sz.paper_chunk
    t_paper = statistics.median(chunk_s) / sz.paper_chunk
    proj_h = t_paper * paper.steps / 3600
    row("paper recipe paper-softmax-d10", f"batch {pcfg.batch}, d={pcfg.d}, C={pcfg.C}, n={pcfg.n}, "
        f"{done:,} steps", "step", t_paper, f"{1 / t_paper:,.1f} steps/s",
        f"{paper.steps:,} steps projected: {proj_h:.2f} h", first_call_s=round(p_first, 2), steps_run=done,
        projected_hours=round(proj_h, 3), loss_first_chunk=round(first_loss, 4),
        loss_last_chunk=round(last_loss if chunk_s else first_loss, 4))

    mem = getattr(jax.devices()[0], "memory_stats", lambda: None)()
    if mem and "peak_bytes_in_use" in mem:
        results["peak_device_memory_mib"] = round(mem["peak_bytes_in_use"] / 2**20, 1)
    results["total_s"] = round(time.perf_counter() - t_start, 1)

    # ---- the table -----------------------------------------------------------------------------------
    print(f"\n### {results['device']}, {results['mode']} mode\n")
    print("| benchmark | size | time | throughput | vs baseline (same run) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['benchmark']} | {r['size']} | {r['seconds'] * 1e3:.3f} ms / {r['per']} | {r['throughput']} "
              f"| {r['vs_baseline']} |")
    p = rows[-1]
    print(f"\npaper recipe: mean training loss {p['loss_first_chunk']} over the first chunk, "
          f"{p['loss_last_chunk']} over the last; first call (compile + {sz.paper_chunk} steps) {p['first_call_s']} s")
    print(f"training step first call (compile + {K} steps): {rows[2]['first_call_s']} s; "
          f"sweep first call (compile + run): {rows[3]['first_call_s']} s; sweep final eval losses "
          f"{rows[3]['final_eval_loss']}")
    t = results["tests"]
    print(f"tests: {t['status']}" + (f", {t['summary']}" if t.get("summary") else "")
          + (f" ({t['wall_s']} s)" if "wall_s" in t else ""))
    if "peak_device_memory_mib" in results:
        print(f"peak device memory: {results['peak_device_memory_mib']} MiB")
    print(f"total {results['total_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0 if t["status"] in ("passed", "skipped (--no-tests)") else 1


if __name__ == "__main__":
    sys.exit(main())
