"""engine.train: chunks of steps, resuming, history and snapshots, the yardsticks, the verdict.

Runs are tiny and in float32, the production dtype; the session's `tiny_run` (tests/conftest.py) is the
finished run most tests read."""

import dataclasses
import shutil
import threading

import jax
import numpy as np
import pytest

from engine import constructions, extract, fit, fitted, metrics, models, train
from engine.config import PRESETS
from engine.fit import closed_form_fn
from engine.runs import RunError, load_run
from engine.state import init_state

ALIGN = ("preds_diff", "cos_sim", "model_diff")


@pytest.fixture(scope="module")
def small(tiny_config):
    return tiny_config


def leaves_equal(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_one_chunk_of_k_steps_equals_k_single_steps(small):
    state = init_state(small)
    whole, losses, gnorms, As, Bs, Ns = train.make_chunk(small, 5)(state)
    assert losses.shape == gnorms.shape == (5,) and As.shape == Bs.shape == (5, small.task.D, small.task.D)
    assert Ns.shape == (5, 2) and not np.any(Ns)  # key norms are kept for kernel layers only
    step_by_step, singles = state, []
    for t in range(5):
        step_by_step, loss, _, A1, B1, _ = train.make_chunk(small, 1)(step_by_step)
        singles.append(float(loss[0]))
        A, B = models.products(step_by_step["params"])  # A, B after every step are those of that step's params
        np.testing.assert_array_equal(As[t], A)
        np.testing.assert_array_equal(Bs[t], B)
        np.testing.assert_array_equal(A1[0], A)
    leaves_equal(whole, step_by_step)
    assert int(whole["step"]) == 5
    np.testing.assert_array_equal(np.asarray(losses), np.asarray(singles, dtype=np.asarray(losses).dtype))
    assert np.all(np.asarray(gnorms) > 0)


def evals_without_time(run):
    return [{k: v for k, v in e.items() if k != "elapsed_s"} for e in run.history["evals"]]


def test_resume_equals_uninterrupted(small, tiny_run, tmp_path):
    stop, seen = threading.Event(), []

    def stop_at_200(info):
        seen.append(info)
        if info["step"] >= 200:
            stop.set()

    part = train.train(small, tmp_path / "part", on_progress=stop_at_200, stop_event=stop)
    assert part.status == "stopped" and part.history["evals"][-1]["step"] == 200
    assert part.message == "stopped at step 200"
    # Progress after every evaluation, with the row just recorded and the verdict so far.
    assert [i["step"] for i in seen] == [100, 200]
    assert set(seen[-1]) == {"step", "steps", "eval", "verdict", "yardstick_loss", "elapsed_s"}
    assert seen[-1]["steps"] == 300 and seen[-1]["eval"] == part.history["evals"][-1]
    assert seen[-1]["verdict"]["step"] == 200
    assert seen[-1]["yardstick_loss"] == part.history["yardsticks"]["adaptive"]["loss"]
    resumed = train.train(small, tmp_path / "part", resume=True)
    assert resumed.status == "finished"
    leaves_equal(tiny_run.params, resumed.params)
    assert evals_without_time(tiny_run) == evals_without_time(resumed)
    assert tiny_run.history["snapshots"] == resumed.history["snapshots"]
    assert tiny_run.history["yardsticks"] == resumed.history["yardsticks"]


def test_history_verdict_and_snapshots(small, tiny_run):
    run = tiny_run
    assert run.status == "finished" and run.config == small
    evals = run.history["evals"]
    assert [e["step"] for e in evals] == [0, 100, 200, 300]
    for key in ("train_loss", "eval_loss", "eval_acc", "lr", "grad_norm", "c_sigma", "c_eta",
                *ALIGN, *(k + "_other" for k in ALIGN)):
        assert np.isfinite(evals[-1][key]), key
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    snaps = run.history["snapshots"]
    assert snaps[0]["step"] == 0 and snaps[-1]["step"] == 300
    A = np.asarray(snaps[-1]["A"])
    assert A.shape == (small.task.D, small.task.D)
    # The last snapshot is the final weights' A = W_Q^T W_K and B = W_V^T W_O^T (float64, stored to 6 decimals).
    W = {k: np.asarray(v, np.float64) for k, v in run.params.items()}
    np.testing.assert_allclose(A, W["W_Q"].T @ W["W_K"], atol=2e-6)
    np.testing.assert_allclose(np.asarray(snaps[-1]["B"]), W["W_V"].T @ W["W_O"].T, atol=2e-6)
    v = run.verdict
    assert set(v) >= {"converged", "within_1pct", "flat", "gap", "rel_change"}
    assert small.yardstick == "adaptive"
    yard = run.history["yardsticks"]["adaptive"]["loss"]
    assert v["within_1pct"] == ((evals[-1]["eval_loss"] - yard) / yard <= 0.01)
    np.testing.assert_allclose(v["gap"], (evals[-1]["eval_loss"] - yard) / yard, rtol=1e-12)
    # The constants in the history are those read off the final weights.
    np.testing.assert_allclose((evals[-1]["c_sigma"], evals[-1]["c_eta"]),
                               extract.effective_constants(run.params, small.task), rtol=1e-6)
    # The learning rate recorded is the schedule's at the last step taken.
    np.testing.assert_allclose(evals[-1]["lr"], float(train.learning_rate(small)(299)), rtol=1e-6)


def test_evaluation_is_the_mean_loss_and_accuracy_on_the_eval_contexts(small, tiny_run):
    ctx = train.contexts_for(small)["eval"]
    params = {k: jax.numpy.asarray(v) for k, v in tiny_run.params.items()}
    logits = models.logits(params, ctx, "softmax", query_in_keys=False)
    m = metrics.per_context(logits, ctx.yq)
    loss, acc = train.evaluate(params, ctx, "softmax", False)
    np.testing.assert_allclose(float(loss), float(m["loss"].mean()), rtol=1e-6)
    np.testing.assert_allclose(float(acc), float(m["correct"].mean()), rtol=1e-6)
    np.testing.assert_allclose(tiny_run.history["evals"][-1]["eval_loss"], float(loss), rtol=1e-6)
    assert ctx.batch == small.eval_contexts and train.contexts_for(small)["align"].batch == small.align_contexts


def test_softmax_runs_record_both_yardsticks(small, tiny_run):
    """Its own closed form (eq. 1: the query is not among the keys) and the other variant, at the stored fits,
    each scored on the run's evaluation contexts; the alignment with the other one under `*_other`."""
    yards = tiny_run.history["yardsticks"]
    assert list(yards) == ["adaptive", "adaptive_self_key"] == train.yardstick_methods(small)
    ctx = train.contexts_for(small)["eval"]
    for method, y in yards.items():
        f = fitted.fitted(method, small.task, small.fit_contexts)
        assert y["method"] == method and y["best"] == f.refined and y["fit_N"] == small.fit_contexts
        assert y["fit_loss"] == f.refined_loss and y["on_edge"] == list(f.on_edge)
        np.testing.assert_allclose(y["loss"], fit.mean_loss(ctx, method, f.refined), rtol=1e-5)
    # The alignment fields are those of the run's final weights against each closed form.
    last = tiny_run.history["evals"][-1]
    align = train.contexts_for(small)["align"]
    for method, suffix in (("adaptive", ""), ("adaptive_self_key", "_other")):
        want = metrics.alignment(models.model_fn(tiny_run.params, "softmax", query_in_keys=False),
                                 closed_form_fn(method, yards[method]["best"]), align)
        for k in ALIGN:
            np.testing.assert_allclose(last[k + suffix], float(want[k]), rtol=1e-6, atol=1e-9)
    assert train.yardstick_methods(dataclasses.replace(small, query_in_keys=True)) == ["adaptive_self_key",
                                                                                       "adaptive"]


def test_a_linear_run_has_one_yardstick_and_starts_on_its_warmed_program(small, tmp_path):
    cfg = dataclasses.replace(small, kind="linear", steps=20, eval_every=10)
    train.warm(cfg)  # what the app's warm-up does for the demo presets
    chunk = train.make_chunk(cfg, cfg.eval_every)
    assert chunk._cache_size() == 1 and not any(tmp_path.iterdir())
    run = train.train(cfg, tmp_path / "lin")
    assert chunk._cache_size() == 1  # the run trained on the program the warm-up compiled
    assert list(run.history["yardsticks"]) == ["gd"] == train.yardstick_methods(cfg)
    assert run.history["yardsticks"]["gd"]["best"] == fitted.fitted("gd", cfg.task, cfg.fit_contexts).refined
    last = run.history["evals"][-1]
    assert all(np.isfinite(last[k]) for k in ALIGN) and not any(k.endswith("_other") for k in last)


@pytest.mark.parametrize("name", sorted(n for n in PRESETS if n.startswith("fast-")) + ["fig11-d2-C2"])
def test_snapshot_schedule_of_the_presets(name):
    """At least 100 snapshots, the first and the last step among them, dense early (log-spaced: where the
    structure forms) and never far apart later (evenly spaced)."""
    cfg = PRESETS[name]
    s = np.array(sorted(train.snapshot_steps(cfg)))
    assert len(s) >= 100 and len(s) >= cfg.max_snapshots
    assert s[0] == 0 and s[-1] == cfg.steps and np.all(s >= 0) and np.all(s <= cfg.steps)
    early = np.sum(s <= 0.1 * cfg.steps)
    assert early >= 0.2 * len(s)  # at least twice the share of a uniform spacing
    if cfg.steps >= 1000:
        assert early >= len(s) / 3
    assert set(range(8)) <= set(s.tolist())
    assert np.diff(s).max() <= 2 * cfg.steps / cfg.max_snapshots + 1


def test_snapshot_schedule_of_short_runs(small):
    assert train.snapshot_steps(dataclasses.replace(small, steps=50)) == set(range(51))  # every step
    few = dataclasses.replace(small, steps=1000, max_snapshots=10)
    assert len(train.snapshot_steps(few)) >= 10 and {0, 1000} <= train.snapshot_steps(few)


def test_snapshots_are_the_products_at_the_scheduled_steps(small, tiny_run):
    """Every scheduled step is recorded, once, in order, and its A, B are those of the weights at that step
    (re-run here one step at a time)."""
    snaps = tiny_run.history["snapshots"]
    steps = [s["step"] for s in snaps]
    assert steps == sorted(train.snapshot_steps(small))
    by_step = {s["step"]: s for s in snaps}
    state, chunk = init_state(small), train.make_chunk(small, 1)
    for t in range(small.steps + 1):
        if t in by_step:
            A, B = models.products(state["params"])
            np.testing.assert_allclose(by_step[t]["A"], np.asarray(A, np.float64), atol=1e-6, err_msg=str(t))
            np.testing.assert_allclose(by_step[t]["B"], np.asarray(B, np.float64), atol=1e-6, err_msg=str(t))
        if t < small.steps:
            state = chunk(state)[0]
    leaves_equal(state["params"], tiny_run.params)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(small, tmp_path):
    bad = dataclasses.replace(small, lr=1e30, schedule="constant", clip=1e30, init_scale=1.0)  # overflows float32
    run = train.train(bad, tmp_path / "nan")
    assert run.status == "diverged"
    assert "NaN" in run.message and "last good checkpoint" in run.message
    assert all(np.all(np.isfinite(p)) for p in run.params.values())


def test_existing_and_mismatched_runs_are_refused(small, tiny_run, tmp_path):
    with pytest.raises(RunError, match="already exists"):
        train.train(small, tiny_run.path)
    with pytest.raises(RunError, match="only steps may change"):
        train.train(dataclasses.replace(small, lr=2e-2), tiny_run.path, resume=True)
    assert load_run(tiny_run.path).config == small  # nothing was written


def test_resume_with_more_steps_continues_the_same_path(small, tiny_run, tmp_path):
    """A longer run from a finished one: its config gets the new end, the history continues from its last
    checkpoint."""
    path = tmp_path / "longer"
    shutil.copytree(tiny_run.path, path)
    longer = dataclasses.replace(small, steps=400)
    run = train.train(longer, path, resume=True)
    assert run.status == "finished" and run.config == longer
    assert [e["step"] for e in run.history["evals"]] == [0, 100, 200, 300, 400]
    assert evals_without_time(run)[:4] == evals_without_time(tiny_run)
    assert run.history["snapshots"][-1]["step"] == 400


def test_a_set_stop_event_stops_before_the_first_chunk(small, tmp_path):
    stop = threading.Event()
    stop.set()
    seen = []
    run = train.train(small, tmp_path / "s", stop_event=stop, on_progress=seen.append)
    assert run.status == "stopped" and [e["step"] for e in run.history["evals"]] == [0] and not seen


@pytest.fixture(scope="module")
def point_optimum(small):
    """A setting whose eq. 1 optimum is a point (d = 3, C = 5, n = 20; at n = 6 it lies down the GD end of
    the valley, where the construction's constants run off to 0 and infinity), and that optimum."""
    cfg = dataclasses.replace(small, d=3, C=5, n=20, batch=128, steps=400, fit_contexts=2000)
    res = fit.fit_adaptive(fitted.fit_contexts(cfg.task, cfg.fit_contexts), self_key=cfg.query_in_keys)
    assert res.on_edge == ()
    return cfg, res.refined


def test_training_from_the_fitted_construction_stays_there(point_optimum):
    cfg, best = point_optimum
    cfg = dataclasses.replace(cfg, batch=512, lr=1e-4, schedule="constant")
    ctx = train.contexts_for(cfg)["eval"]
    state = init_state(cfg)
    state["params"] = constructions.softmax_construction(cfg.task, best["c_eta"], best["c_sigma"])
    state["opt_state"] = train.optimizer(cfg).init(state["params"])
    before = float(train.evaluate(state["params"], ctx, "softmax", cfg.query_in_keys)[0])
    after_state = train.make_chunk(cfg, 200)(state)[0]
    after = float(train.evaluate(after_state["params"], ctx, "softmax", cfg.query_in_keys)[0])
    assert after <= before * 1.01


def test_short_run_moves_constants_toward_the_fitted_ones(point_optimum):
    cfg, best = point_optimum
    target = np.log([best["c_sigma"], best["c_eta"]])
    state = init_state(cfg)

    def dist(params):
        c_sigma, c_eta = extract.effective_constants(params, cfg.task)
        return np.linalg.norm(np.log(np.abs([c_sigma, c_eta])) - target)

    d0 = dist(state["params"])
    state = train.make_chunk(cfg, 400)(state)[0]
    assert dist(state["params"]) < 0.5 * d0


def test_alignment_row_of_the_construction_is_perfect(small):
    """In float64 whatever the weights' dtype: the construction against its own closed form aligns exactly,
    against the other variant it does not."""
    ctx = train.contexts_for(small)["align"]
    params = constructions.softmax_construction(small.task, 3.0, 20.0)
    consts = {"c_sigma": 20.0, "c_eta": 3.0}
    row = train.alignment_row(params, ctx, small, "adaptive", consts)
    assert set(row) == set(ALIGN) and all(isinstance(v, float) for v in row.values())
    assert row["preds_diff"] < 1e-12 and row["model_diff"] < 1e-12 and row["cos_sim"] == pytest.approx(1, abs=1e-12)
    other = train.alignment_row(params, ctx, small, "adaptive_self_key", consts)
    assert other["preds_diff"] > 1e-4


def evals_of(losses, steps=None):
    steps = steps if steps is not None else [100 * (i + 1) for i in range(len(losses))]
    return [{"step": s, "eval_loss": v} for s, v in zip(steps, losses, strict=True)]


def test_verdict_close_and_flat(small):
    flat = evals_of([2.0, 1.5, 1.2, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    v = train.verdict(small, flat, 1.0)
    assert v["converged"] and v["within_1pct"] and v["flat"] and v["gap"] == 0 and v["rel_change"] < 1e-12
    assert v["step"] == 1000 and v["final_eval_loss"] == 1.0 and v["yardstick_loss"] == 1.0
    assert "needs <= +1%" in v["message"]
    # Below the closed form counts as close; 1% above is the limit.
    assert train.verdict(small, flat, 1.2)["within_1pct"]
    assert train.verdict(small, flat, 1.0 / 1.0099)["within_1pct"]
    assert not train.verdict(small, flat, 1.0 / 1.0101)["within_1pct"]


def test_verdict_reads_the_trend_of_the_last_fifth(small):
    """A least-squares line through the evaluations at or after 80% of the last step: its change over that
    span relative to the mean loss there (numpy's own fit as the reference)."""
    losses = [2.0, 1.5, 1.3, 1.2, 1.1, 1.06, 1.04, 1.03, 1.02, 1.01]
    v = train.verdict(small, evals_of(losses), 1.005)
    steps, tail = np.array([800.0, 900.0, 1000.0]), np.array(losses[-3:])
    slope = np.polyfit(steps, tail, 1)[0]
    assert v["rel_change"] == pytest.approx(abs(slope) * 200 / tail.mean(), rel=1e-12)
    assert not v["flat"] and not v["converged"] and v["within_1pct"]
    # Noise without a trend is flat.
    noisy = [2.0, 1.5, 1.2, 1.1, 1.0, 1.0, 1.0, 1.0005, 0.9995, 1.0005, 0.9995, 1.0]
    v = train.verdict(small, evals_of(noisy, [100 * i for i in range(1, 13)]), 1.0)
    assert v["flat"]
    # Fewer than three evaluations in the last fifth: no trend can be read, not flat.
    v = train.verdict(small, evals_of([1.0, 1.0], [100, 1000]), 1.0)
    assert v["rel_change"] == float("inf") and not v["flat"]
    assert train.verdict(small, [], 1.0) == {"converged": False, "within_1pct": False, "flat": False,
                                             "message": "no evaluation yet"}


def test_a_kernel_run_records_its_eq3_reading_and_its_snapshots_carry_it(tmp_path):
    """A kernel attention run measures itself against kernel GD (eq. 3), records sigma^2 and eta read off its
    weights at each evaluation, and keeps the key norms in its snapshots so that its path reads the same."""
    cfg = dataclasses.replace(PRESETS["fast-kernel-d3"], steps=20, eval_every=10, batch=32, eval_contexts=64,
                              align_contexts=8, warmup=2, max_snapshots=6)
    run = train.train(cfg, tmp_path / "k")
    assert run.status == "finished" and cfg.yardstick == "kernel_gd"
    assert set(run.history["yardsticks"]) == {"kernel_gd"}
    last = run.history["evals"][-1]
    np.testing.assert_allclose((last["sigma2"], last["eta"]), extract.kernel_constants(run.params, cfg.task),
                               rtol=1e-5)
    snaps = run.history["snapshots"]
    assert snaps[-1]["step"] == 20 and all(len(s["norms"]) == 2 for s in snaps)
    path = extract.path(snaps, cfg.task)
    # snapshots keep six decimals of A and B: after 20 steps B's entries are ~1e-5, so the reading agrees to ~1%
    np.testing.assert_allclose((path[-1]["sigma2"], path[-1]["eta"]), (last["sigma2"], last["eta"]), rtol=1e-2)
    np.testing.assert_allclose(snaps[-1]["norms"], np.asarray(models.key_norms(run.params, cfg.d)), rtol=1e-5)
