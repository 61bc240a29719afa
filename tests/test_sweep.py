import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import jax
import numpy as np
import pytest

from engine import extract, sweep, train
from engine.config import SCHEDULES, TrainConfig
from engine.state import init_state

ROOT = Path(__file__).resolve().parent.parent
# eval, align and fit contexts all of the training batch's shape: one sampler compile serves them all.
SMALL = TrainConfig(kind="softmax", d=2, C=3, n=6, batch=16, steps=200, lr=1e-2, warmup=20,
                          eval_every=100, eval_contexts=16, align_contexts=16, fit_contexts=16)
SEEDS = [0, 1, 2, 5, 7, 11]
LRS = [1e-2, 1e-2, 3e-3, 1e-2, 3e-3, 1e-2]
# Runs at config.lr: XLA compiles the batched program differently from a single run's (FMA
# contraction, fusion, loop shapes), so values differ in their last bits (float64 here), not in
# their data. Runs at another lr also round the step size
# (config.lr's schedule times lr / config.lr) once per step, which Adam magnifies in near-zero
# gradient entries. A wrong context or learning rate would differ by 1e-2 or more.
TOL = dict(rtol=1e-9, atol=1e-12)
TOL_OTHER_LR = dict(rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module", autouse=True)
def _float64(x64_module):
    """Agreement with separate runs to rounding is sharp in float64 (in float32 the compiler's different
    fusions would leave 1e-7 differences that Adam magnifies)."""


@pytest.fixture(scope="module")
def result() -> sweep.SweepResult:
    return sweep.sweep(SMALL, SEEDS, LRS)


def reference_run(config: TrainConfig) -> tuple[dict, list[dict]]:
    """One run on its own, through train.make_chunk: final params and its evaluations."""
    state, ctx = init_state(config), train.contexts_for(config)["eval"]
    rows = []
    for _ in range(config.steps // config.eval_every + 1):
        loss, _ = train.evaluate(state["params"], ctx, config.kind, config.query_in_keys)
        c_sigma, c_eta = extract.effective_constants(state["params"], config.task)
        rows.append({"step": int(state["step"]), "eval_loss": float(loss), "c_sigma": c_sigma, "c_eta": c_eta})
        if int(state["step"]) < config.steps:
            state = train.make_chunk(config, config.eval_every)(state)[0]
    return jax.tree.map(np.asarray, state["params"]), rows


def test_vmapped_sweep_equals_separate_runs(result):
    """Each run against train.make_chunk on its own, learning rates other than config.lr included."""
    assert result.status == "finished" and result.seeds == SEEDS and result.lrs == LRS
    for cfg, params, hist in zip(result.configs, result.params, result.histories):
        ref_params, ref_rows = reference_run(cfg)
        tol = TOL if cfg.lr == SMALL.lr else TOL_OTHER_LR
        for k in ref_params:
            np.testing.assert_allclose(params[k], ref_params[k], **tol)
        assert [e["step"] for e in hist] == [0, 100, 200]
        for e, r in zip(hist, ref_rows, strict=True):
            for key in ("eval_loss", "c_sigma", "c_eta"):
                np.testing.assert_allclose(e[key], r[key], **tol)
        assert hist[-1]["strategy"] == extract.strategy(ref_params, cfg.task)[0]


SUBPROCESS = """
import json, sys
import jax
jax.config.update("jax_enable_x64", True)
from engine import sweep
from engine.config import TrainConfig
from engine.runtime import enable_compilation_cache
enable_compilation_cache()
args = json.loads(sys.argv[1])
config = TrainConfig.from_dict(args["config"])
res = sweep.sweep(config, args["seeds"], args["lrs"])
# d = 3: the rejection sampler's while loops inside shard_map (a smoke run)
d3 = sweep.sweep(TrainConfig.from_dict({**args["config"], "d": 3, "steps": 3}), args["seeds"][:3])
print(json.dumps({"devices": res.devices, "padded": res.padded, "n_devices": len(jax.devices()),
                  "params": [{k: v.tolist() for k, v in p.items()} for p in res.params],
                  "histories": res.histories, "d3": [h[-1] for h in d3.histories]}))
"""


def test_sharded_sweep_on_four_devices_equals_one_device(result):
    """4 CPU devices in a subprocess (2 runs each, after padding 6 runs to 8) against 1 device here."""
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS=flags.strip())
    arg = json.dumps({"config": SMALL.to_dict(), "seeds": SEEDS, "lrs": LRS})
    proc = subprocess.run([sys.executable, "-c", SUBPROCESS, arg], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["n_devices"] == 4 and out["devices"] == 4 and out["padded"] == 2  # 6 runs -> 8 slots
    assert result.devices == len(jax.devices()) == 1
    for cfg, p4, p1, h4, h1 in zip(result.configs, out["params"], result.params, out["histories"],
                                   result.histories, strict=True):
        tol = TOL if cfg.lr == SMALL.lr else TOL_OTHER_LR
        for k in p1:
            np.testing.assert_allclose(np.asarray(p4[k]), p1[k], **tol)
        assert [e["strategy"] for e in h4] == [e["strategy"] for e in h1]
        np.testing.assert_allclose([e["eval_loss"] for e in h4], [e["eval_loss"] for e in h1], **tol)
    assert [e["step"] for e in out["d3"]] == [3] * 3 and all(np.isfinite(e["eval_loss"]) for e in out["d3"])


def test_progress_stop_and_a_diverging_run_leaves_the_others_alone(result):
    stop, seen = threading.Event(), []

    def on_progress(info):
        seen.append(info["step"])
        if info["step"] >= 100:
            stop.set()

    res = sweep.sweep(SMALL, SEEDS, LRS[:-1] + [1e200], on_progress=on_progress, stop_event=stop)  # overflows
    assert res.status == "stopped" and seen == [0, 100]
    for r in range(len(SEEDS) - 1):
        assert [e["step"] for e in res.histories[r]] == [0, 100]
        assert res.histories[r][-1] == result.histories[r][1]  # the same program: bit-identical
    bad = res.histories[-1][-1]
    assert bad["strategy"] == "diverged" and np.isnan(bad["c_sigma"])


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="one learning rate per seed"):
        sweep.sweep(SMALL, [0, 1], [1e-2])
    with pytest.raises(ValueError, match="at least one seed"):
        sweep.sweep(SMALL, [])
    with pytest.raises(ValueError, match="positive"):
        sweep.run_configs(SMALL, [0], [-1.0])
    for schedule in SCHEDULES:  # every schedule scales with its lr, as the per-run lr factor needs
        assert len(sweep.run_configs(dataclasses.replace(SMALL, schedule=schedule), [0, 1], [1e-2, 3e-3])) == 2


def test_sweep_with_qk_decay_and_squared_cosine_equals_separate_runs():
    """The W_Q/W_K decay and the schedule's power go through the sweep's optimiser too (a longer rate
    ratio than 1 included)."""
    cfg = dataclasses.replace(SMALL, qk_decay=0.5, cosine_power=2.0)
    res = sweep.sweep(cfg, [0, 1], [cfg.lr, cfg.lr])
    for run_cfg, params in zip(res.configs, res.params):
        ref_params, _ = reference_run(run_cfg)
        for k in ref_params:
            np.testing.assert_allclose(params[k], ref_params[k], **TOL)


def test_eval_contexts_are_the_runs_own(result):
    """`sweep.eval_contexts` draws exactly `train.contexts_for(config)["eval"]` (without the other sets)."""
    for cfg in result.configs[:2]:
        for a, b in zip(sweep.eval_contexts(cfg), train.contexts_for(cfg)["eval"], strict=True):
            np.testing.assert_array_equal(a, b)


def test_stack_unstack_and_the_result_table(result):
    trees = [{"a": np.full(2, i), "b": (np.arange(3) * i,)} for i in range(3)]
    stacked = sweep.stack(trees)
    assert stacked["a"].shape == (3, 2) and stacked["b"][0].shape == (3, 3)
    back = sweep.unstack(stacked, 3)
    for t, u in zip(trees, back, strict=True):
        np.testing.assert_array_equal(t["a"], u["a"])
        np.testing.assert_array_equal(t["b"][0], u["b"][0])
    rows = result.rows()
    assert len(rows) == len(SEEDS) * 3 and [r["seed"] for r in rows[::3]] == SEEDS
    evals = [e for h in result.histories for e in h]
    # every evaluation, in order, with the run's own peak lr (not the step's scheduled rate)
    assert all(r.items() >= {k: v for k, v in e.items() if k != "lr"}.items() for r, e in zip(rows, evals, strict=True))
    assert [r["lr"] for r in rows] == [c.lr for c in result.configs for _ in range(3)]
    assert result.final() == [h[-1] for h in result.histories]
