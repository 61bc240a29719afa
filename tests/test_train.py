import dataclasses
import json
import threading

import jax
import numpy as np
import pytest

from engine import constructions, extract, fit, train
from engine.runs import RunError, list_runs, load_run

SMALL = train.TrainConfig(kind="softmax", d=3, C=3, n=6, batch=32, steps=300, lr=1e-2, warmup=20,
                          eval_every=100, eval_contexts=64, align_contexts=8, fit_contexts=400, seed=3)


def leaves_equal(a, b):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_one_chunk_of_k_steps_equals_k_single_steps():
    state = train.init_state(SMALL)
    whole, losses, _ = train.make_chunk(SMALL, 5)(state)
    step_by_step, singles = state, []
    for _ in range(5):
        step_by_step, loss, _ = train.make_chunk(SMALL, 1)(step_by_step)
        singles.append(float(loss[0]))
    leaves_equal(whole, step_by_step)
    np.testing.assert_array_equal(np.asarray(losses), np.asarray(singles, dtype=np.asarray(losses).dtype))


def test_resume_equals_uninterrupted(tmp_path):
    full = train.train(SMALL, tmp_path / "full")
    stop = threading.Event()

    def stop_at_200(info):
        if info["step"] >= 200:
            stop.set()

    part = train.train(SMALL, tmp_path / "part", on_progress=stop_at_200, stop_event=stop)
    assert part.status == "stopped" and part.history["evals"][-1]["step"] == 200
    resumed = train.train(SMALL, tmp_path / "part", resume=True)
    assert resumed.status == "finished"
    leaves_equal(full.params, resumed.params)
    assert [e["eval_loss"] for e in full.history["evals"]] == [e["eval_loss"] for e in resumed.history["evals"]]
    assert [p.name for p in list_runs(tmp_path)] == ["full", "part"]


def test_history_verdict_and_snapshots(tmp_path):
    run = train.train(SMALL, tmp_path / "r")
    evals = run.history["evals"]
    assert [e["step"] for e in evals] == [0, 100, 200, 300]
    for key in ("train_loss", "eval_loss", "eval_acc", "lr", "grad_norm", "preds_diff", "cos_sim", "model_diff",
                "preds_diff_plain", "c_sigma", "c_eta"):
        assert np.isfinite(evals[-1][key]), key
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    snaps = run.history["snapshots"]
    assert snaps[0]["step"] == 0 and snaps[-1]["step"] == 300
    A = np.asarray(snaps[-1]["A"])
    assert A.shape == (SMALL.task.D, SMALL.task.D)
    v = run.verdict
    assert set(v) >= {"converged", "within_1pct", "flat", "gap", "rel_change"}
    yard = run.history["yardsticks"]["adaptive_self_key"]["loss"]
    assert v["within_1pct"] == ((evals[-1]["eval_loss"] - yard) / yard <= 0.01)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    bad = dataclasses.replace(SMALL, lr=1e12, schedule="constant", clip=1e12, init_scale=1.0)
    run = train.train(bad, tmp_path / "nan")
    assert run.status == "diverged"
    assert "NaN" in run.message and "last good checkpoint" in run.message
    assert all(np.all(np.isfinite(p)) for p in run.params.values())


def test_corrupt_missing_and_mismatched_runs_are_refused(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        load_run(tmp_path / "nothing")
    run = train.train(dataclasses.replace(SMALL, steps=100), tmp_path / "r")
    (run.path / "history.json").write_text("{not json")
    with pytest.raises(RunError, match="history.json is corrupt"):
        load_run(run.path)
    cfg = json.loads((run.path / "config.json").read_text())
    cfg["d"] = 4
    (run.path / "config.json").write_text(json.dumps(cfg))
    (run.path / "history.json").write_text("{}")
    with pytest.raises(RunError, match="checkpoint cannot be restored"):
        load_run(run.path)
    with pytest.raises(RunError, match="already exists"):
        train.train(SMALL, run.path)


def test_training_from_the_fitted_construction_stays_there():
    cfg = dataclasses.replace(SMALL, fit_contexts=2000, batch=512, lr=1e-4, schedule="constant")
    ctxs = train.contexts_for(cfg)
    best = fit.fit_adaptive(ctxs["fit"], self_key=True).refined
    state = train.init_state(cfg)
    state["params"] = constructions.softmax_construction(cfg.task, best["c_eta"], best["c_sigma"])
    state["opt_state"] = train.optimizer(cfg).init(state["params"])
    before = float(train._eval(state["params"], ctxs["eval"], "softmax", True)[0])
    after_state, _, _ = train.make_chunk(cfg, 200)(state)
    after = float(train._eval(after_state["params"], ctxs["eval"], "softmax", True)[0])
    assert after <= before * 1.01


def test_short_run_moves_constants_toward_the_fitted_ones():
    cfg = dataclasses.replace(SMALL, d=3, C=5, n=20, batch=128, steps=400, fit_contexts=2000)
    ctxs = train.contexts_for(cfg)
    best = fit.fit_adaptive(ctxs["fit"], self_key=True).refined
    target = np.log([best["c_sigma"], best["c_eta"]])
    state = train.init_state(cfg)

    def dist(params):
        c_sigma, c_eta = extract.effective_constants(params, cfg.task)
        return np.linalg.norm(np.log(np.abs([c_sigma, c_eta])) - target)

    d0 = dist(state["params"])
    state, _, _ = train.make_chunk(cfg, 400)(state)
    assert dist(state["params"]) < 0.5 * d0


def test_presets_follow_the_paper():
    p = train.PRESETS
    assert p["paper-linear-d5"].lr == 5e-5 and p["paper-linear-d5"].steps == 200_000
    assert p["paper-linear-d5"].clip == 1e-3 and p["paper-softmax-d5"].clip == 1.0
    assert {d: p[f"paper-softmax-d{d}"].lr for d in (2, 3, 5, 10)} == {2: 6e-4, 3: 3e-5, 5: 1e-4, 10: 5e-4}
    assert all(c.batch == 2048 and c.init_scale == 0.002 for n, c in p.items() if n.startswith("paper"))
    with pytest.raises(ValueError, match="divisible"):
        dataclasses.replace(SMALL, n=7)


def test_cli_lists_presets_and_refuses_unknown(capsys):
    assert train.main(["--list"]) == 0
    assert "fast-softmax-d10" in capsys.readouterr().out
    assert train.main(["--preset", "nope"]) == 2


def test_qk_decay_shrinks_only_queries_and_keys_and_stops():
    """With zero gradients Adam moves nothing, so each step is the decay alone: W <- W (1 - lr_t * qk_decay)
    for W_Q and W_K while the decay is on (the first QK_DECAY_END of the steps), and nothing after."""
    cfg = dataclasses.replace(SMALL, steps=10, warmup=1, schedule="constant", lr=0.1, qk_decay=0.5)
    opt = train.optimizer(cfg)
    params = {k: np.ones((2, 2)) for k in ("W_Q", "W_K", "W_V", "W_O")}
    zeros = {k: np.zeros((2, 2)) for k in params}
    state = opt.init(params)
    end = int(train.QK_DECAY_END * cfg.steps)
    expect = 1.0
    for step in range(cfg.steps):
        updates, state = opt.update(zeros, state, params)
        params = {k: params[k] + np.asarray(updates[k]) for k in params}
        expect *= (1 - 0.1 * 0.5) if step < end else 1.0
        np.testing.assert_allclose(params["W_Q"], expect, rtol=1e-6)
        np.testing.assert_allclose(params["W_K"], expect, rtol=1e-6)
        np.testing.assert_allclose(params["W_V"], 1.0)
        np.testing.assert_allclose(params["W_O"], 1.0)
    assert expect < 0.8  # the decay did act
    with pytest.raises(ValueError, match="qk_decay"):
        dataclasses.replace(SMALL, qk_decay=-1.0)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_warmup_cosine_schedule_and_its_power(power):
    cfg = dataclasses.replace(SMALL, steps=1000, warmup=100, lr=0.02, schedule="warmup_cosine", cosine_power=power)
    f = train.learning_rate(cfg)
    t = np.arange(100, 1001, 50)
    cos = 0.5 * (1 + np.cos(np.pi * (t - 100) / 900))
    expect = 0.02 * (0.01 + 0.99 * cos**power)
    np.testing.assert_allclose([float(f(int(s))) for s in t], expect, rtol=1e-5)
    np.testing.assert_allclose(float(f(50)), 0.01, rtol=1e-5)  # halfway through the linear warmup
