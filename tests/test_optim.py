"""engine.optim: the learning-rate schedules against their formulas, clipped Adam, and the W_Q/W_K decay."""

import dataclasses

import jax
import numpy as np
import optax
import pytest

from engine import models, optim
from engine.config import TrainConfig
from engine.state import init_state, state_template

BASE = TrainConfig(kind="softmax", d=3, C=3, n=6, batch=32, steps=1000, lr=0.02, warmup=100)


def rates(cfg, steps):
    f = optim.learning_rate(cfg)
    return np.array([float(f(int(s))) for s in steps])


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_warmup_cosine_schedule_and_its_power(power):
    cfg = dataclasses.replace(BASE, schedule="warmup_cosine", cosine_power=power)
    t = np.arange(100, 1001, 50)
    cos = 0.5 * (1 + np.cos(np.pi * (t - 100) / 900))
    expect = 0.02 * (0.01 + 0.99 * cos**power)
    np.testing.assert_allclose(rates(cfg, t), expect, rtol=1e-5)
    np.testing.assert_allclose(rates(cfg, [50]), 0.01, rtol=1e-5)  # halfway through the linear warmup
    np.testing.assert_allclose(rates(cfg, np.arange(0, 101, 25)), 0.02 * np.arange(0, 101, 25) / 100, rtol=1e-5)


def test_constant_schedule():
    cfg = dataclasses.replace(BASE, schedule="constant", warmup=0)
    np.testing.assert_allclose(rates(cfg, [0, 1, 500, 999]), 0.02, rtol=1e-7)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_warmup_plateau_cosine_schedule(power):
    """Linear warmup, the peak rate until PLATEAU_END of the steps, then a cosine to 1% over the rest."""
    cfg = dataclasses.replace(BASE, schedule="warmup_plateau_cosine", cosine_power=power)
    plateau = int(optim.PLATEAU_END * cfg.steps)
    t = np.arange(0, 1001, 25)
    frac = np.clip((t - plateau) / (cfg.steps - plateau), 0, 1)
    cos = (0.5 * (1 + np.cos(np.pi * frac))) ** power
    expect = np.where(t < 100, 0.02 * t / 100, np.where(t < plateau, 0.02, 0.02 * (0.01 + 0.99 * cos)))
    np.testing.assert_allclose(rates(cfg, t), expect, rtol=1e-5, atol=1e-9)


def test_warmup_is_clamped_below_the_run_length():
    cfg = dataclasses.replace(BASE, steps=10, warmup=100, schedule="warmup_cosine")
    r = rates(cfg, range(11))
    assert np.all(np.isfinite(r)) and r.max() == pytest.approx(0.02, rel=1e-5) and r[-1] < 0.02


def test_plain_optimizer_is_clipped_adam():
    """qk_decay = 0: exactly optax's clip-by-global-norm then Adam on the schedule (the state layout of runs
    saved before the option)."""
    cfg = dataclasses.replace(BASE, clip=0.5, schedule="constant")
    params = init_state(cfg)["params"]
    rng = np.random.default_rng(0)
    ours, plain = optim.optimizer(cfg), optax.chain(optax.clip_by_global_norm(0.5),
                                                     optax.adam(optax.constant_schedule(0.02)))
    s1, s2 = ours.init(params), plain.init(params)
    assert jax.tree.structure(s1) == jax.tree.structure(s2)
    for _ in range(3):
        grads = {k: rng.normal(size=v.shape).astype(np.float32) * 10 for k, v in params.items()}
        u1, s1 = ours.update(grads, s1, params)
        u2, s2 = plain.update(grads, s2, params)
        for k in params:
            np.testing.assert_array_equal(u1[k], u2[k])
    # The first Adam step of a clipped gradient is lr * sign(g) in every entry (m / sqrt(v) = g / |g|).
    fresh = ours.init(params)
    g = {k: np.full(v.shape, 3.0, np.float32) for k, v in params.items()}
    u, _ = ours.update(g, fresh, params)
    for k in params:
        np.testing.assert_allclose(u[k], -0.02, rtol=1e-4)


def test_qk_decay_shrinks_only_queries_and_keys_and_stops():
    """With zero gradients Adam moves nothing, so each step is the decay alone: W <- W (1 - lr_t * qk_decay)
    for W_Q and W_K while the decay is on (the first QK_DECAY_END of the steps), and nothing after."""
    cfg = dataclasses.replace(BASE, steps=10, warmup=1, schedule="constant", lr=0.1, qk_decay=0.5)
    opt = optim.optimizer(cfg)
    params = {k: np.ones((2, 2), np.float32) for k in ("W_Q", "W_K", "W_V", "W_O")}
    zeros = {k: np.zeros((2, 2), np.float32) for k in params}
    state = opt.init(params)
    end = int(optim.QK_DECAY_END * cfg.steps)
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
        dataclasses.replace(BASE, qk_decay=-1.0)


def test_qk_decay_mask_names_the_matrices():
    assert set(models.MATRICES) == {"W_Q", "W_K", "W_V", "W_O"}
    cfg = dataclasses.replace(BASE, qk_decay=0.3)
    t = optim.qk_decay_transform(cfg)
    params = {k: np.full((2, 2), 2.0, np.float32) for k in models.MATRICES}
    u, _ = t.update({k: np.zeros((2, 2), np.float32) for k in params}, t.init(params), params)
    for k in models.MATRICES:
        np.testing.assert_allclose(u[k], 0.6 if k in ("W_Q", "W_K") else 0.0)


@pytest.mark.parametrize("qk_decay", [0.0, 0.5])
def test_init_state_fits_the_optimizer_and_its_template(qk_decay):
    cfg = dataclasses.replace(BASE, qk_decay=qk_decay, seed=4)
    state = init_state(cfg)
    assert jax.tree.structure(state["opt_state"]) == jax.tree.structure(optim.optimizer(cfg).init(state["params"]))
    template = state_template(cfg)
    assert jax.tree.structure(template) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(template), jax.tree.leaves(state)):
        assert a.shape == b.shape and a.dtype == b.dtype
    assert int(state["step"]) == 0 and state["params"]["W_Q"].shape == (cfg.task.D, cfg.task.D)
    # Deterministic per seed, different across seeds.
    again, other = init_state(cfg), init_state(dataclasses.replace(cfg, seed=5))
    np.testing.assert_array_equal(again["params"]["W_Q"], state["params"]["W_Q"])
    np.testing.assert_array_equal(again["key"], state["key"])
    assert not np.array_equal(other["params"]["W_Q"], state["params"]["W_Q"])
